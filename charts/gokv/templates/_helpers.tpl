{{/*
The chart name, or nameOverride.
*/}}
{{- define "gokv.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The full name of the release's resources: fullnameOverride, or the release
name with the chart name appended unless it already contains it. Truncated
to 63 characters, as some name fields are limited to that (DNS labels).
*/}}
{{- define "gokv.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/*
Chart name and version, for the helm.sh/chart label.
*/}}
{{- define "gokv.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Standard labels of every resource.
*/}}
{{- define "gokv.labels" -}}
helm.sh/chart: {{ include "gokv.chart" . }}
{{ include "gokv.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/*
Selector labels: the labels that never change over the life of a release,
so they are safe in immutable fields (StatefulSet selector and
volumeClaimTemplates).
*/}}
{{- define "gokv.selectorLabels" -}}
app.kubernetes.io/name: {{ include "gokv.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
The ServiceAccount gokv runs as.
*/}}
{{- define "gokv.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "gokv.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
The Secret that holds the JWT secret: an existing one, or the chart's.
*/}}
{{- define "gokv.secretName" -}}
{{- default (include "gokv.fullname" .) .Values.auth.existingSecret }}
{{- end }}

{{/*
The image reference.
*/}}
{{- define "gokv.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}

{{/*
The name of this revision's jwt-gen Job. A Job's pod template cannot be
changed, so each revision gets its own Job and helm deletes the previous
one on upgrade.
*/}}
{{- define "gokv.jwtGenJobName" -}}
{{- printf "%s-jwt-gen-%d" (include "gokv.fullname" . | trunc 45 | trimSuffix "-") (int .Release.Revision) }}
{{- end }}

{{/*
Environment that every container minting or checking tokens gets: the
secret from the Secret (never on a command line) and the claims the server
requires.
*/}}
{{- define "gokv.tokenEnv" -}}
- name: JWT_SECRET
  valueFrom:
    secretKeyRef:
      name: {{ include "gokv.secretName" . }}
      key: {{ .Values.auth.secretKey }}
{{- with .Values.auth.issuer }}
- name: JWT_ISSUER
  value: {{ . | quote }}
{{- end }}
{{- with .Values.auth.audience }}
- name: JWT_AUDIENCE
  value: {{ . | quote }}
{{- end }}
{{- end }}

{{/*
Pod-level settings shared by the gokv pod, the jwt-gen Job and the test
pod: no API token, the pull secrets, non-root.
*/}}
{{- define "gokv.podCommon" -}}
automountServiceAccountToken: false
enableServiceLinks: false
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
{{- end }}

{{/*
The claim that holds the backups: backup.existingClaim, or the chart's.
*/}}
{{- define "gokv.backupClaimName" -}}
{{- default (printf "%s-backup" (include "gokv.fullname" . | trunc 56 | trimSuffix "-")) .Values.backup.existingClaim }}
{{- end }}

{{/*
The URL of the gokv Service, for the pods that talk to it.
*/}}
{{- define "gokv.serviceURL" -}}
{{- printf "http://%s:%d" (include "gokv.fullname" .) (int .Values.service.port) }}
{{- end }}

{{/*
The policy file gokv reads (AUTH_POLICY_FILE), from auth.policies; its
checksum rolls the pod when it changes, since gokv reads it at start.
*/}}
{{- define "gokv.policy" -}}
{{- toYaml (dict "policies" .Values.auth.policies) }}
{{- end }}

{{/*
Where gokv fetches the issuer's keys: auth.oidc.jwksURL, else for the
in-cluster issuer its /openid/v1/jwks through the Service name (the API
server's discovery document names its external address), else nothing:
the discovery document's jwks_uri.
*/}}
{{- define "gokv.jwksURL" -}}
{{- if .Values.auth.oidc.jwksURL }}
{{- .Values.auth.oidc.jwksURL }}
{{- else if regexMatch "^https://kubernetes\\.default\\.svc(\\.|/|:|$)" .Values.auth.oidc.issuerURL }}
{{- printf "%s/openid/v1/jwks" (trimSuffix "/" .Values.auth.oidc.issuerURL) }}
{{- end }}
{{- end }}

{{/*
The bundled etcd's name: its StatefulSet, client Service and PDB; the
peers' headless Service adds -headless, which must still fit in 63.
*/}}
{{- define "gokv.etcd.fullname" -}}
{{- printf "%s-etcd" (include "gokv.fullname" . | trunc 49 | trimSuffix "-") }}
{{- end }}

{{/*
Selector labels of the bundled etcd's pods: another name than gokv's, so
that gokv's Service, PDB and NetworkPolicy never select an etcd member.
*/}}
{{- define "gokv.etcd.selectorLabels" -}}
app.kubernetes.io/name: {{ include "gokv.name" . }}-etcd
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
Standard labels of the bundled etcd's objects.
*/}}
{{- define "gokv.etcd.labels" -}}
helm.sh/chart: {{ include "gokv.chart" . }}
{{ include "gokv.etcd.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.etcd.image.tag | quote }}
app.kubernetes.io/component: etcd
app.kubernetes.io/part-of: {{ include "gokv.name" . }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/*
The client URL of every bundled etcd member, comma-separated: gokv's etcd
client balances over them and moves to another member when one goes,
which one Service address would hide from it.
*/}}
{{- define "gokv.etcd.memberURLs" -}}
{{- $name := include "gokv.etcd.fullname" . }}
{{- $urls := list }}
{{- range $i := until (int .Values.etcd.replicaCount) }}
{{- $urls = append $urls (printf "http://%s-%d.%s-headless.%s.svc:2379" $name $i $name $.Release.Namespace) }}
{{- end }}
{{- join "," $urls }}
{{- end }}

{{/*
--initial-cluster of the bundled etcd: every member by its pod name and
peer URL, built from etcd.replicaCount.
*/}}
{{- define "gokv.etcd.initialCluster" -}}
{{- $name := include "gokv.etcd.fullname" . }}
{{- $members := list }}
{{- range $i := until (int .Values.etcd.replicaCount) }}
{{- $members = append $members (printf "%s-%d=http://%s-%d.%s-headless.%s.svc:2380" $name $i $name $i $name $.Release.Namespace) }}
{{- end }}
{{- join "," $members }}
{{- end }}

{{/*
Where gokv finds the etcd client certificate and the etcd password.
*/}}
{{- define "gokv.etcdTLSDir" -}}
/etc/gokv/etcd-tls
{{- end }}
{{- define "gokv.etcdAuthDir" -}}
/etc/gokv/etcd-auth
{{- end }}

{{/*
gokv's environment for storage.backend=etcd, after checking that the
etcd values make one working configuration.
*/}}
{{- define "gokv.etcdEnv" -}}
{{- if and .Values.etcd.enabled .Values.etcd.endpoints }}
{{- fail "etcd.enabled (a bundled etcd) and etcd.endpoints (an external one) exclude each other: set one" }}
{{- end }}
{{- if not (or .Values.etcd.enabled .Values.etcd.endpoints) }}
{{- fail "storage.backend=etcd needs an etcd: set etcd.endpoints to an external cluster's client URLs, or etcd.enabled=true for a bundled one" }}
{{- end }}
{{- if lt (int64 .Values.etcd.maxRequestBytes) (add (int64 .Values.config.maxValueBytes) 65536) }}
{{- fail (printf "etcd.maxRequestBytes (%v) must exceed config.maxValueBytes (%v) by at least 65536: a write of the largest value, with its key and envelope, is one etcd request" (int64 .Values.etcd.maxRequestBytes) (int64 .Values.config.maxValueBytes)) }}
{{- end }}
{{- if and .Values.etcd.enabled (or .Values.etcd.tls.existingSecret .Values.etcd.auth.existingSecret) }}
{{- fail "etcd.tls and etcd.auth are for an external etcd (etcd.endpoints); the bundled etcd serves plain HTTP inside the namespace (restrict it with networkPolicy.enabled)" }}
{{- end -}}
- name: STORAGE_BACKEND
  value: etcd
- name: ETCD_ENDPOINTS
  value: {{ ternary (include "gokv.etcd.memberURLs" .) (join "," .Values.etcd.endpoints) .Values.etcd.enabled | quote }}
- name: ETCD_PREFIX
  value: {{ .Values.etcd.prefix | quote }}
- name: ETCD_MAX_REQUEST_BYTES
  value: {{ .Values.etcd.maxRequestBytes | int64 | quote }}
{{- with .Values.etcd.dialTimeout }}
- name: ETCD_DIAL_TIMEOUT
  value: {{ . | quote }}
{{- end }}
{{- with .Values.etcd.requestTimeout }}
- name: ETCD_REQUEST_TIMEOUT
  value: {{ . | quote }}
{{- end }}
{{- if .Values.etcd.tls.existingSecret }}
- name: ETCD_CA_FILE
  value: {{ include "gokv.etcdTLSDir" . }}/ca.crt
- name: ETCD_CERT_FILE
  value: {{ include "gokv.etcdTLSDir" . }}/tls.crt
- name: ETCD_KEY_FILE
  value: {{ include "gokv.etcdTLSDir" . }}/tls.key
{{- end }}
{{- with .Values.etcd.auth.existingSecret }}
- name: ETCD_USERNAME
  valueFrom:
    secretKeyRef:
      name: {{ . }}
      key: username
- name: ETCD_PASSWORD_FILE
  value: {{ include "gokv.etcdAuthDir" $ }}/password
{{- end }}
{{- end }}

{{/*
The number of gokv pods: replicaCount, or when it is empty the mode's own
default: the one pod Badger allows, or three stateless pods on etcd, so
that losing one leaves two.
*/}}
{{- define "gokv.replicaCount" -}}
{{- if kindIs "invalid" .Values.replicaCount }}
{{- ternary 3 1 (eq .Values.storage.backend "etcd") }}
{{- else }}
{{- .Values.replicaCount }}
{{- end }}
{{- end }}
