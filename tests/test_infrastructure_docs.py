"""docs/07 says what the chart and workload really use: its IAM policy names the production
values' bucket and prefixes and grants exactly the S3 actions floe performs; nothing is left
"to be written"."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from floe_deploy.paths import PROJECT_ROOT
from floe_deploy.yaml_read import load_document
from floe_preflight.config import StorageSettings

pytestmark = pytest.mark.requirement("007-FR-006", evidence="real")

DOC = PROJECT_ROOT / "docs" / "07-infrastructure-provisioning.md"
PROD_VALUES = PROJECT_ROOT / "helm" / "floe-dagster" / "values-prod.yaml"
S3_ACTIONS = {
    "s3:ListBucket": "listing a prefix (pyiceberg, Arrow, preflight)",
    "s3:GetBucketLocation": "the region lookup of S3 clients",
    "s3:GetObject": "reading Iceberg files and step logs",
    "s3:PutObject": "writing them",
    "s3:DeleteObject": "preflight --write-probe, Iceberg snapshot expiry",
    "s3:AbortMultipartUpload": "a failed large write",
    "s3:ListMultipartUploadParts": "large writes",
}


def iam_policy() -> dict[str, Any]:
    text = DOC.read_text()
    section = text[text.index("least-privilege IAM policy") :]
    block = re.search(r"```json\n(.*?)```", section, re.DOTALL)
    assert block is not None
    policy: dict[str, Any] = json.loads(block[1])
    return policy


def test_the_iam_policy_grants_exactly_what_floe_does() -> None:
    policy = iam_policy()
    assert policy["Version"] == "2012-10-17"
    granted = {
        action
        for statement in policy["Statement"]
        if statement["Effect"] == "Allow"
        for action in statement["Action"]
    }
    assert granted == set(S3_ACTIONS)
    assert all("*" not in action for action in granted)


def test_the_iam_policy_names_the_prod_bucket_and_prefixes() -> None:
    values = load_document(PROD_VALUES.read_text())
    bucket = values["artifacts"]["storage"]["bucket"]
    logs = values["dagster"]["computeLogManager"]["config"]["s3ComputeLogManager"]
    warehouse = StorageSettings().warehouse_prefix
    assert logs["bucket"] == bucket
    resources = {
        resource
        for statement in iam_policy()["Statement"]
        for resource in (
            statement["Resource"]
            if isinstance(statement["Resource"], list)
            else [statement["Resource"]]
        )
    }
    assert resources == {
        f"arn:aws:s3:::{bucket}",
        f"arn:aws:s3:::{bucket}/{warehouse}/*",
        f"arn:aws:s3:::{bucket}/{logs['prefix']}/*",
    }


def test_nothing_is_left_to_be_written() -> None:
    text = DOC.read_text().lower()
    assert "to be written" not in text
    assert "still to come" not in text
