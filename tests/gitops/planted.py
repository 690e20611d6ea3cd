"""Operator mistakes, each planted alone in a copy of gitops/: the file, the edit, and the words
the failure line must hold (the file, the environment, the fix). One entry per mistake; the
classes are issue #33's blind spots and #29's signing agreement."""

from __future__ import annotations

from pydantic import BaseModel

SUBJECT = r"^https://github\.com/floe-platform/floe-deploy/\.github/workflows/release\.yml@refs/tags/v[0-9]+\.[0-9]+\.[0-9]+$"
ISSUER_REGEXP = r"^https://token\.actions\.githubusercontent\.com$"
DIGEST = "sha256:" + "b" * 64


class Planted(BaseModel):
    kind: str
    file: str
    old: str
    new: str
    expect: list[str]
    """Every word must appear in one failure line."""


def _p(kind: str, file: str, old: str, new: str, *expect: str) -> Planted:
    return Planted(kind=kind, file=file, old=old, new=new, expect=[file, *expect])


PLANTED = [
    # which environment a file belongs to
    _p("environment", "argocd/applications/floe-prod.yaml", "$values/gitops/environments/prod/values.yaml",
       "$values/gitops/environments/staging/values.yaml", "staging's", "deploys prod",
       "read $values/gitops/environments/prod/values.yaml"),
    _p("environment", "argocd/applicationset.yaml", "'$values/gitops/environments/{{ .path.basename }}/values.yaml'",
       "'$values/gitops/environments/dev/values.yaml'", "Application floe-prod (prod)", "dev's",
       "read $values/gitops/environments/prod/values.yaml"),
    _p("environment", "argocd/applicationset.yaml", "        namespace: 'floe-{{ .path.basename }}'",
       "        namespace: floe-prod", "Application floe-dev (dev)", "set destination.namespace to floe-dev"),
    _p("environment", "flux/clusters/prod/floe.yaml", "  path: ./gitops/environments/prod",
       "  path: ./gitops/environments/staging", "staging's", "deploys prod", "read ./gitops/environments/prod"),
    _p("environment", "flux/clusters/staging/floe.yaml", "  path: ./gitops/secrets/external-secrets/staging",
       "  path: ./gitops/secrets/external-secrets/dev", "dev's", "deploys staging",
       "read ./gitops/secrets/external-secrets/staging"),
    _p("environment", "flux/clusters/prod/floe.yaml", "  path: ./gitops/secrets/sops/prod",
       "  path: ./gitops/secrets/sops/dev", "dev's", "deploys prod", "read ./gitops/secrets/sops/prod"),
    _p("environment", "flux/clusters/dev/floe.yaml", "  targetNamespace: floe-dev", "  targetNamespace: floe-staging",
       "targetNamespace floe-staging", "dev's cluster", "set targetNamespace: floe-dev"),
    _p("environment", "environments/prod/kustomization.yaml", "namespace: floe-prod", "namespace: floe-staging",
       "prod's", "set namespace: floe-prod"),
    _p("environment", "environments/prod/kustomization.yaml", "      - values.yaml", "      - ../staging/values.yaml",
       "staging's", "deploys prod"),
    _p("environment", "environments/staging/helmrelease.yaml", "  namespace: floe-staging", "  namespace: floe-prod",
       "staging's", "set metadata.namespace: floe-staging"),
    _p("environment", "environments/prod/ocirepository.yaml", "  namespace: floe-prod", "  namespace: floe-dev",
       "prod's", "set metadata.namespace: floe-prod"),
    _p("environment", "secrets/external-secrets/prod/kustomization.yaml",
       "resources:\n  - externalsecret-helm-values.yaml\n", "resources: []\n",
       "environments/prod/helmrelease.yaml", "applied into floe-prod",
       "list externalsecret-helm-values.yaml in gitops/secrets/external-secrets/prod/kustomization.yaml"),
    # per-directory scope of generated ConfigMaps
    _p("generator", "environments/staging/kustomization.yaml", "  - name: floe-values", "  - name: floe-staging-values",
       "no kustomization in gitops/environments/staging", "add a configMapGenerator floe-values"),
    _p("generator", "environments/dev/kustomization.yaml",
       "configMapGenerator:\n  - name: floe-values\n    files:\n      - values.yaml\n", "",
       "no kustomization in gitops/environments/dev", "add a configMapGenerator floe-values"),
    # secret paths
    _p("secret-path", "secrets/external-secrets/prod/externalsecret-helm-values.yaml", "key: floe/prod/storage",
       "key: floe/staging/storage", "staging's secret", "this is prod's", "use floe/prod/storage"),
    _p("secret-path", "secrets/external-secrets/dev/externalsecret-helm-values.yaml", "key: floe/dev/storage",
       "key: floe/dev/storgae", "'storgae' is no secret of the store layout"),
    _p("secret-path", "secrets/external-secrets/staging/externalsecret-helm-values.yaml", "property: access-key-id",
       "property: access-key", "has no property 'access-key'", "access-key-id"),
    _p("secret-path", "environments/prod/values.yaml", "{key: floe/prod/postgres, property: password}",
       "{key: floe/staging/postgres, property: password}", "(prod)", "staging's secret", "use floe/prod/postgres"),
    _p("secret-path", "environments/dev/values.yaml", "{key: floe/dev/postgres, property: password}",
       "{key: floe/dev/postgres, property: pasword}", "(dev)", "no property 'pasword'", "password"),
    _p("secret-path", "secrets/external-secrets/externalsecret-floe-secrets.yaml", "{key: floe/prod/polaris,",
       "{key: floe/polaris,", "is not floe/<environment>/"),
    # one release per environment, digest lineage
    _p("release", "environments/dev/values.yaml", "  tag: 0.1.0 ", "  tag: 0.1.1 ", "(dev)", "different releases",
       "gitops.promote --release"),
    _p("release", "environments/staging/values.yaml", "  tag: 0.1.0 ", f"  tag: 0.1.0@{DIGEST} ", "(staging)",
       "a digest dev never ran", "gitops.promote --from dev --to staging"),
    _p("release", "environments/prod/values.yaml", "  tag: 0.1.0 ", f"  tag: 0.1.0@{DIGEST} ", "(prod)",
       "a digest staging never ran", "gitops.promote --from staging --to prod"),
    # controller semantics beyond schemas
    _p("controller", "secrets/external-secrets/dev/externalsecret-helm-values.yaml", "external-secrets.io/v1",
       "external-secrets.io/v1beta1", "not served from External Secrets Operator 0.17", "use external-secrets.io/v1"),
    _p("controller", "secrets/external-secrets/stores/clustersecretstore-vault.yaml", "external-secrets.io/v1",
       "external-secrets.io/v1beta1", "not served from External Secrets Operator 0.17", "use external-secrets.io/v1"),
    _p("controller", "argocd/appproject.yaml", "    - {server: https://kubernetes.default.svc, namespace: floe-staging}\n",
       "", "Application floe-staging (staging)", "not among AppProject floe's destinations",
       "add it to gitops/argocd/appproject.yaml"),
    _p("controller", "argocd/appproject.yaml", "    - registry.example.com/floe/charts\n", "",
       "repoURL registry.example.com/floe/charts is not among AppProject floe's sourceRepos", "add it to"),
    _p("controller", "argocd/applicationset.yaml", 'ne .path.basename "prod"', 'ne .path.basename "prd"',
       "Application floe-prod (prod)", "syncs into floe-prod automatically", "templatePatch"),
    _p("controller", "argocd/applicationset.yaml", 'ne .path.basename "prod"', 'eq .path.basename "prod"',
       "Application floe-prod (prod)", "syncs into floe-prod automatically"),
    _p("controller", "argocd/applicationset.yaml", 'ne .path.basename "prod"', 'ne .path.basenme "prod"',
       "prod/values.yaml", ".path.basenme is no parameter", "Argo CD makes no Application"),
    _p("controller", "argocd/applicationset.yaml", "        automated:", "        automatic:",
       "Application floe-dev (dev)", "'automatic' was unexpected"),
    # signing identity: the release workflow's, keyless by default
    _p("signing", "policies/verify-floe-images.yaml", f"subjectRegExp: {SUBJECT}", f"subjectRegExp: {SUBJECT[1:-1]}",
       "is not anchored", "also accepts", "use '^https://github"),
    _p("signing", "policies/verify-floe-images.yaml", r"github\.com/floe-platform/floe-deploy/",
       r"github\.com/floe-platform/floe-demo/",
       "refuses the release workflow's identity", "floe-platform/floe-deploy"),
    _p("signing", "policies/verify-floe-images.yaml", r"workflows/release\.yml", r"workflows/.*\.yml",
       "also accepts another workflow"),
    _p("signing", "policies/verify-floe-images.yaml", r"@refs/tags/v[0-9]+\.[0-9]+\.[0-9]+$", "@refs/(tags|heads)/.*$",
       "also accepts a branch"),
    _p("signing", "policies/verify-floe-images.yaml", "issuer: https://token.actions.githubusercontent.com",
       "issuer: https://accounts.google.com", "not exactly the GitHub Actions issuer"),
    _p("signing", "policies/verify-floe-images.yaml",
       f"                - keyless:\n                    issuer: https://token.actions.githubusercontent.com\n"
       f"                    subjectRegExp: {SUBJECT}\n                    rekor: {{url: https://rekor.sigstore.dev}}\n",
       "                - keys:\n                    publicKeys: |-\n                      -----BEGIN PUBLIC KEY-----\n"
       "                      MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEcR+cjnOgqIF4n5wmcpuj5HptOtnv\n"
       "                      11b5pNnt8aFz+Vy4RoPIwV7WGg1gJWu6oz2IWmQ/QM1Mlqux5PsYp1CziA==\n"
       "                      -----END PUBLIC KEY-----\n",
       "verifies only a public key", "signs keyless by default", "add a keyless identity"),
    _p("signing", "environments/prod/ocirepository.yaml", f"subject: {SUBJECT}", f"subject: {SUBJECT[1:-1]}",
       "verify (prod)", "is not anchored", "use '^https://github"),
    _p("signing", "environments/staging/ocirepository.yaml",
       f"    matchOIDCIdentity:\n      - issuer: {ISSUER_REGEXP}\n        subject: {SUBJECT}\n",
       "    secretRef:\n      name: cosign-public-key\n", "verify (staging) verifies only a public key",
       "signs keyless by default"),
    _p("signing", "environments/dev/ocirepository.yaml", f"issuer: {ISSUER_REGEXP}",
       "issuer: https://token.actions.githubusercontent.com", "verify (dev)", "not exactly the GitHub Actions issuer"),
]  # fmt: skip
