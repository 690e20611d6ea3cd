"""How image results look: the build summary table, the plan, or JSON."""

from __future__ import annotations

from typing import TYPE_CHECKING

from floe_deploy.console import Console, json_or_human

if TYPE_CHECKING:
    from floe_deploy.images.build import BuildPlan, BuildReport
    from floe_deploy.images.policy import ImageInspection
    from floe_deploy.images.prune import PruneReport
    from floe_deploy.images.publish import PublishReport, VerifyReport

MB = 1_000_000


@json_or_human
def show_plan(console: Console, plan: BuildPlan) -> None:
    console.table(
        f"images.build plan (tag {plan.tag})",
        ["image", "platform", "reference", "build args"],
        [
            (
                t.image,
                t.platform,
                t.reference,
                " ".join(f"{k}={v}" for k, v in t.build_args.items()),
            )
            for t in plan.targets
        ],
    )


@json_or_human
def show_build(console: Console, report: BuildReport) -> None:
    console.table(
        f"images (tag {report.tag})",
        ["image", "platform", "tag", "digest", "size", "seconds"],
        [
            (
                b.image,
                b.platform,
                b.pushed_reference or b.reference,
                (b.digest or b.image_id)[:19],
                f"{b.size_bytes / MB:.0f} MB",
                "cached" if b.cached else f"{b.seconds:.1f}",
            )
            for b in report.images
        ],
    )


def show_publish(console: Console, report: PublishReport) -> None:
    console.show(
        report,
        f"images.publish → {report.registry} ({report.version})",
        ["image", "tags", "digest", "platforms", "SBOM", "provenance", "signed"],
        [
            (
                p.image,
                ", ".join(p.tags),
                p.digest[:19],
                ", ".join(p.platforms),
                ", ".join(
                    f"{arch}: {n} components" if p.sboms.get(arch) else f"{arch}: attested earlier"
                    for arch, n in p.sbom_components.items()
                ),
                "attested" if p.provenance else "none",
                "yes" if p.signed else "no",
            )
            for p in report.images
        ],
    )


def show_verify(console: Console, report: VerifyReport) -> None:
    console.show(
        report.model_dump(mode="json") | {"ok": report.ok},
        "images.verify",
        ["image", "reference", "signature", "SBOMs", "provenance", "result"],
        [
            (
                v.image,
                v.reference,
                v.signature_detail,
                ", ".join(
                    f"{arch}: {'signed' if ok else 'MISSING'}" for arch, ok in v.sboms.items()
                )
                or "none",
                v.provenance_detail,
                "ok" if v.ok else "FAILED",
            )
            for v in report.images
        ],
    )


def show_inspections(console: Console, inspections: list[ImageInspection]) -> None:
    if console.json_mode:
        console.json(
            {"images": [i.model_dump(mode="json") | {"passed": i.passed} for i in inspections]}
        )
        return
    for inspection in inspections:
        console.table(
            f"{inspection.reference} ({inspection.platform}): {inspection.size_bytes / MB:.0f} MB, "
            f"{inspection.layers} layers, user {inspection.user}, entrypoint {' '.join(inspection.entrypoint)}",
            ["check", "result", "detail"],
            [(c.name, "pass" if c.passed else "FAIL", c.detail) for c in inspection.checks],
        )


@json_or_human
def show_prune(console: Console, report: PruneReport) -> None:
    verb = "would untag" if report.dry_run else "untagged"
    console.table(
        f"images.prune: {verb} {len(report.stale_tags)} (current version {report.current_version})",
        ["tag", "why"],
        [(stale.reference, stale.why) for stale in report.stale_tags],
    )
    if report.stale_caches:
        console.table(
            f"state dir caches: {'would remove' if report.dry_run else 'removed'} "
            f"{len(report.stale_caches)}",
            ["path"],
            [(path,) for path in report.stale_caches],
        )
    console.line(
        f"dangling floe images: {report.dangling_images}; build cache budget "
        f"{report.build_cache_max_gb} GB; free disk {report.free_before_gb} → "
        f"{report.free_after_gb} GB"
    )
