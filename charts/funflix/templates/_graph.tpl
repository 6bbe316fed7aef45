{{/*
The graph's nodes, in one place for both orchestrators: the root (the A/B router, or with
experiment.design=interleaving the team-draft COMBINER), then one MODEL per arm, each with its Seldon
graph parameters (name/value/type). Use: (include "funflix.nodes" . | fromYaml).nodes
*/}}
{{- define "funflix.nodes" -}}
{{- $split := list }}
{{- $names := list }}
{{- range .Values.experiment.arms }}
{{- $split = append $split (toString .split) }}
{{- $names = append $names .name }}
{{- end }}
nodes:
  {{- if eq (.Values.experiment.design | default "ab") "interleaving" }}
  - name: interleaver
    type: COMBINER
    component: combiner
    class: funflix.serving.InterleavingCombiner.InterleavingCombiner
    workers: {{ .Values.router.workers }}
    threads: {{ .Values.router.threads }}
    readyPath: /health/ping
    readyDelay: 5
    liveDelay: 30
    resources:
      {{- toYaml .Values.router.resources | nindent 6 }}
    parameters:
      - name: arms
        type: STRING
        value: {{ join "," $names | quote }}
      - name: name
        type: STRING
        value: interleaver
  {{- else }}
  - name: ab-router
    type: ROUTER
    component: router
    class: funflix.serving.ABRouter.ABRouter
    workers: {{ .Values.router.workers }}
    threads: {{ .Values.router.threads }}
    readyPath: /health/ping
    readyDelay: 5
    liveDelay: 30
    resources:
      {{- toYaml .Values.router.resources | nindent 6 }}
    parameters:
      - name: mode
        type: STRING
        value: {{ .Values.experiment.routing | quote }}
      - name: split
        type: STRING
        value: {{ join "," $split | quote }}
      - name: arms
        type: STRING
        value: {{ join "," $names | quote }}
      - name: salt
        type: STRING
        value: {{ .Values.experiment.salt | quote }}
      {{- if not (kindIs "invalid" .Values.router.seed) }}
      - name: seed
        type: INT
        value: {{ .Values.router.seed | toString | quote }}
      {{- end }}
  {{- end }}
  {{- range .Values.experiment.arms }}
  - name: {{ .name }}
    type: MODEL
    component: model
    class: funflix.serving.RecommenderModel.RecommenderModel
    workers: {{ $.Values.model.workers }}
    threads: {{ $.Values.model.threads }}
    readyPath: /health/status
    readyDelay: {{ $.Values.model.readinessInitialDelaySeconds }}
    liveDelay: {{ $.Values.model.livenessInitialDelaySeconds }}
    resources:
      {{- toYaml $.Values.model.resources | nindent 6 }}
    parameters:
      - name: arm
        type: STRING
        value: {{ .name | quote }}
      - name: model
        type: STRING
        value: {{ .model | default .name | quote }}
      - name: version
        type: STRING
        value: {{ .version | default "latest" | quote }}
      - name: models_root
        type: STRING
        value: {{ $.Values.models.mountPath | quote }}
  {{- end }}
{{- end }}

{{/*
Name of a graph node's Deployment and Service (orchestrator funflix): <fullname>-<node>, where
arm names cannot collide with the chart's other objects (funflix.validateValues refuses those).
*/}}
{{- define "funflix.nodeName" -}}
{{- include "funflix.componentName" (dict "context" .context "suffix" .node) }}
{{- end }}

{{/*
Suffixes of the chart's own objects, which arm names must not take in orchestrator funflix.
*/}}
{{- define "funflix.reservedNames" -}}
{{- list "website" "gateway" "experiment" "postgresql" "postgresql-hl" "database" "dashboard" "components"
      "train" "traffic" "rules" "test-recommendation" "controller" "retrain" | join "," }}
{{- end }}

{{/*
The environment Seldon's operator gives each graph node's container (ports, ids, the node's graph
parameters), written out for orchestrator funflix. (dict "context" $ "node" node)
*/}}
{{- define "funflix.unitEnv" -}}
{{- $ := .context -}}
- name: PREDICTIVE_UNIT_ID
  value: {{ .node.name }}
- name: PREDICTIVE_UNIT_PARAMETERS
  value: {{ .node.parameters | toJson | quote }}
- name: PREDICTIVE_UNIT_IMAGE
  value: {{ include "funflix.image" (dict "context" $ "image" "serving") }}
- name: PREDICTIVE_UNIT_SERVICE_PORT
  value: {{ $.Values.seldon.httpPort | quote }}
- name: PREDICTIVE_UNIT_HTTP_SERVICE_PORT
  value: {{ $.Values.seldon.httpPort | quote }}
- name: PREDICTIVE_UNIT_GRPC_SERVICE_PORT
  value: {{ $.Values.seldon.grpcPort | quote }}
- name: PREDICTIVE_UNIT_METRICS_SERVICE_PORT
  value: {{ $.Values.seldon.metricsPort | quote }}
- name: PREDICTIVE_UNIT_METRICS_ENDPOINT
  value: {{ $.Values.seldon.metricsPath | quote }}
- name: PREDICTOR_ID
  value: {{ $.Values.seldon.predictorName }}
- name: SELDON_DEPLOYMENT_ID
  value: {{ include "funflix.seldonName" $ }}
{{- end }}
