{{/* Names and labels shared by every object of the release. */}}

{{- /* The prefix of every object's name: the Broker is <fullname>, the Services
       <fullname>-<stage>. "aurora" by default, the names the event contract and
       eventing/ use; fullnameOverride (else nameOverride) renames all of them, so
       that a second release can live in the same namespace. */ -}}
{{- define "marsaurora.fullname" -}}
{{- .Values.fullnameOverride | default .Values.nameOverride | default "aurora" | trunc 40 | trimSuffix "-" -}}
{{- end }}

{{- define "marsaurora.name" -}}
{{- .Values.nameOverride | default .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end }}

{{- define "marsaurora.stages" -}}
preprocess classify detect catalog record deadletter
{{- end }}

{{- define "marsaurora.labels" -}}
app.kubernetes.io/part-of: marsaurora
app.kubernetes.io/name: {{ include "marsaurora.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end }}

{{/* The S3 endpoint the stages use: the value, else the bundled MinIO, else AWS. */}}
{{- define "marsaurora.s3Endpoint" -}}
{{- if .Values.s3.endpoint -}}
{{ .Values.s3.endpoint }}
{{- else if .Values.minio.enabled -}}
{{ printf "http://%s-minio.%s.svc.cluster.local:9000" (include "marsaurora.fullname" .) .Release.Namespace }}
{{- end -}}
{{- end }}

{{- define "marsaurora.s3Secret" -}}
{{ .Values.s3.existingSecret | default (printf "%s-s3" (include "marsaurora.fullname" .)) }}
{{- end }}

{{/* AURORA_* settings and the S3 credentials, for every container of the release. */}}
{{- define "marsaurora.env" -}}
- name: AURORA_S3_ENDPOINT
  value: {{ include "marsaurora.s3Endpoint" . | quote }}
- name: AURORA_S3_REGION
  value: {{ .Values.s3.region | quote }}
- name: AURORA_S3_BUCKET
  value: {{ .Values.s3.bucket | quote }}
- name: AURORA_S3_INPUT_PREFIX
  value: {{ .Values.s3.inputPrefix | quote }}
- name: AURORA_S3_OUTPUT_PREFIX
  value: {{ .Values.s3.outputPrefix | quote }}
- name: AURORA_SCREEN
  value: {{ .Values.pipeline.screen | quote }}
- name: AURORA_LOG_LEVEL
  value: {{ .Values.pipeline.logLevel | quote }}
{{- range $name, $value := .Values.pipeline.extraEnv }}
- name: {{ $name }}
  value: {{ $value | quote }}
{{- end }}
- name: AWS_ACCESS_KEY_ID
  valueFrom:
    secretKeyRef:
      name: {{ include "marsaurora.s3Secret" . }}
      key: AWS_ACCESS_KEY_ID
- name: AWS_SECRET_ACCESS_KEY
  valueFrom:
    secretKeyRef:
      name: {{ include "marsaurora.s3Secret" . }}
      key: AWS_SECRET_ACCESS_KEY
- name: AWS_EC2_METADATA_DISABLED
  value: "true"
{{- end }}

{{- define "marsaurora.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{- /* Everything the pod-level context says, said per container: Knative Serving's webhook
       (pkg/apis/serving/fieldmask.go, PodSecurityContextMask) drops a Service's pod
       securityContext unless kubernetes.podspec-securitycontext is enabled, and refuses the
       Service; SecurityContextMask keeps all of these on the container. */ -}}
{{- define "marsaurora.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
capabilities:
  drop: [ALL]
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{- define "marsaurora.image" -}}
{{- $image := index .root.Values.image .which -}}
{{ printf "%s:%s" $image.repository $image.tag }}
{{- end }}
