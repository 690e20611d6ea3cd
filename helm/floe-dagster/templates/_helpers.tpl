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
