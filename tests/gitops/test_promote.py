"""gitops.promote without a registry: the environment order and the byte-exact value edits.
(Publishing checks and commits run against a real registry in e2e/test_gitops_promote.py.)"""

from __future__ import annotations

from pathlib import Path

import pytest

from floe_deploy.errors import FloeError
from floe_deploy.gitops.manifests import GITOPS_DIR
from floe_deploy.gitops.promote import promote
from floe_deploy.gitops.yaml_edit import set_values
from floe_deploy.testing import run_task

pytestmark = pytest.mark.requirement("007-FR-040")


@pytest.mark.parametrize(
    ("source", "target", "message"),
    [("dev", "prod", "dev → prod skips staging"), ("prod", "staging", "goes backwards"),
     ("dev", "qa", "unknown environment 'qa'")],
)  # fmt: skip
def test_order_is_enforced_before_anything_else(
    gitops_copy: Path, source: str, target: str, message: str
) -> None:
    before = {p: p.read_bytes() for p in gitops_copy.rglob("*.yaml")}
    with pytest.raises(FloeError, match=message):
        promote(source, target, root=gitops_copy)
    assert {p: p.read_bytes() for p in gitops_copy.rglob("*.yaml")} == before


def test_skipping_is_one_line_and_exit_2() -> None:
    done = run_task("gitops.promote", "--from", "dev", "--to", "prod")
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "ERROR: dev → prod skips staging. Remediation: promote through dev → staging → prod, or pass --force"
    ]


def test_value_edits_keep_every_other_byte() -> None:
    original = (GITOPS_DIR / "environments" / "prod" / "values.yaml").read_text()
    edited = set_values(
        original,
        {
            ("image", "tag"): "0.2.0",
            ("release", "chartVersion"): "0.2.0",
            ("dagster", "dagster-user-deployments", "deployments", 0, "image", "tag"): "0.2.0",
        },
    )
    before, after = original.splitlines(keepends=True), edited.splitlines(keepends=True)
    assert len(before) == len(after)
    changed = [(b, a) for b, a in zip(before, after, strict=True) if b != a]
    assert len(changed) == 2  # the deployment's image is an alias of `image`: one line for both
    for old, new in changed:
        assert old.replace("0.1.0", "0.2.0", 1) == new
    assert "# promoted by `invoke gitops.promote`" in changed[0][1]


@pytest.mark.parametrize(
    ("text", "value", "expected"),
    [
        ("a:\n  tag: '0.1.0'  # quoted\n", "0.2.0", "a:\n  tag: '0.2.0'  # quoted\n"),
        ('a: {tag: "1", b: 2}\n', "3", 'a: {tag: "3", b: 2}\n'),
        ("a:\n  tag: v1\n", "1.0", 'a:\n  tag: "1.0"\n'),
    ],
)
def test_quoting_and_flow_style_survive(text: str, value: str, expected: str) -> None:
    assert set_values(text, {("a", "tag"): value}) == expected


def test_a_missing_key_is_an_error() -> None:
    with pytest.raises(FloeError, match=r"a\.nope is not in the file"):
        set_values("a:\n  tag: x\n", {("a", "nope"): "y"})


def test_help_after_the_task_name_prints_help() -> None:
    """`--help` is not taken as the value of a positional argument."""
    done = run_task("gitops.promote", "--help")
    assert done.returncode == 0, done.stderr
    assert "--release" in done.stdout


def test_a_release_record_promotes_into_dev_only(tmp_path: Path) -> None:
    record = tmp_path / "release.json"
    record.write_text("{}")
    with pytest.raises(FloeError, match="is not a release record"):
        promote(None, "dev", root=GITOPS_DIR, release=record, dry_run=True)
    with pytest.raises(FloeError, match="a release record promotes into dev only"):
        promote(None, "staging", root=GITOPS_DIR, release=record, dry_run=True)
    with pytest.raises(FloeError, match="nothing to promote from"):
        promote(None, "staging", root=GITOPS_DIR, dry_run=True)
