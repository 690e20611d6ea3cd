"""helm.validate's check that the private CA (`tls.caBundle`) reaches every TLS-speaking pod.

Helm cannot inject volumes into the dagster subchart, so its pods take the bundle from values the
user writes (values-prod.yaml's aliases). What counts is the rendered pods and the run pod
dagster-k8s builds: each container must mount the bundle read-only and carry every variable its
clients read, pointing at the mounted file (inline or through an envFrom ConfigMap of the render).
Init containers are left out: the dagster chart offers no volumes for them (pg_isready, sh).
Without a CA, a pod still reading the variables' ConfigMap (which then is not rendered) fails.
"""

from __future__ import annotations

from typing import Any

from floe_deploy.helm import pss
from floe_deploy.helm.chart import RenderedObject
from floe_deploy.helm.run_pods import RunJob
from floe_deploy.helm.values_model import Tls

CA_VARIABLES = (
    "SSL_CERT_FILE",  # Python's ssl: urllib, httpx
    "REQUESTS_CA_BUNDLE",  # requests, pyiceberg's REST catalog
    "AWS_CA_BUNDLE",  # boto3/botocore
    "PGSSLROOTCERT",  # libpq: psycopg, Dagster's Postgres storage
    "NODE_EXTRA_CA_CERTS",  # Node.js: Cube
)


def _config_maps(objects: list[RenderedObject]) -> dict[str, dict[str, str]]:
    return {o.name: o.document.get("data") or {} for o in objects if o.kind == "ConfigMap"}


def _bundle_sources(tls: Tls, objects: list[RenderedObject]) -> set[tuple[str, str]]:
    """(volume source, name) pairs that hold the bundle: the value's, and the chart's hook copy."""
    assert tls.caBundle is not None
    if tls.caBundle.secretName:
        return {("secret", tls.caBundle.secretName)}
    found = {("configMap", str(tls.caBundle.configMapName))}
    if tls.caBundlePem:
        found |= {
            ("configMap", o.name)
            for o in objects
            if o.kind == "ConfigMap" and o.name.endswith("-ca-hook")
        }
    return found


def _bundle_paths(pod: dict[str, Any], sources: set[tuple[str, str]], key: str) -> dict[str, str]:
    """Volume name → the bundle's file name inside it, for each volume sourced from the bundle."""
    found = {}
    for volume in pod.get("volumes") or []:
        kind = "secret" if "secret" in volume else "configMap"
        source = volume.get(kind) or {}
        if (kind, source.get("secretName") or source.get("name")) not in sources:
            continue
        items = source.get("items")
        paths = [i["path"] for i in items or [] if i.get("key") == key]
        if items is None:
            paths = [key]
        if paths:
            found[volume["name"]] = paths[0]
    return found


def _mounted_files(container: dict[str, Any], volumes: dict[str, str]) -> tuple[set[str], bool]:
    """The bundle's paths in the container, and whether every such mount is read-only."""
    files, read_only = set(), True
    for mount in container.get("volumeMounts") or []:
        path = volumes.get(mount["name"])
        if path is None:
            continue
        read_only = read_only and bool(mount.get("readOnly"))
        sub = mount.get("subPath")
        if sub == path:
            files.add(mount["mountPath"])
        elif not sub:
            files.add(f"{mount['mountPath'].rstrip('/')}/{path}")
    return files, read_only


def container_env(
    container: dict[str, Any], config_maps: dict[str, dict[str, str]]
) -> dict[str, str]:
    """Plain variables of a container, envFrom ConfigMaps of the render first (env wins)."""
    env: dict[str, str] = {}
    for source in container.get("envFrom") or []:
        name = str((source.get("configMapRef") or {}).get("name"))
        env |= {f"{source.get('prefix', '')}{k}": v for k, v in config_maps.get(name, {}).items()}
    env |= {e["name"]: e["value"] for e in container.get("env") or [] if "value" in e}
    return env


def _pod_errors(
    label: str,
    pod: dict[str, Any],
    sources: set[tuple[str, str]],
    key: str,
    maps: dict[str, dict[str, str]],
) -> list[str]:
    volumes = _bundle_paths(pod, sources, key)
    where_from = " or ".join(f"{kind} {name}" for kind, name in sorted(sources))
    errors = []
    for container in pod.get("containers") or []:
        where = f"{label} (container {container['name']})"
        files, read_only = _mounted_files(container, volumes)
        if not files:
            errors.append(f"{where}: does not mount the CA bundle ({where_from}, key {key})")
            continue
        if not read_only:
            errors.append(f"{where}: mounts the CA bundle writable (readOnly: true)")
        env = container_env(container, maps)
        for variable in CA_VARIABLES:
            if env.get(variable) not in files:
                errors.append(
                    f"{where}: {variable} is {env.get(variable)!r}, not the mounted bundle "
                    f"{'/'.join(sorted(files))}"
                )
    return errors


def _orphans(label: str, pod: dict[str, Any], env_config_map: str) -> list[str]:
    """Containers still reading the CA variables' ConfigMap, which only tls.caBundle renders."""
    return [
        f"{label} (container {container['name']}): reads ConfigMap {env_config_map}, rendered "
        "only with tls.caBundle (set it, or drop the CA wiring from the dagster values)"
        for container in pod.get("containers") or []
        if any(
            (source.get("configMapRef") or {}).get("name") == env_config_map
            for source in container.get("envFrom") or []
        )
    ]


def ca_errors(tls: Tls, objects: list[RenderedObject], runs: list[RunJob]) -> list[str]:
    """Each TLS-speaking container of the render and each run pod that misses the private CA
    (or, without one, still asks for its variables)."""
    pods = [(item.label, pss.pod_spec(item.document)) for item in objects]
    pods += [(f"run pods of {run.location}", run.pod_spec) for run in runs]
    found = [(label, pod) for label, pod in pods if pod is not None]
    if tls.caBundle is None:
        return [e for label, pod in found for e in _orphans(label, pod, tls.envConfigMapName)]
    sources, key, maps = _bundle_sources(tls, objects), tls.caBundle.key, _config_maps(objects)
    return [e for label, pod in found for e in _pod_errors(label, pod, sources, key, maps)]
