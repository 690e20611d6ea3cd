"""What the helm tasks print."""

from __future__ import annotations

from typing import TYPE_CHECKING

from floe_deploy.console import Console, json_or_human

if TYPE_CHECKING:
    from floe_deploy.helm.dependencies import DependencyReport, MirroredChart
    from floe_deploy.helm.publish import PackagedChart, PublishedChart, VerifiedChart
    from floe_deploy.helm.smoke import SmokeReport
    from floe_deploy.helm.smoke_upgrade import UpgradeFacts
    from floe_deploy.helm.validate import ValidationReport


@json_or_human
def show_validation(console: Console, report: ValidationReport) -> None:
    rows = [
        (
            o.values,
            o.object,
            o.schema_checked,
            "ok" if not o.schema_errors else f"FAIL: {o.schema_errors[0]}",
            "-"
            if o.pss_errors is None
            else ("ok" if not o.pss_errors else f"FAIL: {o.pss_errors[0]}"),
        )
        for o in report.objects
    ]
    for dependency in report.dependencies:
        if notice := dependency.notice:
            console.line(f"NOTE: {notice}")
    console.table("objects", ["values", "object", "schema", "schema check", "pod security"], rows)
    for check in report.objects:
        for warning in check.warnings:
            console.line(f"WARNING: {check.values} {check.object}: {warning}")
    console.table(
        "values files",
        [
            "values",
            "objects",
            "values checks (umbrella + dagster schema, dagster workloads, wiring, run pods, network flows)",
        ],
        [
            (v.values, v.objects, "ok" if not v.errors else "FAIL: " + "; ".join(v.errors))
            for v in report.values_files
        ],
    )
    for values_check in report.values_files:
        for warning in values_check.warnings:
            console.line(f"WARNING: {values_check.values}: {warning}")
    failed = sum(not o.ok for o in report.objects) + sum(
        bool(v.errors) for v in report.values_files
    )
    console.line(
        f"{len(report.objects)} objects in {len(report.values_files)} values files, Kubernetes "
        f"{', '.join(report.kubernetes_versions)}: {'all ok' if not failed else f'{failed} failed'}"
    )


@json_or_human
def show_dependencies(console: Console, report: DependencyReport) -> None:
    console.table(
        f"dependencies of {report.chart} (from {report.source})",
        ["name", "version", "repository", "in charts/"],
        [
            (
                d.name,
                d.version,
                d.repository,
                ("yes (STAND-IN)" if d.stand_in else "yes") if d.present else "NO",
            )
            for d in report.dependencies
        ],
    )


def show_mirrored(console: Console, pushed: list[MirroredChart]) -> None:
    if console.json_mode:
        console.json({"mirrored": [p.model_dump() for p in pushed]})
        return
    console.table("mirrored", ["chart", "version", "reference", "digest"],
                  [(p.name, p.version, p.reference, p.digest) for p in pushed])  # fmt: skip


@json_or_human
def show_packaged(console: Console, packaged: PackagedChart) -> None:
    console.line(f"{packaged.archive} ({packaged.name} {packaged.version}, {packaged.digest})")


@json_or_human
def show_published(console: Console, published: PublishedChart) -> None:
    console.line(f"{published.reference}@{published.digest} pushed and signed")


@json_or_human
def show_verified(console: Console, verified: VerifiedChart) -> None:
    state = "ok" if verified.signature_ok else "FAILED"
    console.line(
        f"{verified.reference} {verified.digest or ''}: signature {state} ({verified.detail})"
    )


@json_or_human
def show_smoke(console: Console, report: SmokeReport) -> None:
    for substitution in report.substitutions:
        console.line(f"SUBSTITUTED: {substitution}")
    console.table(
        f"played workloads ({report.values} values)",
        ["workload", "pod", "ready", "probe", "detail"],
        [
            (w.workload, w.pod, f"yes ({w.seconds} s)" if w.ready else "NO", w.probe, w.detail)
            for w in report.workloads
        ],
    )
    for workload in report.workloads:
        if not workload.ready:
            if workload.logs:
                console.line(f"--- last log lines of {workload.pod} ---\n{workload.logs}")
            console.line(f"Remediation: {workload.remediation}")
    console.table("checks", ["check", "result"], list(report.checks.items()))
    for reference in report.pulls:
        console.line(f"pulled: {reference}")
    for refused in report.forbidden:
        console.line(f"FORBIDDEN (the rendered RBAC): {refused}")
    if report.run_logs:
        console.line(f"--- last log lines of run {report.run_id} ---\n{report.run_logs}")
    console.line(
        f"run {report.run_id or '-'}: {report.run_status or 'not launched'}; "
        f"orders in Cube: {report.rows_in_cube if report.rows_in_cube is not None else '-'}; "
        + ", ".join(f"{k} at {v} s" for k, v in report.seconds.items())
    )
    if report.upgrade is not None:
        show_upgrade(console, report.upgrade)


def show_upgrade(console: Console, facts: UpgradeFacts) -> None:
    rows = [
        ("from → to", f"{facts.from_image} → {facts.to_image}"),
        ("schema revision", f"{facts.revision_before} → {facts.revision_after}"),
        ("schema when each Deployment had stopped", str(facts.revision_when_quiesced)),
        ("migration", f"ran {facts.migrate_runs}x in {facts.migrate_seconds} s"),
        ("runs kept", f"{len(facts.runs_after)} of {len(facts.runs_before)} "
                      f"({len(facts.ended_before())} had ended before)"),
        ("event log entries of those", f"{facts.events_before} → {facts.events_after}"),
        ("Iceberg snapshots", f"{len(facts.snapshots_before)} → {len(facts.snapshots_after)}"),
        ("Iceberg rows", f"{facts.rows_before} → {facts.rows_after} "
                         f"({facts.rows_added_since} appended since)"),
        ("run in flight", f"{facts.inflight_run_id}: {facts.inflight_status}"),
        ("run after the upgrade", f"{facts.new_run_status} on {facts.new_run_image}"),
        ("webserver unavailable", f"{facts.webserver_unavailable_seconds} s"),
        ("upgrade wall time", f"{facts.upgrade_seconds} s"),
        ("rollback across the migration", str(facts.rollback)),
    ]  # fmt: skip
    console.table("upgrade", ["what", "measured"], rows)
    for problem in facts.problems():
        console.line(f"UPGRADE PROBLEM: {problem}")
