{{/* Chart name, truncated to the 63 characters a label value allows. */}}
{{- define "gristmill.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
Prefix of every resource name. Truncated to 50 characters so that "-<service>" suffixes
(longest: "-preprocessing", 14) still fit the 63-character DNS label limit.
*/}}
{{- define "gristmill.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 49 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 49 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 49 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "gristmill.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels that never change for a release: safe in immutable selectors. */}}
{{- define "gristmill.selectorLabels" -}}
app.kubernetes.io/name: {{ include "gristmill.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* Labels on every object. */}}
{{- define "gristmill.labels" -}}
helm.sh/chart: {{ include "gristmill.chart" . }}
{{ include "gristmill.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: gristmill
{{- end -}}

{{/* Selector labels of one service. Call with (dict "root" $ "service" $name). */}}
{{- define "gristmill.serviceSelectorLabels" -}}
{{ include "gristmill.selectorLabels" .root }}
app.kubernetes.io/component: {{ .service }}
{{- end -}}

{{- define "gristmill.serviceLabels" -}}
{{ include "gristmill.labels" .root }}
app.kubernetes.io/component: {{ .service }}
{{- end -}}

{{/* Resource name of one service: <fullname>-<service>. */}}
{{- define "gristmill.serviceFullname" -}}
{{- printf "%s-%s" (include "gristmill.fullname" .root) .service -}}
{{- end -}}

{{- define "gristmill.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{- define "gristmill.predictorImage" -}}
{{- $img := .Values.serving.predictorImage -}}
{{- printf "%s:%s" $img.repository (default .Chart.AppVersion $img.tag) -}}
{{- end -}}

{{- define "gristmill.kafkaBootstrap" -}}
{{- if .Values.kafka.bootstrap -}}
{{- .Values.kafka.bootstrap -}}
{{- else if .Values.kafka.strimzi.enabled -}}
{{- printf "%s-kafka-bootstrap:9092" .Values.kafka.strimzi.clusterName -}}
{{- else -}}
{{- fail "kafka.bootstrap is required when kafka.strimzi.enabled is false" -}}
{{- end -}}
{{- end -}}

{{- define "gristmill.databaseSecretName" -}}
{{- default (printf "%s-database" (include "gristmill.fullname" .)) .Values.database.existingSecret -}}
{{- end -}}

{{- define "gristmill.s3SecretName" -}}
{{- default (printf "%s-s3" (include "gristmill.fullname" .)) .Values.artifacts.s3.existingSecret -}}
{{- end -}}

{{- define "gristmill.artifactClaimName" -}}
{{- default (printf "%s-artifacts" (include "gristmill.fullname" .)) .Values.artifacts.pvc.existingClaim -}}
{{- end -}}

{{- define "gristmill.artifactUri" -}}
{{- if eq .Values.artifacts.type "s3" -}}
{{- .Values.artifacts.s3.uri -}}
{{- else -}}
{{- printf "file://%s" .Values.artifacts.pvc.mountPath -}}
{{- end -}}
{{- end -}}

{{- define "gristmill.servingNamespace" -}}
{{- default .Release.Namespace .Values.serving.namespace -}}
{{- end -}}

{{- define "gristmill.kfpRunNamespace" -}}
{{- default .Release.Namespace .Values.kfp.runNamespace -}}
{{- end -}}

{{/* Pods of this release (all services), for NetworkPolicy peers. */}}
{{- define "gristmill.releasePodSelector" -}}
matchLabels:
  {{- include "gristmill.selectorLabels" . | nindent 2 }}
{{- end -}}

{{/* Env var prefix of a service: GRISTMILL_<NAME>_. */}}
{{- define "gristmill.envPrefix" -}}
{{- printf "GRISTMILL_%s_" (upper .) -}}
{{- end -}}

{{/*
Egress rule to a port list and optional peer list. Empty peers means any destination on these ports.
Call with (dict "ports" list "peers" list "protocol" "TCP").
*/}}
{{- define "gristmill.egressRule" -}}
- ports:
  {{- range .ports }}
    - protocol: TCP
      port: {{ . }}
  {{- end }}
  {{- with .peers }}
  to:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end -}}

{{/* NetworkPolicy egress rules shared by the services and the predictor. */}}
{{- define "gristmill.dnsEgress" -}}
- to:
    - namespaceSelector:
        matchLabels:
          kubernetes.io/metadata.name: {{ .Values.networkPolicy.dns.namespace }}
      podSelector:
        matchLabels:
          {{- toYaml .Values.networkPolicy.dns.podLabels | nindent 10 }}
  ports:
    - protocol: UDP
      port: 53
    - protocol: TCP
      port: 53
{{- end -}}
{{- define "gristmill.kafkaEgress" -}}
{{- if .Values.kafka.strimzi.enabled -}}
{{- $peers := list (dict "podSelector" (dict "matchLabels" (dict "strimzi.io/cluster" .Values.kafka.strimzi.clusterName "strimzi.io/kind" "Kafka"))) -}}
{{- include "gristmill.egressRule" (dict "ports" .Values.kafka.ports "peers" $peers) }}
{{- else -}}
{{- include "gristmill.egressRule" (dict "ports" .Values.kafka.ports "peers" .Values.kafka.networkPolicyPeers) }}
{{- end -}}
{{- end -}}
{{- define "gristmill.artifactEgress" -}}
{{- if eq .Values.artifacts.type "s3" -}}
{{- include "gristmill.egressRule" (dict "ports" .Values.artifacts.s3.ports "peers" .Values.artifacts.s3.networkPolicyPeers) }}
{{- end -}}
{{- end -}}
