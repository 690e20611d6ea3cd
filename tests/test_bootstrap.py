"""scripts/bootstrap and its Python half: OS detection, version parsing, component groups (on
this bootstrapped machine nothing is installed)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from floe_deploy.console import Console
from floe_deploy.errors import FloeError
from floe_deploy.platform.bootstrap import (
    STEPS,
    Group,
    Outcome,
    _major,
    _version_line,
    bootstrap,
    check_supported_os,
)
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


@pytest.mark.parametrize("group", list(Group))
def test_one_group_checks_only_its_own_components(group: Group) -> None:
    """On this (bootstrapped) machine each component of the group is found, and no other is run."""
    result = bootstrap(Console(json_mode=True), [group])
    expected = [component for component, in_group, _ in STEPS if in_group is group]
    assert [step.component for step in result.steps] == expected
    assert {step.outcome for step in result.steps} == {Outcome.PRESENT}


def test_the_demo_waits_only_for_the_platform_group() -> None:
    """`--demo` installs the platform group, brings the demo up, then installs the checks' tools."""
    script = (PROJECT_ROOT / "scripts" / "bootstrap").read_text()
    demo = script[script.index('if [ "$start_demo" = true ]') :]
    order = [demo.index(marker) for marker in
             ("install --only platform", "invoke platform.up", "invoke demo.up", "install --only checks")]  # fmt: skip
    assert order == sorted(order)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--only"], "ERROR: --only needs a group. Remediation:"),
        (["--only", "tests"], "argument --only: invalid choice: 'tests'"),
    ],
)
def test_only_takes_a_known_group(argv: list[str], message: str) -> None:
    done = subprocess.run(
        ["bash", str(PROJECT_ROOT / "scripts" / "bootstrap"), *argv],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2
    assert message in done.stderr
