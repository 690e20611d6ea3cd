"""gitops.promote without a registry: the environment order and the byte-exact value edits.
(Publishing checks and commits run against a real registry in e2e/test_gitops_promote.py.)"""

from __future__ import annotations

from pathlib import Path

import pytest

from floe_deploy.errors import FloeError
from floe_deploy.gitops.manifests import GITOPS_DIR
from floe_deploy.gitops.promote import promote
from floe_deploy.gitops.yaml_edit import set_values
from floe_deploy.release.publish import ReleasedChart, ReleasedImage, ReleaseRecord
from floe_deploy.testing import run_task
from tests.gitops.conftest import git

pytestmark = pytest.mark.requirement("007-FR-040", evidence="real")


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


def test_a_release_record_promotes_into_dev_only(tmp_path: Path, gitops_repo: Path) -> None:
    record = tmp_path / "release.json"
    record.write_text("{}")
    with pytest.raises(FloeError, match="is not a release record"):
        promote(None, "dev", root=gitops_repo, release=record, dry_run=True)
    with pytest.raises(FloeError, match="a release record promotes into dev only"):
        promote(None, "staging", root=gitops_repo, release=record, dry_run=True)
    with pytest.raises(FloeError, match="nothing to promote from"):
        promote(None, "dev", root=gitops_repo, dry_run=True)


def move_dev_to(repo: Path, version: str) -> None:
    dev = repo / "environments" / "dev"
    (dev / "values.yaml").write_text(set_values((dev / "values.yaml").read_text(), {
        ("image", "tag"): version, ("release", "chartVersion"): version,
        ("dagster", "dagster-user-deployments", "deployments", 0, "image", "tag"): version,
        ("dagster", "busybox", "image", "tag"): version,
        ("dagster", "postgresql", "image", "tag"): version,
    }))  # fmt: skip
    (dev / "ocirepository.yaml").write_text(
        set_values((dev / "ocirepository.yaml").read_text(), {("spec", "ref", "tag"): version})
    )
    git(repo.parent, "commit", "-qam", f"dev runs {version}")


def test_a_new_version_enters_at_dev_only(gitops_repo: Path) -> None:
    with pytest.raises(FloeError, match="a new version enters at dev only"):
        promote(
            None,
            "staging",
            root=gitops_repo,
            image_tag="0.2.0",
            chart_version="0.2.0",
            dry_run=True,
        )
    report = promote(
        None, "dev", root=gitops_repo, image_tag="0.2.0", chart_version="0.2.0", dry_run=True
    )
    assert report.image_tag == "0.2.0"


def test_the_next_environment_takes_what_the_previous_one_runs_as_committed(
    gitops_repo: Path,
) -> None:
    move_dev_to(gitops_repo, "0.2.0")
    dev_values = gitops_repo / "environments" / "dev" / "values.yaml"
    dev_values.write_text(dev_values.read_text().replace("0.2.0", "0.9.9"))  # not committed
    report = promote("dev", "staging", root=gitops_repo, dry_run=True)
    assert (report.image_tag, report.chart_version) == ("0.2.0", "0.2.0")
    assert report.registry_check.startswith("skipped (dry run")
    assert report.changed_files == [
        "gitops/environments/staging/values.yaml", "gitops/environments/staging/ocirepository.yaml",
    ]  # fmt: skip


def test_a_version_the_source_never_ran_is_refused_unless_forced(gitops_repo: Path) -> None:
    move_dev_to(gitops_repo, "0.2.0")
    with pytest.raises(FloeError, match=r"dev does not run image tag 0\.3\.0"):
        promote("dev", "staging", root=gitops_repo, image_tag="0.3.0", dry_run=True)
    forced = promote(
        "dev", "staging", root=gitops_repo, image_tag="0.3.0", force=True, dry_run=True
    )
    assert forced.image_tag == "0.3.0"
    assert forced.forced == ["image tag 0.3.0 was never run by dev (it runs 0.2.0)"]
    shown = run_task("gitops.promote", "--root", str(gitops_repo), "--from", "dev", "--to", "staging",
                     "--image-tag", "0.3.0", "--force", "--dry-run")  # fmt: skip
    assert "WARNING: --force: image tag 0.3.0 was never run by dev" in shown.stdout


def test_prod_moves_every_file_that_carries_its_version(gitops_repo: Path) -> None:
    move_dev_to(gitops_repo, "0.2.0")
    staging = promote("dev", "staging", root=gitops_repo, dry_run=True)
    for path in ("values.yaml", "ocirepository.yaml"):
        target = gitops_repo / "environments" / "staging" / path
        target.write_text(target.read_text().replace("0.1.0", "0.2.0"))
    git(gitops_repo.parent, "commit", "-qam", "staging runs 0.2.0")
    assert staging.chart_version == "0.2.0"
    report = promote("staging", "prod", root=gitops_repo, dry_run=True)
    assert sorted(report.changed_files) == [
        "gitops/argocd/applications/floe-prod.yaml", "gitops/environments/prod/ocirepository.yaml",
        "gitops/environments/prod/values.yaml",
    ]  # fmt: skip
    assert "+      targetRevision: 0.2.0" in report.diff


def test_rollback_goes_to_the_version_the_environment_ran_before(gitops_repo: Path) -> None:
    move_dev_to(gitops_repo, "0.2.0")
    move_dev_to(gitops_repo, "0.3.0")
    back = promote(None, "dev", root=gitops_repo, rollback=True, dry_run=True)
    assert (back.source, back.image_tag) == ("dev history", "0.2.0")
    oldest = promote(None, "dev", root=gitops_repo, rollback=True, image_tag="0.1.0", dry_run=True)
    assert oldest.image_tag == "0.1.0"
    with pytest.raises(
        FloeError, match=r"dev never ran image 0\.0\.7 \(recorded: 0\.3\.0, 0\.2\.0, 0\.1\.0\)"
    ):
        promote(None, "dev", root=gitops_repo, rollback=True, image_tag="0.0.7", dry_run=True)
    with pytest.raises(FloeError, match="prod never ran an earlier version"):
        promote(None, "prod", root=gitops_repo, rollback=True, dry_run=True)


@pytest.mark.parametrize(
    "values",
    [
        "image:\n  tag: 0.1.0\n---\nrelease: {}\n",
        "image: [unclosed\n",
        "base: &b\n  tag: 0.1.0\nimage:\n  <<: *b\nrelease: {chartVersion: 0.1.0}\n",
    ],
    ids=["two documents", "broken YAML", "merge key"],
)
def test_odd_values_files_are_one_line_never_a_traceback(gitops_repo: Path, values: str) -> None:
    (gitops_repo / "environments" / "staging" / "values.yaml").write_text(values)
    done = run_task(
        "gitops.promote",
        "--root",
        str(gitops_repo),
        "--from",
        "dev",
        "--to",
        "staging",
        "--dry-run",
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert done.stderr.startswith("ERROR: "), done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr


def released(tmp_path: Path, version: str) -> Path:
    """A release record as `invoke publish` writes it: each floe image with its own digest."""
    images = [
        ReleasedImage(image=f"registry.example.com/floe/{name}:{version}",
                      repository=f"registry.example.com/floe/{name}", digest=f"sha256:{digit * 64}",
                      platforms={}, sboms={}, signature="", provenance="")
        for name, digit in (("dagster", "a"), ("busybox", "b"), ("postgres", "c"))
    ]  # fmt: skip
    record = ReleaseRecord(
        version=version, tags=[version], git_commit="0" * 40, registry="registry.example.com",
        images=images, published_at="2026-12-08T00:00:00Z",
        chart=ReleasedChart(reference=f"oci://registry.example.com/floe/charts/floe-dagster:{version}",
                            version=version, digest=f"sha256:{'d' * 64}", signature=""),
    )  # fmt: skip
    path = tmp_path / f"{version}.json"
    path.write_text(record.model_dump_json())
    return path


def test_the_init_containers_images_move_with_the_release(
    tmp_path: Path, gitops_repo: Path
) -> None:
    """floe/busybox and floe/postgres are released with the runtime image: left at the old tag,
    the init containers would run the last release's images until the registry drops them."""
    dev = promote(None, "dev", root=gitops_repo, release=released(tmp_path, "0.2.0"), dry_run=True)
    assert dev.init_images == [
        f"registry.example.com/floe/busybox:0.2.0@sha256:{'b' * 64}",
        f"registry.example.com/floe/postgres:0.2.0@sha256:{'c' * 64}",
    ]
    assert (
        f'+    image: {{repository: registry.example.com/floe/busybox, tag: "0.2.0@sha256:{"b" * 64}"'
        in dev.diff
    )

    move_dev_to(gitops_repo, "0.2.0")
    staging = promote("dev", "staging", root=gitops_repo, dry_run=True)
    assert staging.init_images == [
        "registry.example.com/floe/busybox:0.2.0", "registry.example.com/floe/postgres:0.2.0",
    ]  # fmt: skip


def test_a_sites_own_init_image_stays_as_the_user_set_it(gitops_repo: Path) -> None:
    staging = gitops_repo / "environments" / "staging" / "values.yaml"
    staging.write_text(staging.read_text().replace(
        "registry.example.com/floe/busybox, tag: \"0.1.0\"", "mirror.example.com/tools/busybox, tag: \"1.36\""))  # fmt: skip
    git(gitops_repo.parent, "commit", "-qam", "staging uses the site's busybox")
    move_dev_to(gitops_repo, "0.2.0")
    report = promote("dev", "staging", root=gitops_repo, dry_run=True)
    assert report.init_images == ["registry.example.com/floe/postgres:0.2.0"]
    changed = [line for line in report.diff.splitlines() if line[:1] in "+-"]
    assert [line for line in changed if "busybox" in line] == []
    assert any("floe/postgres" in line for line in changed)
