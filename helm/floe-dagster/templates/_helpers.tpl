{{/* Names and labels shared by every template of the umbrella chart. */}}
{{- define "floe.fullname" -}}
{{- printf "%s-floe" .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "floe.labels" -}}
app.kubernetes.io/name: floe-dagster
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{- define "floe.selector" -}}
app.kubernetes.io/name: floe-dagster
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "floe.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/* Pod-level security for the umbrella's workloads: Pod Security Standard "restricted". */}}
{{- define "floe.podSecurityContext" -}}
{{ toYaml .Values.podSecurityContext }}
{{- end -}}

{{- define "floe.containerSecurityContext" -}}
{{ toYaml .Values.containerSecurityContext }}
{{- end -}}

{{/* The CompiledArtifacts document the code location reads (FLOE_ARTIFACTS). */}}
{{- define "floe.artifacts" -}}
{{- $a := .Values.artifacts -}}
{{- $d := .Values.demo -}}
{{- $doc := dict
  "version" 1
  "catalog" $a.catalog
  "storage" (dict "type" "s3" "endpoint" $a.storage.endpoint "bucket" $a.storage.bucket "region" $a.storage.region "access_key_id" $a.storage.accessKeyId "path_style" $a.storage.pathStyle)
  "compute" $a.compute
  "serving" (dict "postgres" $a.serving.postgres "schema" $a.serving.schema)
  "demo" (dict "enabled" $d.enabled "schedule_interval" $d.schedule.interval "batch_size" $d.batchSize "seed" $d.seed
      "data_quality" (dict "null_rate" $d.dataQuality.nullRate "duplicate_rate" $d.dataQuality.duplicateRate "late_arrival_rate" $d.dataQuality.lateArrivalRate))
-}}
{{- toPrettyJson $doc -}}
{{- end -}}

{{/* The Secret the preflight hook reads. Hooks are deleted and re-made on every upgrade, so the
preflight never shares an object with the running pods: External Secrets and Sealed Secrets get a
hook copy of their own (deleted when the preflight passes); a pre-existing Secret is only read. */}}
{{- define "floe.preflightSecretName" -}}
{{- if or .Values.secrets.externalSecret.enabled .Values.secrets.sealedSecret.enabled -}}
{{- printf "%s-preflight" (include "floe.fullname" .) -}}
{{- else -}}
{{- .Values.secrets.secretName -}}
{{- end -}}
{{- end -}}

{{/* Annotations of an object that exists only for the preflight hook, before the Job runs. */}}
{{- define "floe.preflightHookAnnotations" -}}
helm.sh/hook: pre-install,pre-upgrade
helm.sh/hook-weight: "-10"
helm.sh/hook-delete-policy: before-hook-creation,hook-succeeded
argocd.argoproj.io/hook: PreSync
argocd.argoproj.io/hook-delete-policy: BeforeHookCreation,HookSucceeded
argocd.argoproj.io/sync-wave: "-2"
{{- end -}}

{{/* The keys of the Secret, from the external store (one list for the release's Secret and the
preflight's copy). */}}
{{- define "floe.externalSecretData" -}}
{{- $e := .Values.secrets.externalSecret -}}
- secretKey: postgresql-password
  remoteRef:
    {{- toYaml $e.remoteRefs.postgresPassword | nindent 4 }}
- secretKey: POSTGRES_PASSWORD
  remoteRef:
    {{- toYaml $e.remoteRefs.postgresPassword | nindent 4 }}
- secretKey: AWS_SECRET_ACCESS_KEY
  remoteRef:
    {{- toYaml $e.remoteRefs.storageSecretAccessKey | nindent 4 }}
{{- if $e.remoteRefs.polarisClientSecret }}
- secretKey: POLARIS_CLIENT_SECRET
  remoteRef:
    {{- toYaml $e.remoteRefs.polarisClientSecret | nindent 4 }}
{{- end }}
{{- if and .Values.cube.enabled $e.remoteRefs.cubeApiSecret }}
- secretKey: CUBEJS_API_SECRET
  remoteRef:
    {{- toYaml $e.remoteRefs.cubeApiSecret | nindent 4 }}
{{- end }}
{{- end -}}

{{/* The dagster chart's fullname (its dagster.fullname helper, evaluated for the subchart). */}}
{{- define "floe.dagsterFullname" -}}
{{- $global := .Values.dagster.global | default dict -}}
{{- if $global.fullnameOverride -}}
{{- $global.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default "dagster" $global.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* The dagster chart's webserver Deployment. */}}
{{- define "floe.webserverName" -}}
{{- printf "%s-%s" .Release.Name (default "dagster-webserver" .Values.dagster.dagsterWebserver.nameOverride) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The Deployments the migrate hook stops: the daemon, the webserver(s). */}}
{{- define "floe.stoppedForMigration" -}}
{{- $web := include "floe.webserverName" . -}}
{{- $names := list (printf "%s-daemon" (include "floe.dagsterFullname" .)) $web -}}
{{- if .Values.dagster.dagsterWebserver.enableReadOnly -}}
{{- $names = append $names (printf "%s-read-only" $web) -}}
{{- end -}}
{{- toJson $names -}}
{{- end -}}

{{/* The migrate hooks' ServiceAccount and Role: hooks themselves, made before the hook Jobs
(which run before any release object changes) and deleted with them when the phase succeeded. */}}
{{- define "floe.migrateRbacAnnotations" -}}
helm.sh/hook: pre-upgrade,pre-rollback
helm.sh/hook-weight: "-20"
helm.sh/hook-delete-policy: before-hook-creation,hook-succeeded
argocd.argoproj.io/hook: PreSync
argocd.argoproj.io/hook-delete-policy: BeforeHookCreation,HookSucceeded
argocd.argoproj.io/sync-wave: "-3"
{{- end -}}

{{/* Run pods as dagster-k8s labels them (its own app.kubernetes.io/instance: dagster, not the
release's): the K8sRunLauncher's run_worker pods in the release's namespace. */}}
{{- define "floe.runPodSelector" -}}
matchLabels:
  app.kubernetes.io/part-of: dagster
  app.kubernetes.io/component: run_worker
{{- end -}}

{{/* Egress every pod of the release and every run pod gets with networkPolicy.egress.enabled:
the release's pods, DNS (networkPolicy.egress.dns) and the destinations listed. */}}
{{- define "floe.egressRules" -}}
{{- $egress := .Values.networkPolicy.egress -}}
- to:
    - podSelector:
        matchLabels:
          app.kubernetes.io/instance: {{ .Release.Name }}
{{- with $egress.dns }}
{{- if and .enabled (or .namespaces .cidrs) }}
- to:
    {{- range .namespaces }}
    - namespaceSelector:
        matchLabels:
          kubernetes.io/metadata.name: {{ . }}
    {{- end }}
    {{- range .cidrs }}
    - ipBlock:
        cidr: {{ . }}
    {{- end }}
  ports:
    {{- range .ports }}
    - {protocol: UDP, port: {{ . }}}
    - {protocol: TCP, port: {{ . }}}
    {{- end }}
{{- end }}
{{- end }}
{{- range $egress.destinations }}
# {{ .name }}
- to:
    - ipBlock:
        cidr: {{ .cidr }}
  ports:
    {{- range .ports }}
    - {protocol: TCP, port: {{ . }}}
    {{- end }}
{{- end }}
{{- end -}}

{{/* The private CA (tls.*): where every TLS-speaking pod finds it, and the variables its clients
read. Hooks run before the release's objects exist, so they take the variables inline and, when
the chart renders the bundle (tls.caBundlePem), a hook copy of it. */}}
{{- define "floe.caFile" -}}
/etc/floe/ca/ca.crt
{{- end -}}

{{- define "floe.caEnvData" -}}
{{- $file := include "floe.caFile" . -}}
SSL_CERT_FILE: {{ $file }}
REQUESTS_CA_BUNDLE: {{ $file }}
AWS_CA_BUNDLE: {{ $file }}
PGSSLROOTCERT: {{ $file }}
NODE_EXTRA_CA_CERTS: {{ $file }}
{{- end -}}

{{- define "floe.caEnv" -}}
{{- range $name, $value := include "floe.caEnvData" . | fromYaml }}
- {name: {{ $name }}, value: {{ $value | quote }}}
{{- end }}
{{- end -}}

{{/* floe-preflight's own CA setting (the default of each check's), and the variables. */}}
{{- define "floe.preflightCaEnv" -}}
- {name: FLOE_CA_BUNDLE, value: {{ include "floe.caFile" . | quote }}}
{{- include "floe.caEnv" . }}
{{- end -}}

{{- define "floe.caEnvFrom" -}}
- configMapRef:
    name: {{ .Values.tls.envConfigMapName }}
{{- end -}}

{{- define "floe.caMount" -}}
- {name: floe-ca, mountPath: /etc/floe/ca, readOnly: true}
{{- end -}}

{{/* The bundle's volume; `hook` true: for a hook Job (the hook copy of a rendered bundle). */}}
{{- define "floe.caVolume" -}}
{{- $ca := .root.Values.tls.caBundle -}}
{{- $items := list (dict "key" $ca.key "path" "ca.crt") -}}
- name: floe-ca
{{- if $ca.secretName }}
  secret:
    secretName: {{ $ca.secretName }}
    items: {{ toJson $items }}
{{- else }}
  configMap:
    name: {{ ternary (printf "%s-ca-hook" (include "floe.fullname" .root)) $ca.configMapName (and .hook (not (empty .root.Values.tls.caBundlePem))) }}
    items: {{ toJson $items }}
{{- end }}
{{- end -}}
