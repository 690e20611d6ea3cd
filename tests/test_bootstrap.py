"""The Python half of scripts/bootstrap: OS detection and version parsing (no installs here)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from floe_deploy.errors import FloeError
from floe_deploy.platform.bootstrap import _major, _version_line, check_supported_os
from floe_deploy.testing import PROJECT_ROOT

pytestmark = pytest.mark.requirement("007-FR-002", evidence="real")


@pytest.mark.parametrize(
    "release",
    [
        'ID=debian\nVERSION_ID="12"\n',
        "ID=ubuntu\nID_LIKE=debian\n",
        "ID=linuxmint\nID_LIKE=ubuntu\n",
    ],
)
def test_debian_family_is_supported(tmp_path: Path, release: str) -> None:
    (tmp_path / "os-release").write_text(release)
    check_supported_os(tmp_path / "os-release")


def test_other_systems_get_one_clear_error(tmp_path: Path) -> None:
    (tmp_path / "os-release").write_text('ID=fedora\nPRETTY_NAME="Fedora Linux 41"\n')
    with pytest.raises(FloeError, match="unsupported operating system: Fedora Linux 41"):
        check_supported_os(tmp_path / "os-release")


@pytest.mark.parametrize(
    ("version", "major"), [("1.29.2-3", 1), ("2.26.1-4", 2), ("1:2.26.1-4", 2), (None, 0), ("", 0)]
)
def test_major_version_of_debian_versions(version: str | None, major: int) -> None:
    assert _major(version) == major


def test_version_line_picks_the_matching_line() -> None:
    assert _version_line(
        ["printf", "banner\\nGoVersion: go1.24\\nGitVersion: v2.5.0\\n"], "^GitVersion"
    ) == ("GitVersion: v2.5.0")
    assert _version_line(["false"]) is None
    assert _version_line(["no-such-program-floe"]) is None


def test_bootstrap_script_rejects_unknown_options() -> None:
    done = subprocess.run(
        ["bash", str(PROJECT_ROOT / "scripts" / "bootstrap"), "--bogus"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.startswith("ERROR: unknown option --bogus. Remediation:")
