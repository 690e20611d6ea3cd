"""A stand-in for the Kubernetes API server, for `invoke helm.smoke` only (standard library only:
it runs inside the runtime image as a played pod).

No API server can run on the smoke's machine, yet the K8sRunLauncher in the daemon launches each
run by creating a Job through the in-cluster API. This server answers that part of the protocol
over TLS with the service-account token, as the real API does: it records each Job created
under JOBS_DIR (the smoke then plays the Job's pod with podman) and serves the Job back with
the status the smoke writes beside it. Everything else is a 404, logged.
"""

from __future__ import annotations

import json
import os
import ssl
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

JOBS_DIR = Path(os.environ.get("JOBS_DIR", "/jobs"))
TOKEN = Path(os.environ.get("TOKEN_FILE", "/tls/token")).read_text().strip()


class Handler(BaseHTTPRequestHandler):
    def _send(self, code: int, body: dict[str, Any]) -> None:
        payload = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _status(self, code: int, reason: str, message: str) -> None:
        self._send(
            code,
            {"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": code,
             "reason": reason, "message": message},
        )  # fmt: skip

    def _path(self) -> list[str] | None:
        scheme, _, token = (self.headers.get("Authorization") or "").partition(" ")
        if scheme.lower() != "bearer" or token != TOKEN:
            self._status(401, "Unauthorized", "a service-account token is required")
            return None
        return self.path.split("?", 1)[0].strip("/").split("/")

    def do_POST(self) -> None:
        parts = self._path()
        if parts is None:
            return
        if parts[:4] == ["apis", "batch", "v1", "namespaces"] and parts[5:] == ["jobs"]:
            job = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
            job.setdefault("metadata", {})["namespace"] = parts[4]
            (JOBS_DIR / f"{job['metadata']['name']}.json").write_text(json.dumps(job))
            self._send(201, job)
            return
        self._status(404, "NotFound", f"the smoke's API stand-in does not serve POST {self.path}")

    def do_GET(self) -> None:
        parts = self._path()
        if parts is None:
            return
        if (
            parts[:4] == ["apis", "batch", "v1", "namespaces"]
            and parts[5:6] == ["jobs"]
            and len(parts) == 7
        ):
            stored = JOBS_DIR / f"{parts[6]}.json"
            if not stored.is_file():
                self._status(404, "NotFound", f'jobs.batch "{parts[6]}" not found')
                return
            job = json.loads(stored.read_text())
            status = JOBS_DIR / f"{parts[6]}.status.json"
            job["status"] = json.loads(status.read_text()) if status.is_file() else {"active": 1}
            self._send(200, job)
            return
        if parts[:3] == ["api", "v1", "namespaces"] and parts[4:] == ["pods"]:
            self._send(200, {"kind": "PodList", "apiVersion": "v1", "items": []})
            return
        self._status(404, "NotFound", f"the smoke's API stand-in does not serve GET {self.path}")

    def log_message(self, format: str, *args: Any) -> None:
        sys.stderr.write(f"kube-api stand-in: {format % args}\n")


def main() -> None:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(os.environ["TLS_CERT"], os.environ["TLS_KEY"])
    server = ThreadingHTTPServer(("0.0.0.0", int(os.environ.get("PORT", "6443"))), Handler)  # noqa: S104 (pod network only)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
