"""gitops.promote: the image tag and chart version of one environment, onto the next one.

Refused when the tag or the chart version is not published where the target environment pulls
from (its image.repository and release.chartRepository), or when an environment would be
skipped (dev → prod) without --force. Prints the diff; `--commit` puts it on a branch
`promote/<env>-<tag>`, ready for a pull request.
"""

from __future__ import annotations

import difflib
from pathlib import Path

from pydantic import BaseModel

from floe_deploy.commands import run
from floe_deploy.errors import FloeError
from floe_deploy.gitops.manifests import ENVIRONMENTS, GITOPS_DIR, relative
from floe_deploy.gitops.yaml_edit import set_values
from floe_deploy.helm.chart import CHART_DIR, chart_metadata, load_values, parse_values
from floe_deploy.oci import OciClient
from floe_deploy.release import ReleaseRecord
from floe_deploy.settings import load_settings


class PromotionReport(BaseModel):
    source: str
    target: str
    image_tag: str
    chart_version: str
    image: str
    chart: str
    changed_files: list[str]
    diff: str
    dry_run: bool
    branch: str | None = None
    commit: str | None = None


def _environment_order(source: str, target: str, force: bool) -> None:
    for name in (source, target):
        if name not in ENVIRONMENTS:
            raise FloeError(
                f"unknown environment {name!r}", f"choose from {', '.join(ENVIRONMENTS)}"
            )
    step = ENVIRONMENTS.index(target) - ENVIRONMENTS.index(source)
    if step <= 0:
        raise FloeError(
            f"{source} → {target} goes backwards", f"promote forward: {' → '.join(ENVIRONMENTS)}"
        )
    if step > 1 and not force:
        skipped = ENVIRONMENTS[ENVIRONMENTS.index(source) + 1 : ENVIRONMENTS.index(target)]
        raise FloeError(
            f"{source} → {target} skips {', '.join(skipped)}",
            f"promote through {' → '.join(ENVIRONMENTS[ENVIRONMENTS.index(source) : ENVIRONMENTS.index(target) + 1])}, "
            "or pass --force",
        )


def _require_published(oci: OciClient, reference: str, what: str) -> None:
    if oci.resolve(reference) is None:
        raise FloeError(
            f"{what} {reference} is not published",
            "publish it first (`invoke images.publish` / `invoke helm.publish`), or choose a published one",
        )


def _target_changes(values_text: str, tag: str, version: str) -> dict[tuple[str | int, ...], str]:
    values = parse_values(values_text)
    changes: dict[tuple[str | int, ...], str] = {
        ("image", "tag"): tag,
        ("release", "chartVersion"): version,
    }
    deployments = ((values.get("dagster") or {}).get("dagster-user-deployments") or {}).get(
        "deployments"
    ) or []
    for index, deployment in enumerate(deployments):
        if "tag" in (deployment.get("image") or {}):
            changes[
                ("dagster", "dagster-user-deployments", "deployments", index, "image", "tag")
            ] = tag
    return changes


def _release_record(path: Path) -> tuple[str, str]:
    """(image tag, chart version) of a release record that `invoke publish` wrote."""
    try:
        record = ReleaseRecord.model_validate_json(path.read_text())
    except (OSError, ValueError) as error:
        raise FloeError(
            f"{path} is not a release record ({str(error).splitlines()[0]})",
            "pass the file `invoke publish` wrote (build/release/VERSION.json) or its --json output",
        ) from None
    return record.version, record.chart.version


def promote(
    source: str | None,
    target: str,
    *,
    root: Path = GITOPS_DIR,
    image_tag: str | None = None,
    chart_version: str | None = None,
    force: bool = False,
    dry_run: bool = False,
    commit: bool = False,
    release: Path | None = None,
) -> PromotionReport:
    """Promote `source`'s versions (or a release record's, into the first environment) to `target`."""
    environments = root / "environments"
    if release is not None:
        if source is not None or target != ENVIRONMENTS[0]:
            raise FloeError(
                f"a release record promotes into {ENVIRONMENTS[0]} only",
                f"use --release FILE --to {ENVIRONMENTS[0]}, then --from {ENVIRONMENTS[0]} for the next step",
            )
        source = "release"
        source_tag, source_version = _release_record(release)
    elif source is None:
        raise FloeError("nothing to promote from", "pass --from ENVIRONMENT or --release FILE")
    else:
        _environment_order(source, target, force)
        source_values = load_values(environments / source / "values.yaml")
        source_tag = str((source_values.get("image") or {}).get("tag") or "")
        source_version = str((source_values.get("release") or {}).get("chartVersion") or "")
    target_file = environments / target / "values.yaml"
    target_text = target_file.read_text()
    target_values = parse_values(target_text, str(target_file))
    tag = image_tag or source_tag
    version = chart_version or source_version
    if not tag or not version:
        raise FloeError(
            f"{source} names no image.tag or release.chartVersion",
            "pass --image-tag and --chart-version",
        )
    repository = str((target_values.get("image") or {}).get("repository") or "")
    charts = str((target_values.get("release") or {}).get("chartRepository") or "").removeprefix(
        "oci://"
    )
    image, chart = (
        f"{repository}:{tag}",
        f"{charts.rstrip('/')}/{chart_metadata(CHART_DIR)['name']}:{version}",
    )
    registry = OciClient.from_settings(load_settings())
    _require_published(registry, image, "image")
    _require_published(registry, chart, "chart")

    new_texts = {target_file: set_values(target_text, _target_changes(target_text, tag, version))}
    oci = environments / target / "ocirepository.yaml"
    if oci.is_file():
        new_texts[oci] = set_values(oci.read_text(), {("spec", "ref", "tag"): version})
    repo_root = root.parent
    diff = "".join(
        "".join(
            difflib.unified_diff(
                path.read_text().splitlines(keepends=True), text.splitlines(keepends=True),
                fromfile=f"a/{relative(path, repo_root)}", tofile=f"b/{relative(path, repo_root)}",
            )
        )
        for path, text in new_texts.items()
    )  # fmt: skip
    changed = [relative(p, repo_root) for p, text in new_texts.items() if p.read_text() != text]
    report = PromotionReport(
        source=source, target=target, image_tag=tag, chart_version=version, image=image, chart=chart,
        changed_files=changed, diff=diff, dry_run=dry_run,
    )  # fmt: skip
    if dry_run or not changed:
        return report
    if commit:
        report.branch = f"promote/{target}-{tag}"
        _git(repo_root, "checkout", "-b", report.branch)
    for path, text in new_texts.items():
        path.write_text(text)
    if commit:
        _git(repo_root, "add", *changed)
        message = f"promote {target}: image {tag}, chart {version} (from {source})"
        _git(repo_root, "commit", "-m", message)
        report.commit = _git(repo_root, "rev-parse", "HEAD").strip()
    return report


def _git(repo: Path, *args: str) -> str:
    return run(
        ["git", *args], cwd=repo, remediation="check the repository (clean tree, branch name free)"
    )
