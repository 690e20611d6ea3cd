"""The storage check: the warehouse bucket on S3 or any S3-compatible endpoint, and which
credential S3's error code says is wrong."""

from __future__ import annotations

import socket
import uuid
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from floe_preflight.checks.shared import network_failure
from floe_preflight.checks.spec import CheckSpec, Outcome, Probe
from floe_preflight.config import PreflightSettings, StorageSettings
from floe_preflight.failures import CheckFailure, Kind
from floe_preflight.model import Status

if TYPE_CHECKING:
    from botocore.exceptions import ClientError

S3_KEY_ID = "FLOE_STORAGE__ACCESS_KEY_ID (or AWS_ACCESS_KEY_ID)"
S3_SECRET = "FLOE_STORAGE__SECRET_ACCESS_KEY (or AWS_SECRET_ACCESS_KEY)"  # noqa: S105 (setting names)
S3_TOKEN = "FLOE_STORAGE__SESSION_TOKEN (or AWS_SESSION_TOKEN)"  # noqa: S105 (setting names)


def storage_endpoint(settings: PreflightSettings) -> str:
    storage = settings.storage
    return storage.endpoint or f"https://s3.{storage.region}.amazonaws.com"


def _s3_credentials(storage: StorageSettings) -> dict[str, str]:
    """Explicit keys (with their session token) when set; else boto3's own chain (profile, IRSA)."""
    if not storage.access_key_id:
        return {}
    given = {
        "aws_access_key_id": storage.access_key_id,
        "aws_secret_access_key": storage.secret_access_key,
        "aws_session_token": storage.session_token,
    }
    return {
        name: value if isinstance(value, str) else value.get_secret_value()
        for name, value in given.items()
        if value
    }


def check_storage(probe: Probe) -> Outcome:
    """List one key under the warehouse prefix (the answer carries the S3 error code, which a
    HEAD does not); with --write-probe, put, get and delete one object there."""
    import boto3  # noqa: PLC0415
    from botocore.config import Config  # noqa: PLC0415
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError  # noqa: PLC0415
    from botocore.parsers import ResponseParserError  # noqa: PLC0415

    storage = probe.settings.storage
    endpoint = storage_endpoint(probe.settings)
    client = boto3.client(
        "s3", endpoint_url=storage.endpoint, region_name=storage.region, **_s3_credentials(storage),
        verify=storage.ca_bundle,
        config=Config(
            connect_timeout=probe.timeout, read_timeout=probe.timeout, retries={"max_attempts": 1},
            s3={"addressing_style": "path" if storage.path_style else "virtual"},
            request_checksum_calculation="when_required", response_checksum_validation="when_required",
        ),
    )  # fmt: skip
    bucket = storage.bucket or ""
    prefix = storage.warehouse_prefix.strip("/")
    action = f"list bucket {bucket}"
    probe.start()
    try:
        # ListObjects (v1): every S3-compatible server answers it; s3rver (the hermetic demo
        # image) fails ListObjectsV2 with a 500 once a page is truncated.
        client.list_objects(Bucket=bucket, Prefix=f"{prefix}/", MaxKeys=1)
        if probe.write_probe:
            key = f"{prefix}/.floe-preflight/{uuid.uuid4().hex}"
            action = f"write {key} in bucket {bucket}"
            client.put_object(Bucket=bucket, Key=key, Body=b"floe-preflight")
            body = client.get_object(Bucket=bucket, Key=key)["Body"].read()
            client.delete_object(Bucket=bucket, Key=key)
            if body != b"floe-preflight":
                raise CheckFailure(
                    Kind.UNEXPECTED,
                    f"read back {len(body)} bytes that differ from what was written",
                    service="the storage endpoint", endpoint=endpoint,
                )  # fmt: skip
    except ClientError as error:
        raise _storage_failure(error, endpoint, bucket, storage, action) from None
    except NoCredentialsError:
        raise CheckFailure(
            Kind.UNAUTHORIZED, "no storage credentials: no access key is set and boto3 found none",
            credentials=f"{S3_KEY_ID} and {S3_SECRET}", setting="FLOE_STORAGE__ACCESS_KEY_ID",
            endpoint=endpoint,
        ) from None  # fmt: skip
    except ResponseParserError:
        raise CheckFailure(
            Kind.NOT_S3, f"{endpoint} answered something other than S3's XML",
            setting="FLOE_STORAGE__ENDPOINT", endpoint=endpoint, service="the storage endpoint",
        ) from None  # fmt: skip
    except BotoCoreError as error:
        failure = network_failure(
            error, service="the storage endpoint", setting="FLOE_STORAGE__ENDPOINT",
            endpoint=endpoint, timeout=probe.timeout, ca_setting="FLOE_STORAGE__CA_BUNDLE",
        )  # fmt: skip
        if failure.kind is Kind.DNS and not storage.path_style and _host_resolves(storage.endpoint):
            virtual = f"{bucket}.{urlsplit(storage.endpoint or '').hostname}"
            failure = CheckFailure(
                Kind.PATH_STYLE, f"cannot resolve {virtual}, the bucket's virtual-host name",
                setting="FLOE_STORAGE__PATH_STYLE", resource=virtual, endpoint=endpoint,
                service="the storage endpoint",
            )  # fmt: skip
        raise failure from None
    written = (
        " and writable (put/get/delete under the warehouse prefix)" if probe.write_probe else ""
    )
    return Status.OK, f"bucket {bucket} reachable at {endpoint}{written}"


def _host_resolves(endpoint: str | None) -> bool:
    """Whether the endpoint's own host resolves (then a virtual-host name that does not is the
    addressing style's fault, not the endpoint's)."""
    parts = urlsplit(endpoint or "")
    if not parts.hostname:
        return False
    try:
        socket.getaddrinfo(parts.hostname, parts.port or 443)
    except OSError:
        return False
    return True


def _storage_failure(  # noqa: PLR0911 (one return per family of S3 error codes)
    error: ClientError, endpoint: str, bucket: str, storage: StorageSettings, action: str
) -> CheckFailure:
    """S3's error code says which credential is wrong: the key id, the secret or the token."""
    details = error.response.get("Error", {})
    code = str(details.get("Code", ""))
    said = str(details.get("Message", "")).strip()
    status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
    answer = f"{code}: {said}" if said else code or str(status)
    common: dict[str, str] = {"endpoint": endpoint, "service": "the storage endpoint"}
    headers = error.response.get("ResponseMetadata", {}).get("HTTPHeaders", {})
    bucket_region = headers.get("x-amz-bucket-region") or str(details.get("Region", ""))
    content_type = headers.get("content-type", "").split(";")[0]
    if content_type and "xml" not in content_type:
        # botocore reports an S3 answer it cannot parse as a 500 (to retry it): an HTML page is
        # not S3, whatever status botocore gives it
        return CheckFailure(
            Kind.NOT_S3, f"{endpoint} answered {content_type}, something other than S3's XML",
            setting="FLOE_STORAGE__ENDPOINT", **common,
        )  # fmt: skip
    if status >= 500:
        return CheckFailure(
            Kind.SERVER_ERROR, f"{endpoint} answered {status} ({answer}): a server error", **common
        )
    if code == "RequestTimeTooSkewed":
        return CheckFailure(
            Kind.CLOCK_SKEW, f"{endpoint} refused the request's time: this machine's clock is off ({code})",
            setting="the system clock", **common,
        )  # fmt: skip
    if code in {
        "PermanentRedirect",
        "AuthorizationHeaderMalformed",
        "IllegalLocationConstraintException",
    } or (status == 301 or (bucket_region and bucket_region != storage.region)):
        found = f"region {bucket_region}" if bucket_region else "its region"
        return CheckFailure(
            Kind.WRONG_REGION, f"bucket {bucket} is in {found}, not {storage.region} ({code or status})",
            resource=bucket_region or "the bucket's region", setting="FLOE_STORAGE__REGION", **common,
        )  # fmt: skip
    if code in {"NoSuchBucket", "404"} or status == 404:
        return CheckFailure(
            Kind.BUCKET_MISSING, f"bucket {bucket} does not exist at {endpoint}", resource=bucket,
            setting="FLOE_STORAGE__BUCKET", **common,
        )  # fmt: skip
    if code == "InvalidAccessKeyId":
        return CheckFailure(
            Kind.UNAUTHORIZED, f"{endpoint} does not know access key {storage.access_key_id} ({code})",
            credentials=S3_KEY_ID, setting="FLOE_STORAGE__ACCESS_KEY_ID", **common,
        )  # fmt: skip
    if code == "SignatureDoesNotMatch":
        return CheckFailure(
            Kind.UNAUTHORIZED,
            f"{endpoint} rejected the request signature: the secret key does not belong to access key "
            f"{storage.access_key_id} ({code})",
            credentials=S3_SECRET, setting="FLOE_STORAGE__SECRET_ACCESS_KEY", **common,
        )  # fmt: skip
    if code in {"InvalidToken", "ExpiredToken", "TokenRefreshRequired", "InvalidClientTokenId"}:
        return CheckFailure(
            Kind.UNAUTHORIZED, f"{endpoint} rejected the session token ({answer})",
            credentials=f"{S3_TOKEN} (temporary credentials expire; fetch new ones)",
            setting="FLOE_STORAGE__SESSION_TOKEN", **common,
        )  # fmt: skip
    if code in {"AccessDenied", "AllAccessDisabled", "403"} or status == 403:
        return CheckFailure(
            Kind.FORBIDDEN, f"access key {storage.access_key_id} may not {action} ({answer})",
            credentials=f"access key {storage.access_key_id}", resource=f"bucket {bucket}",
            setting="FLOE_STORAGE__ACCESS_KEY_ID", **common,
        )  # fmt: skip
    return CheckFailure(Kind.UNEXPECTED, f"{endpoint} answered {status} ({answer})", **common)


SPEC = CheckSpec(
    name="storage",
    run=check_storage,
    type_of=lambda settings: settings.storage.type,
    endpoint=storage_endpoint,
    endpoint_setting="FLOE_STORAGE__ENDPOINT",
    missing_setting=lambda settings: None if settings.storage.bucket else "FLOE_STORAGE__BUCKET",
    types="s3 (any S3-compatible endpoint)",
    probe=(
        "list one key under the warehouse prefix; with `--write-probe` put, get and delete one "
        "object there"
    ),
    needs="FLOE_STORAGE__BUCKET, credentials (AWS_* or boto3's chain)",
)
