"""Podman, as `helm.smoke` uses it: play Kubernetes YAML (`podman kube play`), name pods after
their Services, run probes, read logs, clean up.

Podman is driven through its CLI: Debian's podman 4.3 has no API service running here, and
`kube play` is a CLI verb. Every call carries the containers.conf whose ulimits fit this
sandbox (without it each container fails with "error setting rlimit").
"""

from __future__ import annotations

import base64
import json
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from floe_deploy.commands import attempt, run, tail
from floe_deploy.errors import FloeError
from floe_deploy.helm.smoke_registry import (
    PodmanEvents,
    RegistryPull,
    not_in_registry,
    pull_store_env,
    registry_failure,
)
from floe_deploy.oci import classify_failure

CONTAINERS_CONF = """[containers]
default_ulimits = ["nofile=20000:20000", "nproc=4096:4096"]

[engine]
events_logger = "file"
events_logfile_path = "{events}"

[network]
network_backend = "netavark"
"""
"""Ulimits this sandbox allows; the smoke's own event log (what was pulled); netavark (with
aardvark-dns) so pods resolve each other by name."""
PULL_PLAY_TIMEOUT_S = 900
"""`kube play` from an empty store pulls the pod's images first (the runtime image: about 800 MB
unpacked)."""
INSTALL = "install podman, catatonit, netavark and aardvark-dns (`scripts/bootstrap` does)"


class Podman:
    """One smoke's podman session: its network, secrets and pods, all removed by `remove_all`.
    With `pull`, pods run from an image store of the session's own (see smoke_registry)."""

    def __init__(self, state_dir: Path, network: str, pull: RegistryPull | None = None) -> None:
        directory = state_dir / "podman"
        directory.mkdir(parents=True, exist_ok=True)
        self.events = directory / "events.log"
        conf = directory / "containers.conf"
        conf.write_text(CONTAINERS_CONF.format(events=self.events))
        self.host_store = {"CONTAINERS_CONF": str(conf)}
        """the host's image store (the project's images copied into it)"""
        self.pull_store = directory / "pull-store"
        self.env = self.host_store | (pull_store_env(self.pull_store) if pull else {})
        self.pull = pull
        self.network = network
        self.pods: list[str] = []
        self.secrets: list[str] = []

    def __call__(self, *argv: str, timeout: float = 120) -> str:
        return run(["podman", *argv], remediation=INSTALL, env=self.env, timeout=timeout)

    def try_(self, *argv: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """A call whose failure is an answer (probes, inspections)."""
        return attempt(["podman", *argv], env=self.env, timeout=timeout)

    def load_image(self, reference: str, image_id: str) -> None:
        """Copy an image from Docker's store into podman's, unless podman has that image id."""
        found = self.try_("image", "inspect", reference, "--format", "{{.Id}}")
        if found.returncode == 0 and image_id.removeprefix("sha256:").startswith(
            found.stdout.strip()[:12]
        ):
            return
        with tempfile.NamedTemporaryFile(suffix=".tar") as archive:
            run(
                ["docker", "save", "-o", archive.name, reference],
                remediation="is the Docker engine up? `invoke platform.status`",
                timeout=600,
            )
            self("load", "-q", "-i", archive.name, timeout=600)
        self("tag", f"localhost/{reference}", reference)

    def create_network(self) -> None:
        self.try_("network", "rm", "-f", self.network)
        self("network", "create", self.network)

    def create_secret(self, name: str, data: dict[str, str]) -> None:
        """A Secret as podman 4.3's kube play reads it: the JSON of the data map, values base64."""
        encoded = {key: base64.b64encode(value.encode()).decode() for key, value in data.items()}
        self.try_("secret", "rm", name)
        with tempfile.NamedTemporaryFile("w", suffix=".json") as file:
            json.dump(encoded, file)
            file.flush()
            self("secret", "create", name, file.name)
        self.secrets.append(name)

    def play(self, documents: list[dict[str, Any]], configmaps: list[Path] | None) -> list[str]:
        """`podman kube play` one workload on the network; the names of the pods it made."""
        with tempfile.NamedTemporaryFile("w", suffix=".yaml") as file:
            # JSON is YAML, and has no line folding for podman's parser to mangle long args.
            file.write("\n---\n".join(json.dumps(document) for document in documents))
            file.flush()
            argv = ["kube", "play", "--network", self.network, "--replace"]
            argv += self.pull.play_flags() if self.pull else []
            for configmap in configmaps or []:
                argv += ["--configmap", str(configmap)]
            done = self.try_(*argv, file.name, timeout=PULL_PLAY_TIMEOUT_S if self.pull else 60)
        refused = registry_failure(done.stderr, self.pull.registry) if self.pull else None
        if done.returncode != 0 and self.pull and refused:
            raise not_in_registry(refused, self.pull.registry, self.pull.tag) or classify_failure(
                self.pull.registry, refused, "podman pulling from it"
            )
        if done.returncode != 0:
            raise FloeError(
                f"podman kube play refused {documents[-1].get('kind')}/"
                f"{(documents[-1].get('metadata') or {}).get('name')}: {tail(done.stderr, 3)}",
                "fix the value the error names, or check `podman kube play` support for the field",
            )
        ids = []
        lines = done.stdout.splitlines()
        for index, line in enumerate(lines):
            if line.strip() == "Pod:" and index + 1 < len(lines):
                ids.append(lines[index + 1].strip())
        names = [self("pod", "inspect", pod_id, "--format", "{{.Name}}").strip() for pod_id in ids]
        self.pods += names
        return names

    def alias(self, pod: str, alias: str) -> None:
        """Make `pod` answer to a Service's name on the network, as cluster DNS would."""
        infra = self("pod", "inspect", pod, "--format", "{{.InfraContainerID}}").strip()
        self("network", "disconnect", self.network, infra)
        self("network", "connect", "--alias", alias, self.network, infra)

    def pod_ip(self, pod: str) -> str:
        infra = self("pod", "inspect", pod, "--format", "{{.InfraContainerID}}").strip()
        networks = json.loads(
            self("inspect", infra, "--format", "{{json .NetworkSettings.Networks}}")
        )
        return str(networks[self.network]["IPAddress"])

    def containers(self, pod: str) -> list[dict[str, Any]]:
        """The pod's containers (infra left out): name, state, exit code, restarts."""
        listed = json.loads(self("ps", "-a", "--filter", f"pod={pod}", "--format", "json") or "[]")
        found = []
        for entry in listed:
            if entry.get("IsInfra"):
                continue
            name = entry["Names"][0]
            state = json.loads(self("inspect", name, "--format", "{{json .State}}"))
            restarts = self("inspect", name, "--format", "{{.RestartCount}}").strip()
            found.append(
                {
                    "name": name,
                    "status": state.get("Status"),
                    "exit_code": state.get("ExitCode"),
                    "restarts": int(restarts or 0),
                }
            )
        return found

    def logs(self, container: str, lines: int | None = 30, *, timestamps: bool = False) -> str:
        """The container's last `lines` log lines (all of them for None)."""
        argv = [*(["--tail", str(lines)] if lines else []), *(["-t"] if timestamps else [])]
        done = self.try_("logs", *argv, container)
        return (done.stdout + done.stderr).strip()

    def stop_pod(self, pod: str, containers: list[str], grace: int) -> None:
        """Stop the pod as a kubelet deletes one: its containers first (SIGTERM, then SIGKILL
        after `grace` seconds) while its network stays up for them to report, then the pod."""
        self.try_("stop", "-t", str(grace), *containers)
        self.try_("pod", "stop", "-t", "0", pod)

    def empty_store(self) -> None:
        """No image in the session's own store, and a new event log: what follows is pulled."""
        if self.pull is not None:
            self.try_("rmi", "--all", "--force", timeout=300)
            left = self.try_("images", "--quiet").stdout.split()
            if left:
                raise FloeError(
                    f"the smoke's image store {self.pull_store} still holds {len(left)} images "
                    "after emptying it, so a pull could not be told from an image already there",
                    f"remove them: CONTAINERS_STORAGE_CONF={self.env['CONTAINERS_STORAGE_CONF']} "
                    "podman rmi --all --force",
                )
        self.events.unlink(missing_ok=True)

    def image_events(self) -> PodmanEvents:
        """What was pulled and played since `empty_store` (podman's event log)."""
        return PodmanEvents.parse(self.events.read_text() if self.events.is_file() else "")

    def _stores(self) -> list[dict[str, str]]:
        """The host's store and, once a smoke has pulled, the pull store: pods of either are on
        the one network (the host's network definitions are shared)."""
        stores = [self.host_store]
        if self.pull is not None:
            stores.append(self.env)
        elif (self.pull_store / "storage.conf").is_file():
            stores.append(self.host_store | pull_store_env(self.pull_store))
        return stores

    def leftovers(self) -> list[str]:
        """Pods on the network in either store, and images in the pull store."""
        found = []
        for env in self._stores():
            found += [f"pod {pod}" for pod in self._pods_on_network(env)]
            if "CONTAINERS_STORAGE_CONF" in env:
                images = attempt(["podman", "images", "--quiet"], env=env, timeout=60)
                found += [f"image {image} in {self.pull_store}" for image in images.stdout.split()]
        return found

    def _pods_on_network(self, env: dict[str, str]) -> list[str]:
        return attempt(["podman", "pod", "ps", "-q", "--filter", f"network={self.network}"],
                       env=env, timeout=60).stdout.split()  # fmt: skip

    def remove_all(self) -> None:
        """Every pod on the network (a killed or kept earlier run's too, from either store), the
        secrets, the network, and the images of the pull store (its disk).

        Pods are killed, not stopped (nothing played is kept), and removed each by its own
        podman at once: one after another, their teardown took a smoke half a minute. A pod
        whose removal lost a race with another's is removed again."""
        for env in self._stores():
            pods = list(dict.fromkeys([*(self.pods if env == self.env else []),
                                       *self._pods_on_network(env)]))  # fmt: skip
            with ThreadPoolExecutor(max_workers=max(len(pods), 1)) as removing:
                for pod in pods:
                    removing.submit(attempt, ["podman", "pod", "rm", "--force", "--ignore", "--time",
                                              "0", pod], env=env, timeout=120)  # fmt: skip
            left = self._pods_on_network(env)
            if left:
                attempt(["podman", "pod", "rm", "--force", "--ignore", "--time", "0", *left],
                        env=env, timeout=120)  # fmt: skip
            if "CONTAINERS_STORAGE_CONF" in env:
                attempt(["podman", "rmi", "--all", "--force"], env=env, timeout=300)
        for secret in self.secrets:
            self.try_("secret", "rm", secret)
        self.try_("network", "rm", "-f", self.network)
        self.pods.clear()
        self.secrets.clear()
