{{/* Names: <release>-gateway, <release>-engine-<name>; Kubernetes caps names at 63 characters. */}}
{{- define "llmaas.gateway.name" -}}
{{- printf "%s-gateway" .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "llmaas.engine.name" -}}
{{- printf "%s-engine-%s" .root.Release.Name .name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels every object carries. */}}
{{- define "llmaas.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/* Selector labels: call with (dict "root" $ "component" "gateway"). */}}
{{- define "llmaas.selectorLabels" -}}
app.kubernetes.io/name: {{ .root.Chart.Name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "llmaas.gateway.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) -}}
{{- end -}}

{{/* The gateway's state and secrets, shared by the gateway pods and the migration Job. */}}
{{- define "llmaas.gateway.stateEnv" -}}
- name: LLMAAS_DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ required "secrets.name: the Secret with the database and Redis URLs" .Values.secrets.name }}
      key: {{ .Values.secrets.databaseUrlKey }}
- name: LLMAAS_REDIS_URL
  valueFrom:
    secretKeyRef:
      name: {{ .Values.secrets.name }}
      key: {{ .Values.secrets.redisUrlKey }}
- name: LLMAAS_ADMIN_TOKEN
  valueFrom:
    secretKeyRef:
      name: {{ .Values.secrets.name }}
      key: {{ .Values.secrets.adminTokenKey }}
      optional: true
- name: LLMAAS_HOME
  value: /tmp/llmaas
{{- range $name, $value := .Values.gateway.env }}
- name: {{ $name }}
  value: {{ $value | quote }}
{{- end }}
{{- end -}}

{{- define "llmaas.gateway.securityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities:
  drop: [ALL]
{{- end -}}

{{- define "llmaas.gateway.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
seccompProfile:
  type: RuntimeDefault
{{- end -}}
