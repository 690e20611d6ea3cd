"""The Debian mirror is derived from the system's apt sources, in both source formats."""

from __future__ import annotations

from pathlib import Path

import pytest

from floe_deploy.errors import FloeError
from floe_deploy.platform.apt import debian_archive, debian_mirror, read_sources

pytestmark = pytest.mark.requirement("007-FR-002", evidence="real")


def make_apt_dir(tmp_path: Path, sources_list: str = "", **parts: str) -> Path:
    (tmp_path / "sources.list.d").mkdir(parents=True)
    (tmp_path / "sources.list").write_text(sources_list)
    for name, text in parts.items():
        (tmp_path / "sources.list.d" / name.replace("_", ".")).write_text(text)
    return tmp_path


DEB822 = """\
Types: deb
URIs: http://mirror.example/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://mirror.example/debian-security
Suites: bookworm-security
Components: main
"""


def test_deb822_sources(tmp_path: Path) -> None:
    apt_dir = make_apt_dir(tmp_path, debian_sources=DEB822)
    assert debian_mirror(apt_dir=apt_dir) == "http://mirror.example/debian"
    assert len(read_sources(apt_dir)) == 2


def test_one_line_sources_with_options(tmp_path: Path) -> None:
    apt_dir = make_apt_dir(
        tmp_path,
        "# comment\ndeb-src http://src.example/debian bookworm main\n"
        "deb [arch=amd64 signed-by=/k.gpg] http://one.example/debian/ bookworm main\n",
    )
    assert debian_mirror(apt_dir=apt_dir) == "http://one.example/debian"


def test_security_and_updates_alone_are_not_a_mirror(tmp_path: Path) -> None:
    apt_dir = make_apt_dir(
        tmp_path, "deb http://security.example/debian-security bookworm-security main\n"
    )
    with pytest.raises(FloeError, match="no Debian archive"):
        debian_mirror(apt_dir=apt_dir)


def test_disabled_and_source_only_stanzas_are_ignored(tmp_path: Path) -> None:
    apt_dir = make_apt_dir(
        tmp_path,
        other_sources="Types: deb\nURIs: http://off.example/debian\nSuites: bookworm\nEnabled: no\n\n"
        "Types: deb-src\nURIs: http://src.example/debian\nSuites: bookworm\n",
        debian_sources=DEB822,
    )
    assert debian_mirror(apt_dir=apt_dir) == "http://mirror.example/debian"


def test_files_disabled_by_renaming_are_ignored(tmp_path: Path) -> None:
    apt_dir = make_apt_dir(
        tmp_path, **{"cloud_list_disabled": "deb https://other.example/apt cloud main\n"}
    )
    with pytest.raises(FloeError):
        debian_mirror(apt_dir=apt_dir)


def test_a_debian_archive_is_known_by_its_suite_names(tmp_path: Path) -> None:
    """Ubuntu's archive is no place to fetch trixie's packages from."""
    ubuntu = make_apt_dir(
        tmp_path / "ubuntu",
        ubuntu_sources="Types: deb\nURIs: http://archive.ubuntu.com/ubuntu/\n"
        "Suites: noble noble-updates\nComponents: main universe\n",
    )
    assert debian_archive(ubuntu) is None
    assert debian_archive(make_apt_dir(tmp_path / "debian", debian_sources=DEB822)) == (
        "http://mirror.example/debian"
    )


def test_on_ubuntu_the_golden_base_needs_a_configured_debian_mirror(tmp_path: Path) -> None:
    """GitHub's Ubuntu runners: the release's golden base must not be debootstrapped from
    Ubuntu's archive; the error names the setting, and the setting is taken as given."""
    ubuntu = make_apt_dir(
        tmp_path,
        ubuntu_sources="Types: deb\nURIs: http://archive.ubuntu.com/ubuntu/\n"
        "Suites: noble noble-updates\nComponents: main universe\n",
    )
    with pytest.raises(FloeError) as refused:
        debian_mirror(apt_dir=ubuntu)
    assert "FLOE_DEBIAN_MIRROR" in refused.value.remediation
    assert debian_mirror("http://mirror.example/debian/", apt_dir=ubuntu) == (
        "http://mirror.example/debian"
    )
