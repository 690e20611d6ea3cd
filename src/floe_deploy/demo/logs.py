"""demo.logs: the compose project's logs, one service or all, optionally followed."""

from __future__ import annotations

import sys

from python_on_whales.exceptions import DockerException

from floe_deploy.demo.stack import DEFAULT_SERVICES, OPTIONAL_PROFILES, DemoStack
from floe_deploy.errors import FloeError
from floe_deploy.settings import Settings


def print_logs(settings: Settings, service: str | None, *, follow: bool, tail: int) -> None:
    known = list(DEFAULT_SERVICES) + [s for group in OPTIONAL_PROFILES.values() for s in group]
    if service is not None and service not in known:
        raise FloeError(f"unknown service {service!r}", f"choose from {', '.join(known)}")
    client = DemoStack(settings).compose(list(OPTIONAL_PROFILES))
    try:
        for _, line in client.compose.logs(
            [service] if service else [], follow=follow, tail=str(tail), stream=True
        ):
            sys.stdout.buffer.write(line)
            sys.stdout.flush()
    except DockerException as error:
        raise FloeError("docker compose logs failed", "is the demo up? `invoke demo.status`",
                        details=(error.stderr or "")[-2000:]) from None  # fmt: skip
    except KeyboardInterrupt:
        pass
