"""What the gitops tasks print."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from floe_deploy.console import Console, json_or_human

if TYPE_CHECKING:
    from floe_deploy.gitops.promote import PromotionReport
    from floe_deploy.gitops.status import EnvironmentStatus, GitOpsStatus
    from floe_deploy.gitops.validate import GitOpsReport


def _cell(errors: list[str]) -> str:
    return (
        "ok"
        if not errors
        else f"FAIL: {errors[0]}" + (f" (+{len(errors) - 1})" if len(errors) > 1 else "")
    )


def failure_lines(report: GitOpsReport) -> list[str]:
    """One line per problem, naming the file (and the environment of an environment check)."""
    lines = [
        f"{d.file} {d.object}: {error}"
        for d in report.documents
        for error in [*d.schema_errors, *d.reference_errors, *d.secret_errors]
    ]
    return lines + [
        f"{e.values_file} ({e.environment}): {error}"
        for e in report.environments
        for error in e.errors
    ]


@json_or_human
def show_validation(console: Console, report: GitOpsReport) -> None:
    console.table(
        "manifests",
        ["file", "object", "schema", "references", "secrets"],
        [(d.file, d.object, _cell(d.schema_errors), _cell(d.reference_errors), _cell(d.secret_errors))
         for d in report.documents],
    )  # fmt: skip
    title = (
        "environments (chart rendered and validated with each values file)"
        if report.chart_rendered
        else "environments (values files only; chart not rendered: --manifests-only)"
    )
    console.table(
        title,
        ["environment", "values", "objects", "checks"],
        [(e.environment, e.values_file, e.objects if report.chart_rendered else "-", _cell(e.errors))
         for e in report.environments],
    )  # fmt: skip
    for line in failure_lines(report):
        console.line(f"FAIL {line}")
    failed = sum(not d.ok for d in report.documents) + sum(
        bool(e.errors) for e in report.environments
    )
    console.line(f"{len(report.documents)} manifests, {len(report.environments)} environments: "
                 f"{'all ok' if not failed else f'{failed} failed'}")  # fmt: skip


@json_or_human
def show_promotion(console: Console, report: PromotionReport) -> None:
    console.line(report.diff.rstrip() or "(no change)")
    for rule in report.forced:
        console.line(f"WARNING: --force: {rule}")
    console.line(f"registry check: {report.registry_check}")
    if report.dry_run:
        init = "".join(f", {image}" for image in report.init_images)
        console.line(
            f"dry run: {report.target} would run image {report.image}{init} and chart "
            f"{report.chart}; nothing written"
        )
    elif not report.changed_files:
        console.line(
            f"{report.target} already runs image tag {report.image_tag} and chart {report.chart_version}"
        )
    else:
        where = (
            f" on branch {report.branch} ({report.commit[:12] if report.commit else ''})"
            if report.branch
            else ""
        )
        console.line(
            f"promoted {report.source} → {report.target}: {', '.join(report.changed_files)}{where}"
        )


def _short(digest: str) -> str:
    return digest[: len("sha256:") + 12] if digest.startswith("sha256:") else digest


@json_or_human
def show_status(console: Console, status: GitOpsStatus) -> None:
    """One column per environment (full digests in --json)."""
    rows: dict[str, Callable[[EnvironmentStatus], str]] = {
        "image tag": lambda e: e.image_tag,
        "image digest": lambda e: _short(e.image_digest),
        "chart": lambda e: e.chart_version,
        "chart digest": lambda e: _short(e.chart_digest),
        "release record": lambda e: e.promotion.release_record,
        "promoted by": lambda e: e.promotion.commit,
        "promoted from": lambda e: e.promotion.source,
        "promoted at": lambda e: e.promotion.at[:16],
        "repository": lambda e: e.image,
    }
    console.table(
        "what each environment runs",
        ["", *(e.environment for e in status.environments)],
        [(label, *(cell(e) for e in status.environments)) for label, cell in rows.items()],
    )
    if not status.in_git:
        console.line("not in a git work tree: promotions (commit, source, release record) unknown")
