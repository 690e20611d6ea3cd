"""Pod Security Standard "restricted" (plus the project's rules: UID 1000, read-only root with a
writable /tmp emptyDir, requests and limits), checked on rendered workloads and on the dagster
chart's values for the workloads it renders."""

from __future__ import annotations

from typing import Any

UID = 1000
WORKLOAD_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob", "Pod"}
ALLOWED_CAPABILITIES = {"NET_BIND_SERVICE"}
SECCOMP_TYPES = {"RuntimeDefault", "Localhost"}


def pod_spec(document: dict[str, Any]) -> dict[str, Any] | None:
    kind = document.get("kind")
    spec = document.get("spec") or {}
    if kind == "Pod":
        return spec
    if kind == "CronJob":
        spec = ((spec.get("jobTemplate") or {}).get("spec")) or {}
    if kind in WORKLOAD_KINDS:
        template: dict[str, Any] = (spec.get("template") or {}).get("spec") or {}
        return template
    return None


def container_problems(
    pod_context: dict[str, Any], context: dict[str, Any], name: str
) -> list[str]:
    """What keeps one container (pod-level context merged under its own) from being restricted."""
    effective = {**pod_context, **context}
    problems = []
    if effective.get("runAsNonRoot") is not True:
        problems.append(f"{name}: runAsNonRoot is not true")
    if effective.get("runAsUser") != UID:
        problems.append(f"{name}: runAsUser is {effective.get('runAsUser')}, not {UID}")
    if ((effective.get("seccompProfile") or {}).get("type")) not in SECCOMP_TYPES:
        problems.append(f"{name}: seccompProfile is not RuntimeDefault")
    if context.get("allowPrivilegeEscalation") is not False:
        problems.append(f"{name}: allowPrivilegeEscalation is not false")
    if context.get("privileged"):
        problems.append(f"{name}: privileged")
    capabilities = context.get("capabilities") or {}
    if "ALL" not in (capabilities.get("drop") or []):
        problems.append(f"{name}: capabilities do not drop ALL")
    added = set(capabilities.get("add") or []) - ALLOWED_CAPABILITIES
    if added:
        problems.append(f"{name}: adds capabilities {sorted(added)}")
    if context.get("readOnlyRootFilesystem") is not True:
        problems.append(f"{name}: readOnlyRootFilesystem is not true")
    return problems


def resource_problems(resources: dict[str, Any] | None, name: str) -> list[str]:
    problems = []
    for section in ("requests", "limits"):
        given = (resources or {}).get(section) or {}
        missing = [key for key in ("cpu", "memory") if key not in given]
        if missing:
            problems.append(f"{name}: no {section} for {', '.join(missing)}")
    return problems


TMP_RULE = "no writable emptyDir at /tmp (read-only root)"


def workload_problems(document: dict[str, Any]) -> list[str] | None:
    """Violations of a workload (empty when it complies); None for objects that run no pods."""
    spec = pod_spec(document)
    if spec is None:
        return None
    problems = []
    for flag in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(flag):
            problems.append(f"pod: {flag} is true")
    empty_dirs = {v["name"] for v in spec.get("volumes") or [] if "emptyDir" in v}
    if any("hostPath" in volume for volume in spec.get("volumes") or []):
        problems.append("pod: hostPath volume")
    pod_context = spec.get("securityContext") or {}
    containers = [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]
    for container in containers:
        name = container.get("name", "?")
        problems += container_problems(pod_context, container.get("securityContext") or {}, name)
        problems += resource_problems(container.get("resources"), name)
        mounts = {m.get("mountPath"): m.get("name") for m in container.get("volumeMounts") or []}
        if mounts.get("/tmp") not in empty_dirs:
            problems.append(f"{name}: {TMP_RULE}")
    return problems


def init_container_names(document: dict[str, Any]) -> set[str]:
    return {c.get("name", "?") for c in (pod_spec(document) or {}).get("initContainers") or []}


def _component_problems(component: dict[str, Any], name: str) -> list[str]:
    problems = container_problems(
        component.get("podSecurityContext") or {}, component.get("securityContext") or {}, name
    )
    problems += resource_problems(component.get("resources"), name)
    empty_dirs = {v["name"] for v in component.get("volumes") or [] if "emptyDir" in v}
    mounts = {m.get("mountPath"): m.get("name") for m in component.get("volumeMounts") or []}
    if mounts.get("/tmp") not in empty_dirs:
        problems.append(f"{name}: {TMP_RULE}")
    return problems


def dagster_values_problems(dagster: dict[str, Any]) -> list[str]:
    """The official chart's workloads as its values configure them: webserver, daemon and every
    user-code deployment. Run pods are checked as dagster-k8s builds them (helm.run_pods)."""
    problems = _component_problems(dagster.get("dagsterWebserver") or {}, "dagsterWebserver")
    daemon = dagster.get("dagsterDaemon") or {}
    if daemon.get("enabled", True):
        problems += _component_problems(daemon, "dagsterDaemon")
    user = dagster.get("dagster-user-deployments") or {}
    if user.get("enabled", True):
        for deployment in user.get("deployments") or []:
            problems += _component_problems(deployment, f"user deployment {deployment.get('name')}")
    return problems
