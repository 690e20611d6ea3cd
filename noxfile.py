"""Development sessions: lint, typecheck, tests, e2e, bench (`nox -l` lists them).

Every session installs the locked environment (uv.lock) with uv; arguments after `--` go to
pytest (tests, e2e) or to the benchmark runner (bench).
"""

from __future__ import annotations

import os
from pathlib import Path

import nox

nox.options.default_venv_backend = "uv"
nox.options.sessions = ["lint", "typecheck", "tests"]
nox.options.error_on_missing_interpreters = True
nox.options.reuse_venv = "yes"
"""Each session's venv is kept between runs; `uv sync --locked` makes it exactly uv.lock again."""

ROOT = Path(__file__).parent


def shell_scripts() -> list[str]:
    """Every file under scripts/, images/ and .ci/ whose first line is a shell shebang."""
    candidates = [
        *(ROOT / "scripts").iterdir(),
        *(ROOT / "images").rglob("*"),
        ROOT / ".ci" / "run",
    ]
    scripts = []
    for path in sorted(p for p in candidates if p.is_file()):
        with path.open("rb") as handle:
            first_line = handle.readline()
        if first_line.startswith(b"#!") and first_line.rstrip().endswith((b"sh", b"bash")):
            scripts.append(str(path))
    return scripts


PYTHON_TREES = ["src", "tasks", "tests", "e2e", "benchmarks", "demo", "preflight", "noxfile.py"]


def install_locked(session: nox.Session, *, compile_bytecode: bool = False) -> None:
    """Sync the session's venv from uv.lock: the same versions as the README and CI use.

    `compile_bytecode` for the sessions that start many Python processes (test workers, every
    `invoke` a test runs): where PYTHONDONTWRITEBYTECODE is set (this project's CI machine sets
    it), each process would otherwise compile Dagster, boto3 and the rest from source again."""
    session.run_install(
        "uv",
        "sync",
        "--locked",
        "--all-packages",
        *(["--compile-bytecode"] if compile_bytecode else []),
        env={"UV_PROJECT_ENVIRONMENT": session.virtualenv.location},
        silent=True,
    )


@nox.session
def lint(session: nox.Session) -> None:
    """ruff (check + format), the layer contract (import-linter: every import runs down the
    layers of docs/architecture.md), shellcheck on scripts/, hadolint on every Dockerfile, and the
    CI examples: actionlint and zizmor on the GitHub workflows, the GitLab file against its schema."""
    install_locked(session)
    session.run("ruff", "check", *PYTHON_TREES)
    session.run("ruff", "format", "--check", *PYTHON_TREES)
    session.run("lint-imports")
    session.run("shellcheck", *shell_scripts())
    dockerfiles = sorted(str(p) for p in ROOT.glob("images/**/Dockerfile*"))
    if dockerfiles:
        session.run("hadolint", *dockerfiles)
    else:
        session.log("hadolint: no Dockerfile in images/ yet")
    workflows = sorted(str(p) for p in ROOT.glob(".github/workflows/*.yml"))
    session.run("python", "-m", "floe_deploy.actionlint", *workflows)
    session.run("zizmor", "--offline", "--persona", "auditor", ".github/workflows")
    session.run("check-jsonschema", "--builtin-schema", "vendor.github-workflows", *workflows)
    session.run("check-jsonschema", "--builtin-schema", "vendor.gitlab-ci", ".gitlab-ci.yml")


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy --strict on src/, tasks/, this noxfile, and the tests and benchmarks."""
    install_locked(session)
    session.run(
        "mypy",
        "--strict",
        "src",
        "tasks",
        "noxfile.py",
        "demo/floe_demo",
        "preflight/floe_preflight",
        "tests",
        "e2e",
        "benchmarks",
    )


@nox.session
def tests(session: nox.Session) -> None:
    """Fast tests (tests/): no Docker needed; in parallel (pytest-xdist), one worker more than
    cores, since many tests wait on a subprocess or a timeout rather than compute."""
    install_locked(session, compile_bytecode=True)
    session.run(
        "pytest",
        "tests",
        f"--numprocesses={(os.cpu_count() or 1) + 1}",
        "--dist=worksteal",
        "--junitxml=build/reports/tests-junit.xml",
        *session.posargs,
    )


@nox.session
def e2e(session: nox.Session) -> None:
    """End-to-end tests (e2e/) against the real container platform (`invoke platform.up` first).

    Two pytest-xdist workers, each taking whole modules (a module's fixture, such as a publish or
    a demo stack, runs once; the two smoke modules go together, e2e/conftest.py): most of the time
    goes to waiting on containers, so two overlap well on 2 cores; every module keeps to its own
    containers, projects, ports and images."""
    install_locked(session, compile_bytecode=True)
    session.run(
        "pytest",
        "e2e",
        "--numprocesses=2",
        "--dist=loadfile",
        "--no-loadscope-reorder",
        "--durations=10",
        "--junitxml=build/reports/e2e-junit.xml",
        *session.posargs,
    )


@nox.session
def act(session: nox.Session) -> None:
    """The GitHub workflows run for real with act (JSON: every step's result and time):
    `-- release` (default) publishes a tag push of release.yml to a GHCR-like registry and
    verifies it; `-- ci` runs ci.yml for a pull request up to its test step (that step is the
    test command itself, which is why this session is not part of it)."""
    install_locked(session)
    session.run(
        "python", "-m", "floe_deploy.testing.release_rehearsal", *(session.posargs or ["release"])
    )


@nox.session
def traceability(session: nox.Session) -> None:
    """Fail while any requirement in docs/requirements.md has no test (collects tests and e2e)."""
    install_locked(session, compile_bytecode=True)
    session.run(
        "pytest",
        "--collect-only",
        "-q",
        "--traceability-strict",
        "--traceability-name=all",
        "tests",
        "e2e",
    )


@nox.session
def bench(session: nox.Session) -> None:
    """Benchmarks with goals; JSON results under build/bench/ (`-- --strict` fails on a missed goal)."""
    install_locked(session, compile_bytecode=True)
    session.run("python", "-m", "benchmarks", *session.posargs)
