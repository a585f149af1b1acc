{{/*
The sidecar container, for this chart's Deployment or, with the chart as a dependency, for the
application's own chart: `include "cql-dynamo-proxy.sidecar" (index .Subcharts "cql-dynamo-proxy")`
under initContainers (native) or containers (classic), and "cql-dynamo-proxy.volumes" under volumes.
With sidecar.native it goes under initContainers with restartPolicy Always
(Kubernetes 1.29+): the kubelet starts it first and starts the application only once its
startupProbe (/health/ready) passes; at pod deletion it gets SIGTERM after the application has
exited. Otherwise it is the first ordinary container, and lifecycle hooks give the same order.
*/}}
{{- define "cql-dynamo-proxy.sidecar" -}}
{{- include "cql-dynamo-proxy.validateCluster" . -}}
{{- $v := .Values -}}
{{- $ready := printf "http://127.0.0.1:%d/health/ready" (int $v.sidecar.metricsPort) -}}
- name: cql-dynamo-proxy
  image: "{{ $v.image.repository }}:{{ $v.image.tag | default .Chart.AppVersion }}"
  imagePullPolicy: {{ $v.image.pullPolicy }}
  {{- if $v.sidecar.native }}
  restartPolicy: Always
  {{- end }}
  args: ["serve"]
  env:
    - {name: CDP_LISTEN, value: {{ $v.sidecar.listen | quote }}}
    - {name: CDP_CASSANDRA, value: {{ required "cassandra: the contact points the sidecar forwards to" $v.cassandra | quote }}}
    - {name: CDP_ADMIN, value: "127.0.0.1:{{ int $v.sidecar.adminPort }}"}
    # `kubectl exec ... -- cql-dynamo-proxy phase ...` finds the admin API through this
    - {name: CDP_ADMIN_URL, value: "http://127.0.0.1:{{ int $v.sidecar.adminPort }}"}
    - {name: CDP_METRICS, value: "0.0.0.0:{{ int $v.sidecar.metricsPort }}"}
    - {name: CDP_STATE_DIR, value: {{ include "cql-dynamo-proxy.stateDir" . }}}
    - {name: CDP_SHUTDOWN_GRACE, value: {{ $v.sidecar.shutdownGrace | quote }}}
    - {name: CDP_LOG_LEVEL, value: {{ $v.sidecar.logLevel | quote }}}
    {{- if include "cql-dynamo-proxy.mappingConfigMap" . }}
    - {name: CDP_MAPPING, value: "{{ include "cql-dynamo-proxy.mappingDir" . }}/mapping.yaml"}
    {{- end }}
    {{- if $v.control.table }}
    - {name: CDP_CONTROL, value: "dynamodb:{{ $v.control.table }}"}
    {{- end }}
    {{- if $v.dynamodb.region }}
    - {name: CDP_DYNAMODB_REGION, value: {{ $v.dynamodb.region | quote }}}
    {{- end }}
    {{- if $v.dynamodb.endpoint }}
    - {name: CDP_DYNAMODB_ENDPOINT, value: {{ $v.dynamodb.endpoint | quote }}}
    {{- end }}
    {{- if $v.adminToken.existingSecret }}
    # from the environment (a Secret volume and CDP_ADMIN_TOKEN_FILE work as well: the sidecar
    # knows the kubelet makes its files readable by the pod's own fsGroup only)
    - name: CDP_ADMIN_TOKEN
      valueFrom:
        secretKeyRef: {name: {{ $v.adminToken.existingSecret | quote }}, key: {{ $v.adminToken.key | quote }}}
    {{- end }}
    {{- with $v.sidecar.extraEnv }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  ports:
    - {name: metrics, containerPort: {{ int $v.sidecar.metricsPort }}}
  startupProbe:
    httpGet: {path: /health/ready, port: metrics}
    periodSeconds: 1
    failureThreshold: 120
  readinessProbe:
    httpGet: {path: /health/ready, port: metrics}
    periodSeconds: 5
  livenessProbe:
    httpGet: {path: /health/live, port: metrics}
    periodSeconds: 10
  {{- if not $v.sidecar.native }}
  lifecycle:
    # the kubelet starts the next container only when this hook returns: the application starts
    # once the sidecar is ready (after 120 s without, the hook fails: the kubelet restarts the
    # sidecar and starts the application anyway)
    postStart:
      exec:
        command:
          - python
          - -c
          - |
            import sys, time, urllib.request
            for _ in range(240):
                try:
                    urllib.request.urlopen({{ $ready | quote }}, timeout=1)
                    sys.exit(0)
                except Exception:
                    time.sleep(0.5)
            sys.exit(1)
    # both containers get SIGTERM at once: the sidecar keeps serving while the application stops
    preStop:
      exec:
        command: [python, -c, "import time; time.sleep({{ int $v.app.terminationSeconds }})"]
  {{- end }}
  volumeMounts:
    - {name: cdp-state, mountPath: {{ include "cql-dynamo-proxy.stateDir" . }}}
    - {name: cdp-tmp, mountPath: /tmp}
    {{- if include "cql-dynamo-proxy.mappingConfigMap" . }}
    - {name: cdp-mapping, mountPath: {{ include "cql-dynamo-proxy.mappingDir" . }}, readOnly: true}
    {{- end }}
  resources:
    {{- toYaml $v.sidecar.resources | nindent 4 }}
  securityContext:
    runAsNonRoot: true
    runAsUser: 10001
    runAsGroup: 10001
    readOnlyRootFilesystem: true
    allowPrivilegeEscalation: false
    capabilities: {drop: [ALL]}
{{- end -}}

{{/* The pod volumes the sidecar mounts. */}}
{{- define "cql-dynamo-proxy.volumes" -}}
{{- $v := .Values -}}
- name: cdp-state
  {{- if $v.state.existingClaim }}
  persistentVolumeClaim: {claimName: {{ $v.state.existingClaim }}}
  {{- else }}
  emptyDir: {sizeLimit: {{ $v.state.sizeLimit }}}
  {{- end }}
- name: cdp-tmp
  emptyDir: {sizeLimit: 64Mi}
{{- with include "cql-dynamo-proxy.mappingConfigMap" . }}
- name: cdp-mapping
  configMap:
    name: {{ . }}
    items: [{key: {{ $v.mapping.key }}, path: mapping.yaml}]
{{- end }}
{{- end -}}

{{/* The pod-level settings the sidecar needs: its ServiceAccount (IRSA), the security context
(fsGroup for the state volume) and a grace period covering the application's stop and the drain. */}}
{{- define "cql-dynamo-proxy.podSettings" -}}
serviceAccountName: {{ include "cql-dynamo-proxy.serviceAccountName" . }}
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
# the application's own stop, then the sidecar's drain (native: it gets SIGTERM after the
# application exited; classic: its preStop waits as long), then a margin
terminationGracePeriodSeconds: {{ add (int .Values.app.terminationSeconds) (int .Values.sidecar.shutdownGrace) 10 }}
{{- end -}}
