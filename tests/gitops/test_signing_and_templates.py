"""The two evaluators validate relies on: Go templates as Argo CD renders an ApplicationSet, and
the release workflow's signing identity against the verifiers."""

from __future__ import annotations

from pathlib import Path

import pytest

from floe_deploy.gitops import gotemplate
from floe_deploy.gitops.manifests import load_tree
from floe_deploy.gitops.show import failure_lines
from floe_deploy.gitops.signing import WORKFLOW, read_release_signing
from floe_deploy.gitops.validate import validate_gitops
from floe_deploy.paths import PROJECT_ROOT
from floe_deploy.settings import Settings

PARAMETERS = {"path": {"basename": "prod"}, "release": {"chartRepository": "oci://r/charts"}}


@pytest.mark.parametrize(
    ("template", "rendered"),
    [
        ('a\n{{- if ne .path.basename "prod" }}\nauto\n{{- end }}\nb', "a\nb"),
        ('{{- if eq .path.basename "prod" }}manual{{ else }}auto{{ end }}', "manual"),
        ('{{ if not (eq .path.basename "dev") }}x{{ end }}', "x"),
        ('{{ trimPrefix "oci://" .release.chartRepository }}', "r/charts"),
        (
            '{{ if and true (ne .path.basename "dev") }}{{ if false }}no{{ else }}yes{{ end }}{{ end }}',
            "yes",
        ),
    ],
)
def test_go_templates_render_as_argo_cd_would(template: str, rendered: str) -> None:
    assert gotemplate.render(template, PARAMETERS) == rendered


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("{{ .path.basenme }}", "is no parameter of the generator"),
        (
            '{{ if hasPrefix "p" .path.basename }}x{{ end }}',
            "function 'hasPrefix' is not evaluated",
        ),
        ("{{ if true }}x", "if without end"),
        ("{{ end }}", "end without if"),
    ],
)
def test_a_template_argo_cd_refuses_or_this_cannot_evaluate_is_an_error(
    template: str, message: str
) -> None:
    with pytest.raises(gotemplate.TemplateError, match=message):
        gotemplate.render(template, PARAMETERS)


def test_the_release_workflow_signs_keyless_on_release_tags(gitops_copy: Path) -> None:
    signing = read_release_signing(load_tree(gitops_copy), None)
    assert signing is not None
    assert (signing.repository, signing.keyless) == ("floe-platform/floe-deploy", True)
    assert signing.release_tags == ["v1.2.3", "v10.20.30"]


def signing_lines(settings: Settings, root: Path, chart: Path) -> list[str]:
    lines = failure_lines(validate_gitops(settings, root, chart, render=False))
    return [line for line in lines if "verify" in line or "rule signed-by" in line]


@pytest.mark.requirement("007-FR-038", evidence="stand-in")
def test_a_workflow_that_signs_with_a_key_disagrees_with_keyless_verifiers(
    helm_settings: Settings, gitops_chart: Path, gitops_copy: Path
) -> None:
    workflow = gitops_copy.parent / WORKFLOW
    workflow.parent.mkdir(parents=True)
    text = (PROJECT_ROOT / WORKFLOW).read_text()
    assert "signing=(--keyless)" in text
    workflow.write_text(text.replace("signing=(--keyless)", "signing=()"))
    lines = signing_lines(helm_settings, gitops_copy, gitops_chart)
    assert len(lines) == 4, lines  # the policy and three OCIRepositories
    assert all("verifies only keyless signatures" in line for line in lines), lines


@pytest.mark.requirement("007-FR-038", evidence="stand-in")
def test_the_identity_follows_the_release_repository_setting(
    helm_settings: Settings, gitops_chart: Path, gitops_copy: Path
) -> None:
    fork = helm_settings.model_copy(update={"release_repository": "acme/floe-deploy"})
    lines = signing_lines(fork, gitops_copy, gitops_chart)
    assert len(lines) == 4, lines
    assert all("refuses the release workflow's identity" in line for line in lines), lines
    assert all("acme/floe-deploy" in line for line in lines), lines


@pytest.mark.requirement("007-FR-038", evidence="stand-in")
@pytest.mark.parametrize(
    ("subject", "ok"),
    [
        ("https://github.com/floe-platform/floe-deploy/.github/workflows/release.yml@refs/tags/v1.4.0", True),
        ("https://github.com/floe-platform/floe-deploy/.github/workflows/release.yml@refs/tags/*", False),
        ("https://github.com/floe-platform/floe-deploy/.github/workflows/release.yml@refs/heads/main", False),
    ],
)  # fmt: skip
def test_an_exact_subject_names_one_release(
    helm_settings: Settings, gitops_chart: Path, gitops_copy: Path, subject: str, ok: bool
) -> None:
    policy = gitops_copy / "policies" / "verify-floe-images.yaml"
    text = policy.read_text()
    start = text.index("subjectRegExp: ")
    end = text.index("\n", start)
    policy.write_text(text[:start] + f"subject: '{subject}'" + text[end:])
    lines = [
        line
        for line in signing_lines(helm_settings, gitops_copy, gitops_chart)
        if "policies/" in line
    ]
    assert (lines == []) is ok, lines
