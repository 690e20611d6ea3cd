"""Which floe image tags images.prune calls stale (pure rules; the engine run is in e2e)."""

from __future__ import annotations

import pytest

from floe_deploy.images.prune import split_reference, stale_reason
from floe_deploy.settings import Settings

CURRENT = "0.0.0-dev.abc1234"
BASES = {"floe/python-base:bookworm-newkey-amd64"}


@pytest.mark.requirement("007-FR-049", evidence="plumbing")
@pytest.mark.parametrize(
    ("reference", "expected"),
    [
        ("floe/dagster:2.0", (None, "floe/dagster", "2.0")),
        ("127.0.0.1:5000/floe/dagster:1.0-amd64", ("127.0.0.1:5000", "floe/dagster", "1.0-amd64")),
        ("registry.example/team/floe/cube:x", ("registry.example", "team/floe/cube", "x")),
        ("localhost/floe/s3", ("localhost", "floe/s3", "latest")),
        ("127.0.0.1:5000/floe/s3", ("127.0.0.1:5000", "floe/s3", "latest")),
    ],
)
def test_split_reference(reference: str, expected: tuple[str | None, str, str]) -> None:
    assert split_reference(reference) == expected


@pytest.mark.requirement("007-FR-049", evidence="plumbing")
@pytest.mark.parametrize(
    ("reference", "stale"),
    [
        (f"floe/dagster:{CURRENT}-amd64", False),
        (f"floe/dagster:{CURRENT}.dirty-arm64", False),
        ("floe/dagster:1.4.0-amd64", False),
        ("floe/dagster:0.0.0-dev.0ld0000-amd64", True),
        ("floe/dagster:0.0.0-dev.0ld0000.dirty-amd64", True),
        (f"floe/dagster-previous:{CURRENT}-amd64-dagster1.9.3", False),
        ("floe/dagster-previous:0.0.0-dev.0ld0000-amd64-dagster1.9.3", True),
        ("127.0.0.1:5000/floe/dagster:1.4.0-amd64", True),
        ("floe/python-base:bookworm-newkey-amd64", False),
        ("floe/python-base:bookworm-oldkey-amd64", True),
        ("someone/else:0.0.0-dev.0ld0000-amd64", False),
    ],
)
def test_stale_reason(reference: str, stale: bool) -> None:
    reason = stale_reason(reference, Settings(), f"{CURRENT}.dirty", BASES)
    assert (reason is not None) is stale, reason
