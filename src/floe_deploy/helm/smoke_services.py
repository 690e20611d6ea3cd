"""What the smoke plays beside the chart: Postgres and S3 from the project's images (where the
smoke's values point the chart), Postgres with TLS required when asked, the Iceberg REST catalog
stand-in for values with a REST catalog, and the stand-in for the Kubernetes API that the
K8sRunLauncher calls, with the service-account files a kubelet would mount.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import ssl
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

import boto3

from floe_deploy.errors import ExitCode, FloeError
from floe_deploy.helm.chart import NAMESPACE, RenderedObject
from floe_deploy.helm.kube_rbac import RBAC_KINDS, service_account_user
from floe_deploy.helm.pss import UID as RUNTIME_UID
from floe_deploy.helm.smoke_pods import API_PORT, PodPlayer, pod_document
from floe_deploy.helm.smoke_readiness import http_ok
from floe_deploy.helm.smoke_values import (
    CATALOG_HOST,
    CATALOG_URI,
    POSTGRES,
    S3_ACCESS_KEY,
    S3_ENDPOINT,
)
from floe_deploy.tls import ServerTls, server_tls
from floe_deploy.waiting import poll

POSTGRES_UID = 999
"""The postgres user of the project's Postgres image: its key file must be its own."""
PG_HBA_TLS_ONLY = """local all all trust
hostssl all all all scram-sha-256
"""
"""Connections over the network only with TLS (a plain one is refused); psql in the pod
through the socket."""
DEFAULT_SCOPE = "PRINCIPAL_ROLE:ALL"
"""The scope the demo's and floe-preflight's catalog clients ask for unless the values say."""


def write_owned(path: Path, text: str, mode: int, uid: int) -> None:
    """A file of the pod's user `uid`, created with `mode`: a key or secret is never readable by
    others, not even while it is written."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(descriptor, "w") as file:
        os.fchown(descriptor, uid, uid)
        file.write(text)


def _postgres_tls_files(pods: PodPlayer, tls: ServerTls) -> dict[str, Any]:
    """The server's certificate, its key (the postgres user's own, mode 0600) and a pg_hba.conf
    that refuses connections without TLS, as a hostPath volume."""
    if os.geteuid() != 0:
        raise FloeError(
            "--tls gives the played Postgres its key as the postgres user's own file, which "
            "needs root (the smoke plays rootful podman)",
            "run helm.smoke as root, or without --tls",
        )
    directory = pods.run_dir / "postgres-tls"
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    pods.postgres_ca = directory / "ca.crt"
    pods.postgres_ca.write_text(tls.ca)
    for name, text, mode in (
        ("tls.crt", tls.cert, 0o644),
        ("tls.key", tls.key, 0o600),
        ("pg_hba.conf", PG_HBA_TLS_ONLY, 0o644),
    ):
        write_owned(directory / name, text, mode, POSTGRES_UID)
    return {"name": "tls", "hostPath": {"path": str(directory), "type": "Directory"}}


def play_services(
    pods: PodPlayer,
    images: dict[str, str],
    credentials: dict[str, str],
    bucket: str,
    databases: set[str],
    *,
    postgres_tls: ServerTls | None = None,
) -> None:
    """Postgres (with the values' databases) and S3 (with their bucket) from the project's
    images, as pods named like the chart expects; with `postgres_tls`, Postgres serves that
    certificate and refuses connections without TLS."""
    container: dict[str, Any] = {
        "name": "postgres", "image": images["postgres"], "imagePullPolicy": "IfNotPresent",
        "env": [{"name": "POSTGRES_USER", "value": POSTGRES["user"]},
                {"name": "POSTGRES_PASSWORD", "value": credentials["postgres"]},
                {"name": "POSTGRES_DB", "value": POSTGRES["database"]}],
    }  # fmt: skip
    spec: dict[str, Any] = {"containers": [container]}
    if postgres_tls is not None:
        spec["volumes"] = [_postgres_tls_files(pods, postgres_tls)]
        container["volumeMounts"] = [
            {"name": "tls", "mountPath": "/etc/floe-tls", "readOnly": True}
        ]
        container["args"] = ["postgres", "-c", "ssl=on",
                             "-c", "ssl_cert_file=/etc/floe-tls/tls.crt",
                             "-c", "ssl_key_file=/etc/floe-tls/tls.key",
                             "-c", "hba_file=/etc/floe-tls/pg_hba.conf"]  # fmt: skip
    postgres = pod_document("postgres", {"floe-smoke": "postgres"}, spec)
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
        pods,
        "postgres",
        lambda: pods.podman.try_("exec", "postgres-postgres", "pg_isready", "-h", "127.0.0.1",
                                 "-q").returncode == 0,
    )  # fmt: skip
    for database in sorted(databases - {POSTGRES["database"]}):
        pods.podman("exec", "postgres-postgres", "psql", "-q", "-U", str(POSTGRES["user"]),
                    "-d", str(POSTGRES["database"]), "-c", f'CREATE DATABASE "{database}"')  # fmt: skip
    _wait(pods, "s3", lambda: http_ok(f"http://{pods.ips['s3']}:9000/", accept_4xx=True))
    s3_client(pods, credentials).create_bucket(Bucket=bucket)


def postgres_refuses_plain(pods: PodPlayer) -> str:
    """The report's check that the played Postgres requires TLS: a connection over the pod
    network without it is refused by pg_hba (before any password is asked)."""
    conninfo = (
        f"host={pods.ips['postgres']} user={POSTGRES['user']} dbname={POSTGRES['database']} "
        "sslmode=disable"
    )
    done = pods.podman.try_("exec", "postgres-postgres", "psql", "-X", conninfo, "-c", "SELECT 1")
    if done.returncode == 0:
        return "FAIL: a connection without TLS was let in"
    if "no encryption" not in done.stderr:
        return f"FAIL: a connection without TLS failed otherwise: {done.stderr.strip()[-200:]}"
    return "ok: pg_hba refuses it (no encryption)"


def s3_client(pods: PodPlayer, credentials: dict[str, str]) -> Any:
    return boto3.client(
        "s3", endpoint_url=f"http://{pods.ips['s3']}:9000", aws_access_key_id=S3_ACCESS_KEY,
        aws_secret_access_key=credentials["s3"], region_name="us-east-1",
    )  # fmt: skip


CATALOG_PORT = 8181


def play_catalog_standin(
    pods: PodPlayer,
    runtime_image: str,
    tls: ServerTls,
    credentials: dict[str, str],
    *,
    catalog: dict[str, Any],
    bucket: str,
    postgres_tls: bool,
) -> None:
    """The Iceberg REST catalog stand-in (iceberg_rest_standin: Polaris cannot run here) as the
    pod `catalog`, over TLS from the smoke's CA, in the runtime image: it keeps metadata with
    pyiceberg's SQL catalog in the played Postgres and files in the played S3, and grants the
    values' client id the values' scope with the generated client secret. Its key and its
    config (which holds the secrets) are the runtime user's own, mode 0600."""
    directory = pods.run_dir / "catalog"
    shutil.rmtree(directory, ignore_errors=True)
    standin_package(directory, ["iceberg_rest_standin.py"])
    (directory / "tls.crt").write_text(tls.cert)
    (directory / "ca.crt").write_text(tls.ca)
    for path in (directory, *directory.rglob("*")):
        path.chmod(0o755 if path.is_dir() else 0o644)
    write_owned(directory / "tls.key", tls.key, 0o600, RUNTIME_UID)
    verify = "?sslmode=verify-full&sslrootcert=/standin/ca.crt" if postgres_tls else ""
    write_owned(directory / "config.json", json.dumps({
        "port": CATALOG_PORT, "cert_file": "/standin/tls.crt", "key_file": "/standin/tls.key",
        "base_path": CATALOG_URI.split(f":{CATALOG_PORT}", 1)[1],
        "client_id": catalog["client_id"], "client_secret": credentials["polaris"],
        "scopes": [catalog.get("scope") or DEFAULT_SCOPE], "warehouse": catalog["warehouse"],
        "sql_uri": f"postgresql+psycopg://{POSTGRES['user']}:{credentials['postgres']}@"
                   f"{POSTGRES['host']}:{POSTGRES['port']}/{POSTGRES['database']}{verify}",
        "warehouse_location": f"s3://{bucket}/catalog",
        "file_io": {"s3.endpoint": S3_ENDPOINT, "s3.access-key-id": S3_ACCESS_KEY,
                    "s3.secret-access-key": credentials["s3"], "s3.region": "us-east-1"},
    }), 0o600, RUNTIME_UID)  # fmt: skip
    document = pod_document(CATALOG_HOST, {"floe-smoke": "catalog"}, {
        "containers": [{
            "name": "catalog", "image": runtime_image, "imagePullPolicy": "IfNotPresent",
            "command": ["python3", "-m", "floe_deploy.helm.iceberg_rest_standin"],
            "env": [{"name": "PYTHONPATH", "value": "/standin/py"},
                    {"name": "CATALOG_CONFIG", "value": "/standin/config.json"},
                    {"name": "AWS_REQUEST_CHECKSUM_CALCULATION", "value": "when_required"},
                    {"name": "AWS_RESPONSE_CHECKSUM_VALIDATION", "value": "when_required"}],
            "volumeMounts": [{"name": "standin", "mountPath": "/standin", "readOnly": True}],
        }],
        "volumes": [{"name": "standin", "hostPath": {"path": str(directory), "type": "Directory"}}],
    })  # fmt: skip
    (pod,) = pods.podman.play([document], None)
    pods.podman.alias(pod, CATALOG_HOST)
    pods.ips[CATALOG_HOST] = pods.podman.pod_ip(pod)
    context = ssl.create_default_context(cadata=tls.ca)
    _wait(pods, CATALOG_HOST, lambda: _handshakes(pods.ips[CATALOG_HOST], context), timeout=180)
    pods.substitutions.append(
        f"Iceberg REST catalog (Polaris): a protocol stand-in at {CATALOG_URI} over TLS from the "
        "smoke's CA, keeping metadata through pyiceberg's SQL catalog in the played Postgres "
        "(database floe) and files in the played S3; OAuth2 client credentials as the values "
        "name them"
    )


def _handshakes(ip: str, context: ssl.SSLContext) -> bool:
    """The catalog at `ip` completes a TLS handshake as `catalog` (its name in the pods)."""
    try:
        with (
            socket.create_connection((ip, CATALOG_PORT), timeout=3) as raw,
            context.wrap_socket(raw, server_hostname=CATALOG_HOST),
        ):
            return True
    except OSError:
        return False


def standin_package(directory: Path, modules: list[str]) -> None:
    """`modules` of floe_deploy.helm under `directory`/py, for a stand-in the runtime image runs
    with PYTHONPATH=<mount>/py (the image carries no floe_deploy)."""
    package = directory / "py" / "floe_deploy" / "helm"
    package.mkdir(parents=True, exist_ok=True)
    for module in modules:
        (package / module).write_text(
            resources.files("floe_deploy.helm").joinpath(module).read_text()
        )
    for init in (package / "__init__.py", package.parent / "__init__.py"):
        init.write_text("")


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
    standin_package(server, ["kube_api_standin.py", "kube_rbac.py"])
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


def _wait(pods: PodPlayer, what: str, ready: Callable[[], bool], timeout: float = 60.0) -> None:
    """Until the played service `what` is ready; else an error with its last log lines."""
    if poll(lambda: True if ready() else None, timeout=timeout, interval=0.5) is None:
        logs = pods.podman.logs(f"{what}-{what}", lines=15)
        raise FloeError(
            f"{what} did not become ready within {timeout:.0f} s; its last log lines:\n{logs}",
            "fix what its log names (the values it was played with, or its image)",
            exit_code=ExitCode.FAILURE,
        )
