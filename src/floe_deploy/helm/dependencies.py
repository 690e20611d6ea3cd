"""helm.deps and helm.mirror: the chart's dependencies, from their repositories or a mirror.

With a mirror (`oci://REGISTRY/charts`) every dependency comes from it: the chart is copied to a
scratch directory with each dependency's repository rewritten to the mirror, Helm resolves it
there, and the archives land in the chart's charts/ directory. The committed Chart.yaml keeps
the upstream repositories.
"""

from __future__ import annotations

from pathlib import Path

import helm_python
from pydantic import BaseModel

from floe_deploy.errors import FloeError
from floe_deploy.helm.artifact import pull_chart_archive, push_chart_archive
from floe_deploy.helm.chart import CHART_DIR, Dependency, dependencies
from floe_deploy.oci import OciClient, is_loopback
from floe_deploy.settings import Settings


class DependencyReport(BaseModel):
    chart: str
    source: str
    dependencies: list[Dependency]


class MirroredChart(BaseModel):
    name: str
    version: str
    reference: str
    digest: str


def oci_host(mirror: str) -> str:
    if not mirror.startswith("oci://"):
        raise FloeError(
            f"mirror {mirror!r} is not an oci:// reference", "write --mirror oci://HOST[:PORT]/PATH"
        )
    return mirror.removeprefix("oci://").split("/", 1)[0]


def update_dependencies(
    settings: Settings,
    chart_dir: Path = CHART_DIR,
    mirror: str | None = None,
    *,
    update: bool = False,
) -> DependencyReport:
    """Fetch every dependency into charts/: rebuilt from Chart.lock when there is one (unless
    `update`), else resolved from Chart.yaml's repositories and locked; or from a mirror."""
    declared = dependencies(chart_dir)
    locked = (chart_dir / "Chart.lock").is_file() and not update and mirror is None
    try:
        if mirror is None:
            plain = all(
                is_loopback(oci_host(d.repository))
                for d in declared
                if d.repository.startswith("oci://")
            )
            fetch = helm_python.dependency_build if locked else helm_python.dependency_update
            fetch(str(chart_dir), plain_http=plain)
        else:
            _update_from_mirror(settings, chart_dir, mirror.rstrip("/"))
    except helm_python.HelmError as error:
        where = mirror or ", ".join(sorted({d.repository for d in declared}))
        raise FloeError(
            f"dependencies could not be fetched from {where}: {str(error).splitlines()[0]}",
            "online: check the repository; air-gapped: `invoke helm.deps --mirror oci://REGISTRY/charts` "
            "from a mirror filled by `invoke helm.mirror`",
        ) from None
    source = mirror or ("Chart.lock" if locked else "Chart.yaml repositories")
    return DependencyReport(
        chart=str(chart_dir), source=source, dependencies=dependencies(chart_dir)
    )


def _update_from_mirror(settings: Settings, chart_dir: Path, mirror: str) -> None:
    """Each pinned dependency's archive from the mirror into charts/, through the toolkit's
    registry client (so `docker login` and FLOE_REGISTRY_CA apply)."""
    oci_host(mirror)
    oci = OciClient.from_settings(settings)
    bare = mirror.removeprefix("oci://")
    for dependency in dependencies(chart_dir):
        pull_chart_archive(
            oci, f"{bare}/{dependency.name}:{dependency.version}", chart_dir / "charts"
        )


def mirror_dependencies(
    settings: Settings, to: str, chart_dir: Path = CHART_DIR
) -> list[MirroredChart]:
    """Push each dependency archive present in charts/ to the mirror (`oci://REGISTRY/charts`)."""
    oci_host(to)
    missing = [d for d in dependencies(chart_dir) if not d.present]
    if missing:
        raise FloeError(
            f"{missing[0].name} {missing[0].version} is not in {chart_dir / 'charts'}, so it cannot be mirrored",
            "run `invoke helm.deps` on a machine that reaches its repository, then mirror from there",
        )
    pushed = []
    oci = OciClient.from_settings(settings)
    for dependency in dependencies(chart_dir):
        archive = chart_dir / "charts" / f"{dependency.name}-{dependency.version}.tgz"
        if not archive.is_file():
            raise FloeError(
                f"{dependency.name} is unpacked in charts/, not an archive",
                "run `invoke helm.deps` to fetch the archive",
            )
        repository = f"{to.rstrip('/')}/{dependency.name}"
        descriptor = push_chart_archive(oci, archive, repository)
        oci.tag(f"{repository}@{descriptor.digest}", [dependency.version])
        pushed.append(
            MirroredChart(
                name=dependency.name,
                version=dependency.version,
                reference=f"{repository}:{dependency.version}",
                digest=descriptor.digest,
            )
        )
    return pushed
