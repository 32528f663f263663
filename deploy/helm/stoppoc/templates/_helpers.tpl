{{/* The chart's names and labels (app.kubernetes.io/*). */}}

{{- define "stoppoc.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "stoppoc.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* The labels that select one service's pods; call with (dict "root" $ "service" $name). */}}
{{- define "stoppoc.selector" -}}
app.kubernetes.io/name: {{ .root.Chart.Name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .service }}
{{- end -}}

{{- define "stoppoc.amqpUrl" -}}
amqp://{{ .root.Values.namespace }}-{{ .principal }}@{{ .root.Values.rabbitmq.host }}:{{ .root.Values.rabbitmq.port }}/
{{- end -}}

{{- define "stoppoc.databaseUrl" -}}
postgresql://{{ .root.Values.namespace }}_{{ .principal }}@{{ .root.Values.postgresql.host }}:{{ .root.Values.postgresql.port }}/{{ .root.Values.postgresql.database }}
{{- end -}}

{{/* Hardened like every stoppoc container: no root, no privilege, nothing written. */}}
{{- define "stoppoc.containerSecurity" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
runAsUser: 10001
capabilities:
  drop: ["ALL"]
seccompProfile:
  type: RuntimeDefault
{{- end -}}
