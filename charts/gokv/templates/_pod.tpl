{{/*
The gokv pod template, shared by the StatefulSet (storage.backend=badger)
and the Deployment (storage.backend=etcd). With Badger the pod owns its
database at DB_PATH; with etcd it is stateless and reaches the etcd
cluster with the ETCD_* variables.
*/}}
{{- define "gokv.podTemplate" -}}
{{- $badger := eq .Values.storage.backend "badger" -}}
metadata:
  labels:
    {{- include "gokv.labels" . | nindent 4 }}
    {{- with .Values.podLabels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  annotations:
    {{- if not .Values.auth.existingSecret }}
    # Rolls the pod when the chart's Secret changes, which only a new
    # auth.jwtSecret, previousJwtSecret or key name does: a generated
    # secret is kept. A rotation is two such changes.
    checksum/secret: {{ printf "%s/%s/%s/%s" .Values.auth.secretKey .Values.auth.jwtSecret .Values.auth.previousSecretKey .Values.auth.previousJwtSecret | sha256sum }}
    {{- end }}
    {{- if .Values.auth.oidc.enabled }}
    # gokv reads the policy at start only.
    checksum/policy: {{ include "gokv.policy" . | sha256sum }}
    {{- end }}
    {{- with .Values.podAnnotations }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  {{- include "gokv.podCommon" . | nindent 2 }}
  serviceAccountName: {{ include "gokv.serviceAccountName" . }}
  # SIGTERM starts gokv's drain; it must finish before the kubelet's
  # SIGKILL.
  terminationGracePeriodSeconds: {{ add .Values.shutdown.delaySeconds .Values.shutdown.timeoutSeconds 10 }}
  {{- with .Values.priorityClassName }}
  priorityClassName: {{ . }}
  {{- end }}
  containers:
    - name: gokv
      image: {{ include "gokv.image" . }}
      imagePullPolicy: {{ .Values.image.pullPolicy }}
      securityContext:
        {{- toYaml .Values.securityContext | nindent 8 }}
      ports:
        - name: http
          containerPort: 8080
          protocol: TCP
        {{- if .Values.metrics.enabled }}
        - name: metrics
          containerPort: {{ .Values.metrics.port }}
          protocol: TCP
        {{- end }}
      env:
        {{- include "gokv.tokenEnv" . | nindent 8 }}
        {{- if or .Values.auth.existingSecret .Values.auth.previousJwtSecret }}
        # Only the server verifies with the previous secret; whatever
        # mints tokens signs with the current one.
        - name: JWT_SECRET_PREVIOUS
          valueFrom:
            secretKeyRef:
              name: {{ include "gokv.secretName" . }}
              key: {{ .Values.auth.previousSecretKey }}
              {{- if .Values.auth.existingSecret }}
              # Present only during a rotation.
              optional: true
              {{- end }}
        {{- end }}
        {{- if $badger }}
        - name: DB_PATH
          value: /data
        {{- else }}
        {{- include "gokv.etcdEnv" . | nindent 8 }}
        {{- end }}
        - name: PORT
          value: "8080"
        - name: METRICS_PORT
          value: {{ ternary (.Values.metrics.port | int) 0 .Values.metrics.enabled | quote }}
        - name: GIN_MODE
          value: release
        - name: MAX_VALUE_BYTES
          value: {{ .Values.config.maxValueBytes | int64 | quote }}
        - name: MAX_INFLIGHT_BYTES
          value: {{ .Values.config.maxInflightBytes | int64 | quote }}
        - name: MAX_CONNS
          value: {{ .Values.config.maxConns | int64 | quote }}
        {{- if $badger }}
        - name: SYNC_WRITES
          value: {{ .Values.config.syncWrites | quote }}
        - name: MIN_FREE_BYTES
          value: {{ .Values.config.minFreeBytes | int64 | quote }}
        - name: GC_INTERVAL
          value: {{ .Values.config.gcInterval | quote }}
        {{- end }}
        - name: LOG_LEVEL
          value: {{ .Values.config.logLevel | quote }}
        - name: LOG_FORMAT
          value: {{ .Values.config.logFormat | quote }}
        - name: SHUTDOWN_DELAY
          value: "{{ .Values.shutdown.delaySeconds }}s"
        - name: SHUTDOWN_TIMEOUT
          value: "{{ .Values.shutdown.timeoutSeconds }}s"
        {{- with .Values.config.trustedProxies }}
        - name: TRUSTED_PROXIES
          value: {{ join "," . | quote }}
        {{- end }}
        {{- if .Values.auth.oidc.enabled }}
        - name: OIDC_ISSUER_URL
          value: {{ .Values.auth.oidc.issuerURL | quote }}
        - name: OIDC_AUDIENCE
          value: {{ .Values.auth.oidc.audience | quote }}
        {{- with include "gokv.jwksURL" . }}
        - name: OIDC_JWKS_URL
          value: {{ . | quote }}
        {{- end }}
        {{- with .Values.auth.oidc.caFile }}
        - name: OIDC_CA_FILE
          value: {{ . | quote }}
        {{- end }}
        {{- if .Values.auth.oidc.issuerToken }}
        - name: OIDC_TOKEN_FILE
          value: /var/run/secrets/gokv/oidc/token
        {{- end }}
        - name: AUTH_POLICY_FILE
          value: /etc/gokv/policy/policy.yaml
        {{- end }}
        {{- with .Values.extraEnv }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      volumeMounts:
      {{- if $badger }}
        - name: data
          mountPath: /data
      {{- else }}
        # The root filesystem is read-only; a restore spools its body in
        # the temporary directory before it loads it.
        - name: tmp
          mountPath: /tmp
        {{- if .Values.etcd.tls.existingSecret }}
        - name: etcd-tls
          mountPath: {{ include "gokv.etcdTLSDir" . }}
          readOnly: true
        {{- end }}
        {{- if .Values.etcd.auth.existingSecret }}
        - name: etcd-auth
          mountPath: {{ include "gokv.etcdAuthDir" . }}
          readOnly: true
        {{- end }}
      {{- end }}
      {{- if .Values.auth.oidc.enabled }}
        - name: policy
          mountPath: /etc/gokv/policy
          readOnly: true
        - name: oidc
          mountPath: /var/run/secrets/gokv/oidc
          readOnly: true
      {{- end }}
      startupProbe:
        httpGet:
          path: /healthz
          port: http
        {{- toYaml .Values.probes.startup | nindent 8 }}
      livenessProbe:
        httpGet:
          path: /healthz
          port: http
        {{- toYaml .Values.probes.liveness | nindent 8 }}
      readinessProbe:
        httpGet:
          path: /readyz
          port: http
        {{- toYaml .Values.probes.readiness | nindent 8 }}
      resources:
        {{- toYaml .Values.resources | nindent 8 }}
  {{- with .Values.nodeSelector }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.affinity }}
  affinity:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.tolerations }}
  tolerations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- if .Values.topologySpreadConstraints }}
  topologySpreadConstraints:
    {{- toYaml .Values.topologySpreadConstraints | nindent 4 }}
  {{- else if not $badger }}
  # Replicas on different nodes, so that losing a node loses one of them;
  # ScheduleAnyway, so that a cluster with fewer nodes than replicas still
  # runs them all. matchLabelKeys counts each rollout's pods on their own.
  topologySpreadConstraints:
    - maxSkew: 1
      topologyKey: kubernetes.io/hostname
      whenUnsatisfiable: ScheduleAnyway
      labelSelector:
        matchLabels:
          {{- include "gokv.selectorLabels" . | nindent 10 }}
      matchLabelKeys:
        - pod-template-hash
  {{- end }}
  {{- if or (not $badger) (not .Values.persistence.enabled) .Values.auth.oidc.enabled }}
  volumes:
  {{- end }}
  {{- if $badger }}
  {{- if not .Values.persistence.enabled }}
    - name: data
      emptyDir: {}
  {{- end }}
  {{- else }}
    - name: tmp
      emptyDir: {}
    {{- with .Values.etcd.tls.existingSecret }}
    - name: etcd-tls
      secret:
        secretName: {{ . }}
        # Readable by gokv's group (fsGroup) only: tls.key is a private key.
        defaultMode: 0440
        items:
          - key: ca.crt
            path: ca.crt
          - key: tls.crt
            path: tls.crt
          - key: tls.key
            path: tls.key
    {{- end }}
    {{- with .Values.etcd.auth.existingSecret }}
    - name: etcd-auth
      secret:
        secretName: {{ . }}
        defaultMode: 0440
        # The username is an environment variable; the password only a file.
        items:
          - key: password
            path: password
    {{- end }}
  {{- end }}
  {{- if .Values.auth.oidc.enabled }}
    - name: policy
      configMap:
        name: {{ include "gokv.fullname" . }}-policy
    # What gokv needs to read the issuer's discovery document and JWKS,
    # nothing else: the cluster's root CA and, with auth.oidc.issuerToken,
    # a token of its ServiceAccount for the API server's own audience,
    # which the kubelet rotates. The pod's automounted token stays off.
    - name: oidc
      projected:
        sources:
          - configMap:
              name: kube-root-ca.crt
              items:
                - key: ca.crt
                  path: ca.crt
          {{- if .Values.auth.oidc.issuerToken }}
          - serviceAccountToken:
              path: token
              expirationSeconds: 3600
          {{- end }}
  {{- end }}
{{- end }}
