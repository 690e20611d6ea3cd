"""How platform results look: one table per result, or the model as JSON."""

from __future__ import annotations

from typing import TYPE_CHECKING

from floe_deploy.console import Console, json_or_human

if TYPE_CHECKING:
    from floe_deploy.platform.start_stop import StartStopResult
    from floe_deploy.platform.status import PlatformStatus


def show_start_stop(console: Console, title: str, result: StartStopResult) -> None:
    console.show(
        result,
        title,
        ["component", "action", "detail", "seconds"],
        [(c.component, c.action.value, c.detail, f"{c.seconds:.1f}") for c in result.components],
    )


def _mark(ok: bool) -> str:
    return "ok" if ok else "PROBLEM"


@json_or_human
def show_status(console: Console, status: PlatformStatus) -> None:
    engine, tools, builder, registry, res = (
        status.engine, status.tools, status.builder, status.registry, status.resources,
    )  # fmt: skip
    owner = {True: " (started by floe-deploy)", False: ""}
    rows = [
        ("engine", _mark(engine.reachable),
         f"{engine.server_version} API {engine.api_version} at {engine.address}{owner[engine.started_by_floe]}"
         if engine.reachable else f"no answer at {engine.address}"),
        ("docker CLI", _mark(engine.client_version is not None), engine.client_version or "unknown"),
        ("buildx", _mark(tools.buildx_version is not None), tools.buildx_version or "missing"),
        ("compose v2", _mark(tools.compose_version is not None), tools.compose_version or "missing"),
        ("builder", _mark("linux/arm64" in builder.platforms),
         f"{builder.name} ({builder.driver}): {', '.join(builder.platforms) or 'none'}"),
        ("arm64 emulation", _mark(status.emulation.arm64),
         "native" if status.emulation.native else ("qemu-aarch64 enabled" if status.emulation.arm64 else "off")),
        ("registry", _mark(registry.reachable),
         f"{registry.address} {registry.api_version or 'no answer'}{owner[registry.started_by_floe]}"),
        ("disk", _mark(res.free_disk_gb >= res.min_free_disk_gb),
         f"{res.free_disk_gb} GB free on {res.disk_path} (min {res.min_free_disk_gb})"),
        ("memory", _mark(res.free_memory_gb >= res.min_free_memory_gb),
         f"{res.free_memory_gb} GB available (min {res.min_free_memory_gb})"),
    ]  # fmt: skip
    console.table("platform.status", ["item", "state", "detail"], rows)
    for problem in status.problems:
        console.line(f"PROBLEM: {problem}")
