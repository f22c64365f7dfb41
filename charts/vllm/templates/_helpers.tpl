{{/*
Helpers for the vllm chart. Numbers from values files arrive as float64, so every
number printed into a manifest goes through int/int64 first.
*/}}

{{- define "vllm.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 40 | trimSuffix "-" -}}
{{- end -}}

{{- define "vllm.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 52 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 52 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 52 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "vllm.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "vllm.selectorLabels" -}}
app.kubernetes.io/name: {{ include "vllm.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "vllm.labels" -}}
helm.sh/chart: {{ include "vllm.chart" . }}
{{ include "vllm.selectorLabels" . }}
app: {{ .Values.model.name }}
app.kubernetes.io/component: inference
app.kubernetes.io/part-of: breakeven
app.kubernetes.io/version: {{ include "vllm.imageTag" . | trunc 63 | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/*
Pod template labels: no chart version or image tag, so upgrading the chart alone never
restarts GPU pods (a changed image restarts them anyway, through the pod spec).
*/}}
{{- define "vllm.podLabels" -}}
{{ include "vllm.selectorLabels" . }}
app: {{ .Values.model.name }}
app.kubernetes.io/component: inference
app.kubernetes.io/part-of: breakeven
{{- end -}}

{{- define "vllm.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "vllm.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "vllm.imageTag" -}}
{{- default .Chart.AppVersion .Values.image.tag -}}
{{- end -}}

{{- define "vllm.image" -}}
{{- printf "%s:%s" .Values.image.repository (include "vllm.imageTag" .) -}}
{{- end -}}

{{/* ---------------------------------------------------------------- topology */}}

{{/* GPUs one replica needs: tensor x pipeline. */}}
{{- define "vllm.worldSize" -}}
{{- mul (int .Values.parallelism.tensor) (int .Values.parallelism.pipeline) -}}
{{- end -}}

{{/* "true" when one replica needs more GPUs than a node has: a LeaderWorkerSet group. */}}
{{- define "vllm.multiNode" -}}
{{- if and .Values.gpu.enabled (gt (int (include "vllm.worldSize" .)) (int .Values.gpu.gpusPerNode)) -}}
true
{{- end -}}
{{- end -}}

{{/* Pods per replica (LeaderWorkerSet size); 1 for a Deployment. */}}
{{- define "vllm.groupSize" -}}
{{- if include "vllm.multiNode" . -}}
{{- div (int (include "vllm.worldSize" .)) (int .Values.gpu.gpusPerNode) -}}
{{- else -}}
1
{{- end -}}
{{- end -}}

{{/* GPUs requested by each pod. */}}
{{- define "vllm.gpusPerPod" -}}
{{- if include "vllm.multiNode" . -}}
{{- int .Values.gpu.gpusPerNode -}}
{{- else -}}
{{- include "vllm.worldSize" . -}}
{{- end -}}
{{- end -}}

{{- define "vllm.workloadKind" -}}
{{- if include "vllm.multiNode" . -}}LeaderWorkerSet{{- else -}}Deployment{{- end -}}
{{- end -}}

{{- define "vllm.workloadApiVersion" -}}
{{- if include "vllm.multiNode" . -}}leaderworkerset.x-k8s.io/v1{{- else -}}apps/v1{{- end -}}
{{- end -}}

{{/* ------------------------------------------------------------ derived sizes */}}

{{/* Startup window (s) = baseSeconds + secondsPerGiB x weightsGiB, rounded up. */}}
{{- define "vllm.startupWindowSeconds" -}}
{{- $p := .Values.probes.startup -}}
{{- $perGiB := mulf (float64 $p.secondsPerGiB) (float64 .Values.model.weightsGiB) -}}
{{- add (int $p.baseSeconds) (int (ceil $perGiB)) -}}
{{- end -}}

{{/*
How long Pulumi waits for the workload and its Service (pulumi.com/timeoutSeconds):
a rollout replaces maxUnavailable pods at a time (maxSurge 0: a new pod needs the GPUs
of the pod it replaces), so it takes ceil(pods / maxUnavailable) waves, each one
termination grace period (the old pod drains) + the startup window (image pull,
weights download, load) + minReadySeconds; plus 10 minutes for scheduling and node
readiness. Pods: replicaCount, or autoscaling.maxReplicas when autoscaling.
*/}}
{{- define "vllm.rolloutWaves" -}}
{{- $pods := int .Values.replicaCount -}}
{{- if .Values.autoscaling.enabled -}}
{{- $pods = max $pods (int .Values.autoscaling.maxReplicas) -}}
{{- end -}}
{{- $step := max 1 (int .Values.rollout.maxUnavailable) -}}
{{- div (add $pods $step -1) $step -}}
{{- end -}}

{{- define "vllm.awaitSeconds" -}}
{{- $wave := add (int (include "vllm.terminationGracePeriodSeconds" .)) (int (include "vllm.startupWindowSeconds" .)) (int .Values.rollout.minReadySeconds) -}}
{{- add (mul (int (include "vllm.rolloutWaves" .)) $wave) 600 -}}
{{- end -}}

{{/* Pulumi's await on what the chart renders: sized to the rollout, never its 10-minute default. */}}
{{- define "vllm.awaitAnnotations" -}}
pulumi.com/timeoutSeconds: {{ include "vllm.awaitSeconds" . | quote }}
{{- end -}}

{{- define "vllm.startupFailureThreshold" -}}
{{- $window := int (include "vllm.startupWindowSeconds" .) -}}
{{- $period := int .Values.probes.startup.periodSeconds -}}
{{- max 1 (div (add $window $period -1) $period) -}}
{{- end -}}

{{/*
/dev/shm in GiB. NCCL keeps per-peer buffers in shared memory when GPUs of one pod
talk to each other (tensor parallelism inside a node); PyTorch uses it between worker
processes too. Auto: 1 GiB, plus 2 GiB for every GPU of the pod when tensor > 1.
*/}}
{{- define "vllm.shmSizeGiB" -}}
{{- if .Values.shm.sizeGiB -}}
{{- .Values.shm.sizeGiB -}}
{{- else if gt (int .Values.parallelism.tensor) 1 -}}
{{- add 1 (mul 2 (int (include "vllm.gpusPerPod" .))) -}}
{{- else -}}
1
{{- end -}}
{{- end -}}

{{/* Cache PVC size: 1.25 x weights + 10 GiB (room for a second revision's download). */}}
{{- define "vllm.cacheSize" -}}
{{- if .Values.modelCache.pvc.size -}}
{{- .Values.modelCache.pvc.size -}}
{{- else -}}
{{- printf "%dGi" (add 10 (int (ceil (mulf 1.25 (float64 .Values.model.weightsGiB))))) -}}
{{- end -}}
{{- end -}}

{{/* Grace period: preStop drain + vLLM's --shutdown-timeout + 30 s for process exit. */}}
{{- define "vllm.terminationGracePeriodSeconds" -}}
{{- add (int .Values.shutdown.drainSeconds) (int .Values.engine.shutdownTimeoutSeconds) 30 -}}
{{- end -}}

{{- define "vllm.autoscalingMinReplicas" -}}
{{- if .Values.autoscaling.minReplicas -}}
{{- int .Values.autoscaling.minReplicas -}}
{{- else -}}
{{- int .Values.replicaCount -}}
{{- end -}}
{{- end -}}

{{/* ------------------------------------------------------------- validation */}}
{{/*
Arithmetic the JSON schema cannot express. Each message names the keys and the fix.
*/}}
{{- define "vllm.validate" -}}
{{- $world := int (include "vllm.worldSize" .) -}}
{{- $g := int .Values.gpu.gpusPerNode -}}
{{- if .Values.gpu.enabled -}}
{{- if and (gt $world $g) (ne (mod $world $g) 0) -}}
{{- fail (printf "parallelism: tensor (%d) x pipeline (%d) = %d GPUs per replica spans nodes of gpu.gpusPerNode=%d GPUs but is not a multiple of %d; use a multiple so every node of the group is filled" (int .Values.parallelism.tensor) (int .Values.parallelism.pipeline) $world $g $g) -}}
{{- end -}}
{{- if and (le $world $g) (ne (mod $g $world) 0) -}}
{{- fail (printf "parallelism: tensor (%d) x pipeline (%d) = %d GPUs per replica does not divide gpu.gpusPerNode=%d; pick a divisor so no GPU of a node is stranded" (int .Values.parallelism.tensor) (int .Values.parallelism.pipeline) $world $g) -}}
{{- end -}}
{{- end -}}
{{- $gmu := float64 .Values.engine.gpuMemoryUtilization -}}
{{- if or (le $gmu 0.0) (gt $gmu 1.0) -}}
{{- fail (printf "engine.gpuMemoryUtilization=%v must be in (0, 1]" .Values.engine.gpuMemoryUtilization) -}}
{{- end -}}
{{- if and .Values.engine.expertParallel (lt $world 2) -}}
{{- fail (printf "engine.expertParallel=true needs tensor x pipeline >= 2 GPUs per replica (got %d): with one GPU every expert is on it already" $world) -}}
{{- end -}}
{{- $asc := int (default 1 .Values.engine.apiServerCount) -}}
{{- $cpu := toString (dig "requests" "cpu" "" (default (dict) .Values.resources)) -}}
{{- if and (gt $asc 1) $cpu -}}
{{- /* One CPU core per vLLM process (vLLM docs/design/arch_overview.md, "Process Count Summary"):
       the API servers, the engine core and a worker per GPU of the pod (one worker on CPU serving). */ -}}
{{- $cores := ternary (divf (float64 (trimSuffix "m" $cpu)) 1000.0) (float64 $cpu) (hasSuffix "m" $cpu) -}}
{{- $workers := ternary (int (include "vllm.gpusPerPod" .)) 1 (.Values.gpu.enabled | default false) -}}
{{- $needed := add $asc 1 $workers -}}
{{- if lt $cores (float64 $needed) -}}
{{- fail (printf "engine.apiServerCount=%d needs resources.requests.cpu of at least %d cores (got %s): one per process, %d API servers + 1 engine core + %d worker(s); raise the request or lower the count" $asc $needed $cpu $asc $workers) -}}
{{- end -}}
{{- end -}}
{{- if le (float64 .Values.model.weightsGiB) 0.0 -}}
{{- fail (printf "model.weightsGiB=%v must be > 0 (it sizes the startup window and the cache)" .Values.model.weightsGiB) -}}
{{- end -}}
{{- if and (eq (int .Values.rollout.maxSurge) 0) (eq (int .Values.rollout.maxUnavailable) 0) -}}
{{- fail "rollout: maxSurge and maxUnavailable cannot both be 0 (a rollout could never progress); keep maxSurge 0, maxUnavailable 1" -}}
{{- end -}}
{{- if and (eq .Values.modelCache.type "pvc") (not .Values.modelCache.pvc.existingClaim) (has .Values.modelCache.pvc.accessMode (list "ReadWriteOnce" "ReadWriteOncePod")) (or (gt (int .Values.replicaCount) 1) .Values.autoscaling.enabled (include "vllm.multiNode" .)) -}}
{{- fail (printf "modelCache.pvc.accessMode=%s cannot be mounted by %d replicas on different nodes; use ReadWriteMany (e.g. EFS), modelCache.type=hostPath, or replicaCount=1" .Values.modelCache.pvc.accessMode (int .Values.replicaCount)) -}}
{{- end -}}
{{- if and .Values.autoscaling.enabled (lt (int .Values.autoscaling.maxReplicas) (int (include "vllm.autoscalingMinReplicas" .))) -}}
{{- fail (printf "autoscaling.maxReplicas (%d) is below autoscaling.minReplicas (%d)" (int .Values.autoscaling.maxReplicas) (int (include "vllm.autoscalingMinReplicas" .))) -}}
{{- end -}}
{{- end -}}

{{/* ------------------------------------------------------------ annotations */}}
{{/*
Economics contract: one annotation, breakeven.dev/economics, on the workload object only (on the pod
template it would restart every GPU pod whenever a declared volume changed). The value is the JSON
that breakeven's `cost.economics` codec writes; the chart passes it through untouched.
*/}}
{{- define "vllm.workloadAnnotations" -}}
{{- with .Values.economics }}
annotations:
  breakeven.dev/economics: {{ . | quote }}
{{- end }}
{{- end -}}

{{/* "true" when the weights are streamed from an S3 copy (weightsSource.type s3). */}}
{{- define "vllm.weightsFromS3" -}}
{{- if eq (dig "type" "huggingface" (default (dict) .Values.weightsSource)) "s3" -}}true{{- end -}}
{{- end -}}

{{/* ---------------------------------------------------------- container bits */}}

{{- define "vllm.precisionArgs" -}}
{{- $p := .Values.model.precision -}}
{{- if eq $p "bf16" }}
- --dtype=bfloat16
{{- else if eq $p "fp16" }}
- --dtype=float16
{{- else if eq $p "int4-awq" }}
{{- /* AWQ runs with fp16 activations; the checkpoint's config declares the AWQ scheme. */}}
- --dtype=float16
{{- end }}
{{- /* fp8, mxfp4 (gpt-oss) and any pre-quantized checkpoint: the checkpoint's config.json declares the
       scheme, so no --quantization flag that could contradict it. Serving a 16-bit
       checkpoint at fp8 (online quantization) is an explicit extraArgs choice:
       ["--quantization=fp8"], and the cache must then hold the 16-bit bytes. */}}
{{- end -}}

{{/*
vLLM arguments. `role` is "server" (Deployment pod, LeaderWorkerSet leader) or
"worker" (LeaderWorkerSet worker: same engine, no HTTP server).
*/}}
{{- define "vllm.args" -}}
{{- $ := .root -}}
{{- $v := $.Values -}}
{{- if eq (include "vllm.weightsFromS3" $) "true" }}
- --model={{ $v.weightsSource.s3.uri }}
- --load-format=runai_streamer
- {{ printf "--model-loader-extra-config={\"concurrency\": %d}" (int $v.weightsSource.s3.concurrency) | quote }}
{{- else }}
- --model={{ $v.model.source }}
{{- end }}
- --served-model-name={{ $v.model.name }}
{{- if include "vllm.proxyEnabled" $ }}
- --host=127.0.0.1
- --port={{ int $v.proxy.upstreamPort }}
{{- else }}
- --host={{ $v.server.host }}
- --port={{ int $v.server.port }}
{{- end }}
{{- if and $v.model.revision (ne (include "vllm.weightsFromS3" $) "true") }}
- --revision={{ $v.model.revision }}
{{- end }}
{{- include "vllm.precisionArgs" $ }}
- --max-model-len={{ int $v.model.maxModelLen }}
- --tensor-parallel-size={{ int $v.parallelism.tensor }}
- --pipeline-parallel-size={{ int $v.parallelism.pipeline }}
- --gpu-memory-utilization={{ $v.engine.gpuMemoryUtilization }}
- --max-num-seqs={{ int $v.engine.maxNumSeqs }}
{{- if ne $v.engine.kvCacheDtype "auto" }}
- --kv-cache-dtype={{ $v.engine.kvCacheDtype }}
{{- end }}
{{- if $v.engine.expertParallel }}
- --enable-expert-parallel
{{- end }}
{{- if and (ne .role "worker") (gt (int (default 1 $v.engine.apiServerCount)) 1) }}
{{- /* Only where the HTTP server runs: vLLM refuses --api-server-count with --headless (workers). */}}
- --api-server-count={{ int $v.engine.apiServerCount }}
{{- end }}
{{- if gt (int64 $v.engine.kvCacheMemoryBytes) 0 }}
- --kv-cache-memory-bytes={{ int64 $v.engine.kvCacheMemoryBytes }}
{{- end }}
{{- if $v.engine.enforceEager }}
- --enforce-eager
{{- end }}
{{- if $v.model.trustRemoteCode }}
- --trust-remote-code
{{- end }}
- --shutdown-timeout={{ int $v.engine.shutdownTimeoutSeconds }}
{{- if include "vllm.multiNode" $ }}
- --distributed-executor-backend=mp
- --nnodes={{ include "vllm.groupSize" $ }}
- --master-addr=$(LWS_LEADER_ADDRESS)
{{- if eq .role "worker" }}
- --node-rank=$(LWS_WORKER_INDEX)
- --headless
{{- else }}
- --node-rank=0
{{- end }}
{{- end }}
{{- range $v.model.extraArgs }}
- {{ . | quote }}
{{- end }}
{{- end -}}

{{- define "vllm.env" -}}
{{- $v := .Values -}}
{{- if $v.secrets.apiKey.secretName }}
- name: VLLM_API_KEY
  valueFrom:
    secretKeyRef:
      name: {{ $v.secrets.apiKey.secretName }}
      key: {{ $v.secrets.apiKey.key }}
{{- end }}
{{- if $v.secrets.huggingFace.secretName }}
- name: HF_TOKEN
  valueFrom:
    secretKeyRef:
      name: {{ $v.secrets.huggingFace.secretName }}
      key: {{ $v.secrets.huggingFace.key }}
{{- end }}
- name: HF_HOME
  value: {{ printf "%s/huggingface" (trimSuffix "/" $v.modelCache.mountPath) | quote }}
- name: HOME
  value: {{ $v.scratch.mountPath | quote }}
- name: TMPDIR
  value: {{ $v.scratch.mountPath | quote }}
- name: VLLM_NO_USAGE_STATS
  value: "1"
- name: DO_NOT_TRACK
  value: "1"
{{- if eq (include "vllm.weightsFromS3" .) "true" }}
- name: AWS_REGION
  value: {{ $v.weightsSource.s3.region | quote }}
- name: AWS_DEFAULT_REGION
  value: {{ $v.weightsSource.s3.region | quote }}
{{- end }}
{{- if $v.model.offline }}
- name: HF_HUB_OFFLINE
  value: "1"
{{- end }}
{{- with $v.server.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "vllm.resources" -}}
{{- $res := deepCopy (default (dict) .Values.resources) -}}
{{- if .Values.gpu.enabled -}}
{{- $gpus := include "vllm.gpusPerPod" . -}}
{{- $req := default (dict) (get $res "requests") -}}
{{- $lim := default (dict) (get $res "limits") -}}
{{- $_ := set $req .Values.gpu.resourceName (int $gpus) -}}
{{- $_ := set $lim .Values.gpu.resourceName (int $gpus) -}}
{{- $_ := set $res "requests" $req -}}
{{- $_ := set $res "limits" $lim -}}
{{- end -}}
{{- toYaml $res -}}
{{- end -}}

{{- define "vllm.volumeMounts" -}}
- name: dshm
  mountPath: /dev/shm
- name: model-cache
  mountPath: {{ .Values.modelCache.mountPath }}
- name: scratch
  mountPath: {{ .Values.scratch.mountPath }}
{{- end -}}

{{- define "vllm.volumes" -}}
- name: dshm
  emptyDir:
    medium: Memory
    sizeLimit: {{ printf "%vGi" (include "vllm.shmSizeGiB" .) }}
- name: model-cache
{{- if eq .Values.modelCache.type "pvc" }}
  persistentVolumeClaim:
    claimName: {{ default (printf "%s-model-cache" (include "vllm.fullname" .)) .Values.modelCache.pvc.existingClaim }}
{{- else if eq .Values.modelCache.type "hostPath" }}
  hostPath:
    path: {{ .Values.modelCache.hostPath.path }}
    type: Directory
{{- else }}
  emptyDir:
    sizeLimit: {{ .Values.modelCache.emptyDir.sizeLimit }}
{{- end }}
- name: scratch
  emptyDir:
    sizeLimit: {{ .Values.scratch.sizeLimit }}
{{- end -}}

{{- define "vllm.nodeSelector" -}}
{{- $sel := deepCopy (default (dict) .Values.nodeSelector) -}}
{{- if .Values.gpu.enabled -}}
{{- $sel = merge $sel (deepCopy (default (dict) .Values.gpu.nodeSelector)) -}}
{{- end -}}
{{- if $sel -}}
{{- toYaml $sel -}}
{{- end -}}
{{- end -}}

{{- define "vllm.tolerations" -}}
{{- $t := list -}}
{{- if .Values.gpu.enabled -}}
{{- $t = concat $t (default (list) .Values.gpu.tolerations) -}}
{{- end -}}
{{- $t = concat $t (default (list) .Values.tolerations) -}}
{{- if $t -}}
{{- toYaml $t -}}
{{- end -}}
{{- end -}}

{{/*
Topology spread. Zones: required (DoNotSchedule, minDomains) in production, best
effort otherwise. Nodes: availability.nodeSpread. The count covers all revisions
(see deployment.yaml: replacing in place keeps it balanced under maxSurge 0).
`selector` is the label set the spread counts (Deployment pods, or LWS leaders).
*/}}
{{- define "vllm.topologySpread" -}}
{{- $ := .root -}}
{{- $v := $.Values -}}
- maxSkew: 1
  topologyKey: {{ $v.availability.zoneTopologyKey }}
{{- if $v.availability.production }}
  whenUnsatisfiable: DoNotSchedule
  minDomains: {{ int $v.availability.minZones }}
{{- else }}
  whenUnsatisfiable: ScheduleAnyway
{{- end }}
  nodeAffinityPolicy: Honor
  nodeTaintsPolicy: Honor
  labelSelector:
    matchLabels:
      {{- toYaml .selector | nindent 6 }}
{{- with .matchLabelKeys }}
  matchLabelKeys:
    {{- toYaml . | nindent 4 }}
{{- end }}
- maxSkew: 1
  topologyKey: kubernetes.io/hostname
  whenUnsatisfiable: {{ $v.availability.nodeSpread }}
  nodeTaintsPolicy: Honor
  labelSelector:
    matchLabels:
      {{- toYaml .selector | nindent 6 }}
{{- with .matchLabelKeys }}
  matchLabelKeys:
    {{- toYaml . | nindent 4 }}
{{- end }}
{{- end -}}

{{/*
Pod spec shared by the Deployment and the LeaderWorkerSet templates.
Arguments: root (top context), role ("server" | "worker"), selector (spread labels;
empty = no spread constraints), matchLabelKeys (list), affinity (dict).
*/}}
{{- define "vllm.podSpec" -}}
{{- $ := .root -}}
{{- $v := $.Values -}}
{{- $window := int (include "vllm.startupWindowSeconds" $) -}}
serviceAccountName: {{ include "vllm.serviceAccountName" $ }}
automountServiceAccountToken: false
enableServiceLinks: false
terminationGracePeriodSeconds: {{ include "vllm.terminationGracePeriodSeconds" $ }}
{{- with $v.availability.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
{{- with $v.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
securityContext:
  {{- toYaml $v.podSecurityContext | nindent 2 }}
{{- with (include "vllm.nodeSelector" $) }}
nodeSelector:
  {{- . | nindent 2 }}
{{- end }}
{{- with (include "vllm.tolerations" $) }}
tolerations:
  {{- . | nindent 2 }}
{{- end }}
{{- with .affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- if .selector }}
topologySpreadConstraints:
  {{- include "vllm.topologySpread" . | nindent 2 }}
{{- end }}
containers:
  - name: vllm
    image: {{ include "vllm.image" $ }}
    imagePullPolicy: {{ $v.image.pullPolicy }}
    # `vllm serve` everywhere: the deprecated api_server module ignores --headless.
    command: ["vllm", "serve"]
    args:
      {{- include "vllm.args" (dict "root" $ "role" .role) | nindent 6 }}
    env:
      {{- include "vllm.env" $ | trim | nindent 6 }}
{{- if ne .role "worker" }}
{{- if not (include "vllm.proxyEnabled" $) }}
    ports:
      - name: http
        containerPort: {{ int $v.server.port }}
        protocol: TCP
{{- end }}
    # /health answers 200 only once the engine has loaded the weights and can serve,
    # and 503 if the engine dies. With the proxy, probes reach vLLM through it.
    startupProbe:
      httpGet:
        path: /health
        port: {{ int $v.server.port }}
      periodSeconds: {{ int $v.probes.startup.periodSeconds }}
      timeoutSeconds: 5
      failureThreshold: {{ include "vllm.startupFailureThreshold" $ }}
    readinessProbe:
      httpGet:
        path: /health
        port: {{ int $v.server.port }}
      periodSeconds: {{ int $v.probes.readiness.periodSeconds }}
      timeoutSeconds: {{ int $v.probes.readiness.timeoutSeconds }}
      failureThreshold: {{ int $v.probes.readiness.failureThreshold }}
    livenessProbe:
      httpGet:
        path: /health
        port: {{ int $v.server.port }}
      periodSeconds: {{ int $v.probes.liveness.periodSeconds }}
      timeoutSeconds: {{ int $v.probes.liveness.timeoutSeconds }}
      failureThreshold: {{ int $v.probes.liveness.failureThreshold }}
{{- end }}
{{- if gt (int $v.shutdown.drainSeconds) 0 }}
    # Keep serving while the endpoint removal propagates, then SIGTERM: vLLM stops
    # taking requests and finishes in-flight ones within --shutdown-timeout.
    lifecycle:
      preStop:
        sleep:
          seconds: {{ int $v.shutdown.drainSeconds }}
{{- end }}
    resources:
      {{- include "vllm.resources" $ | nindent 6 }}
    securityContext:
      {{- toYaml $v.containerSecurityContext | nindent 6 }}
    volumeMounts:
      {{- include "vllm.volumeMounts" $ | nindent 6 }}
{{- if and (ne .role "worker") (include "vllm.proxyEnabled" $) }}
  - name: proxy
    image: {{ $v.proxy.image }}
    imagePullPolicy: {{ $v.image.pullPolicy }}
    command: ["nginx", "-g", "daemon off;", "-c", "/etc/nginx/breakeven/nginx.conf"]
    ports:
      - name: http
        containerPort: {{ int $v.server.port }}
        protocol: TCP
      - name: metrics
        containerPort: {{ int $v.proxy.metricsPort }}
        protocol: TCP
    lifecycle:
      preStop:
        sleep:
          # Outlive vLLM's drain: in-flight responses still flow through the proxy.
          seconds: {{ add (int $v.shutdown.drainSeconds) (int $v.engine.shutdownTimeoutSeconds) }}
    resources:
      {{- toYaml $v.proxy.resources | nindent 6 }}
    securityContext:
      {{- toYaml $v.containerSecurityContext | nindent 6 }}
    volumeMounts:
      - name: proxy-config
        mountPath: /etc/nginx/breakeven
        readOnly: true
      - name: proxy-tmp
        mountPath: /tmp
{{- end }}
volumes:
  {{- include "vllm.volumes" $ | nindent 2 }}
{{- if and (ne .role "worker") (include "vllm.proxyEnabled" $) }}
  - name: proxy-config
    configMap:
      name: {{ include "vllm.fullname" $ }}-proxy
  - name: proxy-tmp
    emptyDir:
      sizeLimit: 1Gi
{{- end }}
{{- end -}}

{{/* "true" when the path allow-list proxy fronts vLLM (templates/proxy-configmap.yaml). */}}
{{- define "vllm.proxyEnabled" -}}
{{- if .Values.proxy.enabled -}}true{{- end -}}
{{- end -}}

{{/* The port scrapers read /metrics on: the proxy's metrics port, or vLLM's own. */}}
{{- define "vllm.metricsPortName" -}}
{{- if include "vllm.proxyEnabled" . -}}metrics{{- else -}}http{{- end -}}
{{- end -}}

{{/* Labels that select the pods answering HTTP: all Deployment pods, or LWS leaders. */}}
{{- define "vllm.servingSelectorLabels" -}}
{{ include "vllm.selectorLabels" . }}
{{- if include "vllm.multiNode" . }}
leaderworkerset.sigs.k8s.io/worker-index: "0"
{{- end }}
{{- end -}}

{{/*
PodDisruptionBudget budget (one line). See README "Disruptions":
  availability.minAvailable set  -> minAvailable: <that>
  LeaderWorkerSet                -> maxUnavailable: 1 (one pod per node: one node, one group at a time)
  otherwise                      -> maxUnavailable: availability.podsPerNode (a node drain evicts
                                    every pod on the node at once; a smaller budget would make the
                                    drain wait for replacements that cannot start until it ends)
*/}}
{{- define "vllm.pdbBudget" -}}
{{- $m := .Values.availability.minAvailable -}}
{{- if not (kindIs "invalid" $m) -}}
{{- if kindIs "string" $m -}}
minAvailable: {{ $m | quote }}
{{- else -}}
minAvailable: {{ int $m }}
{{- end -}}
{{- else if include "vllm.multiNode" . -}}
maxUnavailable: 1
{{- else -}}
maxUnavailable: {{ max 1 (int .Values.availability.podsPerNode) }}
{{- end -}}
{{- end -}}

{{/* HPA behaviour, shared by the HPA and KEDA's generated HPA. */}}
{{- define "vllm.hpaBehavior" -}}
scaleUp:
  # A new replica needs its startup window before it helps; add one at a time.
  stabilizationWindowSeconds: {{ int .Values.autoscaling.scaleUpStabilizationSeconds }}
  selectPolicy: Max
  policies:
    - type: Pods
      value: 1
      periodSeconds: 60
scaleDown:
  stabilizationWindowSeconds: {{ int .Values.autoscaling.scaleDownStabilizationSeconds }}
  selectPolicy: Min
  policies:
    - type: Pods
      value: 1
      periodSeconds: 300
{{- end -}}
