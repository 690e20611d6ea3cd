"""What Helm does to each object of a release on install, upgrade, rollback and uninstall.

Helm's rules, as its documentation and `pkg/action` state them, applied to two renders:
- a hook (`helm.sh/hook`) is made by the phase that names it, outside the release's objects:
  `before-hook-creation` (also the default) deletes the old one first, `hook-succeeded` deletes it
  when every hook of the phase succeeded, and uninstall leaves hooks where they are;
- a release object is created when it appears, patched in place while it stays, deleted when it
  leaves the render or the release is uninstalled (unless `helm.sh/resource-policy: keep`);
  creating one that already exists but the release does not own fails ("invalid ownership
  metadata"), and so does patching a Job release object's pod template (immutable: a plain
  migrate Job fails the first upgrade that changes its image);
- what controllers make follows its owner: an ExternalSecret with `creationPolicy: Owner` and a
  SealedSecret own the Secret they make, so deleting them deletes it.
Rollback is an upgrade to the earlier render (with pre/post-rollback hooks). The model answers the
questions that hurt a running platform: does a step delete a Secret or ConfigMap a pod reads, and
does it fail on ownership.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel

from floe_deploy.helm.chart import RenderedObject, chosen_values
from floe_deploy.helm.pss import pod_spec
from floe_deploy.helm.rendering import prepare_chart, render
from floe_deploy.settings import Settings

Event = Literal["install", "upgrade", "rollback", "uninstall"]
Key = tuple[str, str]
HOOK = "helm.sh/hook"
DELETE_POLICY = "helm.sh/hook-delete-policy"
KEEP = "helm.sh/resource-policy"


class Step(BaseModel):
    """One thing Helm (or a controller, by ownership) does to one object."""

    event: Event
    object: str
    action: str


class Outcome(BaseModel):
    steps: list[Step]
    remaining: list[str]
    """Objects that exist afterwards (release objects, hooks left behind, controller-made)."""
    disrupted: list[str]
    """Secrets/ConfigMaps that pods of the new render read and that the step deleted."""
    conflicts: list[str]


def _label(key: Key) -> str:
    return f"{key[0]}/{key[1]}"


def _annotations(item: RenderedObject) -> dict[str, str]:
    return dict((item.document.get("metadata") or {}).get("annotations") or {})


def stopped_by(hook: RenderedObject) -> list[str]:
    """The Deployments a `floe-migrate upgrade` hook scales to 0 before it migrates (the
    upgrade's patch brings them back: Helm's three-way merge restores `replicas`)."""
    if hook.kind != "Job":
        return []
    stopped = []
    for container in hook.document["spec"]["template"]["spec"].get("containers") or []:
        args = list(container.get("args") or [])
        if container.get("command") == ["floe-migrate"] and args[:1] == ["upgrade"]:
            stopped += [
                args[i + 1] for i, a in enumerate(args[:-1]) if a in {"--daemon", "--webserver"}
            ]
    return stopped


def hook_events(item: RenderedObject) -> set[str]:
    value = _annotations(item).get(HOOK, "")
    return {e.strip() for e in value.split(",") if e.strip()}


def _delete_policies(item: RenderedObject) -> set[str]:
    value = _annotations(item).get(DELETE_POLICY, "before-hook-creation")
    return {p.strip() for p in value.split(",") if p.strip()}


def owned(item: RenderedObject) -> list[Key]:
    """What a controller makes from the object and deletes with it."""
    spec = item.document.get("spec") or {}
    if item.kind == "ExternalSecret":
        target = spec.get("target") or {}
        if target.get("creationPolicy", "Owner") == "Owner":
            return [("Secret", str(target.get("name") or item.name))]
    if item.kind == "SealedSecret":
        template = (spec.get("template") or {}).get("metadata") or {}
        return [("Secret", str(template.get("name") or item.name))]
    return []


def retained(item: RenderedObject) -> list[Key]:
    """What a controller makes from the object and leaves when it is deleted: a StatefulSet's
    volume claims (persistentVolumeClaimRetentionPolicy defaults to Retain)."""
    if item.kind != "StatefulSet":
        return []
    spec = item.document.get("spec") or {}
    policy = (spec.get("persistentVolumeClaimRetentionPolicy") or {}).get("whenDeleted", "Retain")
    if policy != "Retain":
        return []
    return [
        ("PersistentVolumeClaim", f"{claim['metadata']['name']}-{item.name}-{index}")
        for claim in spec.get("volumeClaimTemplates") or []
        for index in range(int(spec.get("replicas", 1)))
    ]


# Where a pod spec names a Secret or ConfigMap: the field, the kind, the key holding the name.
_VOLUME_SOURCES = {"secret": ("Secret", "secretName"), "configMap": ("ConfigMap", "name")}
_PROJECTED_SOURCES = {"secret": ("Secret", "name"), "configMap": ("ConfigMap", "name")}
_ENV_SOURCES = {
    "secretRef": ("Secret", "name"), "configMapRef": ("ConfigMap", "name"),
    "secretKeyRef": ("Secret", "name"), "configMapKeyRef": ("ConfigMap", "name"),
}  # fmt: skip


def _named(entry: dict[str, Any], fields: dict[str, tuple[str, str]]) -> set[Key]:
    return {(kind, str(entry[f].get(key, ""))) for f, (kind, key) in fields.items() if f in entry}


def _pod_references(spec: dict[str, Any]) -> set[Key]:
    found = {("Secret", str(s.get("name", ""))) for s in spec.get("imagePullSecrets") or []}
    for volume in spec.get("volumes") or []:
        found |= _named(volume, _VOLUME_SOURCES)
        for source in (volume.get("projected") or {}).get("sources") or []:
            found |= _named(source, _PROJECTED_SOURCES)
    for container in [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]:
        for source in container.get("envFrom") or []:
            found |= _named(source, _ENV_SOURCES)
        for variable in container.get("env") or []:
            found |= _named(variable.get("valueFrom") or {}, _ENV_SOURCES)
    return found


def read_by_running_pods(objects: list[RenderedObject]) -> set[Key]:
    """Secrets and ConfigMaps that the release's long-running pods read (hooks left out)."""
    found: set[Key] = set()
    for item in objects:
        spec = pod_spec(item.document)
        if spec is not None and not hook_events(item) and item.kind != "Job":
            found |= _pod_references(spec)
    return found


@dataclass
class Cluster:
    """Objects that exist, and who made them: "release", "hook" or the owner's key."""

    objects: dict[Key, str] = field(default_factory=dict)
    steps: list[Step] = field(default_factory=list)
    deleted: set[Key] = field(default_factory=set)
    conflicts: list[str] = field(default_factory=list)
    owners: dict[Key, list[Key]] = field(default_factory=dict)
    templates: dict[Key, Any] = field(default_factory=dict)
    """The pod template each Job release object was made with (immutable afterwards)."""

    def create(self, event: Event, item: RenderedObject, made_by: str) -> None:
        key = (item.kind, item.name)
        if made_by == "release" and self.objects.get(key, "release") != "release":
            self.conflicts.append(
                f"{event}: {_label(key)} exists (made as a {self.objects[key]}) but the release "
                "does not own it: Helm stops with 'invalid ownership metadata'"
            )
            return
        template = (item.document.get("spec") or {}).get("template")
        if item.kind == "Job" and made_by == "release":
            if key in self.templates and self.templates[key] != template:
                self.conflicts.append(
                    f"{event}: {_label(key)} is a Job the release keeps, and its pod template "
                    "changed: Helm stops with 'field is immutable' (make it a hook, which every "
                    "upgrade makes again)"
                )
                return
            self.templates[key] = template
        action = "patched in place" if key in self.objects else "created"
        self.objects[key] = made_by
        self.owners[key] = owned(item)
        self.steps.append(Step(event=event, object=_label(key), action=action))
        for child in [*self.owners[key], *retained(item)]:
            if child not in self.objects:
                self.objects[child] = _label(key)
                self.steps.append(
                    Step(event=event, object=_label(child), action=f"made by {_label(key)}")
                )

    def delete(self, event: Event, key: Key, why: str) -> None:
        if key not in self.objects:
            return
        del self.objects[key]
        self.templates.pop(key, None)
        self.deleted.add(key)
        self.steps.append(Step(event=event, object=_label(key), action=f"deleted ({why})"))
        for child in self.owners.pop(key, []):
            if self.objects.get(child) == _label(key):
                self.delete(event, child, f"its owner {_label(key)} was deleted")

    def run_hooks(
        self, event: Event, phase: str, objects: list[RenderedObject], *, succeed: bool = True
    ) -> None:
        hooks = [o for o in objects if phase in hook_events(o)]
        for hook in hooks:
            if "before-hook-creation" in _delete_policies(hook):
                self.delete(event, (hook.kind, hook.name), f"{phase} hook: before-hook-creation")
            self.create(event, hook, "hook")
            for deployment in stopped_by(hook):
                self.steps.append(Step(event=event, object=f"Deployment/{deployment}",
                                       action=f"scaled to 0 by {hook.label}"))  # fmt: skip
        if succeed:
            for hook in reversed(hooks):
                if "hook-succeeded" in _delete_policies(hook):
                    self.delete(event, (hook.kind, hook.name), f"{phase} hook: hook-succeeded")

    def outcome(self, since: int, read: set[Key]) -> Outcome:
        return Outcome(
            steps=self.steps[since:],
            remaining=sorted(_label(k) for k in self.objects),
            disrupted=sorted(_label(k) for k in self.deleted & read),
            conflicts=list(self.conflicts),
        )


def _release_objects(objects: list[RenderedObject]) -> dict[Key, RenderedObject]:
    return {(o.kind, o.name): o for o in objects if not hook_events(o)}


def install(cluster: Cluster, new: list[RenderedObject], *, hooks_succeed: bool = True) -> Outcome:
    since = len(cluster.steps)
    cluster.deleted.clear()
    cluster.run_hooks("install", "pre-install", new, succeed=hooks_succeed)
    if hooks_succeed:
        for item in _release_objects(new).values():
            cluster.create("install", item, "release")
        cluster.run_hooks("install", "post-install", new)
    return cluster.outcome(since, read_by_running_pods(new))


def upgrade(
    cluster: Cluster,
    old: list[RenderedObject],
    new: list[RenderedObject],
    event: Event = "upgrade",
    *,
    hooks_succeed: bool = True,
) -> Outcome:
    """`helm upgrade` from the `old` render to the `new` one (or `helm rollback` to it)."""
    since = len(cluster.steps)
    cluster.deleted.clear()
    cluster.run_hooks(event, f"pre-{event}", new, succeed=hooks_succeed)
    if hooks_succeed:
        before, after = _release_objects(old), _release_objects(new)
        for item in after.values():
            cluster.create(event, item, "release")
        for key, item in before.items():
            if key not in after:
                if _annotations(item).get(KEEP) == "keep":
                    cluster.steps.append(
                        Step(event=event, object=_label(key), action="left (resource-policy keep)")
                    )
                else:
                    cluster.delete(event, key, "no longer rendered")
        cluster.run_hooks(event, f"post-{event}", new)
    return cluster.outcome(since, read_by_running_pods(new))


def uninstall(cluster: Cluster, last: list[RenderedObject]) -> Outcome:
    since = len(cluster.steps)
    cluster.deleted.clear()
    for key, item in _release_objects(last).items():
        if _annotations(item).get(KEEP) == "keep":
            cluster.steps.append(
                Step(event="uninstall", object=_label(key), action="left (resource-policy keep)")
            )
        else:
            cluster.delete("uninstall", key, "uninstall")
    return cluster.outcome(since, set())


class LifecycleRow(BaseModel):
    object: str
    made_as: str
    install: str
    upgrade: str
    rollback: str
    uninstall: str


def lifecycle_table(objects: list[RenderedObject]) -> list[LifecycleRow]:
    """Per object of one render: what install, an upgrade to the same render (e.g. a new image
    tag), a rollback to the render before and uninstall do to it, run through the model above."""
    cluster = Cluster()
    done = {
        "install": install(cluster, objects),
        "upgrade": upgrade(cluster, objects, objects),
        "rollback": upgrade(cluster, objects, objects, "rollback"),
        "uninstall": uninstall(cluster, objects),
    }
    made = {(o.kind, o.name): o for o in objects}
    names = list(dict.fromkeys(s.object for outcome in done.values() for s in outcome.steps))
    rows = []
    for name in names:
        kind, _, object_name = name.partition("/")
        item = made.get((kind, object_name))
        if item is None:
            made_as = next(
                s.action for s in done["install"].steps if s.object == name
            ).removeprefix("made ")
        elif hook_events(item):
            made_as = f"hook ({', '.join(sorted(hook_events(item)))})"
        else:
            made_as = "release object"
        cells = {
            event: "; ".join(s.action for s in outcome.steps if s.object == name) or "unchanged"
            for event, outcome in done.items()
        }
        if cells["uninstall"] == "unchanged":
            cells["uninstall"] = (
                "kept (delete it yourself)"
                if name in done["uninstall"].remaining
                else "gone already"
            )
        rows.append(LifecycleRow(object=name, made_as=made_as, **cells))
    return rows


class LifecycleReport(BaseModel):
    values: str
    rows: list[LifecycleRow]

    def markdown(self) -> str:
        lines = [
            "| object | made as | install | upgrade (same values, new image) | rollback | uninstall |",
            "| --- | --- | --- | --- | --- | --- |",
        ]
        for row in self.rows:
            cells = [f"`{row.object}`", row.made_as, row.install, row.upgrade, row.rollback,
                     row.uninstall]  # fmt: skip
            lines.append("| " + " | ".join(cells) + " |")
        return "\n".join(lines) + "\n"


def lifecycle_report(
    settings: Settings, values: str, sets: dict[str, Any], chart_dir: Path
) -> LifecycleReport:
    """The lifecycle table of one values source, rendered with the real dagster chart."""
    chart = prepare_chart(chart_dir, settings.dagster_chart)
    chosen = chosen_values(values, sets, chart_dir=chart_dir)
    return LifecycleReport(values=values, rows=lifecycle_table(render(chosen, chart)))
