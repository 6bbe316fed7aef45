{{/*
Security settings of every Funflix pod and container (values podSecurityContext, containerSecurityContext).
*/}}
{{- define "funflix.podSecurityContext" -}}
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
{{- end }}

{{- define "funflix.containerSecurityContext" -}}
securityContext:
  {{- toYaml .Values.containerSecurityContext | nindent 2 }}
{{- end }}

{{/*
The writable /tmp every read-only container gets (gunicorn's heartbeat files, Python's tempfile).
*/}}
{{- define "funflix.tmpVolume" -}}
- name: tmp
  emptyDir: {}
{{- end }}

{{- define "funflix.tmpVolumeMount" -}}
- name: tmp
  mountPath: /tmp
{{- end }}

{{/*
MovieLens for the website and the Jobs: FUNFLIX_SHARED_MOVIELENS, and the read-only claim when one is given.
*/}}
{{- define "funflix.movielensEnv" -}}
{{- with .Values.movielens.root -}}
- name: FUNFLIX_SHARED_MOVIELENS
  value: {{ . | quote }}
{{- end }}
{{- end }}

{{- define "funflix.movielensVolume" -}}
{{- with .Values.movielens.existingClaim -}}
- name: movielens
  persistentVolumeClaim:
    claimName: {{ . }}
    readOnly: true
{{- end }}
{{- end }}

{{- define "funflix.movielensVolumeMount" -}}
{{- if .Values.movielens.existingClaim -}}
- name: movielens
  mountPath: {{ .Values.movielens.root }}
  readOnly: true
{{- end }}
{{- end }}
