"""The registry of checks, one module per service, in the order they run and are reported.

Each module declares its check as a CheckSpec (checks.spec) next to its probes; helpers that
several checks use are in checks.shared.
"""

from __future__ import annotations

from floe_preflight.checks import catalog, compute, platform, postgres, storage
from floe_preflight.checks.spec import CheckSpec

CHECKS: dict[str, CheckSpec] = {
    spec.name: spec
    for spec in (compute.SPEC, storage.SPEC, catalog.SPEC, postgres.SPEC, platform.SPEC)
}
