"""gitops.validate on the committed examples, then on copies with one planted mistake each.

No Argo CD, Flux or Kubernetes API can run here: manifests are checked against the CRD and
Kubernetes schemas, and references against the files in the repository."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from floe_deploy.gitops.manifests import GITOPS_DIR
from floe_deploy.gitops.validate import GitOpsReport, validate_gitops
from floe_deploy.settings import Settings
from floe_deploy.testing import run_task


def report_for(settings: Settings, root: Path, chart: Path) -> GitOpsReport:
    return validate_gitops(settings, root, chart)


def problems(report: GitOpsReport) -> list[str]:
    found = []
    for d in report.documents:
        found += [
            f"{d.file} {d.object}: {e}"
            for e in [*d.schema_errors, *d.reference_errors, *d.secret_errors]
        ]
    for e in report.environments:
        found += [f"{e.environment}: {p}" for p in e.errors]
    return found


@pytest.mark.requirement("007-FR-038")
def test_the_committed_examples_validate(helm_settings: Settings, gitops_chart: Path) -> None:
    report = report_for(helm_settings, GITOPS_DIR, gitops_chart)
    assert problems(report) == []
    kinds = {d.object.split("/")[0] for d in report.documents}
    assert {"AppProject", "ApplicationSet", "Application", "HelmRelease", "OCIRepository", "GitRepository",
            "Kustomization", "ExternalSecret", "ClusterSecretStore", "SealedSecret"} <= kinds  # fmt: skip
    assert [(e.environment, e.objects > 0) for e in report.environments] == [
        ("dev", True), ("staging", True), ("prod", True),
    ]  # fmt: skip


@pytest.mark.requirement("007-FR-038")
@pytest.mark.parametrize("environment", ["dev", "staging", "prod"])
def test_each_environment_validates_with_helm_validate(
    gitops_chart: Path, environment: str
) -> None:
    values = GITOPS_DIR / "environments" / environment / "values.yaml"
    done = run_task(
        "helm.validate", "--values", str(values), "--chart", str(gitops_chart), "--json"
    )
    assert done.returncode == 0, done.stdout[-3000:]
    assert json.loads(done.stdout)["ok"] is True


def plant(root: Path, relative: str, old: str, new: str) -> None:
    path = root / relative
    text = path.read_text()
    assert old in text, f"{old!r} not in {relative}"
    path.write_text(text.replace(old, new, 1))


@pytest.mark.requirement("007-FR-038")
@pytest.mark.parametrize(
    ("relative", "old", "new", "expected"),
    [
        ("environments/dev/ocirepository.yaml", "  interval: 10m", "  intervall: 10m", "intervall"),
        ("environments/staging/helmrelease.yaml", "    name: floe-dagster", "    name: floe-dagsterr",
         "chartRef OCIRepository 'floe-dagsterr' is not defined"),
        ("argocd/applicationset.yaml", "$values/gitops/environments/{{ .path.basename }}/values.yaml",
         "$values/gitops/envs/{{ .path.basename }}/values.yaml", "does not exist in the repository"),
        ("argocd/applications/floe-prod.yaml", "  project: floe", "  project: floe-other",
         "project 'floe-other' is not an AppProject"),
        ("flux/clusters/prod.yaml", "    - name: floe-secrets-prod", "    - name: floe-secretz-prod",
         "dependsOn 'floe-secretz-prod' is no Kustomization"),
        ("flux/clusters/dev.yaml", "  path: ./gitops/environments/dev", "  path: ./gitops/environments/qa",
         "./gitops/environments/qa does not exist"),
        ("environments/prod/helmrelease.yaml", "      name: floe-helm-secret-values", "      name: floe-unknown-values",
         "Secret 'floe-unknown-values' is made by no ExternalSecret"),
        ("environments/prod/ocirepository.yaml", "    tag: 0.1.0", "    tag: 0.0.9",
         "differs from release.chartVersion"),
        ("environments/staging/values.yaml", "        image: *floe-image",
         "        image: {repository: registry.example.com/floe/dagster, tag: 0.0.9, pullPolicy: IfNotPresent}",
         "runs tag '0.0.9', image.tag is '0.1.0'"),
    ],
)  # fmt: skip
def test_each_planted_mistake_fails_with_its_own_message(
    helm_settings: Settings,
    gitops_chart: Path,
    gitops_copy: Path,
    relative: str,
    old: str,
    new: str,
    expected: str,
) -> None:
    plant(gitops_copy, relative, old, new)
    found = problems(report_for(helm_settings, gitops_copy, gitops_chart))
    assert any(expected in p for p in found), found


@pytest.mark.requirement("007-FR-039")
def test_a_plaintext_secret_fails(
    helm_settings: Settings, gitops_chart: Path, gitops_copy: Path
) -> None:
    (gitops_copy / "secrets" / "sops" / "floe-secrets.yaml").write_text(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: floe-secrets\nstringData:\n  POSTGRES_PASSWORD: hunter2\n"
    )
    found = problems(report_for(helm_settings, gitops_copy, gitops_chart))
    assert any("a Secret with data in plain text" in p for p in found), found


@pytest.mark.requirement("007-FR-039")
def test_a_sops_encrypted_secret_passes_and_counts_as_made(
    helm_settings: Settings, gitops_chart: Path, gitops_copy: Path
) -> None:
    """A Secret in the shape `sops --encrypt` writes (no sops binary exists here to make one)."""
    (gitops_copy / "secrets" / "sops" / "cosign-public-key.yaml").write_text(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: cosign-public-key\n"
        "data:\n  cosign.pub: ENC[AES256_GCM,data:q2Vt,iv:3Xb1,tag:Zm9v,type:str]\n"
        "sops:\n  age:\n    - recipient: age1ewpwclt7ldtff7237sydv4w65aqku03w2jzefaffavd8yyznpupstheedl\n"
        "      enc: |\n        -----BEGIN AGE ENCRYPTED FILE-----\n        YWdl\n        -----END AGE ENCRYPTED FILE-----\n"
        "  lastmodified: '2026-11-26T00:00:00Z'\n  mac: ENC[AES256_GCM,data:bWFj,iv:aXY=,tag:dGFn,type:str]\n"
        "  encrypted_regex: ^(data|stringData)$\n  version: 3.9.4\n"
    )
    pre_existing = gitops_copy / "pre-existing-secrets.yaml"
    pre_existing.write_text(
        pre_existing.read_text().replace("  - name: cosign-public-key", "  - name: cosign-unused")
    )
    assert problems(report_for(helm_settings, gitops_copy, gitops_chart)) == []


@pytest.mark.requirement("007-FR-039")
@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("    postgresqlHost: postgres.floe-dev.svc", "    postgresqlHost: postgres.floe-dev.svc\n    postgresqlPassword: hunter2",
         "dagster.postgresql.postgresqlPassword is a secret in plain text"),
        ("    accessKeyId: floe-dev", "    accessKeyId: AKIAIOSFODNN7REALKEY", "looks like a AWS access key id"),
    ],
)  # fmt: skip
def test_a_secret_in_a_values_file_fails(
    helm_settings: Settings,
    gitops_chart: Path,
    gitops_copy: Path,
    old: str,
    new: str,
    expected: str,
) -> None:
    plant(gitops_copy, "environments/dev/values.yaml", old, new)
    found = problems(report_for(helm_settings, gitops_copy, gitops_chart))
    assert any(expected in p for p in found), found


def test_a_kind_without_a_schema_is_an_error(
    helm_settings: Settings, gitops_chart: Path, gitops_copy: Path
) -> None:
    (gitops_copy / "argocd" / "widget.yaml").write_text(
        "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w\n"
    )
    found = problems(report_for(helm_settings, gitops_copy, gitops_chart))
    assert any("no schema for example.com/v1 Widget" in p for p in found), found


def test_the_task_prints_a_table_json_and_exit_3(gitops_chart: Path, gitops_copy: Path) -> None:
    plant(gitops_copy, "environments/dev/ocirepository.yaml", "  interval: 10m", "  intervall: 10m")
    table = run_task("gitops.validate", "--root", str(gitops_copy), "--chart", str(gitops_chart))
    assert table.returncode == 3
    assert "intervall" in table.stdout
    assert "1 failed" in table.stdout
    machine = run_task(
        "gitops.validate", "--root", str(gitops_copy), "--chart", str(gitops_chart), "--json"
    )
    assert json.loads(machine.stdout)["ok"] is False
