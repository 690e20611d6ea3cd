"""scripts/bootstrap and its Python half: OS detection, version parsing, component groups, the
cosign and oras pins (on this bootstrapped machine nothing is installed: a tool outside its pin
or a missing one is faked by a directory of stand-in programs first on PATH)."""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from floe_deploy.console import Console
from floe_deploy.errors import FloeError
from floe_deploy.platform.apt import Apt
from floe_deploy.platform.bootstrap import (
    COSIGN,
    STEPS,
    Group,
    bootstrap,
    check_supported_os,
    main,
)
from floe_deploy.platform.distribution_tool import Outcome, upstream_major, version_line
from floe_deploy.platform.pins import (
    COSIGN_PIN,
    COSIGN_SERIES,
    COSIGN_SETUP_ACTION,
    ORAS_SERIES,
    ORAS_SETUP_ACTION,
    SetupAction,
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
    assert upstream_major(version) == major


def test_version_line_picks_the_matching_line() -> None:
    assert version_line(
        ["printf", "banner\\nGoVersion: go1.24\\nGitVersion: v2.5.0\\n"], "^GitVersion"
    ) == ("GitVersion: v2.5.0")
    assert version_line(["false"]) is None
    assert version_line(["no-such-program-floe"]) is None


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
    expected = [step.component for step in STEPS if group in step.groups]
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
        (
            ["--only"],
            "ERROR: --only needs a group. Remediation: pass --only platform, --only checks or "
            "--only release",
        ),
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


RELEASE_COMPONENTS = [
    "docker engine",
    "buildx plugin",
    "arm64 emulation",
    "debootstrap (golden base)",
    "debian-archive-keyring (the golden base's packages verified)",
    "cosign (signatures)",
    "oras (registry client)",
]
"""What `invoke build` and `invoke publish` need beside uv (which the shell half installs)."""


def test_the_release_group_checks_exactly_what_a_release_needs() -> None:
    result = bootstrap(Console(json_mode=True), [Group.RELEASE])
    assert [step.component for step in result.steps] == RELEASE_COMPONENTS
    assert {step.outcome for step in result.steps} == {Outcome.PRESENT}


def test_a_component_of_several_groups_is_checked_once() -> None:
    result = bootstrap(Console(json_mode=True), [Group.CHECKS, Group.RELEASE])
    components = [step.component for step in result.steps]
    assert (
        components.count("cosign (signatures)") == components.count("oras (registry client)") == 1
    )
    assert "compose v2 plugin" not in components


COSIGN_VERSION = """\
  ______   ______        _______. __    _______ .__   __.
 /      | /  __  \\      /       ||  |  /  _____||  \\ |  |
cosign: A tool for Container Signing, Verification and Storage in an OCI registry.

GitVersion:    {version}
GitCommit:     d7e5ba6fd5bbd2df1b6e9a8d50a6b10ab3d4a7f0
GitTreeState:  clean
BuildDate:     2025-10-10T17:43:15Z
GoVersion:     go1.25.1
Compiler:      gc
Platform:      linux/amd64
"""
ORAS_VERSION = """\
Version:        {version}
Go version:     go1.25.0
OS/Arch:        linux/amd64
Git commit:     d3b9d7d4c0bb9d3bc6f5c4b7c0e2c8e6ab5e2e21
Git tree state: clean
"""


def stand_in(directory: Path, program: str, output: str) -> Path:
    """An executable that prints `output`, as the real program's `version` prints it."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / program
    path.write_text(f"#!/bin/sh\ncat <<'END'\n{output}END\n")
    path.chmod(0o755)
    return path


@pytest.fixture
def stand_ins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A directory searched first on PATH, for stand-ins of cosign and oras."""
    directory = tmp_path / "bin"
    directory.mkdir()
    monkeypatch.setenv("PATH", f"{directory}{os.pathsep}{os.environ['PATH']}")
    return directory


@pytest.mark.parametrize(
    ("program", "output", "message", "action"),
    [
        (
            "cosign",
            COSIGN_VERSION.format(version="v3.0.1"),
            f"is cosign 3.0.1, but floe-deploy needs cosign {COSIGN_SERIES}.x",
            COSIGN_SETUP_ACTION,
        ),
        (
            "oras",
            ORAS_VERSION.format(version="1.3.0"),
            f"is oras 1.3.0, but floe-deploy needs oras {ORAS_SERIES}.x",
            ORAS_SETUP_ACTION,
        ),
    ],
)
def test_a_cosign_or_oras_outside_its_series_is_refused_before_anything_runs(
    stand_ins: Path,
    capsys: pytest.CaptureFixture[str],
    program: str,
    output: str,
    message: str,
    action: SetupAction,
) -> None:
    path = stand_in(stand_ins, program, output)
    assert main(["--only", "release"]) == 2
    printed = capsys.readouterr()
    everything = printed.out + printed.err
    assert f"{path} {message}" in " ".join(everything.split())
    assert str(action) in " ".join(everything.split())
    assert "docker engine" not in everything


def test_the_setup_actions_releases_are_accepted(stand_ins: Path) -> None:
    stand_in(stand_ins, "cosign", COSIGN_VERSION.format(version=COSIGN_SETUP_ACTION.version))
    stand_in(stand_ins, "oras", ORAS_VERSION.format(version=ORAS_SETUP_ACTION.version))
    result = bootstrap(Console(json_mode=True), [Group.RELEASE])
    details = {step.component: step.detail for step in result.steps}
    assert details["cosign (signatures)"].startswith(f"cosign 2.5.3 at {stand_ins / 'cosign'}")
    assert details["oras (registry client)"].startswith(f"oras 1.2.2 at {stand_ins / 'oras'}")


class RunnerApt(Apt):
    """The apt of an Ubuntu runner that offers no cosign; installing anything fails the test."""

    def candidate_version(self, package: str) -> str | None:
        return None

    def install(self, *packages: str) -> None:
        raise AssertionError(f"the bootstrap installed {packages}")


UBUNTU_SOURCES = """\
Types: deb
URIs: http://azure.archive.ubuntu.com/ubuntu/
Suites: noble noble-updates noble-backports
Components: main universe restricted multiverse
Signed-By: /usr/share/keyrings/ubuntu-archive-keyring.gpg

Types: deb
URIs: http://azure.archive.ubuntu.com/ubuntu/
Suites: noble-security
Components: main universe restricted multiverse
"""


def test_on_ubuntu_a_missing_cosign_names_the_setup_action(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ubuntu's sources name no Debian archive, so trixie's cosign is out of reach."""
    (tmp_path / "os-release").write_text(
        'PRETTY_NAME="Ubuntu 24.04.3 LTS"\nID=ubuntu\nID_LIKE=debian\nVERSION_ID="24.04"\n'
    )
    apt_dir = tmp_path / "apt"
    (apt_dir / "sources.list.d").mkdir(parents=True)
    (apt_dir / "sources.list.d" / "ubuntu.sources").write_text(UBUNTU_SOURCES)
    stand_in(tmp_path / "bin", "oras", ORAS_VERSION.format(version="1.2.2"))
    monkeypatch.setenv("PATH", os.pathsep.join([str(tmp_path / "bin"), "/usr/bin", "/bin"]))
    assert shutil.which("cosign") is None
    with pytest.raises(FloeError) as refused:
        bootstrap(
            Console(json_mode=True),
            [Group.RELEASE],
            apt=RunnerApt(apt_dir),
            os_release=tmp_path / "os-release",
        )
    assert "cosign is missing" in refused.value.message
    assert "name no Debian archive" in refused.value.message
    assert "sigstore/cosign-installer with cosign-release: v2.5.3" in refused.value.remediation


def build_deb(directory: Path, version: str) -> Path:
    """A cosign .deb whose program prints what trixie's build prints: `GitVersion: devel`."""
    root = directory / f"cosign_{version}"
    stand_in(root / "usr" / "bin", "cosign", COSIGN_VERSION.format(version="devel"))
    (root / "DEBIAN").mkdir()
    (root / "DEBIAN" / "control").write_text(
        f"Package: cosign\nVersion: {version}\nArchitecture: all\n"
        "Maintainer: floe <floe@example.org>\nDescription: stand-in\n"
    )
    deb = directory / f"cosign_{version}_all.deb"
    subprocess.run(
        ["dpkg-deb", "--root-owner-group", "--build", str(root), str(deb)],
        check=True,
        capture_output=True,
    )
    return deb


def test_a_devel_build_is_known_by_the_package_it_came_from(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """trixie's cosign prints `GitVersion: devel`; the bootstrap records its .deb's version."""
    target = tmp_path / "bin"
    cosign = dataclasses.replace(COSIGN, target_dir=lambda: target)
    with pytest.raises(FloeError, match=re.escape("cosign_3.0.1-1_all.deb is cosign 3.0.1-1")):
        cosign.install_deb(build_deb(tmp_path, "3.0.1-1"))
    assert not target.exists()
    cosign.install_deb(build_deb(tmp_path, "2.5.0-2"))
    monkeypatch.setenv("PATH", f"{target}{os.pathsep}{os.environ['PATH']}")
    assert cosign.present() == f"cosign 2.5.0 at {target / 'cosign'} (cosign 2.5.0-2)"
    (target / "cosign").write_text("#!/bin/sh\necho 'GitVersion:    devel'\n")
    moved = dataclasses.replace(cosign, target_dir=lambda: tmp_path / "elsewhere")
    with pytest.raises(FloeError, match="cannot tell which cosign"):
        moved.present()


def test_on_ubuntu_with_go_the_pinned_cosign_is_built_with_go_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GitHub's Ubuntu runners have Go: the bootstrap builds exactly the pinned module release
    (a `go` stand-in records what it was asked and leaves the program where GOBIN says)."""
    apt_dir = tmp_path / "apt"
    (apt_dir / "sources.list.d").mkdir(parents=True)
    (apt_dir / "sources.list.d" / "ubuntu.sources").write_text(UBUNTU_SOURCES)
    built = tmp_path / "built"
    asked = tmp_path / "go-install.args"
    program = COSIGN_VERSION.format(version="v2.5.3")
    stand_in(tmp_path / "tools", "go", "")
    (tmp_path / "tools" / "go").write_text(
        f'#!/bin/sh\necho "$@" > {asked}\nmkdir -p "$GOBIN"\n'
        f"printf '#!/bin/sh\\ncat <<END\\n{program}END\\n' > \"$GOBIN/cosign\"\n"
        'chmod +x "$GOBIN/cosign"\n'
    )
    monkeypatch.setenv(
        "PATH", os.pathsep.join([str(built), str(tmp_path / "tools"), "/usr/bin", "/bin"])
    )
    assert shutil.which("cosign") is None
    cosign = dataclasses.replace(COSIGN, target_dir=lambda: built)
    apt = RunnerApt(apt_dir)
    cosign.check_before_install(apt)
    outcome, detail = cosign.ensure(apt)
    assert outcome is Outcome.INSTALLED
    assert asked.read_text().split() == ["install", COSIGN_PIN.go_module]
    assert (
        COSIGN_PIN.go_module
        == f"github.com/sigstore/cosign/v2/cmd/cosign@{COSIGN_SETUP_ACTION.version}"
    )
    assert detail.startswith("cosign 2.5.3 at ")
    assert "go install" in detail
