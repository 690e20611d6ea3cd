"""What the smoke plays beside the chart: Postgres and S3 from the project's images (where the
smoke's values point the chart), and the stand-in for the Kubernetes API that the
K8sRunLauncher calls, with the service-account files a kubelet would mount.
"""

from __future__ import annotations

import json
import secrets
import shutil
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

import boto3

from floe_deploy.errors import ExitCode, FloeError
from floe_deploy.helm.chart import NAMESPACE, RenderedObject
from floe_deploy.helm.kube_rbac import RBAC_KINDS, service_account_user
from floe_deploy.helm.smoke_pods import API_PORT, PodPlayer, pod_document
from floe_deploy.helm.smoke_readiness import http_ok
from floe_deploy.helm.smoke_values import POSTGRES, S3_ACCESS_KEY
from floe_deploy.tls import server_tls
from floe_deploy.waiting import poll


def play_services(
    pods: PodPlayer,
    images: dict[str, str],
    credentials: dict[str, str],
    bucket: str,
    databases: set[str],
) -> None:
    """Postgres (with the values' databases) and S3 (with their bucket) from the project's
    images, as pods named like the chart expects."""
    postgres = pod_document("postgres", {"floe-smoke": "postgres"}, {
        "containers": [{
            "name": "postgres", "image": images["postgres"], "imagePullPolicy": "IfNotPresent",
            "env": [{"name": "POSTGRES_USER", "value": POSTGRES["user"]},
                    {"name": "POSTGRES_PASSWORD", "value": credentials["postgres"]},
                    {"name": "POSTGRES_DB", "value": POSTGRES["database"]}],
        }],
    })  # fmt: skip
    s3 = pod_document("s3", {"floe-smoke": "s3"}, {
        "containers": [{
            "name": "s3", "image": images["s3"], "imagePullPolicy": "IfNotPresent",
            "args": ["server", "/data"],
            "env": [{"name": "MINIO_ROOT_USER", "value": S3_ACCESS_KEY},
                    {"name": "MINIO_ROOT_PASSWORD", "value": credentials["s3"]}],
        }],
    })  # fmt: skip
    for document, alias in ((postgres, "postgres"), (s3, "s3")):
        (pod,) = pods.podman.play([document], None)
        pods.podman.alias(pod, alias)
        pods.ips[alias] = pods.podman.pod_ip(pod)
    _wait(
        "postgres",
        lambda: pods.podman.try_("exec", "postgres-postgres", "pg_isready", "-h", "127.0.0.1",
                                 "-q").returncode == 0,
    )  # fmt: skip
    for database in sorted(databases - {POSTGRES["database"]}):
        pods.podman("exec", "postgres-postgres", "psql", "-q", "-U", str(POSTGRES["user"]),
                    "-d", str(POSTGRES["database"]), "-c", f'CREATE DATABASE "{database}"')  # fmt: skip
    _wait("s3", lambda: http_ok(f"http://{pods.ips['s3']}:9000/", accept_4xx=True))
    s3_client(pods, credentials).create_bucket(Bucket=bucket)


def s3_client(pods: PodPlayer, credentials: dict[str, str]) -> Any:
    return boto3.client(
        "s3", endpoint_url=f"http://{pods.ips['s3']}:9000", aws_access_key_id=S3_ACCESS_KEY,
        aws_secret_access_key=credentials["s3"], region_name="us-east-1",
    )  # fmt: skip


def api_standin_files(
    run_dir: Path, objects: list[RenderedObject], host: str = "kubernetes"
) -> dict[str, str]:
    """The API stand-in's directory (TLS pair, the rendered RBAC, a token per rendered
    ServiceAccount and `default`, its Python package) and each ServiceAccount's files as a
    kubelet mounts them (token, CA, namespace); the tokens, by ServiceAccount."""
    for stale in ("serviceaccount", "kube-api", "jobs"):
        shutil.rmtree(run_dir / stale, ignore_errors=True)
    tls = server_tls("floe-smoke-ca", [host])
    names = sorted({"default", *(o.name for o in objects if o.kind == "ServiceAccount")})
    tokens = {name: secrets.token_urlsafe(32) for name in names}
    for name, token in tokens.items():
        account = run_dir / "serviceaccount" / name
        account.mkdir(parents=True, exist_ok=True)
        (account / "token").write_text(token)
        (account / "ca.crt").write_text(tls.ca)
        (account / "namespace").write_text(NAMESPACE)
    server = run_dir / "kube-api"
    package = server / "py" / "floe_deploy" / "helm"
    package.mkdir(parents=True, exist_ok=True)
    for module in ("kube_api_standin.py", "kube_rbac.py"):
        (package / module).write_text(
            resources.files("floe_deploy.helm").joinpath(module).read_text()
        )
    for init in (package / "__init__.py", package.parent / "__init__.py"):
        init.write_text("")
    (server / "tls.crt").write_text(tls.cert)
    (server / "tls.key").write_text(tls.key)
    (server / "config.json").write_text(json.dumps({
        "namespace": NAMESPACE,
        "tokens": {token: service_account_user(NAMESPACE, name) for name, token in tokens.items()},
        "rbac": [o.document for o in objects if o.kind in RBAC_KINDS],
    }))  # fmt: skip
    (run_dir / "jobs").mkdir(parents=True, exist_ok=True)
    for path in (server, run_dir / "jobs", *server.rglob("*")):
        path.chmod(0o777 if path.is_dir() else 0o644)
    return tokens


def play_api_standin(pods: PodPlayer, runtime_image: str, objects: list[RenderedObject]) -> None:
    """The Kubernetes API stand-in as the pod `kubernetes` (in the runtime image, so no other
    image is needed), answering with the rendered ServiceAccounts' tokens and RBAC."""
    api_standin_files(pods.run_dir, objects)
    server, jobs = pods.run_dir / "kube-api", pods.run_dir / "jobs"
    document = pod_document("kubernetes", {"floe-smoke": "kube-api"}, {
        "containers": [{
            "name": "api", "image": runtime_image, "imagePullPolicy": "IfNotPresent",
            "command": ["python3", "-m", "floe_deploy.helm.kube_api_standin"],
            "env": [{"name": "PYTHONPATH", "value": "/standin/py"},
                    {"name": "STANDIN_DIR", "value": "/standin"},
                    {"name": "JOBS_DIR", "value": "/jobs"},
                    {"name": "PORT", "value": str(API_PORT)}],
            "volumeMounts": [{"name": "standin", "mountPath": "/standin"},
                             {"name": "jobs", "mountPath": "/jobs"}],
        }],
        "volumes": [{"name": "standin", "hostPath": {"path": str(server), "type": "Directory"}},
                    {"name": "jobs", "hostPath": {"path": str(jobs), "type": "Directory"}}],
    })  # fmt: skip
    (pod,) = pods.podman.play([document], None)
    pods.podman.alias(pod, "kubernetes")
    pods.substitutions.append(
        f"Kubernetes API: a stand-in at https://kubernetes:{API_PORT} (TLS) serving what "
        "dagster-k8s calls: Jobs (create, get, status, list, delete), pods (list by label and "
        "field selectors, get, log, delete), events; each pod mounts its own ServiceAccount's "
        "token and every request is checked against the rendered Roles and RoleBindings (403 "
        "otherwise). The smoke plays each Job's pod, keeps the Job's and the pod's status and "
        "log current, and stops the pod (SIGTERM) when it is deleted"
    )


def _wait(what: str, ready: Callable[[], bool], timeout: float = 60.0) -> None:
    if poll(lambda: True if ready() else None, timeout=timeout, interval=0.5) is None:
        raise FloeError(
            f"{what} did not become ready within {timeout:.0f} s",
            f"`podman logs {what}-{what}` says why",
            exit_code=ExitCode.FAILURE,
        )
