"""The values a smoke plays: the user's chosen values pointed at the project's images and at the
Postgres and S3 the smoke plays beside the chart (what `helm.smoke` overlays, nothing else)."""

from __future__ import annotations

from copy import deepcopy
from typing import Any

from floe_deploy.tls import server_tls

POSTGRES: dict[str, Any] = {"host": "postgres", "port": 5432, "database": "floe", "user": "floe"}
S3_ENDPOINT = "http://s3:9000"
S3_ACCESS_KEY = "floe-smoke"


def _split_reference(reference: str) -> dict[str, str]:
    repository, _, tag = reference.rpartition(":")
    return {"repository": repository, "tag": tag, "pullPolicy": "IfNotPresent"}


def smoke_values(chosen: dict[str, Any], images: dict[str, str]) -> dict[str, Any]:
    """The user's values with what the played platform needs: the images here (one runtime
    image everywhere), Postgres and S3 at the played services, the preflight hook on."""
    runtime = _split_reference(images["dagster"])
    values = deepcopy(chosen)
    values["image"] = runtime
    dagster = values.setdefault("dagster", {})
    for component in ("dagsterWebserver", "dagsterDaemon"):
        dagster.setdefault(component, {})["image"] = runtime
    for deployment in dagster.get("dagster-user-deployments", {}).get("deployments") or []:
        deployment["image"] = runtime
    dagster["postgresql"] = {
        **dagster.get("postgresql", {}),
        "image": _split_reference(images["postgres"]),
        "postgresqlHost": POSTGRES["host"],
        "postgresqlUsername": POSTGRES["user"],
        "postgresqlDatabase": dagster.get("postgresql", {}).get("postgresqlDatabase")
        or POSTGRES["database"],
        "postgresqlParams": {},
    }
    dagster["busybox"] = {"image": _split_reference(images["busybox"])}
    artifacts = values.setdefault("artifacts", {})
    if (artifacts.get("catalog") or {}).get("type", "sql") == "sql":
        artifacts.setdefault("catalog", {})["postgres"] = dict(POSTGRES)
    artifacts["serving"] = {**artifacts.get("serving", {}), "postgres": dict(POSTGRES)}
    artifacts["storage"] = {
        **artifacts.get("storage", {}),
        "endpoint": S3_ENDPOINT,
        "accessKeyId": S3_ACCESS_KEY,
        "pathStyle": True,
    }
    values["cube"] = {
        **values.get("cube", {}),
        "enabled": True,
        "image": _split_reference(images["cube"]),
    }
    tls = values.get("tls") or {}
    if (tls.get("caBundle") or {}).get("configMapName") and not tls.get("caBundlePem"):
        # The user's CA ConfigMap is made beside the release; here the chart renders one.
        values["tls"] = {**tls, "caBundlePem": server_tls("floe-smoke-ca", ["localhost"]).ca}
    values["preflight"] = {**values.get("preflight", {}), "enabled": True}
    values["secrets"] = {**values.get("secrets", {}), "externalSecret": {"enabled": False},
                         "sealedSecret": {"enabled": False}}  # fmt: skip
    return values
