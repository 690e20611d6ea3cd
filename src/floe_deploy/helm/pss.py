"""Pod Security Standard "restricted" (which includes "baseline"), as the Kubernetes docs list its
controls (kubernetes.io/docs/concepts/security/pod-security-standards, v1.34), plus the project's
rules: UID 1000, read-only root with a writable /tmp emptyDir, requests and limits. Checked on
rendered workloads and on the dagster chart's values for the workloads it renders. No API server
(whose PodSecurity admission is the reference) can run here; the planted tests hold one violation
of each control."""

from __future__ import annotations

from typing import Any

UID = 1000
WORKLOAD_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob", "Pod"}
ALLOWED_CAPABILITIES = {"NET_BIND_SERVICE"}
SECCOMP_TYPES = {"RuntimeDefault", "Localhost"}
APPARMOR_TYPES = {"RuntimeDefault", "Localhost"}
APPARMOR_ANNOTATION = "container.apparmor.security.beta.kubernetes.io/"
SELINUX_TYPES = {"", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"}
SAFE_SYSCTLS = {
    "kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range", "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.tcp_syncookies", "net.ipv4.ping_group_range", "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_fin_timeout", "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
}  # fmt: skip
VOLUME_TYPES = {
    "configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim",
    "projected", "secret",
}  # fmt: skip


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


def pod_metadata(document: dict[str, Any]) -> dict[str, Any]:
    """The metadata of the pods a workload runs (the Pod's own, else its template's)."""
    if document.get("kind") == "Pod":
        return document.get("metadata") or {}
    spec = document.get("spec") or {}
    if document.get("kind") == "CronJob":
        spec = ((spec.get("jobTemplate") or {}).get("spec")) or {}
    return (spec.get("template") or {}).get("metadata") or {}


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
    problems += _baseline_context_problems(effective, name)
    return problems


def _baseline_context_problems(context: dict[str, Any], name: str) -> list[str]:
    """Baseline controls of a security context: Windows host process, /proc mount, SELinux,
    AppArmor."""
    problems = []
    if (context.get("windowsOptions") or {}).get("hostProcess"):
        problems.append(f"{name}: windowsOptions.hostProcess is true")
    if context.get("procMount") not in (None, "Default"):
        problems.append(f"{name}: procMount is {context['procMount']}, not Default")
    selinux = context.get("seLinuxOptions") or {}
    if selinux.get("type", "") not in SELINUX_TYPES:
        problems.append(f"{name}: seLinuxOptions.type {selinux['type']} is not allowed")
    for field in ("user", "role"):
        if selinux.get(field):
            problems.append(f"{name}: seLinuxOptions.{field} is set")
    apparmor = (context.get("appArmorProfile") or {}).get("type")
    if apparmor is not None and apparmor not in APPARMOR_TYPES:
        problems.append(f"{name}: appArmorProfile is {apparmor}")
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
    volumes = spec.get("volumes") or []
    empty_dirs = {v["name"] for v in volumes if "emptyDir" in v}
    for volume in volumes:
        kinds = set(volume) - {"name"}
        if not kinds <= VOLUME_TYPES:
            problems.append(f"pod: volume {volume.get('name')} is {', '.join(sorted(kinds))}")
    pod_context = spec.get("securityContext") or {}
    unsafe = [
        s.get("name") for s in pod_context.get("sysctls") or [] if s.get("name") not in SAFE_SYSCTLS
    ]
    if unsafe:
        problems.append(f"pod: unsafe sysctls {', '.join(map(str, unsafe))}")
    annotations = pod_metadata(document).get("annotations") or {}
    for key, value in annotations.items():
        if (
            key.startswith(APPARMOR_ANNOTATION)
            and value != "runtime/default"
            and not str(value).startswith("localhost/")
        ):
            problems.append(f"pod: AppArmor annotation {key} is {value}")
    for debug in spec.get("ephemeralContainers") or []:  # no resources or mounts of their own
        problems += container_problems(
            pod_context, debug.get("securityContext") or {}, debug.get("name", "?")
        )
    containers = [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]
    for container in containers:
        name = container.get("name", "?")
        problems += container_problems(pod_context, container.get("securityContext") or {}, name)
        problems += [
            f"{name}: hostPort {port['hostPort']}"
            for port in container.get("ports") or []
            if port.get("hostPort")
        ]
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
