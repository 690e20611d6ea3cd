"""What the smoke plays beside the chart: Postgres and S3 from the project's images (where the
smoke's values point the chart), and the stand-in for the Kubernetes API that the
K8sRunLauncher calls, with the service-account files a kubelet would mount.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from importlib import resources
from typing import Any

import boto3
from pydantic import BaseModel

from floe_deploy.errors import ExitCode, FloeError
from floe_deploy.helm.smoke_pods import API_PORT, PodPlayer, pod_document
from floe_deploy.helm.smoke_readiness import http_ok
from floe_deploy.helm.smoke_values import POSTGRES, S3_ACCESS_KEY
from floe_deploy.tls import server_tls
from floe_deploy.waiting import poll


class _Tls(BaseModel):
    ca: str
    cert: str
    key: str
    token: str


def _api_tls(host: str) -> _Tls:
    """A throwaway CA and a server certificate for the API stand-in, plus a token."""
    tls = server_tls("floe-smoke-ca", [host])
    return _Tls(ca=tls.ca, cert=tls.cert, key=tls.key, token=secrets.token_urlsafe(32))


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


def play_api_standin(pods: PodPlayer, runtime_image: str) -> _Tls:
    """The Kubernetes API stand-in as the pod `kubernetes`, and the service-account files
    (token, CA) that the pods' kubelet additions mount."""
    tls = _api_tls("kubernetes")
    account = pods.run_dir / "serviceaccount"
    account.mkdir(parents=True, exist_ok=True)
    (account / "token").write_text(tls.token)
    (account / "ca.crt").write_text(tls.ca)
    (account / "namespace").write_text("floe")
    server = pods.run_dir / "kube-api"
    server.mkdir(parents=True, exist_ok=True)
    (server / "tls.crt").write_text(tls.cert)
    (server / "tls.key").write_text(tls.key)
    (server / "token").write_text(tls.token)
    script = resources.files("floe_deploy.helm").joinpath("kube_api_standin.py").read_text()
    (server / "server.py").write_text(script)
    jobs = pods.run_dir / "jobs"
    jobs.mkdir(parents=True, exist_ok=True)
    for path in (server, jobs, *server.iterdir()):
        path.chmod(0o777 if path.is_dir() else 0o644)
    document = pod_document("kubernetes", {"floe-smoke": "kube-api"}, {
        "containers": [{
            "name": "api", "image": runtime_image, "imagePullPolicy": "IfNotPresent",
            "command": ["python3", "/standin/server.py"],
            "env": [{"name": "TLS_CERT", "value": "/standin/tls.crt"},
                    {"name": "TLS_KEY", "value": "/standin/tls.key"},
                    {"name": "TOKEN_FILE", "value": "/standin/token"},
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
        f"Kubernetes API: a stand-in at https://kubernetes:{API_PORT} (TLS, service-account "
        "token) that records the Jobs the K8sRunLauncher creates; the smoke plays each Job's pod"
    )
    return tls


def _wait(what: str, ready: Callable[[], bool], timeout: float = 60.0) -> None:
    if poll(lambda: True if ready() else None, timeout=timeout, interval=0.5) is None:
        raise FloeError(
            f"{what} did not become ready within {timeout:.0f} s",
            f"`podman logs {what}-{what}` says why",
            exit_code=ExitCode.FAILURE,
        )
