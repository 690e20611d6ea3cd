"""The cosign and oras releases floe-deploy depends on, in one place: the bootstrap checks them and
builds them with `go install` where no Debian archive is at hand (the release workflow on GitHub's
Ubuntu runners); the setup actions are named for runners that prefer them."""

from __future__ import annotations

import re
from dataclasses import dataclass

COSIGN_SERIES = "2"
"""cosign 3 no longer keeps signatures and attestations in the `sha256-<hex>.sig` and `.att` tags
that the toolkit writes, copies and verifies."""

ORAS_SERIES = "1.2"
"""The oras release series whose commands and output floe_deploy.oci is written against."""


@dataclass(frozen=True)
class SetupAction:
    """The GitHub Action that puts a pinned tool on a runner's PATH, and the input picking its
    release."""

    uses: str
    version_input: str
    version: str

    def __str__(self) -> str:
        return f"the setup action {self.uses} with {self.version_input}: {self.version}"


COSIGN_SETUP_ACTION = SetupAction("sigstore/cosign-installer", "cosign-release", "v2.5.3")
ORAS_SETUP_ACTION = SetupAction("oras-project/setup-oras", "version", "1.2.2")


@dataclass(frozen=True)
class Pin:
    """A program accepted only in one release series (`2` takes 2.5.3; `1.2` takes 1.2.2, not 1.3)."""

    program: str
    series: str
    reason: str
    setup_action: SetupAction
    go_module: str
    """`module/cmd/program@vX.Y.Z`: built with `go install` where no Debian archive is at hand
    (GitHub's Ubuntu runners have Go; the module proxy and checksum database verify it)."""

    def admits(self, version: str) -> bool:
        wanted = self.series.split(".")
        return version.split(".")[: len(wanted)] == wanted


COSIGN_PIN = Pin(
    "cosign",
    COSIGN_SERIES,
    "cosign 3 no longer stores signatures in the sha256-<hex>.sig/.att tags the toolkit uses",
    COSIGN_SETUP_ACTION,
    f"github.com/sigstore/cosign/v2/cmd/cosign@{COSIGN_SETUP_ACTION.version}",
)
ORAS_PIN = Pin(
    "oras",
    ORAS_SERIES,
    "the series floe_deploy.oci is written against",
    ORAS_SETUP_ACTION,
    f"oras.land/oras/cmd/oras@v{ORAS_SETUP_ACTION.version}",
)


def release_number(text: str) -> str | None:
    """The dotted release in a version line or a Debian version (`GitVersion: v2.5.3` → 2.5.3,
    `1:2.5.0-2+b1` → 2.5.0); None for a build that names none (`GitVersion: devel`)."""
    match = re.search(r"\d+(?:\.\d+)+", text)
    return match[0] if match else None
