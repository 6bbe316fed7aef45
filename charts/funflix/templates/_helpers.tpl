{{/*
Chart name, truncated to 63 characters (a DNS label).
*/}}
{{- define "funflix.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Fully qualified app name (63 characters). The release name is used alone when it already
contains the chart name.
*/}}
{{- define "funflix.fullname" -}}
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
<fullname>-<suffix> within 63 characters (or .max): the full name is cut, never the suffix.
(dict "context" $ "suffix" "website")
*/}}
{{- define "funflix.componentName" -}}
{{- $max := .max | default 63 }}
{{- $base := include "funflix.fullname" .context | trunc (int (sub (sub $max (len .suffix)) 1)) | trimSuffix "-" }}
{{- printf "%s-%s" $base .suffix }}
{{- end }}

{{/*
Chart name and version, as used by the helm.sh/chart label.
*/}}
{{- define "funflix.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Common labels.
*/}}
{{- define "funflix.labels" -}}
helm.sh/chart: {{ include "funflix.chart" . }}
{{ include "funflix.selectorLabels" . }}
{{- if .Chart.AppVersion }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: funflix
funflix.io/experiment: {{ include "funflix.experimentLabel" . | quote }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/*
The experiment name as a label value (63 characters of [-A-Za-z0-9_.], alphanumeric at both ends).
*/}}
{{- define "funflix.experimentLabel" -}}
{{- regexReplaceAll "[^-A-Za-z0-9_.]+" .Values.experiment.name "-" | trunc 63 | trimAll "-_." }}
{{- end }}

{{/*
Selector labels: name and instance only.
*/}}
{{- define "funflix.selectorLabels" -}}
app.kubernetes.io/name: {{ include "funflix.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
Labels of one component: (dict "context" $ "component" "website").
*/}}
{{- define "funflix.componentLabels" -}}
{{ include "funflix.labels" .context }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/*
Selector labels of one component: (dict "context" $ "component" "website").
*/}}
{{- define "funflix.componentSelectorLabels" -}}
{{ include "funflix.selectorLabels" .context }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/*
One of the two Funflix images, serving or web; the tag defaults to the chart's appVersion.
(dict "context" $ "image" "serving")
*/}}
{{- define "funflix.image" -}}
{{- $values := .context.Values.image }}
{{- printf "%s:%s" (index $values .image).repository ($values.tag | default .context.Chart.AppVersion | toString) }}
{{- end }}

{{/*
Name of the SeldonDeployment, short enough that the executor's service, <this>-<predictor>,
stays within 63 characters (past that Seldon names it seldon-<md5>, which a template cannot compute).
*/}}
{{- define "funflix.seldonName" -}}
{{- include "funflix.fullname" . | trunc (int (sub 62 (len .Values.seldon.predictorName))) | trimSuffix "-" }}
{{- end }}

{{/*
Base URL of the unified endpoint (/api/v1.0/predictions, /api/v1.0/feedback): the Seldon executor's
service, or the Funflix gateway's with orchestrator funflix.
*/}}
{{- define "funflix.gatewayUrl" -}}
{{- if eq .Values.orchestrator "funflix" }}
{{- printf "http://%s.%s.svc:%d" (include "funflix.componentName" (dict "context" . "suffix" "gateway")) .Release.Namespace (int .Values.gateway.port) }}
{{- else }}
{{- printf "http://%s-%s.%s.svc:%d" (include "funflix.seldonName" .) .Values.seldon.predictorName .Release.Namespace (int .Values.seldon.executorPort) }}
{{- end }}
{{- end }}

{{/*
Name of a chart-owned Secret.
*/}}
{{- define "funflix.websiteSecretName" -}}
{{- .Values.website.existingSecret | default (include "funflix.componentName" (dict "context" . "suffix" "website")) }}
{{- end }}

{{/*
The bundled PostgreSQL's StatefulSet, Service and Secret: 52 characters at most, so that its pods'
controller-revision-hash label (<name>-<10-character hash>) stays a valid label value.
*/}}
{{- define "funflix.postgresqlName" -}}
{{- include "funflix.componentName" (dict "context" . "suffix" "postgresql" "max" 52) }}
{{- end }}

{{/*
Where FUNFLIX_DATABASE_URL comes from: a Secret name and key.
*/}}
{{- define "funflix.databaseSecretName" -}}
{{- if .Values.postgresql.enabled }}
{{- include "funflix.postgresqlName" . }}
{{- else if .Values.database.existingSecret }}
{{- .Values.database.existingSecret }}
{{- else }}
{{- include "funflix.componentName" (dict "context" . "suffix" "database") }}
{{- end }}
{{- end }}

{{- define "funflix.databaseSecretKey" -}}
{{- if and (not .Values.postgresql.enabled) .Values.database.existingSecret }}
{{- .Values.database.existingSecretKey }}
{{- else }}
{{- print "database-url" }}
{{- end }}
{{- end }}

{{/*
A secret value kept across upgrades: the given one, else the one already in the cluster, else
a new random one. (dict "context" $ "name" secretName "key" dataKey "given" value)
*/}}
{{- define "funflix.keptSecret" -}}
{{- if .given }}
{{- .given }}
{{- else }}
{{- $existing := lookup "v1" "Secret" .context.Release.Namespace .name }}
{{- if and $existing (index ($existing.data | default dict) .key) }}
{{- index $existing.data .key | b64dec }}
{{- else }}
{{- randAlphaNum 48 }}
{{- end }}
{{- end }}
{{- end }}

{{/*
Checks values.schema.json cannot express: splits sum to 1, unique arm names, a usable database.
*/}}
{{- define "funflix.validateValues" -}}
{{- $total := 0.0 }}
{{- $names := list }}
{{- range .Values.experiment.arms }}
{{- $total = addf $total .split }}
{{- if has .name $names }}
{{- fail (printf "experiment.arms: duplicate arm name %q" .name) }}
{{- end }}
{{- if and (eq $.Values.orchestrator "funflix") (has .name (splitList "," (include "funflix.reservedNames" $))) }}
{{- fail (printf "experiment.arms: arm name %q would collide with the chart's own %s objects (orchestrator funflix names Deployments after arms)" .name .name) }}
{{- end }}
{{- $names = append $names .name }}
{{- end }}
{{- if or (gt $total 1.000000001) (lt $total 0.999999999) }}
{{- fail (printf "experiment.arms: split fractions must sum to 1, got %v" $total) }}
{{- end }}
{{- if and .Values.website.enabled (not .Values.postgresql.enabled) (not .Values.database.url) (not .Values.database.existingSecret) }}
{{- fail "database: set postgresql.enabled=true, database.url or database.existingSecret (the website needs an event store)" }}
{{- end }}
{{- if and .Values.model.sharedLedger (not .Values.postgresql.enabled) (not .Values.database.url) (not .Values.database.existingSecret) }}
{{- fail "model.sharedLedger: set postgresql.enabled=true, database.url or database.existingSecret (the ledger lives in that database), or model.sharedLedger=false" }}
{{- end }}
{{- if and (gt (int .Values.seldon.replicas) 1) (not .Values.model.sharedLedger) }}
{{- fail "seldon.replicas above 1 needs model.sharedLedger=true: with a ledger per pod a retried feedback counts once per pod, and the pods' counters are not the arm's totals" }}
{{- end }}
{{- if and .Values.models.train.enabled (not .Values.models.existingClaim) }}
{{- fail "models.train.enabled: set models.existingClaim, the PersistentVolumeClaim the train Job writes the artifacts into" }}
{{- end }}
{{- if and .Values.retrain.enabled (not .Values.models.existingClaim) }}
{{- fail "retrain.enabled: set models.existingClaim, the PersistentVolumeClaim the retraining CronJob writes new artifact versions into" }}
{{- end }}
{{- if and .Values.controller.enabled (not .Values.postgresql.enabled) (not .Values.database.url) (not .Values.database.existingSecret) }}
{{- fail "controller.enabled: set postgresql.enabled=true, database.url or database.existingSecret (the controller reads the verdict from the event store)" }}
{{- end }}
{{- if and .Values.controller.enabled (eq (.Values.experiment.design | default "ab") "interleaving") }}
{{- fail "controller.enabled: the controller ramps an A/B split, and experiment.design interleaving has none (read its preference with funflix analyze --design interleaving, then A/B-test the preferred ranker)" }}
{{- end }}
{{- if and .Values.movielens.existingClaim (not .Values.movielens.root) }}
{{- fail "movielens.existingClaim: set movielens.root, where the claim (holding ml-latest-small/) is mounted" }}
{{- end }}
{{- if and .Values.traffic.enabled (not .Values.website.enabled) }}
{{- fail "traffic.enabled: the traffic Job drives the website; set website.enabled=true" }}
{{- end }}
{{- end }}

{{/*
The pod-level volume and mount of the model artifacts (read-only PVC), if one is configured.
*/}}
{{- define "funflix.modelsVolume" -}}
{{- if .Values.models.existingClaim -}}
- name: models
  persistentVolumeClaim:
    claimName: {{ .Values.models.existingClaim }}
    readOnly: true
{{- end }}
{{- end }}

{{- define "funflix.modelsVolumeMount" -}}
{{- if .Values.models.existingClaim -}}
- name: models
  mountPath: {{ .Values.models.mountPath }}
  readOnly: true
{{- end }}
{{- end }}

{{/*
Labels of a Seldon component's pods. No app.kubernetes.io/managed-by: the operator sets it
(seldon-core) on what it creates, and monitors select on it.
*/}}
{{- define "funflix.seldonPodLabels" -}}
helm.sh/chart: {{ include "funflix.chart" .context }}
{{ include "funflix.selectorLabels" .context }}
app.kubernetes.io/component: {{ .component }}
app.kubernetes.io/part-of: funflix
funflix.io/experiment: {{ include "funflix.experimentLabel" .context | quote }}
{{- if .context.Chart.AppVersion }}
app.kubernetes.io/version: {{ .context.Chart.AppVersion | quote }}
{{- end }}
{{- end }}

{{/*
The pod template of one graph node (a node of funflix.nodes), the same in both orchestrators: the
SeldonDeployment's componentSpec, or the template of its Deployment with the environment the operator
would add (unitEnv true). (dict "context" $ "node" node "unitEnv" bool)
*/}}
{{- define "funflix.componentSpec" -}}
{{- $ := .context -}}
{{- $node := .node -}}
{{- $isModel := eq $node.type "MODEL" -}}
metadata:
  labels:
    {{- include "funflix.seldonPodLabels" (dict "context" $ "component" $node.component) | nindent 4 }}
    funflix.io/graph-node: {{ $node.name }}
  {{- if $.Values.metrics.annotations }}
  annotations:
    prometheus.io/scrape: "true"
    prometheus.io/port: {{ $.Values.seldon.metricsPort | quote }}
    prometheus.io/path: {{ $.Values.seldon.metricsPath | quote }}
  {{- end }}
spec:
  {{- include "funflix.podSecurityContext" $ | nindent 2 }}
  {{- with $.Values.imagePullSecrets }}
  imagePullSecrets:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  containers:
    - name: {{ $node.name }}
      image: {{ include "funflix.image" (dict "context" $ "image" "serving") }}
      imagePullPolicy: {{ $.Values.image.pullPolicy }}
      # The s2i run script's command; MODEL_NAME and SERVICE_TYPE pick the component.
      command: ["seldon-core-microservice"]
      args: ["$(MODEL_NAME)", "--service-type", "$(SERVICE_TYPE)"]
      {{- include "funflix.containerSecurityContext" $ | nindent 6 }}
      env:
        - name: MODEL_NAME
          value: {{ $node.class }}
        - name: SERVICE_TYPE
          value: {{ $node.type }}
        - name: GUNICORN_WORKERS
          value: {{ $node.workers | quote }}
        - name: GUNICORN_THREADS
          value: {{ $node.threads | quote }}
        # REST only: seldon-core-microservice waits on its gRPC server process, which the kubelet's SIGTERM
        # never reaches, so with one every pod took its whole grace period (30 s) to stop
        - name: GRPC_WORKERS
          value: "0"
        - name: FUNFLIX_HOME
          value: /var/lib/funflix
        - name: OPENBLAS_NUM_THREADS
          value: "1"
        - name: OMP_NUM_THREADS
          value: "1"
        - name: FLASK_JSON_SORT_KEYS
          value: "false"
        - name: INCLUDE_METRICS_IN_CLIENT_RESPONSE
          value: "false"
        {{- if and $isModel $.Values.model.sharedLedger }}
        - name: FUNFLIX_LEDGER_URL
          valueFrom:
            secretKeyRef:
              name: {{ include "funflix.databaseSecretName" $ }}
              key: {{ include "funflix.databaseSecretKey" $ }}
        {{- end }}
        {{- if .unitEnv }}
        {{- include "funflix.unitEnv" (dict "context" $ "node" $node) | nindent 8 }}
        {{- end }}
      ports:
        - name: http
          containerPort: {{ $.Values.seldon.httpPort }}
          protocol: TCP
        - name: grpc
          containerPort: {{ $.Values.seldon.grpcPort }}
          protocol: TCP
        - name: metrics
          containerPort: {{ $.Values.seldon.metricsPort }}
          protocol: TCP
      readinessProbe:
        httpGet:
          path: {{ $node.readyPath }}
          port: http
        initialDelaySeconds: {{ $node.readyDelay }}
        periodSeconds: 5
        timeoutSeconds: 2
        failureThreshold: 3
      livenessProbe:
        tcpSocket:
          port: http
        initialDelaySeconds: {{ $node.liveDelay }}
        periodSeconds: 5
        timeoutSeconds: 1
        failureThreshold: 3
      resources:
        {{- toYaml $node.resources | nindent 8 }}
      volumeMounts:
        - name: funflix-home
          mountPath: /var/lib/funflix
        {{- include "funflix.tmpVolumeMount" $ | nindent 8 }}
        {{- if and $isModel $.Values.models.existingClaim }}
        {{- include "funflix.modelsVolumeMount" $ | nindent 8 }}
        {{- end }}
  volumes:
    - name: funflix-home
      emptyDir: {}
    {{- include "funflix.tmpVolume" $ | nindent 4 }}
    {{- if and $isModel $.Values.models.existingClaim }}
    {{- include "funflix.modelsVolume" $ | nindent 4 }}
    {{- end }}
{{- end }}
