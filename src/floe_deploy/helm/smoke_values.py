"""The values a smoke plays: the user's chosen values pointed at the project's images and at the
Postgres, S3 and Iceberg REST catalog the smoke plays beside the chart (what `helm.smoke`
overlays, nothing else)."""

from __future__ import annotations

from copy import deepcopy
from typing import Any

POSTGRES: dict[str, Any] = {"host": "postgres", "port": 5432, "database": "floe", "user": "floe"}
S3_ENDPOINT = "http://s3:9000"
S3_ACCESS_KEY = "floe-smoke"
CATALOG_HOST = "catalog"
CATALOG_URI = f"https://{CATALOG_HOST}:8181/api/catalog"
"""The REST catalog stand-in, where Polaris serves its catalog API."""


def _split_reference(reference: str) -> dict[str, str]:
    repository, _, tag = reference.rpartition(":")
    return {"repository": repository, "tag": tag, "pullPolicy": "IfNotPresent"}


def _postgres(user: dict[str, Any] | None, tls: bool) -> dict[str, Any]:
    """The played Postgres, with the values' sslmode when it speaks TLS."""
    sslmode = (user or {}).get("sslmode")
    return {**POSTGRES, "sslmode": sslmode} if tls and sslmode else dict(POSTGRES)


def smoke_values(
    chosen: dict[str, Any], images: dict[str, str], *, ca: str, postgres_tls: bool = False
) -> dict[str, Any]:
    """The user's values with what the played platform needs: the images here (one runtime
    image everywhere), Postgres, S3 and a REST catalog at the played services, the preflight
    hook on. The values' Postgres TLS settings stay when the played Postgres speaks TLS
    (`postgres_tls`), else they go. `ca` (the smoke's CA, which signed the played servers) is
    the bundle the chart renders when the values give one (a ConfigMap made beside the release,
    or their own PEM)."""
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
        "postgresqlParams": dict(dagster.get("postgresql", {}).get("postgresqlParams") or {})
        if postgres_tls
        else {},
    }
    dagster["busybox"] = {"image": _split_reference(images["busybox"])}
    artifacts = values.setdefault("artifacts", {})
    catalog = artifacts.setdefault("catalog", {})
    if catalog.get("type", "sql") == "sql":
        catalog["postgres"] = _postgres(catalog.get("postgres"), postgres_tls)
    else:
        catalog["uri"] = CATALOG_URI
    serving = artifacts.get("serving", {})
    artifacts["serving"] = {**serving, "postgres": _postgres(serving.get("postgres"), postgres_tls)}
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
    if (tls.get("caBundle") or {}).get("configMapName") or tls.get("caBundlePem"):
        values["tls"] = {**tls, "caBundlePem": ca}
    values["preflight"] = {**values.get("preflight", {}), "enabled": True}
    values["secrets"] = {**values.get("secrets", {}), "externalSecret": {"enabled": False},
                         "sealedSecret": {"enabled": False}}  # fmt: skip
    return values
