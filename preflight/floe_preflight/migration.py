"""`floe-migrate`: the chart's upgrade and rollback hooks around `dagster instance migrate`.

Dagster's guide for migrating an instance on Kubernetes: stop the daemon and the webserver, run
`dagster instance migrate` with the new image, start the new release. The chart's pre-upgrade
hook runs `floe-migrate upgrade`, which does exactly that from inside the cluster:
- scales the daemon Deployment to 0 and waits until its pods are gone, then reads the daemons'
  heartbeats in Dagster's database for one heartbeat interval: a daemon that still beats (another
  release, a Deployment the hook was not told about) stops the upgrade before anything changed;
- scales the webserver to 0 (its reads of a half-migrated schema would fail), migrates, and
  reports the schema revision before and after;
- when it refuses before migrating (a daemon still beats, pods that do not stop, a schema this
  image does not know) it puts every Deployment back to the replicas it had, so the old release
  keeps running. A migration that fails part-way is different: `dagster instance migrate` commits
  step by step, so the schema may be partly migrated and the old release must not start on it;
  both stay stopped and the message names the restore runbook.
An upgrade whose image knows no newer schema than the database's (a values-only change, a new
floe release on the same Dagster) stops nothing. The replicas each Deployment had are kept in an
annotation on it while it is stopped, so a hook killed part-way and run again restores the right
number. The upgrade itself brings the new Deployments back (Helm restores `replicas`).

`helm rollback` cannot undo a migration: the older Dagster does not know the newer schema. The
chart's pre-rollback hook runs `floe-migrate check-rollback` with the rollback target's image and
refuses when the database is at a revision that image does not know, naming the restore runbook.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click

NAMESPACE_FILE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
HEARTBEAT_INTERVAL_S = 30.0
"""Dagster's daemons write a heartbeat this often (dagster._daemon.controller)."""
RUNBOOK = "docs/06-deployment-view.md, 'Upgrade and rollback'"
REPLICAS_ANNOTATION = "floe.dev/replicas-before-migrate"
"""On a Deployment the hook stopped: the replicas to give back."""


class MigrationRefused(Exception):
    """The upgrade or rollback must not go on; the message says why and what to do."""


class MigrationFailed(Exception):
    """`dagster instance migrate` failed part-way: nothing may start on the schema it left."""


@dataclass
class Quiesced:
    """Deployments scaled to 0 by this hook, with the replicas each had (restored on failure)."""

    namespace: str
    replicas: dict[str, int] = field(default_factory=dict)


def _namespace() -> str:
    return os.environ.get("POD_NAMESPACE") or NAMESPACE_FILE.read_text().strip()


def _apis() -> tuple[Any, Any]:
    from kubernetes import client, config  # noqa: PLC0415 (in the runtime image, not needed by preflight)

    config.load_incluster_config()
    return client.AppsV1Api(), client.CoreV1Api()


def quiesce(state: Quiesced, deployment: str, timeout: float) -> None:
    """Scale `deployment` to 0 and wait until none of its pods is left; a missing one (a first
    install) is nothing to stop."""
    from kubernetes.client.exceptions import ApiException  # noqa: PLC0415

    apps, core = _apis()
    try:
        current = apps.read_namespaced_deployment(deployment, state.namespace)
    except ApiException as error:
        if error.status == 404:
            return
        raise
    remembered = (current.metadata.annotations or {}).get(REPLICAS_ANNOTATION)
    had = int(current.spec.replicas or 0)
    if had == 0 and remembered:  # stopped by an earlier attempt that did not finish
        had = int(remembered)
    state.replicas[deployment] = had
    apps.patch_namespaced_deployment(
        deployment, state.namespace, {"metadata": {"annotations": {REPLICAS_ANNOTATION: str(had)}}}
    )
    apps.patch_namespaced_deployment_scale(deployment, state.namespace, {"spec": {"replicas": 0}})
    selector = ",".join(f"{k}={v}" for k, v in (current.spec.selector.match_labels or {}).items())
    deadline = time.monotonic() + timeout
    while True:
        left = core.list_namespaced_pod(state.namespace, label_selector=selector).items
        if not left:
            _progress(f"{deployment}: scaled to 0, no pod left")
            return
        if time.monotonic() > deadline:
            raise MigrationRefused(
                f"{deployment}: {len(left)} pods still there {timeout:.0f} s after scaling to 0 "
                f"({', '.join(p.metadata.name for p in left)}); not migrating while they may write"
            )
        time.sleep(1)


def restore(state: Quiesced) -> None:
    if not state.replicas:
        return
    apps, _ = _apis()
    for deployment, replicas in state.replicas.items():
        apps.patch_namespaced_deployment_scale(
            deployment, state.namespace, {"spec": {"replicas": replicas}}
        )
        apps.patch_namespaced_deployment(
            deployment, state.namespace, {"metadata": {"annotations": {REPLICAS_ANNOTATION: None}}}
        )
        _progress(f"{deployment}: back to {replicas} replicas")


def latest_heartbeat() -> float | None:
    from dagster import DagsterInstance  # noqa: PLC0415

    with DagsterInstance.get() as instance:
        beats = instance.get_daemon_heartbeats().values()
    return max((b.timestamp for b in beats), default=None)


def no_daemon_beats(interval: float = HEARTBEAT_INTERVAL_S, grace: float = 5.0) -> None:
    """Refuse while any Dagster daemon still writes heartbeats: wait until one interval (and a
    grace for a slow write) has passed since the newest heartbeat and look again."""
    before = latest_heartbeat()
    if before is None:
        return
    wait = before + interval + grace - time.time()
    if wait > 0:
        _progress(f"waiting {wait:.0f} s: does any Dagster daemon still write heartbeats?")
        time.sleep(wait)
    after = latest_heartbeat()
    if after is not None and after > before:
        raise MigrationRefused(
            "a Dagster daemon still writes heartbeats to this database after the daemon "
            "Deployment was scaled to 0 (another release, or a daemon this hook was not told "
            "about): migrating under it is unsafe. Stop it, then upgrade again"
        )


def instance_file() -> Path:
    """dagster.yaml: Argo CD runs the hook on a first sync too, before the release's ConfigMap
    exists (its volume is optional)."""
    return Path(os.environ.get("DAGSTER_HOME", "/opt/dagster/dagster_home")) / "dagster.yaml"


def schema_revision() -> str | None:
    """The alembic revision Dagster's database is at (None: no Dagster tables yet)."""
    from dagster import DagsterInstance  # noqa: PLC0415
    from sqlalchemy import create_engine, text  # noqa: PLC0415

    with DagsterInstance.get() as instance:
        url = getattr(instance.run_storage, "postgres_url", None)
    if url is None:
        raise MigrationRefused("the Dagster instance does not keep its runs in Postgres")
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            row = connection.execute(text("SELECT version_num FROM alembic_version")).first()
    finally:
        engine.dispose()
    return str(row[0]) if row else None


def known_revisions() -> tuple[set[str], str]:
    """Every schema revision this image's Dagster knows, and its head."""
    import dagster  # noqa: PLC0415
    from alembic.script import ScriptDirectory  # noqa: PLC0415

    script = ScriptDirectory(str(Path(dagster.__file__).parent / "_core/storage/alembic"))
    head = script.get_current_head()
    return {r.revision for r in script.walk_revisions()}, str(head)


def refuse_unknown_schema() -> tuple[str | None, str]:
    """(the database's revision, this image's head); refused when this image's Dagster does not
    know the revision: a newer Dagster migrated the database, and no older one can undo that."""
    import dagster  # noqa: PLC0415

    revision = schema_revision()
    known, head = known_revisions()
    if revision is not None and revision not in known:
        raise MigrationRefused(
            f"Dagster's database is at schema revision {revision}, which Dagster "
            f"{dagster.__version__} in this image does not know (its newest is {head}): an "
            "upgrade migrated it, and neither `helm rollback` nor an older image can undo that. "
            f"Restore the database dump taken before the upgrade, then roll back ({RUNBOOK})"
        )
    return revision, head


def migrate() -> dict[str, Any]:
    before = schema_revision()
    started = time.monotonic()
    done = subprocess.run(["dagster", "instance", "migrate"], check=False, text=True,
                          stdout=sys.stderr, stderr=sys.stderr)  # fmt: skip
    if done.returncode != 0:
        raise MigrationFailed(
            f"`dagster instance migrate` exited {done.returncode} (its output is above). It "
            "commits step by step, so the schema may be partly migrated: the daemon and webserver "
            "stay stopped. Fix the cause and run the upgrade again, or restore the database dump "
            f"taken before the upgrade and roll back ({RUNBOOK})"
        )
    return {"revision_before": before, "revision_after": schema_revision(),
            "migrate_seconds": round(time.monotonic() - started, 1)}  # fmt: skip


def _progress(message: str) -> None:
    print(f"floe-migrate: {message}", file=sys.stderr, flush=True)


def _fail(message: str, **report: Any) -> None:
    print(json.dumps({"ok": False, "error": message, **report}))
    _progress(f"REFUSED: {message}")
    raise SystemExit(1)


@click.group()
def main() -> None:
    """The chart's upgrade and rollback hooks around `dagster instance migrate`."""


@main.command()
@click.option("--daemon", "daemons", multiple=True, help="daemon Deployment to stop first")
@click.option("--webserver", "webservers", multiple=True, help="webserver Deployment to stop")
@click.option("--timeout", default=300.0, show_default=True, help="seconds to wait for pods to go")
@click.option("--no-heartbeat-check", is_flag=True, help="skip the check that no daemon beats")
def upgrade(
    daemons: tuple[str, ...], webservers: tuple[str, ...], timeout: float, no_heartbeat_check: bool
) -> None:
    """Stop the daemon, check no daemon beats, stop the webserver, migrate (JSON on stdout)."""
    if not instance_file().is_file():
        print(json.dumps({"ok": True, "skipped": "no Dagster instance yet (a first install)"}))
        return
    started = time.monotonic()
    try:
        revision, head = refuse_unknown_schema()
    except MigrationRefused as refused:
        _fail(str(refused), restored={})
        return
    if revision == head:
        print(json.dumps({"ok": True, "skipped": f"the database is at {head}, this image's newest",
                          "revision_before": revision, "revision_after": revision}))  # fmt: skip
        return
    state = Quiesced(namespace=_namespace())
    try:
        for deployment in daemons:
            quiesce(state, deployment, timeout)
        if not no_heartbeat_check:
            no_daemon_beats()
        for deployment in webservers:
            quiesce(state, deployment, timeout)
        report = migrate()
    except MigrationRefused as refused:
        restore(state)
        _fail(str(refused), restored=state.replicas)
        return
    except MigrationFailed as failed:
        _fail(str(failed), stopped=state.replicas)
        return
    except Exception:
        restore(state)
        raise
    report |= {"ok": True, "quiesced": state.replicas,
               "seconds": round(time.monotonic() - started, 1)}  # fmt: skip
    print(json.dumps(report))


@main.command(name="check-rollback")
def check_rollback() -> None:
    """Refuse a rollback to this image while the database is at a schema it does not know."""
    import dagster  # noqa: PLC0415

    try:
        revision, head = refuse_unknown_schema()
    except MigrationRefused as refused:
        _fail(str(refused))
        return
    print(json.dumps({"ok": True, "revision": revision, "image_head": head,
                      "dagster": dagster.__version__}))  # fmt: skip
