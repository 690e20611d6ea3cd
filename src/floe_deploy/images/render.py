"""How image results look: the build summary table, the plan, or JSON."""

from __future__ import annotations

from floe_deploy.console import Console
from floe_deploy.images.build import BuildPlan, BuildReport

MB = 1_000_000


def show_plan(console: Console, plan: BuildPlan) -> None:
    if console.json_mode:
        console.json(plan)
        return
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


def show_build(console: Console, report: BuildReport) -> None:
    if console.json_mode:
        console.json(report)
        return
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
