{{- define "nodewave.name" -}}{{ .Release.Name }}{{- end -}}
{{- define "nodewave.labels" -}}
app.kubernetes.io/name: nodewave
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ .Chart.Name }}-{{ .Chart.Version }}
{{- end -}}
{{- define "nodewave.selector" -}}
app.kubernetes.io/name: nodewave
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}
{{- define "nodewave.rules" -}}
- apiGroups: ["nodewave.io"]
  resources: ["jobs", "executions"]
  verbs: ["get", "list", "watch", "create", "patch", "delete"]
- apiGroups: ["nodewave.io"]
  resources: ["jobs/status", "executions/status"]
  verbs: ["get", "patch"]
- apiGroups: [""]
  resources: ["pods"]
  verbs: ["get", "list", "watch", "create", "delete"]
- apiGroups: [""]
  resources: ["configmaps"]
  verbs: ["get", "create"]
- apiGroups: [""]
  resources: ["events"]
  verbs: ["create", "patch"]
- apiGroups: ["apps"]
  resources: ["controllerrevisions"]
  verbs: ["get", "list", "watch", "create", "delete"]
{{- end -}}
