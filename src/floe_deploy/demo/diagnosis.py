"""Why a demo service is not healthy: its failing healthcheck, its last log lines, a remediation."""

from __future__ import annotations

from pydantic import BaseModel
from python_on_whales import Container, DockerClient
from python_on_whales.exceptions import DockerException

LOG_LINES = 30


class ServiceState(BaseModel):
    service: str
    container: str
    id: str
    state: str
    health: str | None = None
    ports: list[str] = []


class ServiceProblem(BaseModel):
    service: str
    state: str
    healthcheck_output: str | None
    logs: str
    remediation: str


PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"


def project_containers(client: DockerClient, project: str) -> list[Container]:
    """The project's containers by label: needs no compose file, so it works before the first up."""
    return client.container.list(all=True, filters=[("label", f"{PROJECT_LABEL}={project}")])


def service_states(client: DockerClient, project: str) -> list[ServiceState]:
    """Every container of the compose project, running or not."""
    states = []
    for container in project_containers(client, project):
        service = (container.config.labels or {}).get(SERVICE_LABEL, container.name)
        health = container.state.health.status if container.state.health else None
        ports = sorted(
            f"{binding['HostIp']}:{binding['HostPort']}->{port}"
            for port, bindings in (container.network_settings.ports or {}).items()
            for binding in bindings or []
        )
        states.append(
            ServiceState(
                service=service,
                container=container.name,
                id=container.id[:12],
                state=str(container.state.status),
                health=str(health) if health else None,
                ports=ports,
            )
        )
    return sorted(states, key=lambda item: item.service)


def _remediation(container: Container, logs: str) -> str:
    text = logs.lower()
    if container.state.oom_killed:
        return "the container ran out of memory: free memory (the stack needs about 4 GB) and rerun `invoke demo.up`"
    if "address already in use" in text or "port is already allocated" in text:
        return "a port is taken: stop what holds it or set FLOE_DEMO__PORTS__<SERVICE>, then `invoke demo.up`"
    if "database files are incompatible with server" in text:
        return (
            "the postgres-data volume holds another PostgreSQL version's files: "
            "`invoke demo.down --volumes` removes them with the demo's data, then `invoke demo.up`"
        )
    if "no such image" in text or "pull access denied" in text:
        return "an image is missing: run `invoke demo.up --build`"
    return "read the log lines above; `invoke demo.logs -s SERVICE` shows more, `invoke demo.up` retries"


def unhealthy_services(client: DockerClient, project: str) -> list[ServiceProblem]:
    """Services that exited or whose healthcheck fails, with what they said last (a container
    never started waits on one of them and is not named)."""
    problems = []
    for container in project_containers(client, project):
        health = container.state.health
        healthy = health is None or health.status == "healthy"
        if (container.state.status == "running" and healthy) or container.state.status == "created":
            continue
        service = (container.config.labels or {}).get(SERVICE_LABEL, container.name)
        check_output = None
        if health is not None and health.log:
            last = health.log[-1]
            check_output = f"exit {last.exit_code}: {(last.output or '').strip()[-500:]}"
        try:
            logs = str(client.container.logs(container, tail=LOG_LINES))
        except DockerException as error:
            logs = f"(no logs: {error.stderr})"
        status = str(container.state.status)
        if health is not None:
            status += f", {health.status}"
        if container.state.exit_code:
            status += f", exit code {container.state.exit_code}"
        problems.append(
            ServiceProblem(
                service=service,
                state=status,
                healthcheck_output=check_output,
                logs=logs,
                remediation=_remediation(container, logs),
            )
        )
    return problems
