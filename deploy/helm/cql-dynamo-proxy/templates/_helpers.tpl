{{/* The release's name: the chart renders the application's own Deployment, so it is named
after the application (helm install shop-cart ... gives Deployment shop-cart). */}}
{{- define "cql-dynamo-proxy.fullname" -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "cql-dynamo-proxy.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* On every pod with the sidecar: what deploy/prometheus (PodMonitor, scrape config) selects. */}}
{{- define "cql-dynamo-proxy.podLabels" -}}
cql-dynamo-proxy/sidecar: "true"
{{- end -}}

{{- define "cql-dynamo-proxy.labels" -}}
{{ include "cql-dynamo-proxy.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "cql-dynamo-proxy.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "cql-dynamo-proxy.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* The ConfigMap holding the mapping, or "" without one. */}}
{{- define "cql-dynamo-proxy.mappingConfigMap" -}}
{{- if .Values.mapping.existingConfigMap -}}
{{- .Values.mapping.existingConfigMap -}}
{{- else if .Values.mapping.inline -}}
{{- printf "%s-mapping" (include "cql-dynamo-proxy.fullname" .) -}}
{{- end -}}
{{- end -}}

{{/* Fixed paths inside the sidecar container. */}}
{{- define "cql-dynamo-proxy.stateDir" -}}/var/lib/cql-dynamo-proxy{{- end -}}
{{- define "cql-dynamo-proxy.mappingDir" -}}/etc/cql-dynamo-proxy/mapping{{- end -}}

{{/* Settings that cannot work together, refused with the reason. */}}
{{- define "cql-dynamo-proxy.validate" -}}
{{- if and (gt (int .Values.replicaCount) 1) (not .Values.control.table) -}}
{{- fail (printf "replicaCount %d needs control.table: the default file control store lives in each pod's state volume, so pods would not share their phases" (int .Values.replicaCount)) -}}
{{- end -}}
{{- if and (gt (int .Values.replicaCount) 1) .Values.state.existingClaim -}}
{{- fail "state.existingClaim holds the state of one pod: use replicaCount 1 with it" -}}
{{- end -}}
{{- range .Values.app.containers -}}
{{- range .ports -}}
{{- if eq (.name | default "") "metrics" -}}
{{- fail "app.containers: a port named metrics: the name is the sidecar's (probes and scrapes find it by name, and port names are unique in a pod)" -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- if and .Values.mapping.inline .Values.mapping.existingConfigMap -}}
{{- fail "mapping: give inline or existingConfigMap, not both" -}}
{{- end -}}
{{- end -}}
{{- define "cql-dynamo-proxy.validateCluster" -}}
{{- if and .Values.sidecar.native (semverCompare "<1.29.0-0" .Capabilities.KubeVersion.Version) -}}
{{- fail (printf "sidecar.native needs Kubernetes 1.29 or later (this cluster: %s): set sidecar.native=false" .Capabilities.KubeVersion.Version) -}}
{{- end -}}
{{- end -}}
