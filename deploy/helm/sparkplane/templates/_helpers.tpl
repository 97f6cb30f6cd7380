{{/* Chart name, truncated to the 63 characters of a label value. */}}
{{- define "sparkplane.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Resource name prefix. Names get suffixes of up to 16 characters ("-scheduler-config"), so the
prefix is kept to 47.
*/}}
{{- define "sparkplane.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 47 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 47 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 47 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "sparkplane.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels of every object; pass (dict "ctx" $ "component" "webhook"). */}}
{{- define "sparkplane.labels" -}}
helm.sh/chart: {{ include "sparkplane.chart" .ctx }}
{{ include "sparkplane.selectorLabels" . }}
app.kubernetes.io/version: {{ .ctx.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
app.kubernetes.io/part-of: sparkplane
{{- end }}

{{/* Selector labels of a component's pods; pass (dict "ctx" $ "component" "webhook"). */}}
{{- define "sparkplane.selectorLabels" -}}
app.kubernetes.io/name: {{ include "sparkplane.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "sparkplane.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{- define "sparkplane.webhookName" -}}{{ include "sparkplane.fullname" . }}-webhook{{- end }}
{{- define "sparkplane.certsName" -}}{{ include "sparkplane.fullname" . }}-certs{{- end }}
{{- define "sparkplane.schedulerName" -}}{{ include "sparkplane.fullname" . }}-scheduler{{- end }}
{{- define "sparkplane.configName" -}}{{ include "sparkplane.fullname" . }}-config{{- end }}
{{- define "sparkplane.tlsSecretName" -}}{{ include "sparkplane.fullname" . }}-webhook-tls{{- end }}

{{/*
The SparkplaneConfiguration, without the apiVersion/kind header, indented by the caller. Unset
provider fields are left out so the preset fills them; spotTolerations null means the preset's,
[] means none.
*/}}
{{/*
A placement mode: an unquoted off in a values file is YAML's false, and
means off.
*/}}
{{- define "sparkplane.mode" -}}
{{- if kindIs "bool" . }}"off"{{ else }}{{ . | quote }}{{ end }}
{{- end }}

{{- define "sparkplane.configBody" -}}
{{- $c := .Values.config -}}
zoneLabel: {{ $c.zoneLabel | quote }}
provider:
  preset: {{ $c.provider.preset | quote }}
  {{- with $c.provider.label }}
  label: {{ . | quote }}
  {{- end }}
  {{- with $c.provider.spotValue }}
  spotValue: {{ . | quote }}
  {{- end }}
  {{- with $c.provider.onDemandValue }}
  onDemandValue: {{ . | quote }}
  {{- end }}
  {{- if kindIs "slice" $c.provider.spotTolerations }}
  spotTolerations:
    {{- toYaml $c.provider.spotTolerations | nindent 4 }}
  {{- end }}
zonePinning:
  mode: {{ include "sparkplane.mode" $c.zonePinning.mode }}
  clientModeAffinity: {{ $c.zonePinning.clientModeAffinity }}
driver:
  capacityType: {{ $c.driver.capacityType | quote }}
  mode: {{ include "sparkplane.mode" $c.driver.mode }}
executor:
  capacityType: {{ $c.executor.capacityType | quote }}
  mode: {{ include "sparkplane.mode" $c.executor.mode }}
disruptionProtection:
  driver: {{ $c.disruptionProtection.driver }}
  executor: {{ $c.disruptionProtection.executor }}
  {{- if kindIs "map" $c.disruptionProtection.annotations }}
  annotations:
    {{- toYaml $c.disruptionProtection.annotations | nindent 4 }}
  {{- end }}
availabilityEscape:
  enabled: {{ $c.availabilityEscape.enabled }}
  window: {{ $c.availabilityEscape.window | quote }}
  interval: {{ $c.availabilityEscape.interval | quote }}
{{- with $c.schedulerName }}
schedulerName: {{ . | quote }}
{{- end }}
preferredWeight: {{ $c.preferredWeight }}
{{- end }}

{{/* The webhook's namespaceSelector. */}}
{{- define "sparkplane.namespaceSelector" -}}
{{- if .Values.webhook.namespaceSelector }}
{{- toYaml .Values.webhook.namespaceSelector }}
{{- else if .Values.webhook.namespaces }}
matchExpressions:
- key: kubernetes.io/metadata.name
  operator: In
  values:
  {{- toYaml .Values.webhook.namespaces | nindent 2 }}
{{- else }}
matchExpressions:
- key: kubernetes.io/metadata.name
  operator: NotIn
  values:
  {{- toYaml (uniq (append .Values.webhook.excludeNamespaces .Release.Namespace)) | nindent 2 }}
{{- end }}
{{- end }}

{{/* Pod-level security context shared by every component: non-root, no privilege, RuntimeDefault seccomp. */}}
{{- define "sparkplane.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{- define "sparkplane.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
privileged: false
capabilities:
  drop:
  - ALL
{{- end }}
