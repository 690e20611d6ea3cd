"""kustomize: the rules for kustomization files (what Flux and Argo CD build from a path).

A kustomization names only fields kustomize knows, and resources and generator files that exist;
the transformer configurations it names hold nameReference entries. kustomize renames a
generated ConfigMap with a hash of its content, and rewrites references to it only where a
nameReference configuration says so (HelmRelease valuesFrom is not built in).
"""

from __future__ import annotations

import os
from pathlib import Path

from floe_deploy.gitops.cluster import Cluster, Rule
from floe_deploy.gitops.environments import environment_of_path, foreign_paths, namespace_of
from floe_deploy.gitops.manifests import KUSTOMIZE_API, Document, GitOpsTree
from floe_deploy.helm.chart import load_values

FIELDS = {"apiVersion", "kind", "namespace", "resources", "configMapGenerator", "secretGenerator",
          "generatorOptions", "patches", "images", "components", "namePrefix", "nameSuffix", "labels",
          "commonAnnotations", "configurations"}  # fmt: skip


def configuration_files(tree: GitOpsTree) -> set[str]:
    """Files a kustomization names under `configurations:` (transformer settings, not objects)."""
    return {
        str(Path(d.file).parent / c)
        for d in tree.documents if d.api_version.startswith(KUSTOMIZE_API)
        for c in d.body.get("configurations") or []
    }  # fmt: skip


def file_problems(document: Document, configurations: set[str]) -> list[str] | None:
    """A configuration file or kustomization, by kustomize's rules (None: neither)."""
    body = document.body if isinstance(document.body, dict) else {}
    if document.file in configurations:
        references = body.get("nameReference")
        ok = isinstance(references, list) and all(
            {"kind", "fieldSpecs"} <= set(r) for r in references
        )
        return (
            []
            if ok
            else ["a kustomize configuration needs nameReference entries with kind and fieldSpecs"]
        )
    if document.api_version.startswith(KUSTOMIZE_API):
        unknown = sorted(set(body) - FIELDS)
        return [f"unknown kustomization field {unknown[0]!r}"] if unknown else []
    return None


def _files_exist(document: Document, cluster: Cluster) -> list[str]:
    """Resources and generator files, for a kustomization file (not Flux's object of that kind)."""
    if document.is_kubernetes:
        return []
    directory = cluster.tree.repo_root / Path(document.file).parent
    errors = [f"resource {r} does not exist next to the kustomization"
              for r in document.body.get("resources") or [] if not (directory / r).exists()]  # fmt: skip
    files = [str(f).split("=")[-1] for g in document.body.get("configMapGenerator") or []
             for f in g.get("files") or []]  # fmt: skip
    errors += [f"configMapGenerator file {f} does not exist" for f in files
               if not (directory / f).exists()]  # fmt: skip
    return errors + _bound_to_environment(document, files)


def _bound_to_environment(document: Document, files: list[str]) -> list[str]:
    """A kustomization in an environment's directory applies into its namespace, from its files."""
    environment = environment_of_path(document.file)
    if environment is None:
        return []
    directory = Path(document.file).parent
    paths = [str(Path(os.path.normpath(directory / f))) for f in
             [*files, *(str(r) for r in document.body.get("resources") or [])]]  # fmt: skip
    errors = foreign_paths(environment, paths, "reads")
    namespace = document.body.get("namespace")
    if namespace and namespace != namespace_of(environment):
        errors.append(
            f"namespace {namespace}, but {document.file} is {environment}'s: "
            f"set namespace: {namespace_of(environment)}"
        )
    return errors


def _name_reference_covers(document: Document, repo_root: Path, kind: str, path: str) -> bool:
    directory = repo_root / Path(document.file).parent
    for configuration in document.body.get("configurations") or []:
        file = directory / configuration
        loaded = load_values(file) if file.suffix in {".yaml", ".yml"} else {}
        for reference in loaded.get("nameReference") or []:
            if reference.get("kind") != "ConfigMap":
                continue
            for spec in reference.get("fieldSpecs") or []:
                if spec.get("kind") == kind and spec.get("path") == path:
                    return True
    return False


def generated_config_maps(document: Document, cluster: Cluster) -> list[str]:
    """A kustomize document's generated ConfigMaps (whatever its kind): hashed names, and
    references that follow them."""
    if not document.api_version.startswith(KUSTOMIZE_API):
        return []
    body = document.body
    generators = body.get("configMapGenerator") or []
    if not generators:
        return []
    if (body.get("generatorOptions") or {}).get("disableNameSuffixHash"):
        return [
            "disableNameSuffixHash: a change to the generated ConfigMap keeps its name, so the "
            "HelmRelease reading it upgrades only at its next interval"
        ]
    errors = []
    directory = cluster.tree.repo_root / Path(document.file).parent
    names = {g["name"]: g for g in generators}
    for resource in body.get("resources") or []:
        path = directory / resource
        if not path.is_file():
            continue
        for release in [d for d in cluster.tree.documents if d.kind == "HelmRelease"
                        and cluster.tree.repo_root / d.file == path]:  # fmt: skip
            for source in (release.body.get("spec") or {}).get("valuesFrom") or []:
                generator = names.get(str(source.get("name")))
                if source.get("kind") != "ConfigMap" or generator is None:
                    continue
                if not _name_reference_covers(
                    document, cluster.tree.repo_root, "HelmRelease", "spec/valuesFrom/name"
                ):
                    errors.append(
                        f"HelmRelease {release.name} names the generated ConfigMap {generator['name']}, "
                        "whose real name carries a hash: add a nameReference configuration for "
                        "HelmRelease spec/valuesFrom/name (configurations:)"
                    )
                keys = {Path(f.split("=")[0]).name for f in generator.get("files") or []}
                key = str(source.get("valuesKey") or "values.yaml")
                if key not in keys:
                    errors.append(
                        f"valuesFrom key {key} is not in the generated ConfigMap {generator['name']} ({', '.join(sorted(keys))})"
                    )
    return errors


RULES: dict[str, tuple[Rule, ...]] = {"Kustomization": (_files_exist,)}
"""By kind; `generated_config_maps` picks its documents by apiVersion instead."""
