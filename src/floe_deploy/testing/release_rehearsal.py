"""The release workflow rehearsed as GitHub runs it: `.github/workflows/release.yml` for a tag push,
run by act on this machine against a GHCR-like registry (floe_deploy.testing.ghcr).

What GitHub would provide, the rehearsal provides: a repository whose `origin` is
`https://github.com/<owner>/<repo>.git` with the checkout's files in one commit tagged `v<version>`;
the job token as `GITHUB_TOKEN`, accepted by the registry's token endpoint for the owner's
namespace only; `GITHUB_WORKFLOW_REF` (which act leaves empty); the repository variables
FLOE_REGISTRY, FLOE_REGISTRY_CA and FLOE_CHART_MIRROR; a cosign key pair in the secrets (Sigstore's
public services are unreachable here, so the keyless path is checked for agreement, not run).

The chart's dependency comes from a mirror in the same registry, as on an air-gapped site. This
machine has only the dagster chart of ../shared (older than the pin), so the mirror serves that
chart under the pinned version: the same substitution the packaged chart has always carried in
tests (floe_deploy.testing.charts).

`python -m floe_deploy.testing.release_rehearsal release|ci` (what `nox -s act` runs) prints the
run as JSON: every step's result and time, and, for the release, what `images.verify` says.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import helm_python

from floe_deploy.commands import run
from floe_deploy.helm.chart import CHART_DIR, dependencies
from floe_deploy.images.signing import key_pair
from floe_deploy.paths import BUILD_DIR, PROJECT_ROOT
from floe_deploy.testing import INVOKE
from floe_deploy.testing.act import WorkflowRun, run_workflow
from floe_deploy.testing.ghcr import Account, GhcrLikeRegistry, ghcr_like_registry

OWNER, REPOSITORY = "acme", "floe"
ACTOR = "release-bot"
WORKFLOW = "release.yml"
PASSED_THROUGH = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "DOCKER_HOST", "UV_CACHE_DIR",
                  "XDG_CACHE_HOME", "SSL_CERT_FILE")  # fmt: skip
"""The host environment a runner has; nothing of the toolkit's own FLOE_* settings leaks in."""


def actions_dir() -> Path | None:
    """The pinned actions' trees, when FLOE_ACTIONS_DIR names them (else act fetches them)."""
    configured = os.environ.get("FLOE_ACTIONS_DIR")
    return Path(configured) if configured else None


def workflow_identity(version: str, workflow: str = WORKFLOW) -> str:
    """What GitHub sets as GITHUB_WORKFLOW_REF, and Sigstore certifies for keyless signing."""
    return f"{OWNER}/{REPOSITORY}/.github/workflows/{workflow}@refs/tags/v{version}"


def _git(repo: Path, *args: str) -> str:
    return run(["git", *args], cwd=repo, remediation="check git", timeout=300).strip()


def rehearsal_repository(target: Path, version: str | None) -> Path:
    """The checkout's files (tracked and untracked, not ignored) as one commit, tagged
    `v<version>` when given, with GitHub's `origin`."""
    files = _git(PROJECT_ROOT, "ls-files", "-z", "--cached", "--others", "--exclude-standard")
    target.mkdir(parents=True)
    for name in filter(None, files.split("\0")):
        source = PROJECT_ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    _git(target, "init", "-q", "-b", "main")
    _git(target, "add", "-A")
    _git(target, "-c", "user.name=floe rehearsal", "-c", "user.email=rehearsal@floe.invalid",
         "commit", "-q", "-m", "rehearsal")  # fmt: skip
    if version:
        _git(target, "tag", f"v{version}")
    _git(target, "remote", "add", "origin", f"https://github.com/{OWNER}/{REPOSITORY}.git")
    return target


def docker_login(
    config: Path, registry: GhcrLikeRegistry, username: str, password: str
) -> subprocess.CompletedProcess[str]:
    """`docker login` through the Docker CLI into its own config directory."""
    return subprocess.run(
        ["docker", "--config", str(config), "login", registry.address, "--username", username,
         "--password-stdin"],
        input=password, capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip


def fill_chart_mirror(registry: GhcrLikeRegistry, env: dict[str, str], work: Path) -> str:
    """The dagster chart in `<owner>/mirror/charts`, under the pinned version; returns the mirror."""
    dagster_chart = os.environ.get("FLOE_DAGSTER_CHART")
    (pinned,) = [d for d in dependencies(CHART_DIR) if d.name == "dagster"]
    chart = work / "mirror-source" / CHART_DIR.name
    shutil.copytree(CHART_DIR, chart, ignore=shutil.ignore_patterns("charts", "Chart.lock"))
    (chart / "charts").mkdir()
    source = Path(dagster_chart) if dagster_chart else CHART_DIR / "charts" / "dagster"
    helm_python.package(str(source), destination=str(chart / "charts"), version=pinned.version)
    mirror = f"oci://{registry.address}/{OWNER}/mirror/charts"
    done = subprocess.run([INVOKE, "helm.mirror", "--to", mirror, "--chart", str(chart)],
                          cwd=PROJECT_ROOT, capture_output=True, text=True, check=False,
                          env={**os.environ, **env}, timeout=600)  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"helm.mirror failed: {done.stderr}")
    return mirror


@dataclass
class ReleaseStage:
    """A GHCR-like registry with its account, logins, mirror and signing key, ready for runs."""

    registry: GhcrLikeRegistry
    account: Account
    login_env: dict[str, str]
    mirror: str
    key: Path
    public_key: Path
    password: str
    work: Path

    def repository(self, version: str) -> Path:
        """The repository whose tag `v<version>` is pushed: made once per version, so a re-run
        runs the same commit, as GitHub's "Re-run jobs" does."""
        repo = self.work / "repositories" / version
        return repo if repo.is_dir() else rehearsal_repository(repo, version)

    def run(self, version: str, name: str, *, timeout: float = 7200) -> WorkflowRun:
        """release.yml for the tag push of `v<version>`; act's logs and artifacts in `work/name`."""
        run_dir = self.work / name
        repo = self.repository(version)
        identity = workflow_identity(version)
        return run_workflow(
            repo,
            WORKFLOW,
            "push",
            {"ref": f"refs/tags/v{version}", "ref_name": f"v{version}",
             "repository": {"full_name": f"{OWNER}/{REPOSITORY}", "name": REPOSITORY,
                            "owner": {"login": OWNER, "name": OWNER}}},
            run_dir / "act",
            actor=self.account.username,
            secrets={"GITHUB_TOKEN": self.account.token, "COSIGN_PRIVATE_KEY": self.key.read_text(),
                     "COSIGN_PASSWORD": self.password},
            variables={"FLOE_REGISTRY": self.registry.address,
                       "FLOE_REGISTRY_CA": str(self.registry.ca_file),
                       "FLOE_CHART_MIRROR": self.mirror},
            env={"GITHUB_WORKFLOW_REF": identity},
            base_env={k: v for k, v in os.environ.items() if k in PASSED_THROUGH},
            actions_dir=actions_dir(),
            timeout=timeout,
        )  # fmt: skip

    def record(self, run: WorkflowRun) -> dict[str, Any]:
        """The release record the run uploaded as its `release-record` artifact."""
        (archive,) = (run.log.parent / "artifacts").rglob("release-record.zip")
        with zipfile.ZipFile(archive) as uploaded:
            record: dict[str, Any] = json.loads(uploaded.read("release.json"))
        return record

    @staticmethod
    def identity(version: str) -> str:
        """The builder a release's provenance names (and Sigstore would certify, keyless)."""
        return f"https://github.com/{workflow_identity(version)}"


@contextmanager
def release_stage(work: Path) -> Iterator[ReleaseStage]:
    account = Account(ACTOR, f"ghs_{secrets.token_urlsafe(24)}", OWNER)
    with ghcr_like_registry(work / "registry", [account]) as registry:
        config = work / "docker-config"
        login = docker_login(config, registry, account.username, account.token)
        if login.returncode != 0:
            raise RuntimeError(f"docker login {registry.address} failed: {login.stderr}")
        login_env = {"DOCKER_CONFIG": str(config), "FLOE_REGISTRY_CA": str(registry.ca_file),
                     "FLOE_REGISTRY": registry.address,
                     "FLOE_IMAGE_PREFIX": f"{OWNER}/{REPOSITORY}"}  # fmt: skip
        mirror = fill_chart_mirror(registry, login_env, work)
        password = secrets.token_urlsafe(12)
        key, public = key_pair(work / "cosign", password)
        yield ReleaseStage(registry, account, login_env, mirror, key, public, password, work)


def main(argv: list[str]) -> int:
    which = argv[0] if argv else ""
    if which not in {"release", "ci"}:
        print("usage: python -m floe_deploy.testing.release_rehearsal release|ci", file=sys.stderr)
        return 2
    work = BUILD_DIR / "act" / which
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    if which == "ci":
        run = run_workflow(
            rehearsal_repository(work / "repo", None), "ci.yml", "pull_request",
            {"pull_request": {"head": {"ref": "rehearsal"}, "base": {"ref": "main"}}},
            work / "act", base_env={k: v for k, v in os.environ.items() if k in PASSED_THROUGH},
            actions_dir=actions_dir(), stop_before="Run every check",
        )  # fmt: skip
        print(run.model_dump_json(indent=2))
        return 0 if run.succeeded else 1
    version = "0.0.1"
    with release_stage(work) as stage:
        run = stage.run(version, "release")
        verified: Any = None
        if run.succeeded:
            done = subprocess.run(
                [INVOKE, "images.verify", "--tag", version, "--key", str(stage.public_key),
                 "--certificate-identity", stage.identity(version), "--json"],
                cwd=PROJECT_ROOT, capture_output=True, text=True, check=False,
                env={**os.environ, **stage.login_env}, timeout=1800,
            )  # fmt: skip
            verified = json.loads(done.stdout or "{}")
        print(json.dumps({"run": run.model_dump(mode="json"), "verify": verified}, indent=2))
        return 0 if run.succeeded and verified and verified.get("ok") else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
