"""Who published a release, as the signatures and the provenance say it: exact identities, the
workflow's repository and trigger, and SLSA v1 provenance fields (plumbing: the flags cosign is
given and the predicate written; tests/e2e/test_images.py runs them against a registry)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from floe_deploy.errors import FloeError
from floe_deploy.helm.publish import verify_chart
from floe_deploy.images.build import BuiltImage
from floe_deploy.images.provenance import BuildContext, provenance_predicate
from floe_deploy.images.signing import GITHUB_ISSUER, Signer, Verifier
from floe_deploy.images.versioning import ReleaseVersion
from floe_deploy.settings import load_settings

pytestmark = pytest.mark.requirement("007-FR-053", evidence="plumbing")

IDENTITY = "https://github.com/acme/floe/.github/workflows/release.yml@refs/tags/v1.2.3"
GITHUB_ENV = {
    "GITHUB_ACTIONS": "true",
    "GITHUB_SERVER_URL": "https://github.com",
    "GITHUB_REPOSITORY": "acme/floe",
    "GITHUB_WORKFLOW_REF": "acme/floe/.github/workflows/release.yml@refs/tags/v1.2.3",
    "GITHUB_REF": "refs/tags/v1.2.3",
    "GITHUB_RUN_ID": "4711",
    "GITHUB_RUN_ATTEMPT": "2",
}


def test_keyless_verification_matches_the_identity_exactly_with_repository_and_trigger() -> None:
    """An unanchored pattern let `acme/floe-fork` or a `v1.2.3-rc1` tag through."""
    flags = Verifier.choose(load_settings(), None, IDENTITY, GITHUB_ISSUER).flags()
    assert flags[flags.index("--certificate-identity") + 1] == IDENTITY
    assert "--certificate-identity-regexp" not in flags
    assert flags[flags.index("--certificate-github-workflow-repository") + 1] == "acme/floe"
    assert flags[flags.index("--certificate-github-workflow-ref") + 1] == "refs/tags/v1.2.3"
    assert flags[flags.index("--certificate-github-workflow-trigger") + 1] == "push"


def test_a_pattern_only_when_asked_and_then_anchored() -> None:
    pattern = r"https://github\.com/acme/floe/\.github/workflows/release\.yml@refs/tags/v.*"
    verifier = Verifier.choose(load_settings(), None, pattern, GITHUB_ISSUER, identity_regexp=True)
    flags = verifier.flags()
    assert flags[flags.index("--certificate-identity-regexp") + 1] == f"^{pattern}$"


def test_a_key_verification_checks_the_builder_the_provenance_names(tmp_path: Path) -> None:
    public = tmp_path / "cosign.pub"
    public.write_text("-----BEGIN PUBLIC KEY-----\n")
    verifier = Verifier.choose(load_settings(), public, IDENTITY, None)
    assert verifier.accepts_builder(IDENTITY)
    assert not verifier.accepts_builder(IDENTITY + "-rc1")
    assert not verifier.accepts_builder(IDENTITY.replace("acme/floe", "acme/floe-fork"))
    assert not verifier.accepts_builder("urn:floe-deploy:invoke-publish")


def test_keyless_signing_needs_the_jobs_oidc_token(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "ACTIONS_ID_TOKEN_REQUEST_URL",
        "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
        "SIGSTORE_ID_TOKEN",
    ):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(FloeError, match="OIDC token"):
        Signer(key=None).check()
    monkeypatch.setenv("ACTIONS_ID_TOKEN_REQUEST_URL", "https://token.example/")
    monkeypatch.setenv("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "t")
    Signer(key=None).check()


def built(platform: str, base: str) -> BuiltImage:
    arch = platform.split("/")[1]
    return BuiltImage(image="dagster", platform=platform, reference=f"floe/dagster:1.2.3-{arch}",
                      image_id=f"sha256:{arch * 8}", size_bytes=1, seconds=1,
                      base_images={"python:3.11-slim": base})  # fmt: skip


def test_provenance_names_the_workflow_the_run_the_source_and_each_platforms_base() -> None:
    """SLSA v1: builder = the workflow identity, invocation = the run, source = repository URL,
    ref and commit, base images by registry digest per platform (the old predicate had a local
    builder, a file:// source and one platform's base overwriting the other's)."""
    context = BuildContext.from_environment(GITHUB_ENV)
    version = ReleaseVersion(version="1.2.3", tags=["1.2.3"], revision="c0ffee" * 6 + "c0ff",
                             is_release=True)  # fmt: skip
    predicate = provenance_predicate(
        "dagster",
        [built("linux/amd64", "python@sha256:" + "a" * 64),
         built("linux/arm64", "python@sha256:" + "b" * 64)],
        version, datetime.now(UTC), context,
    )  # fmt: skip
    run = predicate["runDetails"]
    assert run["builder"]["id"] == IDENTITY
    assert run["metadata"]["invocationId"] == (
        "https://github.com/acme/floe/actions/runs/4711/attempts/2"
    )
    source, *_ = predicate["buildDefinition"]["resolvedDependencies"]
    assert source == {"uri": "git+https://github.com/acme/floe@refs/tags/v1.2.3",
                      "digest": {"gitCommit": version.revision}}  # fmt: skip
    bases = [
        d for d in predicate["buildDefinition"]["resolvedDependencies"]
        if d.get("uri", "").startswith("docker-image://")
    ]  # fmt: skip
    assert {(d["annotations"]["platform"], d["digest"]["sha256"]) for d in bases} == {
        ("linux/amd64", "a" * 64),
        ("linux/arm64", "b" * 64),
    }


def test_outside_a_workflow_the_builder_is_the_toolkit_and_the_source_the_origin_remote(
    tmp_path: Path,
) -> None:
    context = BuildContext.from_environment({}, repo=tmp_path)
    assert context.builder == "urn:floe-deploy:invoke-publish"
    assert context.invocation is None
    assert context.source == f"file://{tmp_path}"


def test_a_chart_has_no_provenance_so_a_key_and_an_identity_are_refused(tmp_path: Path) -> None:
    """Before, the chart's check said "built by IDENTITY" although nothing had checked it."""
    public = tmp_path / "cosign.pub"
    public.write_text("-----BEGIN PUBLIC KEY-----\n")
    settings = load_settings()
    with pytest.raises(FloeError, match="a chart carries no provenance"):
        verify_chart(
            settings, "oci://ghcr.io/acme/floe/charts/floe-dagster:1.2.3",
            Verifier.choose(settings, public, IDENTITY, None),
        )  # fmt: skip
