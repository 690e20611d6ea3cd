"""Which environment a file, a path, a namespace or a secret key belongs to, and the rule that
binds them: an object deploying environment E reads only E's directories, values, secret keys
and namespace (`floe-E`).

Environment-specific paths carry the environment as a directory (`environments/prod/`,
`flux/clusters/prod/`, `secrets/external-secrets/prod/`, `secrets/sops/prod/`), secret keys as
their second segment (`floe/prod/postgres`). Paths without one (`gitops/policies`, the stores)
are shared by every environment.
"""

from __future__ import annotations

from pathlib import PurePosixPath

from floe_deploy.gitops.manifests import ENVIRONMENTS

STORE_PREFIX = "floe"
SECRET_PROPERTIES: dict[str, frozenset[str]] = {
    "postgres": frozenset({"password"}),
    "storage": frozenset({"secret-access-key", "access-key-id"}),
    "polaris": frozenset({"client-secret"}),
    "cube": frozenset({"api-secret"}),
}
"""The secret store layout (docs/06, Secret stores): floe/<env>/<name>, and each name's properties."""


def namespace_of(environment: str) -> str:
    return f"floe-{environment}"


def environment_of_namespace(namespace: str) -> str | None:
    return next((e for e in ENVIRONMENTS if namespace == namespace_of(e)), None)


def environment_of_path(path: str) -> str | None:
    """The environment a repository path (or a file under it) belongs to; None: shared."""
    parts = PurePosixPath(path.removeprefix("$values/").removeprefix("./")).parts
    return next((p for p in parts if p in ENVIRONMENTS), None)


def foreign_paths(environment: str, paths: list[str], what: str) -> list[str]:
    """Paths of another environment that an object deploying `environment` reads."""
    errors = []
    for path in paths:
        other = environment_of_path(path)
        if other is not None and other != environment:
            fixed = "/".join(environment if p == other else p for p in path.split("/"))
            errors.append(
                f"{what} {path} is {other}'s, but this deploys {environment} "
                f"({namespace_of(environment)}): read {fixed}"
            )
    return errors


def secret_key_problems(
    environment: str | None, key: str, prop: str | None, what: str
) -> list[str]:
    """A remote secret key must be floe/<environment>/<name> with a property that name has."""
    parts = key.split("/")
    layout = f"{STORE_PREFIX}/<environment>/<{'|'.join(SECRET_PROPERTIES)}>"
    if len(parts) != 3 or parts[0] != STORE_PREFIX or parts[1] not in ENVIRONMENTS:
        return [f"{what} key {key!r} is not {layout} (the store layout, docs/06)"]
    owner, name = parts[1], parts[2]
    if environment is not None and owner != environment:
        return [
            f"{what} key {key} is {owner}'s secret, but this is {environment}'s: "
            f"use {STORE_PREFIX}/{environment}/{name}"
        ]
    if name not in SECRET_PROPERTIES:
        return [f"{what} key {key}: {name!r} is no secret of the store layout ({layout})"]
    if prop is not None and prop not in SECRET_PROPERTIES[name]:
        return [
            f"{what} key {key} has no property {prop!r} "
            f"(its properties: {', '.join(sorted(SECRET_PROPERTIES[name]))})"
        ]
    return []
