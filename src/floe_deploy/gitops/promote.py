"""gitops.promote: move a version through the environments, and back.

Lineage: a new version enters at dev only (from a release record, or --image-tag/--chart-version
into dev). Every later environment takes exactly what the environment before it runs, as
committed (`git show HEAD:…`, not the working tree); naming another version there is refused
unless --force, and then the report says so. A rollback is a promotion of an earlier version that
the environment itself ran (from the git history of its values file).

Every file that carries the version changes together: values.yaml (image.tag, each user-code
deployment's tag, the init containers' floe/busybox and floe/postgres tags, release.chartVersion
and release.chartDigest), the Flux OCIRepository (ref.tag, ref.digest) and the Argo CD
Applications that deploy the environment's namespace (targetRevision). Images are pinned by
digest next to their tag (`0.2.0@sha256:…`), charts by ref.digest. The
registry is asked whether both exist and for their digests; a dry run does not ask it (offline),
and says so.
"""

from __future__ import annotations

import difflib
import re
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from floe_deploy.commands import attempt, run
from floe_deploy.errors import FloeError
from floe_deploy.gitops.manifests import ENVIRONMENTS, GITOPS_DIR, load_tree, relative
from floe_deploy.gitops.yaml_edit import set_values
from floe_deploy.helm.chart import CHART_DIR, chart_metadata, parse_values
from floe_deploy.oci import Descriptor, OciClient
from floe_deploy.release.publish import ReleaseRecord

RELEASE_RECORD_TRAILER = "Release-Record"
"""The commit trailer naming the release record a version entered dev from (gitops.status)."""
PROMOTION = re.compile(r"^(?:promote|roll back) (?P<target>\w+): .* \(from (?P<source>[^)]+)\)$")
"""The subject line of a promotion commit."""


INIT_IMAGES: dict[str, tuple[str, ...]] = {
    "busybox": ("dagster", "busybox", "image"),
    "postgres": ("dagster", "postgresql", "image"),
}
"""The images the dagster chart's init containers run, by their values path: floe builds them
(floe/busybox, floe/postgres) with every release, so they move with the runtime image."""


class Version(BaseModel):
    """What an environment runs."""

    image_tag: str
    chart_version: str
    chart_digest: str = ""
    init_tags: dict[str, str] = {}
    """Tag (pinned) of each of floe's INIT_IMAGES; one missing takes the runtime image's tag."""

    @property
    def tag(self) -> str:
        """The image tag without its pinned digest."""
        return self.image_tag.split("@")[0]

    def init_tag(self, name: str) -> str:
        """The tag of floe's init image `name`: its own, else the release's (built together)."""
        return self.init_tags.get(name) or self.tag

    @property
    def label(self) -> str:
        return f"image {self.image_tag}, chart {self.chart_version}"


class PromotionReport(BaseModel):
    source: str
    target: str
    image_tag: str
    chart_version: str
    chart_digest: str
    image: str
    init_images: list[str] = []
    """floe's init-container images the target now runs (INIT_IMAGES)."""
    chart: str
    changed_files: list[str]
    diff: str
    dry_run: bool
    registry_check: str
    forced: list[str] = []
    """Lineage rules --force overrode (printed as warnings)."""
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
            f"{source} → {target} goes backwards",
            f"promote forward: {' → '.join(ENVIRONMENTS)} (or --rollback --to {target})",
        )
    if step > 1 and not force:
        skipped = ENVIRONMENTS[ENVIRONMENTS.index(source) + 1 : ENVIRONMENTS.index(target)]
        raise FloeError(
            f"{source} → {target} skips {', '.join(skipped)}",
            f"promote through {' → '.join(ENVIRONMENTS[ENVIRONMENTS.index(source) : ENVIRONMENTS.index(target) + 1])}, "
            "or pass --force",
        )


def floe_init_images(values: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The INIT_IMAGES these values set to floe's own builds: a repository beside the runtime
    image's (…/floe/dagster → …/floe/busybox). Another image (a site's own busybox) is the
    user's and does not move with a release."""
    runtime = str((values.get("image") or {}).get("repository") or "")
    found = {}
    for name, path in INIT_IMAGES.items():
        image: Any = values
        for key in path:
            image = image.get(key) if isinstance(image, dict) else None
        if (isinstance(image, dict) and "tag" in image and runtime
                and image.get("repository") == f"{runtime.rpartition('/')[0]}/{name}"):  # fmt: skip
            found[name] = image
    return found


def version_of(values: dict[str, Any], where: str) -> Version:
    release = values.get("release") or {}
    version = Version(
        image_tag=str((values.get("image") or {}).get("tag") or ""),
        chart_version=str(release.get("chartVersion") or ""),
        chart_digest=str(release.get("chartDigest") or ""),
        init_tags={name: str(image["tag"]) for name, image in floe_init_images(values).items()},
    )
    if not version.image_tag or not version.chart_version:
        raise FloeError(
            f"{where} names no image.tag or release.chartVersion", "add both to its values.yaml"
        )
    return version


def _git(repo: Path, *args: str) -> str:
    return run(
        ["git", *args], cwd=repo, remediation="check the repository (clean tree, branch name free)"
    )


def work_tree(root: Path) -> Path:
    done = attempt(["git", "rev-parse", "--show-toplevel"], cwd=root)
    if done.returncode != 0:
        raise FloeError(
            f"{root} is not in a git work tree",
            "promotion reads what environments run as committed: run it in the repository "
            "(git init, commit the gitops/ directory)",
        )
    return Path(done.stdout.strip())


def committed_values(repo: Path, path: Path, revision: str = "HEAD") -> dict[str, Any]:
    where = relative(path.resolve(), repo)
    text = run(
        ["git", "show", f"{revision}:{where}"], cwd=repo,
        remediation=f"commit {where} first: promotion takes what is committed",
    )  # fmt: skip
    return parse_values(text, f"{where} at {revision}")


def _history(repo: Path, path: Path) -> list[Version]:
    """The versions an environment ran, newest first (one entry per change of version)."""
    where = relative(path.resolve(), repo)
    commits = _git(repo, "log", "--format=%H", "--", where).split()
    versions: list[Version] = []
    for commit in commits:
        try:
            version = version_of(committed_values(repo, path, commit), where)
        except FloeError:
            continue
        if not versions or (version.image_tag, version.chart_version) != (
            versions[-1].image_tag, versions[-1].chart_version,
        ):  # fmt: skip
            versions.append(version)
    return versions


def _earlier(repo: Path, values_file: Path, target: str, image_tag: str | None) -> Version:
    """The version `target` ran before its current one (or the one named), from git history."""
    ran = _history(repo, values_file)
    earlier = [v for v in ran[1:] if image_tag in {None, v.image_tag, v.tag}]
    if not earlier:
        recorded = ", ".join(v.image_tag for v in ran) or "none"
        raise FloeError(
            f"{target} never ran {'image ' + image_tag if image_tag else 'an earlier version'} "
            f"(recorded: {recorded})",
            "roll back to a version from its history (git log of its values.yaml)",
        )
    return earlier[0]


def _release_record(path: Path) -> Version:
    """The version a release record that `invoke publish` wrote describes."""
    try:
        record = ReleaseRecord.model_validate_json(path.read_text())
    except (OSError, ValueError) as error:
        raise FloeError(
            f"{path} is not a release record ({str(error).splitlines()[0]})",
            "pass the file `invoke publish` wrote (build/release/VERSION.json) or its --json output",
        ) from None
    digests = {i.repository.rpartition("/")[2]: i.digest for i in record.images
               if i.repository.rpartition("/")[0].endswith("/floe")}  # fmt: skip

    def pinned(name: str) -> str:
        return f"{record.version}@{digests[name]}" if name in digests else record.version

    return Version(
        image_tag=pinned("dagster"), chart_version=record.chart.version,
        chart_digest=record.chart.digest, init_tags={name: pinned(name) for name in INIT_IMAGES},
    )  # fmt: skip


def _choose(
    source: str | None,
    target: str,
    *,
    environments: Path,
    repo: Path | None,
    release: Path | None,
    image_tag: str | None,
    chart_version: str | None,
    force: bool,
    rollback: bool,
) -> tuple[str, Version, list[str]]:
    """(where the version comes from, the version, lineage rules --force overrode)."""
    if target not in ENVIRONMENTS:
        raise FloeError(f"unknown environment {target!r}", f"choose from {', '.join(ENVIRONMENTS)}")
    first = ENVIRONMENTS[0]
    if rollback:
        if source is not None or release is not None:
            raise FloeError(
                "--rollback takes no --from or --release",
                f"--rollback --to {target} [--image-tag TAG]",
            )
        assert repo is not None
        return (
            f"{target} history",
            _earlier(repo, environments / target / "values.yaml", target, image_tag),
            [],
        )
    if release is not None:
        if source is not None or target != first:
            raise FloeError(
                f"a release record promotes into {first} only",
                f"use --release FILE --to {first}, then --from {first} for the next step",
            )
        return "release", _release_record(release), []
    if source is None:
        if target != first:
            raise FloeError(
                f"a new version enters at {first} only",
                f"--to {first} with --release FILE (or --image-tag and --chart-version), "
                f"then --from {first} --to {ENVIRONMENTS[1]}",
            )
        if not (image_tag and chart_version):
            raise FloeError("nothing to promote from", "pass --from ENVIRONMENT or --release FILE")
        return "new version", Version(image_tag=image_tag, chart_version=chart_version), []
    _environment_order(source, target, force)
    assert repo is not None
    ran = version_of(committed_values(repo, environments / source / "values.yaml"), source)
    forced = []
    for option, asked, has in (
        ("image tag", image_tag, ran.tag),
        ("chart version", chart_version, ran.chart_version),
    ):
        if asked and asked not in {has, ran.image_tag}:
            if not force:
                raise FloeError(
                    f"{source} does not run {option} {asked} (it runs {has}): {target} takes only what {source} ran",
                    f"promote {asked} into {first} first, or pass --force to break the lineage",
                )
            forced.append(f"{option} {asked} was never run by {source} (it runs {has})")
    if ENVIRONMENTS.index(target) - ENVIRONMENTS.index(source) > 1:
        forced.append(
            f"{source} → {target} skips {', '.join(ENVIRONMENTS[ENVIRONMENTS.index(source) + 1 : ENVIRONMENTS.index(target)])}"
        )
    as_ran = not image_tag or image_tag in {ran.tag, ran.image_tag}
    chosen = Version(
        image_tag=ran.image_tag if as_ran else str(image_tag),
        init_tags=ran.init_tags if as_ran else {},
        chart_version=chart_version or ran.chart_version,
        chart_digest=ran.chart_digest
        if (chart_version or ran.chart_version) == ran.chart_version
        else "",
    )
    return source, chosen, forced


def _argo_applications(root: Path, target: str) -> list[tuple[Path, list[tuple[str | int, ...]]]]:
    """Argo CD Applications deploying floe-<target>, with the path of each chart source's targetRevision."""
    found = []
    for document in load_tree(root).of_kind("Application"):
        spec = document.body.get("spec") or {}
        if (spec.get("destination") or {}).get("namespace") != f"floe-{target}":
            continue
        if "sources" in spec:
            paths: list[tuple[str | int, ...]] = [
                ("spec", "sources", i, "targetRevision")
                for i, s in enumerate(spec["sources"]) if s.get("chart")
            ]  # fmt: skip
        else:
            paths = (
                [("spec", "source", "targetRevision")]
                if (spec.get("source") or {}).get("chart")
                else []
            )
        if paths:
            found.append((root.parent / document.file, paths))
    return found


def _new_texts(
    root: Path, target: str, version: Version, init_images: dict[str, dict[str, Any]]
) -> dict[Path, str]:
    directory = root / "environments" / target
    values_file = directory / "values.yaml"
    text = values_file.read_text()
    values = parse_values(text, str(values_file))
    changes: dict[tuple[str | int, ...], str] = {
        ("image", "tag"): version.image_tag,
        ("release", "chartVersion"): version.chart_version,
    }
    if version.chart_digest or (values.get("release") or {}).get("chartDigest"):
        changes[("release", "chartDigest")] = version.chart_digest
    deployments = ((values.get("dagster") or {}).get("dagster-user-deployments") or {}).get(
        "deployments"
    ) or []
    for index, deployment in enumerate(deployments):
        if "tag" in (deployment.get("image") or {}):
            changes[
                ("dagster", "dagster-user-deployments", "deployments", index, "image", "tag")
            ] = version.image_tag
    for name in init_images:
        changes[(*INIT_IMAGES[name], "tag")] = version.init_tag(name)
    texts = {values_file: set_values(text, changes, add=True)}
    oci = directory / "ocirepository.yaml"
    if oci.is_file():
        reference: dict[tuple[str | int, ...], str] = {
            ("spec", "ref", "tag"): version.chart_version
        }
        if version.chart_digest:
            reference[("spec", "ref", "digest")] = version.chart_digest
        texts[oci] = set_values(oci.read_text(), reference, add=True)
    for path, revisions in _argo_applications(root, target):
        texts[path] = set_values(path.read_text(), dict.fromkeys(revisions, version.chart_version))
    return texts


def _published(
    version: Version,
    repository: str,
    chart: str,
    registry: OciClient,
    init_repositories: dict[str, str],
) -> Version:
    """The version with every digest (runtime image, chart, floe's init-container images), from
    the registry; refused when one is missing."""

    def pinned_or_tagged(repository: str, tag: str) -> str:
        pinned = tag.partition("@")[2]
        return f"{repository}@{pinned}" if pinned else f"{repository}:{tag}"

    def found(what: str, reference: str) -> Descriptor:
        descriptor = registry.resolve(reference)
        if descriptor is None:
            raise FloeError(
                f"{what} {reference} is not published",
                "publish it first (`invoke publish`), or choose a published one",
            )
        return descriptor

    image_found = found("image", pinned_or_tagged(repository, version.image_tag))
    chart_found = found("chart", chart)
    init_tags = {}
    for name, init_repository in init_repositories.items():
        tag = version.init_tag(name)
        digest = found("image", pinned_or_tagged(init_repository, tag)).digest
        init_tags[name] = f"{tag.split('@')[0]}@{digest}"
    if version.chart_digest and version.chart_digest != chart_found.digest:
        raise FloeError(
            f"chart {chart} is now {chart_found.digest}, not the {version.chart_digest} the source ran",
            "a tag was pushed again: publish a new version and promote that",
        )
    return Version(
        image_tag=f"{version.tag}@{image_found.digest}", chart_version=version.chart_version,
        chart_digest=chart_found.digest, init_tags=init_tags,
    )  # fmt: skip


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
    rollback: bool = False,
    registry: OciClient | None = None,
) -> PromotionReport:
    """Promote a version into `target` (see the module docstring for the rules). `registry`
    answers the published check; a dry run asks none."""
    environments = root / "environments"
    if source is not None and release is None and not rollback:
        _environment_order(source, target, force)
    needs_history = rollback or (source is not None and release is None)
    repo = work_tree(root) if needs_history or commit else None
    origin, version, forced = _choose(
        source, target, environments=environments, repo=repo, release=release,
        image_tag=image_tag, chart_version=chart_version, force=force, rollback=rollback,
    )  # fmt: skip
    target_values = parse_values((environments / target / "values.yaml").read_text(), target)
    repository = str((target_values.get("image") or {}).get("repository") or "")
    init_images = floe_init_images(target_values)
    charts = str((target_values.get("release") or {}).get("chartRepository") or "").removeprefix(
        "oci://"
    )
    image = f"{repository}:{version.image_tag}"
    chart = f"{charts.rstrip('/')}/{chart_metadata(CHART_DIR)['name']}:{version.chart_version}"
    if dry_run:
        check = "skipped (dry run: the registry is not asked; digests are pinned by the real run)"
    else:
        if registry is None:
            raise FloeError(
                "promoting without --dry-run needs the registry that holds the release",
                "pass the registry client (the task does), or use --dry-run",
            )
        version = _published(version, repository, chart, registry, {
            name: str(init["repository"]) for name, init in init_images.items()
        })  # fmt: skip
        image = f"{repository}:{version.image_tag}"
        check = "ok: image and chart published; pinned by digest"
    new_texts = _new_texts(root, target, version, init_images)
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
        source=origin, target=target, image_tag=version.image_tag, chart_version=version.chart_version,
        chart_digest=version.chart_digest, image=image, chart=chart, changed_files=changed, diff=diff,
        init_images=[f"{init['repository']}:{version.init_tag(name)}"
                     for name, init in init_images.items()],
        dry_run=dry_run, registry_check=check, forced=forced,
    )  # fmt: skip
    if dry_run or not changed:
        return report
    if commit:
        assert repo is not None
        report.branch = f"{'rollback' if rollback else 'promote'}/{target}-{version.tag}"
        _git(repo, "checkout", "-b", report.branch)
    for path, text in new_texts.items():
        path.write_text(text)
    if commit:
        assert repo is not None
        _git(repo, "add", *[str(p) for p in new_texts])
        verb = "roll back" if rollback else "promote"
        message = f"{verb} {target}: {version.label} (from {origin})"
        if forced:
            message += "\n\nFORCED: " + "; ".join(forced)
        if release is not None:
            message += f"\n\n{RELEASE_RECORD_TRAILER}: {release.name}"
        _git(repo, "commit", "-m", message)
        report.commit = _git(repo, "rev-parse", "HEAD").strip()
    return report
