"""CI runs what a newcomer runs: the README's two quick-start commands, exactly and in order, so
the checks always run beside the demo the first command leaves up (as on a user's machine)."""

from __future__ import annotations

import re
import shlex

import pytest

from floe_deploy.paths import PROJECT_ROOT

pytestmark = pytest.mark.requirement("007-FR-051", evidence="real")


def quick_start_commands() -> list[str]:
    readme = (PROJECT_ROOT / "README.md").read_text()
    section = readme.split("## Quick start", 1)[1]
    block = re.search(r"```bash\n(.*?)```", section, re.DOTALL)
    assert block, "the README's quick start has no bash block"
    return [line.split("#", 1)[0].strip() for line in block[1].splitlines() if line.strip()]


def ci_commands() -> list[str]:
    """The commands `.ci/run` runs at its top level, unwrapped from its `timed` helper."""
    lines = (PROJECT_ROOT / ".ci" / "run").read_text().splitlines()
    body = [line for line in lines if line and not line.startswith((" ", "\t", "#", "}"))]
    commands = []
    for line in body:
        words = shlex.split(line)
        if words[0] == "timed":
            commands.append(shlex.join(words[1:]))
    return commands


def test_ci_runs_the_readme_quick_start_exactly_and_in_order() -> None:
    assert quick_start_commands() == [
        "scripts/bootstrap --demo",
        "uv run nox -s lint typecheck traceability tests e2e bench",
    ]
    assert ci_commands() == quick_start_commands()
