"""Appending order batches to an Iceberg table, once per batch id.

A retried run appends nothing the second time: every append records its batch id in the
snapshot summary, and a batch id already there is skipped. Storage and catalog are checked
before anything is written, so a wrong setting leaves no namespace, table or partial batch.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
from pyarrow import fs
from pyiceberg.catalog import Catalog, load_catalog
from pyiceberg.exceptions import NoSuchTableError
from pyiceberg.table import Table

from floe_demo.config import (
    POLARIS_SECRET_ENV,
    POSTGRES_PASSWORD_ENV,
    STORAGE_SECRET_ENV,
    CompiledArtifacts,
    ConfigurationError,
    Secrets,
)
from floe_demo.generator import ORDER_SCHEMA

BATCH_PROPERTY = "floe.batch-id"


@dataclass(frozen=True)
class AppendResult:
    batch_id: str
    rows: int
    appended: bool
    snapshot_id: int | None


def storage_properties(artifacts: CompiledArtifacts, secrets: Secrets) -> dict[str, str]:
    storage = artifacts.storage
    properties = {
        "s3.access-key-id": storage.access_key_id,
        "s3.secret-access-key": secrets.storage_secret_access_key.get_secret_value(),
        "s3.region": storage.region,
        "s3.force-virtual-addressing": str(not storage.path_style).lower(),
    }
    if storage.endpoint:
        properties["s3.endpoint"] = storage.endpoint
        # S3-compatible servers (MinIO releases, s3rver, Ceph) reject the checksums the AWS SDKs
        # send by default since 2025; Arrow's S3 client reads these from the environment only.
        os.environ.setdefault("AWS_REQUEST_CHECKSUM_CALCULATION", "when_required")
        os.environ.setdefault("AWS_RESPONSE_CHECKSUM_VALIDATION", "when_required")
    return properties


def check_bucket(artifacts: CompiledArtifacts, secrets: Secrets) -> None:
    """Fail early, naming storage.bucket, when the bucket is missing or the credentials are wrong."""
    storage = artifacts.storage
    endpoint = storage.endpoint or ""
    filesystem = fs.S3FileSystem(
        access_key=storage.access_key_id,
        secret_key=secrets.storage_secret_access_key.get_secret_value(),
        region=storage.region,
        endpoint_override=endpoint.split("://", 1)[-1] or None,
        scheme="http" if endpoint.startswith("http://") else "https",
        force_virtual_addressing=not storage.path_style,
        connect_timeout=5,
        request_timeout=10,
    )
    try:
        info = filesystem.get_file_info(storage.bucket)
    except OSError as error:
        raise ConfigurationError(
            f"storage at {endpoint or 'AWS S3'} refused access to bucket {storage.bucket!r} ({error}): "
            f"check storage.endpoint, storage.access_key_id and {STORAGE_SECRET_ENV}"
        ) from None
    if info.type == fs.FileType.NotFound:
        raise ConfigurationError(
            f"storage.bucket {storage.bucket!r} does not exist at {endpoint or 'AWS S3'}: "
            "create the bucket or fix storage.bucket"
        )


def open_catalog(artifacts: CompiledArtifacts, secrets: Secrets) -> Catalog:
    """The Iceberg catalog the artifacts name; connection problems name the setting to fix."""
    config = artifacts.catalog
    properties: dict[str, Any] = {"type": config.type, "warehouse": config.warehouse}
    properties |= storage_properties(artifacts, secrets)
    if config.type == "sql":
        assert config.postgres is not None
        properties["uri"] = config.postgres.sqlalchemy_uri(secrets.postgres_password)
        properties["init_catalog_tables"] = "true"
    else:
        if secrets.polaris_client_secret is None:
            raise ConfigurationError(
                f"{POLARIS_SECRET_ENV} is not set: a rest catalog needs the OAuth2 client secret"
            )
        properties["uri"] = config.uri
        properties["credential"] = (
            f"{config.client_id}:{secrets.polaris_client_secret.get_secret_value()}"
        )
        properties["scope"] = config.scope
    try:
        return load_catalog(config.name, **properties)
    except Exception as error:
        text = str(error).replace(secrets.postgres_password.get_secret_value(), "***")
        hint = (
            f"check catalog.postgres and {POSTGRES_PASSWORD_ENV}"
            if config.type == "sql"
            else f"check catalog.uri, catalog.client_id and {POLARIS_SECRET_ENV}"
        )
        raise ConfigurationError(
            f"the {config.type} catalog could not be opened ({text.splitlines()[0]}): {hint}"
        ) from None


def _shape(schema: pa.Schema) -> list[tuple[str, pa.DataType]]:
    """Names and types, with Arrow's large string type (Iceberg's read-back) seen as string."""
    return [(f.name, pa.string() if pa.types.is_large_string(f.type) else f.type) for f in schema]


class IcebergLoader:
    """Appends batches to `<namespace>.<table>`, creating both on first use."""

    def __init__(self, catalog: Catalog, namespace: str, table: str) -> None:
        self.catalog = catalog
        self.identifier = (namespace, table)

    @classmethod
    def from_artifacts(cls, artifacts: CompiledArtifacts, secrets: Secrets) -> IcebergLoader:
        check_bucket(artifacts, secrets)
        return cls(open_catalog(artifacts, secrets), artifacts.demo.namespace, artifacts.demo.table)

    def table(self) -> Table:
        self.catalog.create_namespace_if_not_exists(self.identifier[0])
        table = self.catalog.create_table_if_not_exists(self.identifier, schema=ORDER_SCHEMA)
        if _shape(table.schema().as_arrow()) != _shape(ORDER_SCHEMA):
            raise ConfigurationError(
                f"table {'.'.join(self.identifier)} exists with another schema: "
                "drop it, or set demo.table to a new name"
            )
        return table

    def loaded_batches(self) -> set[str]:
        try:
            table = self.catalog.load_table(self.identifier)
        except NoSuchTableError:
            return set()
        return {
            batch
            for s in table.snapshots()
            if s.summary and (batch := s.summary.get(BATCH_PROPERTY))
        }

    def append(self, batch: pa.Table, batch_id: str) -> AppendResult:
        """Append once per batch id; a repeated batch id appends nothing."""
        table = self.table()
        if batch_id in self.loaded_batches():
            return AppendResult(batch_id=batch_id, rows=0, appended=False, snapshot_id=None)
        table.append(batch.cast(ORDER_SCHEMA), snapshot_properties={BATCH_PROPERTY: batch_id})
        snapshot = table.current_snapshot()
        return AppendResult(
            batch_id=batch_id,
            rows=batch.num_rows,
            appended=True,
            snapshot_id=snapshot.snapshot_id if snapshot else None,
        )

    def read(self) -> pa.Table:
        try:
            return self.catalog.load_table(self.identifier).scan().to_arrow()
        except NoSuchTableError:
            return ORDER_SCHEMA.empty_table()
