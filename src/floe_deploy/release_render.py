"""How `invoke build` and `invoke publish` print their results (a table, or JSON)."""

from __future__ import annotations

from floe_deploy.console import Console
from floe_deploy.release import BuildRecord, ReleaseRecord


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
