{{/*
Use in an application chart's pod spec, under `containers:`:
  {{- include "cql-dynamo-proxy.container" (dict "Values" .Values.cqlDynamoProxy) | nindent 8 }}
*/}}
{{- define "cql-dynamo-proxy.container" -}}
- name: cql-dynamo-proxy
  image: "{{ .Values.image.repository }}:{{ .Values.image.tag }}"
  imagePullPolicy: {{ .Values.image.pullPolicy }}
  args: ["serve"]
  env:
    - {name: CDP_LISTEN, value: {{ .Values.listen | quote }}}
    - {name: CDP_CASSANDRA, value: {{ .Values.cassandra | quote }}}
    - {name: CDP_ADMIN, value: {{ .Values.admin | quote }}}
    - {name: CDP_SHUTDOWN_GRACE, value: {{ .Values.shutdownGrace | quote }}}
    - name: CDP_ADMIN_TOKEN
      valueFrom:
        secretKeyRef: {name: {{ .Values.adminTokenSecret.name }}, key: {{ .Values.adminTokenSecret.key }}}
    {{- with .Values.extraEnv }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  ports:
    - {name: cdp-admin, containerPort: 9191}
  readinessProbe:
    httpGet: {path: /health/ready, port: cdp-admin}
    periodSeconds: 5
  livenessProbe:
    httpGet: {path: /health/live, port: cdp-admin}
    periodSeconds: 10
  resources:
    {{- toYaml .Values.resources | nindent 4 }}
  securityContext:
    runAsNonRoot: true
    readOnlyRootFilesystem: true
    allowPrivilegeEscalation: false
{{- end -}}
