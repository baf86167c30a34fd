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
