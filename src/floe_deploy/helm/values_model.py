"""The umbrella chart's own values, as pydantic models: the one source of `values.schema.json`.

Every object forbids unknown keys, so a typo (`batchsize`, `preflight.enable`) is rejected by
Helm itself at render time. The `dagster:` subtree belongs to the official chart and is checked
against that chart's own values schema instead (see `floe_deploy.helm.schemas`).
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from floe_demo.config import CatalogConfig, ComputeConfig, PostgresConfig, ServingConfig


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class Image(Strict):
    repository: str = Field(
        default="registry.example.internal/floe/dagster", description="the floe runtime image"
    )
    tag: str = Field(
        default="0.1.0",
        min_length=1,
        description="the release version (`helm.package` sets it); `0.1.0@sha256:…` pins a digest",
    )
    pullPolicy: Literal["Always", "IfNotPresent", "Never"] = "IfNotPresent"


DEFAULT_POSTGRES = PostgresConfig(host="postgres", port=5432, database="floe", user="floe")
"""Catalog, compute and serving are CompiledArtifacts' own models (one definition); storage is
camelCase here, as Helm values are, and becomes CompiledArtifacts' snake_case in the ConfigMap."""


class Storage(Strict):
    endpoint: str | None = Field(default=None, description="S3-compatible endpoint; null for AWS")
    bucket: str = "floe-warehouse"
    region: str = "us-east-1"
    accessKeyId: str = Field(
        default="", description="not a secret; the key itself comes from the Secret"
    )
    pathStyle: bool = True


class Artifacts(Strict):
    """The CompiledArtifacts file (FLOE_ARTIFACTS) the chart renders into a ConfigMap."""

    enabled: bool = True
    configMapName: str = Field(
        default="floe-artifacts",
        description="must match the volume the user-code deployment mounts (dagster values)",
    )
    storageEnvConfigMapName: str = Field(
        default="floe-storage-env",
        description="ConfigMap of AWS_ACCESS_KEY_ID, AWS_REGION, AWS_ENDPOINT_URL_S3 from storage, "
        "for Dagster's S3 compute logs (envConfigMaps of the webserver and run launcher)",
    )
    catalog: CatalogConfig = CatalogConfig(
        type="sql", warehouse="s3://floe-warehouse/warehouse", postgres=DEFAULT_POSTGRES
    )
    storage: Storage = Storage()
    compute: ComputeConfig = ComputeConfig()
    serving: ServingConfig = ServingConfig(postgres=DEFAULT_POSTGRES)


class RemoteRef(Strict):
    key: str
    property: str | None = None
    version: str | None = None


class RemoteRefs(Strict):
    postgresPassword: RemoteRef = RemoteRef(key="floe/postgres", property="password")
    storageSecretAccessKey: RemoteRef = RemoteRef(key="floe/storage", property="secret-access-key")
    polarisClientSecret: RemoteRef | None = RemoteRef(key="floe/polaris", property="client-secret")
    cubeApiSecret: RemoteRef | None = RemoteRef(key="floe/cube", property="api-secret")


class SecretStoreRef(Strict):
    kind: Literal["SecretStore", "ClusterSecretStore"] = "ClusterSecretStore"
    name: str = "floe"


class ExternalSecret(Strict):
    enabled: bool = False
    refreshInterval: str = "1h"
    secretStoreRef: SecretStoreRef = SecretStoreRef()
    remoteRefs: RemoteRefs = RemoteRefs()


class SealedSecret(Strict):
    enabled: bool = False
    encryptedData: dict[str, str] = Field(
        default_factory=dict, description="ciphertext from `kubeseal`, per key of the Secret"
    )


class Secrets(Strict):
    """Where secrets come from: a pre-existing Secret (default), External Secrets, or a SealedSecret."""

    secretName: str = Field(
        default="floe-secrets",
        description="the Secret every workload reads; equals dagster.global.postgresqlSecretName",
    )
    externalSecret: ExternalSecret = ExternalSecret()
    sealedSecret: SealedSecret = SealedSecret()


Quantity = str | int | float


class ResourceList(Strict):
    cpu: Quantity | None = None
    memory: Quantity | None = None
    ephemeral_storage: Quantity | None = Field(default=None, alias="ephemeral-storage")


class Resources(Strict):
    requests: ResourceList = ResourceList(cpu="100m", memory="256Mi")
    limits: ResourceList = ResourceList(cpu="1", memory="1Gi")


class Preflight(Strict):
    enabled: bool = False
    checks: list[Literal["compute", "storage", "catalog", "postgres"]] = [
        "compute", "storage", "catalog", "postgres",
    ]  # fmt: skip
    timeoutSeconds: float = Field(default=5, gt=0)
    activeDeadlineSeconds: int = Field(default=120, gt=0)
    backoffLimit: int = Field(default=0, ge=0)
    sealedEncryptedData: dict[str, str] = Field(
        default_factory=dict,
        description="with secrets.sealedSecret: the same keys sealed (kubeseal) for the Secret "
        "RELEASE-floe-preflight, which only the preflight hook reads",
    )
    resources: Resources = Resources(
        requests=ResourceList(cpu="50m", memory="128Mi"),
        limits=ResourceList(cpu="500m", memory="512Mi"),
    )


class Migrate(Strict):
    """The pre-upgrade hook around `dagster instance migrate` (floe-migrate) and its pre-rollback
    check."""

    enabled: bool = True
    stopWebserver: bool = Field(
        default=True,
        description="stop the webserver too while migrating (Dagster's guide); false keeps it "
        "serving an old schema during the migration",
    )
    quiesceTimeoutSeconds: float = Field(default=120, gt=0)
    activeDeadlineSeconds: int = Field(default=900, gt=0)
    resources: Resources = Resources()


class Upgrade(Strict):
    migrate: Migrate = Migrate()


class EgressDestination(Strict):
    """A network the release's pods may open connections to (Postgres, S3, catalog, compute)."""

    name: str = Field(
        pattern=r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$", description="what it is, e.g. postgres"
    )
    cidr: str = Field(description="address block, e.g. 10.20.0.0/16 or 203.0.113.7/32")
    ports: list[int] = Field(min_length=1, description="TCP ports")


Port = Annotated[int, Field(ge=1, le=65535)]


class Dns(Strict):
    """Where pods resolve names: kube-system (CoreDNS), NodeLocal DNSCache, OpenShift's resolvers."""

    enabled: bool = Field(default=True, description="allow DNS (UDP and TCP on `ports`)")
    namespaces: list[str] = Field(
        default=["kube-system"], description="namespaces of the resolvers; OpenShift: openshift-dns"
    )
    cidrs: list[str] = Field(
        default_factory=list, description="resolver addresses; NodeLocal DNSCache: 169.254.20.10/32"
    )
    ports: list[Port] = Field(default=[53], min_length=1, description="OpenShift: 5353")


class KubernetesApi(Strict):
    """The API server the daemon creates run Jobs on, as policies see it (after the DNAT)."""

    cidr: str | None = Field(
        default="0.0.0.0/0",
        description="the API server's addresses (kubectl get endpoints kubernetes); null: no rule",
    )
    ports: list[Port] = Field(default=[443, 6443], min_length=1)


class Egress(Strict):
    enabled: bool = Field(
        default=False,
        description="deny egress of the release's pods and run pods except within the release, "
        "DNS, the Kubernetes API (daemon, webserver) and the destinations listed",
    )
    dns: Dns = Dns()
    kubernetesApi: KubernetesApi = KubernetesApi()
    destinations: list[EgressDestination] = Field(
        default_factory=list,
        description="the flow check places Postgres, S3 and the catalog in the destinations named "
        "postgres, s3 and catalog",
    )


class NetworkPolicy(Strict):
    enabled: bool = False
    ingressNamespaces: list[str] = Field(
        default_factory=list,
        description="namespaces allowed to reach the webserver and Cube; empty: none (denied)",
    )
    egress: Egress = Egress()


class PodDisruptionBudget(Strict):
    enabled: bool = False
    maxUnavailable: int | str = Field(
        default=1,
        description="pods of a component a drain may evict at once (a number or a percentage); "
        "a budget in this form never blocks a drain of a one-replica component",
    )


class Schedule(Strict):
    interval: str = Field(default="*/5 * * * *", description="cron schedule of the demo batches")


class DataQuality(Strict):
    nullRate: float = Field(default=0.02, ge=0, le=1)
    duplicateRate: float = Field(default=0.01, ge=0, le=1)
    lateArrivalRate: float = Field(default=0.05, ge=0, le=1)


class Demo(Strict):
    enabled: bool = False
    schedule: Schedule = Schedule()
    batchSize: int = Field(default=100, gt=0)
    seed: int = 42
    dataQuality: DataQuality = DataQuality()


class CubeImage(Strict):
    repository: str = "registry.example.internal/floe/cubejs/cube"
    tag: str = "v1.3.23"
    pullPolicy: Literal["Always", "IfNotPresent", "Never"] = "IfNotPresent"


class CubeStoreImage(CubeImage):
    repository: str = "registry.example.internal/floe/cubejs/cubestore"


class CubeStore(Strict):
    """A single-node Cube Store (StatefulSet with a volume) for cacheAndQueue.driver=cubestore."""

    image: CubeStoreImage = CubeStoreImage()
    storage: str = Field(default="10Gi", description="size of its data volume")
    storageClassName: str | None = None
    resources: Resources = Resources(
        requests=ResourceList(cpu="250m", memory="512Mi"),
        limits=ResourceList(cpu="1", memory="2Gi"),
    )


class CacheAndQueue(Strict):
    driver: Literal["memory", "cubestore"] = Field(
        default="memory",
        description="memory: in the Cube process (one replica only); cubestore: a Cube Store "
        "the chart runs, required for more than one replica",
    )
    cubestore: CubeStore = CubeStore()


class Cube(Strict):
    """The Cube API of demo mode, over the serving mart."""

    enabled: bool = False
    image: CubeImage = CubeImage()
    cacheAndQueue: CacheAndQueue = CacheAndQueue()
    replicas: int = Field(default=1, ge=0)
    resources: Resources = Resources(
        requests=ResourceList(cpu="100m", memory="256Mi"),
        limits=ResourceList(cpu="1", memory="1Gi"),
    )
    affinity: dict[str, Any] = Field(default_factory=dict)


class SeccompProfile(Strict):
    type: Literal["RuntimeDefault", "Localhost"] = "RuntimeDefault"
    localhostProfile: str | None = None


class PodSecurityContext(Strict):
    runAsNonRoot: Literal[True] = True
    runAsUser: int = Field(default=1000, ge=1)
    runAsGroup: int = Field(default=1000, ge=1)
    fsGroup: int = 1000
    seccompProfile: SeccompProfile = SeccompProfile()


class Capabilities(Strict):
    drop: list[str] = ["ALL"]
    add: list[Literal["NET_BIND_SERVICE"]] = Field(default_factory=list)


class ContainerSecurityContext(Strict):
    allowPrivilegeEscalation: Literal[False] = False
    readOnlyRootFilesystem: bool = True
    capabilities: Capabilities = Capabilities()


class Release(Strict):
    """What a GitOps environment deploys: read by the Argo CD ApplicationSet and `gitops.promote`,
    ignored by the chart's templates."""

    chartRepository: str = Field(
        default="", description="oci://REGISTRY/PATH the chart is pulled from"
    )
    chartVersion: str = Field(default="", description="the floe-dagster chart version to deploy")
    chartDigest: str = Field(
        default="",
        description="sha256 of that version's manifest, pinned by gitops.promote (Flux: ref.digest)",
    )


class LocalObjectReference(Strict):
    name: str = Field(min_length=1)


class CaBundle(Strict):
    """Where the private CA's PEM bundle lives: a ConfigMap or a Secret made beside the release."""

    configMapName: str | None = Field(
        default=None, description="ConfigMap holding the bundle (or the one caBundlePem renders)"
    )
    secretName: str | None = Field(default=None, description="Secret holding the bundle instead")
    key: str = Field(default="ca.crt", min_length=1, description="the bundle's key in it")

    @model_validator(mode="after")
    def _one_source(self) -> CaBundle:
        if (self.configMapName is None) == (self.secretName is None):
            raise ValueError("name exactly one of configMapName and secretName")
        return self


class Tls(Strict):
    """One private CA for every pod that speaks TLS: the bundle is mounted read-only at
    /etc/floe/ca and SSL_CERT_FILE, REQUESTS_CA_BUNDLE, AWS_CA_BUNDLE, PGSSLROOTCERT and
    NODE_EXTRA_CA_CERTS point at it (the ConfigMap `envConfigMapName`)."""

    caBundle: CaBundle | None = Field(
        default=None,
        description="the bundle; it replaces the pods' trust store, so it holds public roots too "
        "when they also reach public endpoints. The dagster subtree mounts it itself "
        "(values-prod.yaml); helm.validate fails on a TLS-speaking pod without it",
    )
    caBundlePem: str | None = Field(
        default=None,
        description="PEM text: the chart renders it as the ConfigMap caBundle.configMapName",
    )
    envConfigMapName: str = Field(
        default="floe-ca-env",
        description="ConfigMap of the CA variables, for the dagster subtree's envConfigMaps",
    )

    @model_validator(mode="after")
    def _pem_needs_a_configmap(self) -> Tls:
        if self.caBundlePem and (self.caBundle is None or self.caBundle.configMapName is None):
            raise ValueError("caBundlePem is rendered as caBundle.configMapName: name it")
        return self


class UmbrellaValues(Strict):
    """Values of floe-dagster; `dagster` is passed to the official chart unchanged."""

    imageRegistry: str = Field(
        default="registry.example.internal/floe",
        pattern=r"^[^/]*[.:][^/]*(/[^/:@]+)*$|^localhost(:[0-9]+)?(/[^/:@]+)*$",
        description="host[:port][/path] every rendered image comes from (helm.validate's "
        "allowlist); a registry host is required (no short names)",
    )
    image: Image = Image()
    imagePullSecrets: list[LocalObjectReference] = Field(
        default_factory=list,
        description="registry logins (kubernetes.io/dockerconfigjson Secrets) for this chart's own "
        "pods (Cube, the preflight Job); the dagster chart takes dagster.imagePullSecrets and "
        "dagster.dagster-user-deployments.imagePullSecrets",
    )
    artifacts: Artifacts = Artifacts()
    secrets: Secrets = Secrets()
    preflight: Preflight = Preflight()
    upgrade: Upgrade = Upgrade()
    networkPolicy: NetworkPolicy = NetworkPolicy()
    podDisruptionBudget: PodDisruptionBudget = PodDisruptionBudget()
    demo: Demo = Demo()
    cube: Cube = Cube()
    podSecurityContext: PodSecurityContext = PodSecurityContext()
    containerSecurityContext: ContainerSecurityContext = ContainerSecurityContext()
    release: Release = Release()
    tls: Tls = Tls()
    dagster: dict[str, Any] = Field(
        default_factory=dict,
        description="values of the official dagster chart (validated against its own schema)",
    )
    global_: dict[str, Any] = Field(
        default_factory=dict, alias="global", description="Helm's values shared with subcharts"
    )


def values_schema() -> dict[str, Any]:
    """The JSON schema Helm validates values.yaml (merged with user values) against."""
    schema = UmbrellaValues.model_json_schema(by_alias=True, mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "floe-dagster values"
    return schema


def values_schema_text() -> str:
    return json.dumps(values_schema(), indent=2, sort_keys=True) + "\n"
