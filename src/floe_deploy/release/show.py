"""How `invoke build`, `invoke publish`, `invoke images.mirror` and the bundle tasks print their
results (a table, or JSON)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from floe_deploy.console import Console, json_or_human
from floe_deploy.release.publish import BuildRecord, ReleaseRecord

if TYPE_CHECKING:
    from floe_deploy.release.bundle import BundleExport, BundleImport
    from floe_deploy.release.mirror import MirrorReport


def show_build_record(console: Console, record: BuildRecord) -> None:
    console.show(
        record,
        f"build {record.version} ({record.git_commit[:12]})",
        ["artifact", "platform", "reference", "id / digest"],
        [
            *((b.image, b.platform, b.reference, b.image_id[:19]) for b in record.images.images),
            ("chart", "-", record.chart.archive, record.chart.digest[:19]),
        ],
    )


def show_release(console: Console, record: ReleaseRecord) -> None:
    console.show(
        record,
        f"publish {record.version} → {record.registry} (tags: {', '.join(record.tags)}); "
        f"record in build/release/{record.version}.json",
        ["artifact", "reference", "digest", "SBOM · provenance · signature"],
        [
            *(
                (i.image, i.repository, i.digest[:19], "attached · attested · signed")
                for i in record.images
            ),
            ("chart", record.chart.reference, record.chart.digest[:19], "signed"),
        ],
    )


@json_or_human
def show_mirror(console: Console, report: MirrorReport) -> None:
    console.table(f"images.mirror → {report.mirror}", ["image", "source", "target"],
                  [(m.name, m.source, m.target) for m in report.images])  # fmt: skip


@json_or_human
def show_bundle_export(console: Console, report: BundleExport) -> None:
    console.table(
        f"bundle.export {report.version} → {report.archive} "
        f"({report.size_bytes / 1e6:.1f} MB, sha256 {report.sha256[:12]}, {report.seconds:.1f} s)",
        ["kind", "repository", "tag", "digest"],
        [(a.kind.value, a.repository, a.tag, a.digest[:19]) for a in report.artifacts],
    )


@json_or_human
def show_bundle_import(console: Console, report: BundleImport) -> None:
    console.table(
        f"bundle.import {report.version} → {report.target} ({len(report.verified)} signatures "
        f"and attestations verified before the first push; {report.seconds:.1f} s)",
        ["kind", "landed at", "digest"],
        [(a.kind, a.reference, a.digest[:19]) for a in report.landed],
    )
