{{- define "nodewave.name" -}}{{ .Release.Name }}{{- end -}}
{{- define "nodewave.labels" -}}
app.kubernetes.io/name: nodewave
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ .Chart.Name }}-{{ .Chart.Version }}
{{- end -}}
{{- define "nodewave.serviceAccountName" -}}
{{- .Values.serviceAccount.name | default (include "nodewave.name" .) -}}
{{- end -}}
{{- define "nodewave.operatorUsers" -}}
{{- $sa := printf "system:serviceaccount:%s:%s" .Release.Namespace (include "nodewave.serviceAccountName" .) -}}
{{- toJson (prepend (.Values.admissionPolicy.operatorUsers | default list) $sa) -}}
{{- end -}}
{{- define "nodewave.selector" -}}
app.kubernetes.io/name: nodewave
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}
{{- define "nodewave.rules" -}}
# Jobs are the user's: the operator reads them and writes only their status.
- apiGroups: ["nodewave.io"]
  resources: ["jobs"]
  verbs: ["get", "list", "watch"]
- apiGroups: ["nodewave.io"]
  resources: ["executions"]
  verbs: ["get", "list", "watch", "create", "patch", "delete"]
- apiGroups: ["nodewave.io"]
  resources: ["jobs/status", "executions/status"]
  verbs: ["patch"]
- apiGroups: [""]
  resources: ["pods"]
  verbs: ["get", "list", "watch", "create", "delete"]
# Each version's config, in a ConfigMap of the Job's namespace (any namespace, for the
# ClusterRole): made and read back by name, never listed, updated or deleted by this role.
- apiGroups: [""]
  resources: ["configmaps"]
  verbs: ["get", "create"]
- apiGroups: [""]
  resources: ["events"]
  verbs: ["create"]
- apiGroups: ["apps"]
  resources: ["controllerrevisions"]
  verbs: ["get", "list", "watch", "create", "delete"]
{{- with concat (.Values.webhooks.secretNames | default list) (.Values.healthChecks.secretNames | default list) | uniq }}
# Keys of Secrets Jobs name (webhooks' signing keys and CAs, health checks' credentials), in
# the Job's namespace, by name only (never list or watch).
- apiGroups: [""]
  resources: ["secrets"]
  resourceNames: {{ toJson . }}
  verbs: ["get"]
{{- end }}
{{- end -}}
