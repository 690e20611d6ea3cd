"""The floe-dagster umbrella chart: dependencies, lint, render, validate, package, publish, verify."""

from __future__ import annotations

from pathlib import Path

from invoke.context import Context
from invoke.tasks import task

from floe_deploy.cli import reports_errors
from tasks.option_help import (
    IDENTITY_HELP,
    IDENTITY_REGEXP_HELP,
    ISSUER_HELP,
    JSON_HELP,
    KEYLESS_HELP,
    SET_HELP,
    VERIFY_KEY_HELP,
)

CHART_HELP = "chart directory (default helm/floe-dagster)"


def _chart(path: str | None) -> Path:
    from floe_deploy.helm.chart import CHART_DIR

    return Path(path) if path else CHART_DIR


@task(help={"mirror": "take every dependency from this mirror: oci://REGISTRY/charts (air-gapped)",
            "update": "resolve again and rewrite Chart.lock instead of rebuilding from it",
            "chart": CHART_HELP, "json": JSON_HELP})  # fmt: skip
@reports_errors
def deps(
    c: Context,
    mirror: str | None = None,
    update: bool = False,
    chart: str | None = None,
    json: bool = False,
) -> int:
    """Fetch the chart's dependencies (the official dagster chart) into charts/, from Chart.lock when present."""
    from floe_deploy.console import Console
    from floe_deploy.helm.dependencies import update_dependencies
    from floe_deploy.helm.show import show_dependencies
    from floe_deploy.settings import load_settings

    console = Console(json_mode=json)
    show_dependencies(
        console, update_dependencies(load_settings(), _chart(chart), mirror, update=update)
    )
    return 0


@task(
    help={"to": "mirror to push to: oci://REGISTRY/charts", "chart": CHART_HELP, "json": JSON_HELP}
)
@reports_errors
def mirror(c: Context, to: str, chart: str | None = None, json: bool = False) -> int:
    """Push the pinned dependency charts present in charts/ to a mirror, for air-gapped installs."""
    from floe_deploy.console import Console
    from floe_deploy.helm.dependencies import mirror_dependencies
    from floe_deploy.helm.show import show_mirrored
    from floe_deploy.settings import load_settings

    console = Console(json_mode=json)
    show_mirrored(console, mirror_dependencies(load_settings(), to, _chart(chart)))
    return 0


@task(help={"chart": CHART_HELP, "json": JSON_HELP})
@reports_errors
def lint(c: Context, chart: str | None = None, json: bool = False) -> int:
    """`helm lint --strict` through the Helm SDK (exit 3 on errors)."""
    from floe_deploy.console import Console
    from floe_deploy.errors import ExitCode
    from floe_deploy.helm.publish import lint_chart

    console = Console(json_mode=json)
    result = lint_chart(_chart(chart))
    messages = result.get("messages") or []
    errors = result.get("errors") or []
    if json:
        console.json(result)
    else:
        for message in messages:  # type: ignore[attr-defined]
            console.line(f"[{message['severity']}] {message['path']}: {message['error']}")
        console.line(f"lint: {len(errors)} errors, {len(messages)} messages")  # type: ignore[arg-type]
    return int(ExitCode.UNHEALTHY) if errors else 0


@task(
    iterable=["set"],
    help={"values": "prod, demo, default or a values file", "set": SET_HELP,
          "chart": CHART_HELP},
)  # fmt: skip
@reports_errors
def template(
    c: Context, values: str = "default", set: list[str] | None = None, chart: str | None = None
) -> int:
    """Render the chart offline and print the manifests."""
    import sys

    from floe_deploy.helm.rendering import prepare_chart, template_text
    from floe_deploy.settings import load_settings

    prepared = prepare_chart(_chart(chart), load_settings().dagster_chart)
    text = template_text(values, set or [], prepared, _chart(chart))
    for notice in prepared.notices:
        print(f"NOTE: {notice}", file=sys.stderr)
    print(text, end="")
    return 0


@task(
    iterable=["values", "set"],
    help={"values": "prod, demo, default or a values file (repeatable; default: all of the chart's)",
          "set": "key=value override applied to each (repeatable)", "chart": CHART_HELP, "json": JSON_HELP},
)  # fmt: skip
@reports_errors
def validate(
    c: Context,
    values: list[str] | None = None,
    set: list[str] | None = None,
    chart: str | None = None,
    json: bool = False,
) -> int:
    """Render each values file; check every object against Kubernetes 1.29-1.34 or its CRD, and Pod Security (exit 3 on failure)."""
    from floe_deploy.console import Console
    from floe_deploy.errors import ExitCode
    from floe_deploy.helm.chart import parse_sets
    from floe_deploy.helm.show import show_validation
    from floe_deploy.helm.validate import validate_chart
    from floe_deploy.settings import load_settings

    console = Console(json_mode=json)
    report = validate_chart(load_settings(), values or None, parse_sets(set or []), _chart(chart))
    show_validation(console, report)
    return 0 if report.ok else int(ExitCode.UNHEALTHY)


@task(
    iterable=["set"],
    help={"values": "prod, demo, default or a values file (default: prod)",
          "set": SET_HELP, "chart": CHART_HELP, "json": JSON_HELP},
)  # fmt: skip
@reports_errors
def netcheck(
    c: Context,
    values: str = "prod",
    set: list[str] | None = None,
    chart: str | None = None,
    json: bool = False,
) -> int:
    """Ask network-config-analyzer whether the NetworkPolicies let every required flow through (exit 3 if not)."""
    from floe_deploy.console import Console
    from floe_deploy.errors import ExitCode
    from floe_deploy.helm.chart import parse_sets
    from floe_deploy.helm.network_flows import netcheck as check
    from floe_deploy.settings import load_settings

    report = check(load_settings(), values, parse_sets(set or []), _chart(chart))
    Console(json_mode=json).show(
        report, f"network flows of the {values} render ({report.policies} NetworkPolicies)",
        ["flow", "wanted", "analyser", "check"],
        [[r.flow.text, "allow" if r.flow.required else "deny",
          "allowed" if r.allowed else "denied", "ok" if r.ok else "FAIL"] for r in report.results],
    )  # fmt: skip
    return 0 if not report.errors else int(ExitCode.UNHEALTHY)


@task(
    iterable=["set"],
    help={"values": "prod, demo, default or a values file (default: prod)",
          "set": SET_HELP, "chart": CHART_HELP, "json": JSON_HELP,
          "markdown": "print the table as Markdown (docs/06 shows prod's)"},
)  # fmt: skip
@reports_errors
def lifecycle(
    c: Context,
    values: str = "prod",
    set: list[str] | None = None,
    chart: str | None = None,
    json: bool = False,
    markdown: bool = False,
) -> int:
    """What install, upgrade, rollback and uninstall do to every object of a render (hooks, ownership)."""
    from floe_deploy.console import Console
    from floe_deploy.helm.chart import parse_sets
    from floe_deploy.helm.object_lifecycle import lifecycle_report
    from floe_deploy.settings import load_settings

    report = lifecycle_report(load_settings(), values, parse_sets(set or []), _chart(chart))
    if markdown:
        print(report.markdown(), end="")
        return 0
    Console(json_mode=json).show(
        report, f"lifecycle of the {values} render",
        ["object", "made as", "install", "upgrade", "rollback", "uninstall"],
        [[r.object, r.made_as, r.install, r.upgrade, r.rollback, r.uninstall] for r in report.rows],
    )  # fmt: skip
    return 0


@task(
    help={"check": "only check that values.schema.json matches the pydantic models (exit 3 if not)"}
)
@reports_errors
def schema(c: Context, check: bool = False) -> int:
    """Write helm/floe-dagster/values.schema.json from the pydantic values models."""
    from floe_deploy.helm.chart import CHART_DIR
    from floe_deploy.helm.values_model import values_schema_text

    path = CHART_DIR / "values.schema.json"
    text = values_schema_text()
    if check:
        same = path.read_text() == text
        print(
            f"{path}: {'up to date' if same else 'differs from the models: run `invoke helm.schema`'}"
        )
        return 0 if same else 3
    path.write_text(text)
    print(f"wrote {path}")
    return 0


@task(help={"version": "chart version and appVersion (default: the release version from git)",
            "chart": CHART_HELP, "json": JSON_HELP})  # fmt: skip
@reports_errors
def package(
    c: Context, version: str | None = None, chart: str | None = None, json: bool = False
) -> int:
    """Package the chart (dependencies included) into build/charts/."""
    from floe_deploy.console import Console
    from floe_deploy.helm.publish import package_chart
    from floe_deploy.helm.show import show_packaged

    console = Console(json_mode=json)
    show_packaged(console, package_chart(_chart(chart), version=version))
    return 0


@task(help={"registry": "oci://HOST[:PORT]/charts", "version": "chart version (default: from git)",
            "key": "cosign private key (default: the dev key pair)", "force": "replace an existing version",
            "keyless": KEYLESS_HELP,
            "chart": CHART_HELP, "json": JSON_HELP})  # fmt: skip
@reports_errors
def publish(
    c: Context,
    registry: str,
    version: str | None = None,
    key: str | None = None,
    keyless: bool = False,
    force: bool = False,
    chart: str | None = None,
    json: bool = False,
) -> int:
    """Package, push to an OCI registry and cosign-sign the chart's digest."""
    from floe_deploy.console import Console
    from floe_deploy.helm.publish import package_chart, publish_chart
    from floe_deploy.helm.show import show_published
    from floe_deploy.settings import load_settings

    console = Console(json_mode=json)
    packaged = package_chart(_chart(chart), version=version)
    published = publish_chart(
        load_settings(),
        registry,
        packaged,
        Path(key) if key else None,
        force=force,
        keyless=keyless,
    )
    show_published(console, published)
    return 0


@task(help={"reference": "oci://REGISTRY/PREFIX/charts/floe-dagster:VERSION (where publish puts it)",
            "key": VERIFY_KEY_HELP,
            "certificate_identity": IDENTITY_HELP, "identity_regexp": IDENTITY_REGEXP_HELP,
            "certificate_oidc_issuer": ISSUER_HELP, "json": JSON_HELP})  # fmt: skip
@reports_errors
def verify(
    c: Context,
    reference: str,
    key: str | None = None,
    certificate_identity: str | None = None,
    identity_regexp: bool = False,
    certificate_oidc_issuer: str | None = None,
    json: bool = False,
) -> int:
    """Check a published chart's cosign signature (exit 3 if it fails)."""
    from floe_deploy.console import Console
    from floe_deploy.errors import ExitCode
    from floe_deploy.helm.publish import verify_chart
    from floe_deploy.helm.show import show_verified
    from floe_deploy.images.signing import Verifier
    from floe_deploy.settings import load_settings

    console = Console(json_mode=json)
    settings = load_settings()
    verifier = Verifier.choose(
        settings, Path(key) if key else None, certificate_identity, certificate_oidc_issuer,
        identity_regexp=identity_regexp,
    )  # fmt: skip
    verified = verify_chart(settings, reference, verifier)
    show_verified(console, verified)
    return 0 if verified.signature_ok else int(ExitCode.UNHEALTHY)


@task(
    iterable=["set"],
    help={"values": "prod, demo, default or a values file (default: demo)",
          "set": SET_HELP, "chart": CHART_HELP, "json": JSON_HELP,
          "keep": "leave what was played running for inspection (removed by the next smoke)",
          "image": "runtime image to play (default: the one the project builds here)",
          "upgrade_from": "play this release's runtime image first, then upgrade to the render "
                          "(docs/06's runbook, measured); `previous`: the image with an older "
                          "Dagster, so the schema migrates",
          "lifecycle": "after the first run, also prove what dagster-k8s does with runs through the "
                       "Kubernetes API: a run held past run monitoring's poll interval succeeds, a "
                       "terminated run ends CANCELED, a failed run pod's log reaches the run's event "
                       "log (lower dagster.dagsterDaemon.runMonitoring.pollIntervalSeconds and "
                       "startTimeoutSeconds with --set to keep it short)",
          "pull_from": "REGISTRY[/PREFIX]: the offline path. Pull every image from there (from an "
                       "empty image store, with the `docker login` for it and FLOE_REGISTRY_CA or "
                       "FLOE_CA_BUNDLE as its CA) and count the pulls: one from anywhere else, or "
                       "an image played without one, fails the smoke",
          "tag": "with --pull-from: the release's version, the images' tag (required)",
          "tls": "Postgres requires TLS, its certificate signed by the smoke's CA (the bundle the "
                 "chart renders); the values' sslmode settings then apply (verify-full in prod)"},
)  # fmt: skip
@reports_errors
def smoke(
    c: Context,
    values: str = "demo",
    set: list[str] | None = None,
    chart: str | None = None,
    keep: bool = False,
    image: str | None = None,
    upgrade_from: str | None = None,
    lifecycle: bool = False,
    pull_from: str | None = None,
    tag: str | None = None,
    tls: bool = False,
    json: bool = False,
) -> int:
    """Play the rendered pods with podman and prove the platform works (exit 3 on failure).

    Renders the chart with the real dagster chart, starts every rendered workload with
    `podman kube play` exactly as rendered beside Postgres and S3 from the project's images, then
    checks: each pod ready by its own probe, the preflight hook exits 0, the webserver answers,
    the code location loads over gRPC, Cube answers, and one run launched by the daemon's
    K8sRunLauncher (its Job played) succeeds and lands rows in Cube. Everything played is removed
    afterwards. This is the rendered pods on one machine, not a cluster: no scheduler, Services
    are names only, and the Kubernetes API dagster-k8s calls is a stand-in (the report says so)
    that checks each request against the rendered RBAC: a request it refuses fails the smoke,
    naming the verb and the ServiceAccount.

    With --upgrade-from, that release is played and proven first, a run is kept in flight, and
    the render is applied as `helm upgrade` does (pre-upgrade hooks: preflight, then the schema
    migration with the daemon and webserver stopped; then every Deployment): the report measures
    the migration, the webserver's unavailable seconds, runs, events and Iceberg rows before and
    after, and checks that release N's pre-rollback hook refuses.

    The offline path (docs/06, 'Rehearse the offline install'): --pull-from REGISTRY/PREFIX
    --tag VERSION --tls plays
    every image from the private registry (pulls counted) against a Postgres that requires TLS;
    values with a REST catalog (prod) always play it as a stand-in over TLS from the smoke's CA.
    """
    from floe_deploy.console import Console
    from floe_deploy.helm.chart import parse_sets
    from floe_deploy.helm.show import show_smoke
    from floe_deploy.helm.smoke import SmokeFailed, run_smoke
    from floe_deploy.settings import load_settings

    console = Console(json_mode=json)
    try:
        report = run_smoke(
            load_settings(),
            console,
            values,
            parse_sets(set or []),
            _chart(chart),
            keep=keep,
            runtime_image=image,
            upgrade_from=upgrade_from,
            lifecycle=lifecycle,
            pull_from=pull_from,
            tag=tag,
            postgres_tls=tls,
        )
    except SmokeFailed as failed:
        if json:
            error = {"message": failed.message, "remediation": failed.remediation}
            console.json(failed.report.model_dump(mode="json") | {"ok": False, "error": error})
            return int(failed.exit_code)
        show_smoke(console, failed.report)
        raise
    show_smoke(console, report)
    return 0
