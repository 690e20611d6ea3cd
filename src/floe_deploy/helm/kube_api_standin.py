"""A protocol stand-in for the Kubernetes API server, for `invoke helm.smoke` only (standard
library only: it runs inside the runtime image as a played pod, beside kube_rbac).

No API server can run on the smoke's machine, yet dagster-k8s in the daemon and the webserver
drives each run through the in-cluster API. This server answers the part of the protocol
dagster-k8s 0.29 uses, over TLS, as the real API does: the bearer token names a rendered
ServiceAccount (401 otherwise) and every request is checked against the rendered RBAC (403 with
the API server's message otherwise). It keeps Jobs under JOBS_DIR, one directory per Job:

- `job.json`: the Job as created (POST), served by get, get status and list (fieldSelector);
  deleting it removes the file, and with propagationPolicy Background or Foreground asks for
  its pod to stop
- `status.json`, `pod.json`, `log`, `events.json`: what the smoke writes as it plays the Job's
  pod (the Job controller's and kubelet's part), served as Job status, pods (list with label and
  field selectors, get), the pod's log and events
- `stop.json`: written here when the pod is deleted; the smoke stops the played pod (SIGTERM)

The played Deployments (`deployments/NAME.json`) are served for get and their `scale`
subresource for get and patch (what the chart's migrate hook does before `dagster instance
migrate`); a patch leaves `deployments/NAME.scale` for the smoke to carry out, and their pods
(`DIR/pod.json` the smoke writes) are listed like a Job's.

Every request is appended to JOBS_DIR/requests.jsonl (user, verb, resource, answer), where the
smoke reads what was forbidden.
"""

from __future__ import annotations

import json
import os
import ssl
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from floe_deploy.helm.kube_rbac import Rbac, Request

REQUESTS = "requests.jsonl"
DEPLOYMENTS = "deployments"
"""JOBS_DIR/deployments/NAME.json: a played Deployment (written by the smoke); a scale request
lands beside it as NAME.scale (the replicas), which the smoke carries out."""


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _read(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _matches(term: str, value: Any) -> bool:
    """One selector term against the found value (None when absent)."""
    if "!=" in term:
        return str(value) != term.partition("!=")[2] if value is not None else True
    if "=" in term:
        return value is not None and str(value) == term.replace("==", "=").partition("=")[2]
    return (value is None) if term.startswith("!") else value is not None


def _selected(item: dict[str, Any], labels: str, fields: str) -> bool:
    """Equality-based label and field selectors (`a=b,c!=d,e,!f`), as dagster-k8s sends them."""
    own = (item.get("metadata") or {}).get("labels") or {}
    for term in filter(None, labels.split(",")):
        key = term.lstrip("!").replace("==", "=").replace("!=", "=").partition("=")[0]
        if not _matches(term, own.get(key)):
            return False
    for term in filter(None, fields.split(",")):
        found: Any = item
        for part in term.replace("!=", "=").partition("=")[0].split("."):
            found = found.get(part) if isinstance(found, dict) else None
        if not _matches(term, found):
            return False
    return True


class Store:
    """The Jobs, pods and events under JOBS_DIR (shared with the smoke on the host)."""

    def __init__(self, jobs: Path) -> None:
        self.jobs = jobs
        self.lock = threading.Lock()

    def job(self, name: str) -> dict[str, Any] | None:
        job = _read(self.jobs / name / "job.json")
        if job is None:
            return None
        job["status"] = _read(self.jobs / name / "status.json") or {}
        return dict(job)

    def all_jobs(self) -> list[dict[str, Any]]:
        return [j for d in sorted(self.jobs.iterdir()) if d.is_dir() and (j := self.job(d.name))]

    def pods(self) -> list[tuple[Path, dict[str, Any]]]:
        found = []
        for directory in sorted(p for p in self.jobs.iterdir() if p.is_dir()):
            pod = _read(directory / "pod.json")
            if pod:
                found.append((directory, pod))
        return found

    def pod(self, name: str) -> tuple[Path, dict[str, Any]] | None:
        return next(((d, p) for d, p in self.pods() if p["metadata"]["name"] == name), None)

    def events(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        for directory in sorted(p for p in self.jobs.iterdir() if p.is_dir()):
            found += _read(directory / "events.json") or []
        return found

    def create_job(self, namespace: str, job: dict[str, Any]) -> dict[str, Any] | None:
        """The Job as stored, with what the API server and Job controller add; None when a Job
        of that name exists."""
        metadata = job.setdefault("metadata", {})
        directory = self.jobs / metadata["name"]
        with self.lock:
            if (directory / "job.json").is_file():
                return None
            directory.mkdir(exist_ok=True)
            directory.chmod(0o777)
            uid = str(uuid.uuid4())
            metadata.update(namespace=namespace, uid=uid, creationTimestamp=now())
            template = job["spec"]["template"].setdefault("metadata", {})
            template.setdefault("labels", {}).update({
                "controller-uid": uid, "batch.kubernetes.io/controller-uid": uid,
                "job-name": metadata["name"], "batch.kubernetes.io/job-name": metadata["name"],
            })  # fmt: skip
            (directory / "job.json").write_text(json.dumps(job))
        return job

    def deployment(self, name: str) -> dict[str, Any] | None:
        found = _read(self.jobs / DEPLOYMENTS / f"{name}.json")
        return dict(found) if found else None

    def scale(self, name: str, replicas: int) -> dict[str, Any]:
        """Record the Deployment's new replicas and ask the smoke to carry it out."""
        with self.lock:
            deployment = self.deployment(name) or {}
            deployment.setdefault("spec", {})["replicas"] = replicas
            (self.jobs / DEPLOYMENTS / f"{name}.json").write_text(json.dumps(deployment))
            (self.jobs / DEPLOYMENTS / f"{name}.scale").write_text(str(replicas))
        return deployment

    def annotate(self, name: str, annotations: dict[str, str | None]) -> dict[str, Any]:
        with self.lock:
            deployment = self.deployment(name) or {}
            metadata = deployment.setdefault("metadata", {})
            current = metadata["annotations"] = dict(metadata.get("annotations") or {})
            for key, value in annotations.items():
                if value is None:
                    current.pop(key, None)
                else:
                    current[key] = value
            (self.jobs / DEPLOYMENTS / f"{name}.json").write_text(json.dumps(deployment))
        return deployment

    def stop(self, directory: Path, grace: int) -> None:
        (directory / "stop.json").write_text(json.dumps({"gracePeriodSeconds": grace}))


class Handler(BaseHTTPRequestHandler):
    store: Store
    rbac: Rbac
    tokens: dict[str, str]
    answered = 0

    def _send(self, code: int, body: dict[str, Any] | str) -> None:
        text = body if isinstance(body, str) else json.dumps(body)
        payload = text.encode()
        self.answered = code
        self.send_response(code)
        self.send_header(
            "Content-Type", "text/plain" if isinstance(body, str) else "application/json"
        )
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _status(self, code: int, reason: str, message: str, **details: str) -> None:
        self._send(code, {
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": message, "reason": reason, "code": code,
            **({"details": details} if details else {}),
        })  # fmt: skip

    def _audit(self, entry: dict[str, Any]) -> None:
        with self.store.lock, (self.store.jobs / REQUESTS).open("a") as log:
            log.write(json.dumps(entry) + "\n")

    def _handle(self, method: str) -> None:
        url = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        scheme, _, token = (self.headers.get("Authorization") or "").partition(" ")
        user = self.tokens.get(token) if scheme.lower() == "bearer" else None
        if user is None:
            self._audit({"method": method, "path": url.path, "code": 401})
            self._status(401, "Unauthorized", "Unauthorized")
            return
        request = self._request(method, url.path.strip("/").split("/"), user, query)
        if request is None:
            self._status(404, "NotFound", "the server could not find the requested resource")
            return
        forbidden = self.rbac.forbidden(request)
        if forbidden:
            sys.stderr.write(f"kube-api stand-in: 403 {forbidden}\n")
            self._status(403, "Forbidden", forbidden, name=request.name, group=request.api_group,
                         kind=request.resource)  # fmt: skip
        else:
            getattr(self, f"_{request.verb}_{request.resource}", self._unserved)(request, query)
        self._audit({
            "user": user, "verb": request.verb, "resource": request.resource,
            "subresource": request.subresource, "name": request.name,
            "namespace": request.namespace, "code": self.answered,
            **({"message": forbidden} if forbidden else {}),
        })  # fmt: skip

    def _request(
        self, method: str, parts: list[str], user: str, query: dict[str, str]
    ) -> Request | None:
        if parts[:2] == ["api", "v1"] and parts[2:3] == ["namespaces"]:
            group, rest = "", parts[3:]
        elif parts[:1] == ["apis"] and parts[3:4] == ["namespaces"]:
            group, rest = parts[1], parts[4:]
        else:
            return None
        if len(rest) < 2 or len(rest) > 4:
            return None
        namespace, resource, name, subresource = [*rest, "", ""][:4]
        verb = {
            "GET": ("watch" if query.get("watch", "").lower() in {"1", "true"} else "list") if not name else "get",
            "POST": "create", "PUT": "update", "PATCH": "patch",
            "DELETE": "delete" if name else "deletecollection",
        }[method]  # fmt: skip
        return Request(user=user, verb=verb, api_group=group, resource=resource,
                       namespace=namespace, name=name, subresource=subresource)  # fmt: skip

    def _body(self) -> dict[str, Any]:
        length = int(self.headers.get("Content-Length") or 0)
        return dict(json.loads(self.rfile.read(length) or b"{}"))

    def _unserved(self, request: Request, query: dict[str, str]) -> None:
        self._status(405, "MethodNotAllowed",
                     f"the smoke's API stand-in does not serve {request.verb} {request.resource}"
                     f"{'/' + request.subresource if request.subresource else ''}")  # fmt: skip

    def _not_found(self, request: Request) -> None:
        self._status(404, "NotFound", f'{request.qualified} "{request.name}" not found',
                     name=request.name, group=request.api_group, kind=request.resource)  # fmt: skip

    def _create_jobs(self, request: Request, query: dict[str, str]) -> None:
        job = self.store.create_job(request.namespace, self._body())
        if job is None:
            self._status(409, "AlreadyExists", f"{request.qualified} already exists")
            return
        self._send(201, job)

    def _get_jobs(self, request: Request, query: dict[str, str]) -> None:
        job = self.store.job(request.name)
        if job is None or request.subresource not in {"", "status"}:
            self._not_found(request)
            return
        self._send(200, job)

    def _list_jobs(self, request: Request, query: dict[str, str]) -> None:
        items = [j for j in self.store.all_jobs()
                 if _selected(j, query.get("labelSelector", ""), query.get("fieldSelector", ""))]  # fmt: skip
        self._send(200, {"kind": "JobList", "apiVersion": "batch/v1", "metadata": {},
                         "items": items})  # fmt: skip

    def _delete_jobs(self, request: Request, query: dict[str, str]) -> None:
        job = self.store.job(request.name)
        if job is None:
            self._not_found(request)
            return
        options = self._body()
        policy = query.get("propagationPolicy") or options.get("propagationPolicy") or "Orphan"
        directory = self.store.jobs / request.name
        (directory / "job.json").unlink()
        if policy in {"Background", "Foreground"} and (directory / "pod.json").is_file():
            self.store.stop(directory, int(options.get("gracePeriodSeconds") or 30))
        self._send(200, {
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
            "details": {"name": request.name, "group": "batch", "kind": "jobs",
                        "uid": job["metadata"]["uid"]},
        })  # fmt: skip

    def _list_pods(self, request: Request, query: dict[str, str]) -> None:
        items = [p for _, p in self.store.pods()
                 if _selected(p, query.get("labelSelector", ""), query.get("fieldSelector", ""))]  # fmt: skip
        self._send(200, {"kind": "PodList", "apiVersion": "v1", "metadata": {}, "items": items})

    def _get_pods(self, request: Request, query: dict[str, str]) -> None:
        found = self.store.pod(request.name)
        if found is None or request.subresource not in {"", "log", "status"}:
            self._not_found(request)
            return
        directory, pod = found
        if request.subresource != "log":
            self._send(200, pod)
            return
        containers = [c["name"] for c in pod["spec"]["containers"]]
        container = query.get("container") or containers[0]
        if container not in containers:
            self._status(400, "BadRequest",
                         f"container {container} is not valid for pod {request.name}")  # fmt: skip
            return
        lines = (
            (directory / "log").read_text().splitlines() if (directory / "log").is_file() else []
        )
        if query.get("timestamps", "").lower() not in {"1", "true"}:
            lines = [line.partition(" ")[2] for line in lines]
        if query.get("tailLines"):
            lines = lines[-int(query["tailLines"]) :] if int(query["tailLines"]) else []
        self._send(200, "".join(f"{line}\n" for line in lines))

    def _delete_pods(self, request: Request, query: dict[str, str]) -> None:
        found = self.store.pod(request.name)
        if found is None:
            self._not_found(request)
            return
        directory, pod = found
        options = self._body()
        grace = int(query.get("gracePeriodSeconds") or options.get("gracePeriodSeconds") or 30)
        self.store.stop(directory, grace)
        pod["metadata"].update(deletionTimestamp=now(), deletionGracePeriodSeconds=grace)
        self._send(200, pod)

    def _scale(self, deployment: dict[str, Any]) -> dict[str, Any]:
        selector = (deployment["spec"].get("selector") or {}).get("matchLabels") or {}
        return {
            "kind": "Scale", "apiVersion": "autoscaling/v1",
            "metadata": {"name": deployment["metadata"]["name"],
                         "namespace": deployment["metadata"].get("namespace", "")},
            "spec": {"replicas": deployment["spec"].get("replicas", 1)},
            "status": {"replicas": deployment["spec"].get("replicas", 1),
                       "selector": ",".join(f"{k}={v}" for k, v in selector.items())},
        }  # fmt: skip

    def _get_deployments(self, request: Request, query: dict[str, str]) -> None:
        deployment = self.store.deployment(request.name)
        if deployment is None or request.subresource not in {"", "scale"}:
            self._not_found(request)
            return
        self._send(200, self._scale(deployment) if request.subresource else deployment)

    def _patch_deployments(self, request: Request, query: dict[str, str]) -> None:
        """The scale subresource's replicas, or the Deployment's annotations (a merge patch:
        null removes one); other fields are not served."""
        if self.store.deployment(request.name) is None or request.subresource not in {"", "scale"}:
            self._not_found(request)
            return
        body = self._body()
        if request.subresource == "scale":
            replicas = int((body.get("spec") or {}).get("replicas", 1))
            self._send(200, self._scale(self.store.scale(request.name, replicas)))
            return
        annotations = (body.get("metadata") or {}).get("annotations") or {}
        if set(body) - {"metadata"} or set(body.get("metadata") or {}) - {"annotations"}:
            self._unserved(request, query)
            return
        self._send(200, self.store.annotate(request.name, annotations))

    def _list_events(self, request: Request, query: dict[str, str]) -> None:
        items = [e for e in self.store.events()
                 if _selected(e, query.get("labelSelector", ""), query.get("fieldSelector", ""))]  # fmt: skip
        self._send(200, {"kind": "EventList", "apiVersion": "v1", "metadata": {}, "items": items})

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def do_PATCH(self) -> None:
        self._handle("PATCH")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    def log_message(self, format: str, *args: Any) -> None:
        sys.stderr.write(f"kube-api stand-in: {format % args}\n")


def serve(standin: Path, jobs: Path, host: str, port: int) -> ThreadingHTTPServer:
    """The stand-in bound to host:port (not yet serving) with its TLS pair, tokens (token → user)
    and RBAC objects from `standin`, keeping Jobs under `jobs`."""
    config = json.loads((standin / "config.json").read_text())
    handler = type("ConfiguredHandler", (Handler,), {
        "store": Store(jobs), "tokens": dict(config["tokens"]),
        "rbac": Rbac(list(config["rbac"]), str(config["namespace"])),
    })  # fmt: skip
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(standin / "tls.crt", standin / "tls.key")
    server = ThreadingHTTPServer((host, port), handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    return server


def main() -> None:
    standin = Path(os.environ.get("STANDIN_DIR", "/standin"))
    jobs = Path(os.environ.get("JOBS_DIR", "/jobs"))
    port = int(os.environ.get("PORT", "6443"))
    serve(standin, jobs, "0.0.0.0", port).serve_forever()  # noqa: S104 (pod network only)


if __name__ == "__main__":
    main()
