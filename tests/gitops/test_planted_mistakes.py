"""The corpus of operator mistakes (tests/gitops/planted.py), each planted alone in a copy of
gitops/: validate fails with one line naming the file, the environment and the fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from floe_deploy.gitops.show import failure_lines
from floe_deploy.gitops.validate import validate_gitops
from floe_deploy.settings import Settings
from tests.gitops.planted import PLANTED, Planted


def plant_one(root: Path, mistake: Planted) -> None:
    path = root / mistake.file
    text = path.read_text()
    assert mistake.old in text, f"{mistake.old!r} not in {mistake.file}"
    path.write_text(text.replace(mistake.old, mistake.new, 1))


@pytest.mark.requirement("007-FR-038", evidence="stand-in")
@pytest.mark.parametrize(
    "mistake", PLANTED, ids=[f"{m.kind}-{i}-{Path(m.file).stem}" for i, m in enumerate(PLANTED)]
)
def test_each_planted_operator_mistake_names_file_environment_and_fix(
    helm_settings: Settings, gitops_chart: Path, gitops_copy: Path, mistake: Planted
) -> None:
    plant_one(gitops_copy, mistake)
    lines = failure_lines(validate_gitops(helm_settings, gitops_copy, gitops_chart, render=False))
    assert any(all(word in line for word in mistake.expect) for line in lines), lines


def test_the_corpus_covers_every_class_with_at_least_30_mistakes() -> None:
    kinds = {m.kind for m in PLANTED}
    assert {"environment", "generator", "secret-path", "release", "controller", "signing"} <= kinds
    assert len(PLANTED) >= 30
    assert len({(m.file, m.old, m.new) for m in PLANTED}) == len(PLANTED)
