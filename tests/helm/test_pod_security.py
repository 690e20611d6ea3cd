"""The restricted Pod Security check, one planted violation per control of the profile, each on
the prod render's code-server Deployment (which passes as rendered).

No API server (whose PodSecurity admission is the reference) runs here: the controls are those
the Kubernetes documentation lists for "baseline" and "restricted"."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from floe_deploy.helm import pss
from tests.helm.conftest import Renderer, find

pytestmark = pytest.mark.requirement("007-FR-020", evidence="stand-in")

Plant = Callable[[dict[str, Any]], None]


def _pod(document: dict[str, Any]) -> dict[str, Any]:
    spec = pss.pod_spec(document)
    assert spec is not None
    return spec


def _container(document: dict[str, Any]) -> dict[str, Any]:
    container: dict[str, Any] = _pod(document)["containers"][0]
    return container


def _context(document: dict[str, Any]) -> dict[str, Any]:
    context: dict[str, Any] = _container(document).setdefault("securityContext", {})
    return context


PLANTS: list[tuple[str, Plant, str]] = [
    ("host network", lambda d: _pod(d).update(hostNetwork=True), "hostNetwork is true"),
    ("host PID", lambda d: _pod(d).update(hostPID=True), "hostPID is true"),
    ("host IPC", lambda d: _pod(d).update(hostIPC=True), "hostIPC is true"),
    ("privileged", lambda d: _context(d).update(privileged=True), "privileged"),
    ("capability", lambda d: _context(d).update(capabilities={"drop": ["ALL"], "add": ["SYS_ADMIN"]}),
     "adds capabilities ['SYS_ADMIN']"),
    ("hostPath", lambda d: _pod(d)["volumes"].append({"name": "h", "hostPath": {"path": "/"}}),
     "volume h is hostPath"),
    ("volume type", lambda d: _pod(d)["volumes"].append({"name": "n", "nfs": {"server": "x", "path": "/"}}),
     "volume n is nfs"),
    ("host port", lambda d: _container(d).setdefault("ports", []).append({"containerPort": 80, "hostPort": 80}),
     "hostPort 80"),
    ("sysctl", lambda d: _pod(d).setdefault("securityContext", {}).update(
        sysctls=[{"name": "kernel.msgmax", "value": "1"}]), "unsafe sysctls kernel.msgmax"),
    ("procMount", lambda d: _context(d).update(procMount="Unmasked"), "procMount is Unmasked"),
    ("SELinux type", lambda d: _context(d).update(seLinuxOptions={"type": "spc_t"}),
     "seLinuxOptions.type spc_t"),
    ("SELinux user", lambda d: _context(d).update(seLinuxOptions={"user": "root"}),
     "seLinuxOptions.user is set"),
    ("AppArmor field", lambda d: _context(d).update(appArmorProfile={"type": "Unconfined"}),
     "appArmorProfile is Unconfined"),
    ("AppArmor annotation", lambda d: d["spec"]["template"].setdefault("metadata", {}).setdefault(
        "annotations", {}).update({pss.APPARMOR_ANNOTATION + "dagster-user-deployments": "unconfined"}),
     "AppArmor annotation"),
    ("Windows host process", lambda d: _context(d).update(windowsOptions={"hostProcess": True}),
     "hostProcess is true"),
    ("seccomp", lambda d: _context(d).update(seccompProfile={"type": "Unconfined"}),
     "seccompProfile is not RuntimeDefault"),
    ("privilege escalation", lambda d: _context(d).update(allowPrivilegeEscalation=True),
     "allowPrivilegeEscalation is not false"),
    ("root", lambda d: _context(d).update(runAsNonRoot=False), "runAsNonRoot is not true"),
    ("capabilities kept", lambda d: _context(d).update(capabilities={}), "do not drop ALL"),
    ("ephemeral container", lambda d: _pod(d).setdefault("ephemeralContainers", []).append(
        {"name": "debug", "image": "busybox"}), "debug: allowPrivilegeEscalation is not false"),
]  # fmt: skip


@pytest.fixture(scope="module")
def workload(rendered: Renderer) -> dict[str, Any]:
    (deployment,) = find(rendered("values-prod.yaml"), "Deployment", "user-deployments")
    assert pss.workload_problems(deployment.document) == []
    return deployment.document


@pytest.mark.parametrize(("control", "plant", "expected"), PLANTS, ids=[p[0] for p in PLANTS])
def test_each_control_of_the_restricted_profile_catches_its_planted_violation(
    workload: dict[str, Any], control: str, plant: Plant, expected: str
) -> None:
    document = copy.deepcopy(workload)
    plant(document)
    problems = pss.workload_problems(document) or []
    assert any(expected in problem for problem in problems), (control, problems)
