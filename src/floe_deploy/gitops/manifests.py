"""Every YAML file under gitops/, parsed and sorted into what it is."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel

from floe_deploy.errors import FloeError
from floe_deploy.paths import PROJECT_ROOT
from floe_deploy.yaml_read import YAMLError, load_documents

GITOPS_DIR = PROJECT_ROOT / "gitops"
ENVIRONMENTS = ("dev", "staging", "prod")
"""The promotion order."""
SOPS_CONFIG = ".sops.yaml"
PRE_EXISTING = "pre-existing-secrets.yaml"
KUSTOMIZE_API = "kustomize.config.k8s.io/"


class Document(BaseModel):
    """One YAML document of a file under gitops/."""

    file: str
    index: int
    body: Any

    @property
    def kind(self) -> str:
        return str(self.body.get("kind", "")) if isinstance(self.body, dict) else ""

    @property
    def api_version(self) -> str:
        return str(self.body.get("apiVersion", "")) if isinstance(self.body, dict) else ""

    @property
    def name(self) -> str:
        metadata = self.body.get("metadata") if isinstance(self.body, dict) else None
        return str((metadata or {}).get("name", ""))

    @property
    def namespace(self) -> str:
        metadata = self.body.get("metadata") if isinstance(self.body, dict) else None
        return str((metadata or {}).get("namespace", ""))

    @property
    def label(self) -> str:
        return f"{self.kind}/{self.name}" if self.kind else self.file

    @property
    def is_kubernetes(self) -> bool:
        return bool(self.kind and self.api_version) and not self.api_version.startswith(
            KUSTOMIZE_API
        )


class GitOpsTree(BaseModel):
    """gitops/ as the validator sees it."""

    root: Path
    repo_root: Path
    documents: list[Document]
    values_files: dict[str, Path]
    parse_errors: dict[str, str]

    def of_kind(self, kind: str) -> list[Document]:
        return [d for d in self.documents if d.kind == kind and d.is_kubernetes]


def relative(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


def load_tree(root: Path = GITOPS_DIR) -> GitOpsTree:
    if not root.is_dir():
        raise FloeError(
            f"{root} is not a directory",
            "pass --root DIR holding environments/, argocd/, flux/, secrets/",
        )
    documents, errors, values = [], {}, {}
    repo_root = root.parent
    for path in sorted([*root.rglob("*.yaml"), *root.rglob("*.yml")]):
        name = relative(path, repo_root)
        if path.name == "values.yaml" and path.parent.parent.name == "environments":
            values[path.parent.name] = path
        try:
            loaded = [body for body in load_documents(path.read_text()) if body is not None]
        except YAMLError as error:
            errors[name] = " ".join(str(error).split())
            continue
        documents += [Document(file=name, index=i, body=body) for i, body in enumerate(loaded)]
    return GitOpsTree(
        root=root,
        repo_root=repo_root,
        documents=documents,
        values_files=values,
        parse_errors=errors,
    )
