"""Properties of the objects `helm template` renders, asserted on parsed YAML."""

from __future__ import annotations

import json
import math
import re

import pytest
from chartkit import CHART, VALUES_FILES

ECONOMICS = "breakeven.dev/economics"


def args_of(container) -> dict[str, str]:
    out = {}
    for a in container["args"]:
        k, _, v = a.partition("=")
        out[k] = v
    return out


def gib(quantity: str) -> float:
    m = re.fullmatch(r"([0-9.]+)Gi", quantity)
    assert m, quantity
    return float(m.group(1))


# ----------------------------------------------------------------- workload kind


@pytest.mark.parametrize("values,kind", [("dev", "Deployment"), ("prod", "Deployment"),
                                          ("cpu", "Deployment"), ("multinode", "LeaderWorkerSet")])
def test_workload_kind(render, values, kind):
    r = render(values)
    assert r.workload["kind"] == kind
    other = {"Deployment", "LeaderWorkerSet"} - {kind}
    assert not r.of_kind(other.pop())


def test_default_values_render_a_gpu_deployment(render):
    r = render()
    assert r.workload["kind"] == "Deployment"
    assert r.workload["spec"]["replicas"] == 2


# -------------------------------------------------------------------- rollouts


@pytest.mark.parametrize("values", ["dev", "prod", "cpu"])
def test_rollout_never_needs_extra_gpus(render, values):
    d = render(values).one("Deployment")
    ru = d["spec"]["strategy"]["rollingUpdate"]
    assert d["spec"]["strategy"]["type"] == "RollingUpdate"
    assert ru["maxSurge"] == 0
    assert ru["maxUnavailable"] == 1


def test_lws_rollout_replaces_groups_without_surge(render):
    lws = render("multinode").one("LeaderWorkerSet")
    cfg = lws["spec"]["rolloutStrategy"]["rollingUpdateConfiguration"]
    assert cfg == {"maxSurge": 0, "maxUnavailable": 1}


def test_surge_as_percentage_is_rejected(render_error):
    err = render_error(set_string={"rollout.maxSurge": "100%"})
    assert "/rollout/maxSurge" in err


def test_progress_deadline_covers_the_startup_window(render):
    for values in ("dev", "prod", "cpu"):
        d = render(values).one("Deployment")
        probe = d["spec"]["template"]["spec"]["containers"][0]["startupProbe"]
        window = probe["periodSeconds"] * probe["failureThreshold"]
        assert d["spec"]["progressDeadlineSeconds"] > window


# --------------------------------------------------------------- GPU scheduling


@pytest.mark.parametrize("values,gpus", [("dev", 1), ("prod", 4), ("multinode", 8)])
def test_gpu_requests_limits_toleration_and_pool(render, values, gpus):
    r = render(values)
    for template in r.pod_templates():
        spec = template["spec"]
        res = r.container(template)["resources"]
        assert res["limits"]["nvidia.com/gpu"] == gpus
        assert res["requests"]["nvidia.com/gpu"] == gpus
        assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in spec["tolerations"]
        assert spec["nodeSelector"]["breakeven.dev/gpu-pool"]


def test_multinode_group_size_and_gpu_total(render):
    r = render("multinode")
    lws = r.one("LeaderWorkerSet")
    size = lws["spec"]["leaderWorkerTemplate"]["size"]
    per_pod = r.container(r.pod_templates()[0])["resources"]["limits"]["nvidia.com/gpu"]
    # tensor 8 x pipeline 2 = 16 GPUs per replica on 8-GPU nodes
    assert size == 2 and per_pod == 8 and size * per_pod == 16


def test_cpu_values_ask_for_no_gpu(render):
    r = render("cpu")
    text = json.dumps(r.objects)
    assert "nvidia.com/gpu" not in text
    spec = r.one("Deployment")["spec"]["template"]["spec"]
    assert "tolerations" not in spec
    assert "breakeven.dev/gpu-pool" not in json.dumps(spec.get("nodeSelector", {}))


def test_multinode_args_leader_and_worker(render):
    r = render("multinode")
    leader, worker = (args_of(r.container(t)) for t in r.pod_templates())
    for a in (leader, worker):
        assert a["--tensor-parallel-size"] == "8" and a["--pipeline-parallel-size"] == "2"
        assert a["--nnodes"] == "2"
        assert a["--master-addr"] == "$(LWS_LEADER_ADDRESS)"
        assert a["--distributed-executor-backend"] == "mp"
    assert leader["--node-rank"] == "0" and "--headless" not in leader
    assert worker["--node-rank"] == "$(LWS_WORKER_INDEX)" and "--headless" in worker
    # Only the leader serves HTTP; the Service and monitors select leaders only.
    leader_c, worker_c = (r.container(t) for t in r.pod_templates())
    leader_t, worker_t = r.pod_templates()
    assert [c["name"] for c in leader_t["spec"]["containers"]] == ["vllm", "proxy"]   # the leader's HTTP
    assert [c["name"] for c in worker_t["spec"]["containers"]] == ["vllm"]
    assert "ports" not in worker_c
    assert "readinessProbe" in leader_c and "readinessProbe" not in worker_c
    assert r.one("Service")["spec"]["selector"]["leaderworkerset.sigs.k8s.io/worker-index"] == "0"
    assert r.one("PodMonitor")["spec"]["selector"]["matchLabels"]["leaderworkerset.sigs.k8s.io/worker-index"] == "0"


def test_multinode_group_stays_in_one_zone(render):
    r = render("multinode")
    for t in r.pod_templates():
        terms = t["spec"]["affinity"]["podAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
        assert any(term["topologyKey"] == "topology.kubernetes.io/zone"
                   and term["matchLabelKeys"] == ["leaderworkerset.sigs.k8s.io/group-key"] for term in terms)


@pytest.mark.parametrize("precision,expected", [
    ("bf16", {"--dtype": "bfloat16"}),
    ("fp16", {"--dtype": "float16"}),
    ("fp8", {}),
    ("int4-awq", {"--dtype": "float16"}),
])
def test_precision_maps_to_vllm_flags(render, precision, expected):
    c = render(set={"model.precision": precision}).serving_template()["spec"]["containers"][0]
    a = args_of(c)
    for k, v in expected.items():
        assert a[k] == v
    # Pre-quantized checkpoints declare their scheme: the precision alone never adds --quantization.
    assert "--quantization" not in a


def test_args_follow_values(render):
    r = render("prod")
    a = args_of(r.container(r.serving_template()))
    assert a["--model"] == "hugging-quants/Meta-Llama-3.1-70B-Instruct-AWQ-INT4"
    assert a["--served-model-name"] == "llama-3.1-70b-awq"
    assert a["--max-model-len"] == "16384"
    assert a["--tensor-parallel-size"] == "4"
    assert a["--gpu-memory-utilization"] == "0.92"
    assert a["--max-num-seqs"] == "128"
    assert (a["--host"], a["--port"]) == ("127.0.0.1", "8001")    # behind the proxy, which serves 8000
    # the app label carries model.name
    assert r.workload["metadata"]["labels"]["app"] == "llama-3.1-70b-awq"
    assert r.serving_template()["metadata"]["labels"]["app"] == "llama-3.1-70b-awq"


def test_kv_cache_dtype_and_expert_parallel_follow_values(render):
    """vLLM's defaults (auto, off) render no flag; fp8 and expert parallelism render theirs, on every pod of a group."""
    plain = args_of(render("prod").serving_template()["spec"]["containers"][0])
    assert "--kv-cache-dtype" not in plain and "--enable-expert-parallel" not in plain
    r = render("multinode", set={"engine.kvCacheDtype": "fp8", "engine.expertParallel": True})
    for t in r.pod_templates():
        args = r.container(t)["args"]
        assert "--kv-cache-dtype=fp8" in args and args.count("--enable-expert-parallel") == 1


def test_api_server_count_follows_values_on_the_server_pod_only(render):
    """1 (vLLM's default) renders no flag; more renders --api-server-count on the pod that serves HTTP, never on
    a LeaderWorkerSet worker (vLLM refuses the flag with --headless)."""
    for values in ("prod", "dev", "multinode", "cpu"):
        plain = render(values)
        for t in plain.pod_templates():
            assert not any(a.startswith("--api-server-count") for a in plain.container(t)["args"])
    assert args_of(render("prod", set={"engine.apiServerCount": 8}).serving_template()["spec"]["containers"][0])[
        "--api-server-count"] == "8"
    r = render("multinode", set={"engine.apiServerCount": 4})
    leader, worker = r.pod_templates()
    assert "--api-server-count=4" in r.container(leader)["args"]
    assert "--headless" in r.container(worker)["args"]
    assert not any(a.startswith("--api-server-count") for a in r.container(worker)["args"])


@pytest.mark.parametrize("sets,needed", [
    ({"engine.apiServerCount": 2}, 4),                                        # default values: 3 CPUs, 1 GPU
    ({"engine.apiServerCount": 40}, 45),                                      # prod: 40 CPUs, 4 GPUs a pod
    ({"engine.apiServerCount": 2, "resources.requests.cpu": "3500m"}, 4),     # millicores are read as such
])
def test_api_servers_the_cpu_request_cannot_hold_are_refused(render_error, sets, needed):
    """Each API server is a process wanting a core, beside the engine core and a worker per GPU."""
    values = "prod" if sets["engine.apiServerCount"] == 40 else None
    err = render_error(values, set=sets) if values else render_error(set=sets)
    assert f"needs resources.requests.cpu of at least {needed} cores" in err, err


def test_api_servers_within_the_cpu_request_render(render):
    r = render(set={"engine.apiServerCount": 2, "resources.requests.cpu": "4000m"})
    assert "--api-server-count=2" in r.container(r.serving_template())["args"]
    r = render("prod", set={"engine.apiServerCount": 35})                    # 35 + 1 + 4 = 40 CPUs
    assert "--api-server-count=35" in r.container(r.serving_template())["args"]


def test_large_numbers_are_not_rendered_in_float_notation(render):
    a = args_of(render("cpu").serving_template()["spec"]["containers"][0])
    assert a["--kv-cache-memory-bytes"] == "536870912"


# ---------------------------------------------------------------- redundancy


def spread(template, key):
    found = [c for c in template["spec"]["topologySpreadConstraints"] if c["topologyKey"] == key]
    assert len(found) == 1, template["spec"]["topologySpreadConstraints"]
    return found[0]


@pytest.mark.parametrize("values", ["prod", "multinode"])
def test_production_zone_spread_is_required(render, values):
    r = render(values)
    zone = spread(r.serving_template(), "topology.kubernetes.io/zone")
    assert zone["whenUnsatisfiable"] == "DoNotSchedule"
    assert zone["maxSkew"] == 1
    assert zone["minDomains"] >= 2
    assert zone["labelSelector"]["matchLabels"]["app.kubernetes.io/instance"] == "rel"
    host = spread(r.serving_template(), "kubernetes.io/hostname")
    assert host["maxSkew"] == 1


def test_prod_spreads_over_three_zones(render):
    zone = spread(render("prod").serving_template(), "topology.kubernetes.io/zone")
    assert zone["minDomains"] == 3


@pytest.mark.parametrize("values", ["dev", "cpu"])
def test_non_production_zone_spread_is_best_effort(render, values):
    zone = spread(render(values).serving_template(), "topology.kubernetes.io/zone")
    assert zone["whenUnsatisfiable"] == "ScheduleAnyway"
    assert "minDomains" not in zone


def test_spread_counts_every_revision_so_in_place_rollouts_finish(render):
    """maxSurge 0: a new pod can only take the GPUs its predecessor freed, in the same zone. Counting
    only the new revision (matchLabelKeys: pod-template-hash) would force the second new pod into the
    other zone, where no GPU is free: Pending forever."""
    r = render("prod")
    assert r.workload["spec"]["strategy"]["rollingUpdate"]["maxSurge"] == 0
    for c in r.serving_template()["spec"]["topologySpreadConstraints"]:
        assert "matchLabelKeys" not in c


def test_spread_selector_matches_pod_labels(render):
    for values in ("dev", "prod", "multinode"):
        r = render(values)
        t = r.serving_template()
        for c in t["spec"]["topologySpreadConstraints"]:
            for k, v in c["labelSelector"]["matchLabels"].items():
                if k.startswith("leaderworkerset.sigs.k8s.io/"):
                    continue  # set by the LWS controller on the leader
                assert t["metadata"]["labels"][k] == v


def test_production_needs_two_replicas(render_error):
    err = render_error("prod", set={"replicaCount": 1})
    assert "/replicaCount" in err and "minimum" in err


# ------------------------------------------------------------------------- PDB


def disruptions_allowed(pdb_spec: dict, healthy: int) -> int:
    """What the disruption controller computes for `healthy` ready pods."""
    if "minAvailable" in pdb_spec:
        return max(0, healthy - pdb_spec["minAvailable"])
    return max(0, pdb_spec["maxUnavailable"] - 0)  # all pods healthy


@pytest.mark.parametrize("replicas,per_node", [(2, 1), (4, 2), (5, 1), (8, 4)])
def test_pdb_lets_one_whole_node_drain(render, replicas, per_node):
    """A drain evicts every pod of a node together: the budget allows exactly that many, never more."""
    r = render("dev", set={"replicaCount": replicas, "availability.podsPerNode": per_node,
                           "modelCache.pvc.accessMode": "ReadWriteMany"})
    pdb = r.one("PodDisruptionBudget")["spec"]
    assert pdb == {**pdb, "maxUnavailable": per_node} and "minAvailable" not in pdb
    assert disruptions_allowed(pdb, replicas) == per_node
    assert pdb["unhealthyPodEvictionPolicy"] == "AlwaysAllow"
    assert pdb["selector"]["matchLabels"] == r.one("Deployment")["spec"]["selector"]["matchLabels"]


def test_pdb_single_replica_never_blocks_a_drain(render):
    pdb = render("dev").one("PodDisruptionBudget")["spec"]
    assert pdb["maxUnavailable"] == 1 and "minAvailable" not in pdb
    assert disruptions_allowed(pdb, 1) == 1


def test_pdb_for_leaderworkerset_covers_every_pod(render):
    r = render("multinode")
    pdb = r.one("PodDisruptionBudget")["spec"]
    assert pdb["maxUnavailable"] == 1
    sel = pdb["selector"]["matchLabels"]
    assert "leaderworkerset.sigs.k8s.io/worker-index" not in sel  # leaders and workers


@pytest.mark.parametrize("value,expected", [(0, 0), (2, 2), ("50%", "50%")])
def test_pdb_explicit_min_available(render, value, expected):
    sets = {"availability.minAvailable": value}
    r = render("prod", set=sets) if isinstance(value, int) else render("prod", set_string=sets)
    assert r.one("PodDisruptionBudget")["spec"]["minAvailable"] == expected


# ---------------------------------------------------------------------- probes


def startup_window(container) -> int:
    p = container["startupProbe"]
    return p["periodSeconds"] * p["failureThreshold"]


@pytest.mark.parametrize("weights_gib", [0.27, 16, 40, 140, 380, 810])
def test_startup_window_scales_with_model_size(render, weights_gib):
    c = render(set={"model.weightsGiB": weights_gib}).serving_template()["spec"]["containers"][0]
    needed = 240 + 15 * weights_gib  # baseSeconds + secondsPerGiB x weights (defaults)
    window = startup_window(c)
    assert needed <= window < needed + c["startupProbe"]["periodSeconds"]
    assert c["startupProbe"]["httpGet"] == {"path": "/health", "port": 8000}    # through the proxy


def test_startup_window_is_monotonic_in_size(render):
    windows = [startup_window(render(set={"model.weightsGiB": w}).serving_template()["spec"]["containers"][0])
               for w in (1, 16, 70, 140, 400)]
    assert windows == sorted(windows) and len(set(windows)) == len(windows)
    assert windows[-1] > 60 * 60  # a 400 GiB model gets over an hour


def test_readiness_and_liveness(render):
    c = render("prod").serving_template()["spec"]["containers"][0]
    assert c["readinessProbe"]["httpGet"]["path"] == "/health"
    live = c["livenessProbe"]
    # A busy server has minutes, not seconds, before liveness acts; the startup probe
    # holds liveness off while the model loads.
    assert live["periodSeconds"] * live["failureThreshold"] >= 120
    assert live["timeoutSeconds"] >= 5


@pytest.mark.parametrize("values", list(VALUES_FILES))
def test_graceful_shutdown(render, values):
    r = render(values)
    t = r.serving_template()
    c = r.container(t)
    drain = c["lifecycle"]["preStop"]["sleep"]["seconds"]
    shutdown_timeout = int(args_of(c)["--shutdown-timeout"])
    assert drain > 0
    assert t["spec"]["terminationGracePeriodSeconds"] > drain + shutdown_timeout


# -------------------------------------------------------------------- volumes


def volume(template, name):
    return next(v for v in template["spec"]["volumes"] if v["name"] == name)


@pytest.mark.parametrize("tensor,expected_gib", [(1, 1), (2, 5), (4, 9), (8, 17)])
def test_shm_sized_by_tensor_parallelism(render, tensor, expected_gib):
    r = render(set={"parallelism.tensor": tensor, "gpu.gpusPerNode": 8})
    t = r.serving_template()
    shm = volume(t, "dshm")["emptyDir"]
    assert shm["medium"] == "Memory"
    assert gib(shm["sizeLimit"]) == expected_gib
    mounts = {m["name"]: m["mountPath"] for m in r.container(t)["volumeMounts"]}
    assert mounts["dshm"] == "/dev/shm"


def test_shm_explicit_size(render):
    t = render(set={"shm.sizeGiB": 32}).serving_template()
    assert volume(t, "dshm")["emptyDir"]["sizeLimit"] == "32Gi"


def test_model_cache_pvc_is_shared(render):
    r = render("prod")
    pvc = r.one("PersistentVolumeClaim")
    assert pvc["spec"]["accessModes"] == ["ReadWriteMany"]
    assert pvc["spec"]["storageClassName"] == "efs-sc"
    # 1.25 x 38 GiB (the AWQ checkpoint's 39.77 GB) + 10 GiB, rounded up
    assert pvc["spec"]["resources"]["requests"]["storage"] == "58Gi"
    assert pvc["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    t = r.serving_template()
    assert volume(t, "model-cache")["persistentVolumeClaim"]["claimName"] == pvc["metadata"]["name"]
    env = {e["name"]: e.get("value") for e in r.container(t)["env"]}
    assert env["HF_HOME"] == "/models/huggingface"


def test_model_cache_node_local(render):
    r = render("multinode")
    assert not r.of_kind("PersistentVolumeClaim")
    for t in r.pod_templates():
        assert volume(t, "model-cache")["hostPath"]["path"] == "/mnt/k8s-disks/0/models"


def test_model_cache_existing_claim(render):
    r = render("prod", set_string={"modelCache.pvc.existingClaim": "weights"})
    assert not r.of_kind("PersistentVolumeClaim")
    assert volume(r.serving_template(), "model-cache")["persistentVolumeClaim"]["claimName"] == "weights"


def test_single_node_cache_with_many_replicas_fails(render_error):
    err = render_error("dev", set={"replicaCount": 2})
    assert "modelCache.pvc.accessMode=ReadWriteOnce" in err


# ------------------------------------------------------------------- security


SECRETISH = re.compile(r"(?i)(TOKEN|SECRET|PASSWORD|API_?KEY|ACCESS_?KEY|CREDENTIAL)")


@pytest.mark.parametrize("values", list(VALUES_FILES))
def test_no_inline_secrets(render, values):
    r = render(values)
    assert not r.of_kind("Secret"), "the chart must never create a Secret from values"
    pods = [t for t in r.pod_templates()] + [{"spec": p["spec"]} for p in r.of_kind("Pod")]
    seen_api_key = False
    for t in pods:
        for c in t["spec"]["containers"]:
            for e in c.get("env", []):
                if SECRETISH.search(e["name"]):
                    assert "value" not in e, f"{e['name']} has an inline value"
                    assert "secretKeyRef" in e["valueFrom"], e
                if e["name"] == "VLLM_API_KEY":
                    seen_api_key = True
            for a in c.get("args", []) + c.get("command", []):
                assert not a.startswith(("--api-key", "--hf-token")), a
    assert seen_api_key


def test_api_key_and_hf_token_come_from_named_secrets(render):
    r = render("prod")
    env = {e["name"]: e for e in r.container(r.serving_template())["env"]}
    assert env["VLLM_API_KEY"]["valueFrom"]["secretKeyRef"] == {"name": "llama-70b-api-key", "key": "api-key"}
    assert env["HF_TOKEN"]["valueFrom"]["secretKeyRef"] == {"name": "hf-token", "key": "token"}


def test_no_hf_token_without_secret_name(render):
    env = {e["name"] for e in render("cpu").serving_template()["spec"]["containers"][0]["env"]}
    assert "HF_TOKEN" not in env


def test_open_server_only_when_explicitly_not_required(render):
    r = render(set={"secrets.apiKey.required": False}, set_string={"secrets.apiKey.secretName": ""})
    env = {e["name"] for e in r.container(r.serving_template())["env"]}
    assert "VLLM_API_KEY" not in env


@pytest.mark.parametrize("values", list(VALUES_FILES))
def test_security_context(render, values):
    r = render(values)
    for t in r.pod_templates():
        spec = t["spec"]
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        assert spec["automountServiceAccountToken"] is False
        # A Service named like vLLM would otherwise inject VLLM_PORT=tcp://... and break it.
        assert spec["enableServiceLinks"] is False
        sc = r.container(t)["securityContext"]
        assert sc["allowPrivilegeEscalation"] is False
        assert sc["capabilities"]["drop"] == ["ALL"]
        assert sc["seccompProfile"] == {"type": "RuntimeDefault"}
        assert sc["readOnlyRootFilesystem"] is True
        mounts = {m["mountPath"] for m in r.container(t)["volumeMounts"]}
        env = {e["name"]: e.get("value") for e in r.container(t)["env"]}
        assert env["HOME"] in mounts and env["TMPDIR"] in mounts  # writable despite read-only root


def test_network_policy_admits_named_callers_and_scrapers(render):
    np = render("prod").one("NetworkPolicy")["spec"]
    assert np["policyTypes"] == ["Ingress"]
    peers = [p for rule in np["ingress"] for p in rule["from"]]
    ns = {p["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
          for p in peers if "namespaceSelector" in p}
    assert ns == {"apps", "gateway-system", "monitoring"}
    gateway = next(p for p in peers if p.get("namespaceSelector", {}).get("matchLabels", {})
                   .get("kubernetes.io/metadata.name") == "gateway-system")
    assert gateway["podSelector"]["matchLabels"] == {"app.kubernetes.io/name": "envoy"}
    api, scrape = np["ingress"]
    assert api["ports"] == [{"port": "http", "protocol": "TCP"}]            # the proxy: /v1/* and /health
    assert scrape["ports"] == [{"port": "metrics", "protocol": "TCP"}]      # the proxy: /metrics only
    assert {p["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"] for p in scrape["from"]} == {"monitoring"}
    assert not any(p == {"podSelector": {}} for p in peers)  # same namespace not opened by default


def test_network_policy_multinode_opens_group_traffic(render):
    np = render("multinode").one("NetworkPolicy")["spec"]
    group_rules = [r for r in np["ingress"] if "ports" not in r]
    assert len(group_rules) == 1
    assert group_rules[0]["from"][0]["podSelector"]["matchLabels"]["app.kubernetes.io/instance"] == "rel"


def test_network_policy_is_optional(render):
    assert not render("dev").of_kind("NetworkPolicy")


# ----------------------------------------------------------------- autoscaling


def test_hpa_on_waiting_requests_with_stabilization(render):
    r = render("prod")
    hpa = r.one("HorizontalPodAutoscaler")["spec"]
    assert hpa["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "rel-vllm"}
    assert hpa["minReplicas"] == 3 and hpa["maxReplicas"] == 6
    metric = hpa["metrics"][0]
    assert metric["type"] == "Pods"
    assert metric["pods"]["metric"]["name"] == "vllm_num_requests_waiting"
    assert metric["pods"]["target"] == {"type": "AverageValue", "averageValue": "8"}
    assert hpa["behavior"]["scaleUp"]["stabilizationWindowSeconds"] > 0
    assert hpa["behavior"]["scaleDown"]["stabilizationWindowSeconds"] >= 300
    assert not r.of_kind("ScaledObject")


def test_keda_replaces_the_hpa(render):
    r = render("prod", set={"autoscaling.keda.enabled": True})
    assert not r.of_kind("HorizontalPodAutoscaler")
    so = r.one("ScaledObject")["spec"]
    assert so["scaleTargetRef"]["kind"] == "Deployment"
    trigger = so["triggers"][0]
    assert trigger["type"] == "prometheus"
    query = trigger["metadata"]["query"]
    assert 'vllm:num_requests_waiting{namespace="inference",model_name="llama-3.1-70b-awq"}' in query
    assert so["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]["scaleDown"]["stabilizationWindowSeconds"] >= 300


def test_hpa_targets_the_leaderworkerset(render):
    hpa = render("multinode", set={"autoscaling.enabled": True}).one("HorizontalPodAutoscaler")["spec"]
    assert hpa["scaleTargetRef"]["kind"] == "LeaderWorkerSet"
    assert hpa["scaleTargetRef"]["apiVersion"] == "leaderworkerset.x-k8s.io/v1"


def test_autoscaling_bounds_checked(render_error):
    err = render_error("prod", set={"autoscaling.maxReplicas": 2})
    assert "autoscaling.maxReplicas (2) is below autoscaling.minReplicas (3)" in err


def test_monitors(render):
    sm = render("prod").one("ServiceMonitor")
    assert sm["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    assert sm["spec"]["endpoints"][0]["path"] == "/metrics"
    svc = render("prod").one("Service")
    for k, v in sm["spec"]["selector"]["matchLabels"].items():
        assert svc["metadata"]["labels"][k] == v
    pm = render("multinode").one("PodMonitor")
    assert pm["spec"]["podMetricsEndpoints"][0]["port"] == "metrics"
    assert sm["spec"]["endpoints"][0]["port"] == "metrics"
    assert {"name": "metrics", "port": 9090, "targetPort": "metrics", "protocol": "TCP"} in svc["spec"]["ports"]


# ----------------------------------------------------------------- economics


@pytest.mark.parametrize("values", list(VALUES_FILES))
def test_economics_pass_through_untouched_on_the_workload_only(render, values):
    """One annotation, byte for byte what the values carry, on the workload object and never on a pod template
    (there a change of the declared volume would restart every GPU pod)."""
    import yaml  # noqa: PLC0415

    from cost.economics import Economics  # noqa: PLC0415

    r = render(values)
    declared = yaml.safe_load(VALUES_FILES[values].read_text())["economics"]
    assert all(ECONOMICS not in (t["metadata"].get("annotations") or {}) for t in r.pod_templates())
    ann = r.workload["metadata"].get("annotations") or {}
    if not declared:
        assert ECONOMICS not in ann
        return
    assert ann[ECONOMICS] == declared
    d = Economics.from_json(ann[ECONOMICS]).deployment
    args = args_of(r.container(r.serving_template()))
    assert d.gpus_per_replica == int(args["--tensor-parallel-size"]) * int(args.get("--pipeline-parallel-size", 1))
    assert d.total_replicas == r.workload["spec"]["replicas"]
    assert d.max_model_len == int(args["--max-model-len"])


def test_scaling_or_upgrading_the_chart_does_not_restart_pods(render):
    """replicaCount and the chart version stay out of the pod template."""
    import copy  # noqa: PLC0415

    a = copy.deepcopy(render("prod").serving_template())
    b = copy.deepcopy(render("prod", set={"replicaCount": 5}).serving_template())
    assert a == b
    labels = a["metadata"]["labels"]
    assert "helm.sh/chart" not in labels and "app.kubernetes.io/version" not in labels


@pytest.mark.parametrize("path", [CHART / "values.yaml", *VALUES_FILES.values()], ids=lambda p: p.name)
def test_economics_examples_are_what_the_codec_writes_today(path):
    """Each example annotation is the codec's own output (every field it writes, in its order), so a field added
    to the economics (e.g. kv_cache_dtype) fails here until the examples are regenerated from the codec."""
    import yaml  # noqa: PLC0415

    from cost.economics import Economics  # noqa: PLC0415

    declared = yaml.safe_load(path.read_text())["economics"]
    if declared:
        assert declared == Economics.from_json(declared).to_json()


def test_economics_from_the_default_values_decode_with_the_codec(render):
    from cost.economics import Economics  # noqa: PLC0415

    e = Economics.from_json(render().workload["metadata"]["annotations"][ECONOMICS])
    d = e.deployment
    assert (d.model, d.gpu, d.instance_type, d.pricing, d.replicas, d.redundancy) == ("llama-3.1-8b", "L4", "g6.xlarge",
                                                                                      "spot", 1, 1)
    assert (e.workload.tokens_per_month, e.workload.avg_input_tokens, e.workload.avg_output_tokens) == (1e8, 600, 400)


# ------------------------------------------------------------------ helm test


def test_helm_test_hook_sends_an_authenticated_completion(render):
    r = render("prod")
    pod = r.one("Pod")
    assert pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
    c = pod["spec"]["containers"][0]
    script = c["command"][-1]
    assert "/v1/completions" in script and "Authorization: Bearer" in script
    env = {e["name"]: e for e in c["env"]}
    assert env["VLLM_API_KEY"]["valueFrom"]["secretKeyRef"]["name"] == "llama-70b-api-key"
    assert env["VLLM_BASE_URL"]["value"] == "http://rel-vllm:8000"
    # Not selectable by the Deployment/Service/PDB (a ReplicaSet would adopt it).
    workload_sel = r.one("Deployment")["spec"]["selector"]["matchLabels"]
    assert not all(pod["metadata"]["labels"].get(k) == v for k, v in workload_sel.items())


def test_service(render):
    svc = render("prod").one("Service")
    assert svc["spec"]["ports"] == [{"name": "http", "port": 8000, "targetPort": "http", "protocol": "TCP"},
                                    {"name": "metrics", "port": 9090, "targetPort": "metrics", "protocol": "TCP"}]
    direct = render("prod", set={"proxy.enabled": False}).one("Service")
    assert direct["spec"]["ports"] == [{"name": "http", "port": 8000, "targetPort": "http", "protocol": "TCP"}]


def test_notes_render(helm):
    import subprocess  # noqa: PLC0415

    from chartkit import CHART  # noqa: PLC0415

    proc = subprocess.run([helm, "install", "rel", str(CHART), "-f", str(VALUES_FILES["prod"]),
                           "--dry-run=client", "-n", "inference"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    notes = proc.stdout.split("NOTES:", 1)[1]
    assert "810 s" in notes  # 240 + 15 x 38 GiB
    assert "kubectl -n inference create secret generic llama-70b-api-key" in notes
    assert "helm test rel" in notes


def test_startup_window_formula_matches_notes(render):
    c = render("prod").serving_template()["spec"]["containers"][0]
    assert startup_window(c) == math.ceil((240 + 15 * 38) / 10) * 10


# ---------------------------------------------------------------- Pulumi waits and entry point

AWAIT = "pulumi.com/timeoutSeconds"


def _await_s(obj) -> int:
    return int(obj["metadata"]["annotations"][AWAIT])


@pytest.mark.parametrize("values", ["dev", "prod", "multinode", "cpu"])
def test_every_container_runs_vllm_serve(render, values):
    for t in render(values).pod_templates():
        assert render(values).container(t)["command"] == ["vllm", "serve"]


def test_server_command_is_not_a_value(render_error):
    # The deprecated api_server module ignores --headless: the entry point cannot be swapped.
    err = render_error(set={"server.command": ["python3", "-m", "vllm.entrypoints.openai.api_server"]})
    assert "command" in err


@pytest.mark.parametrize("values", ["dev", "prod", "multinode"])
def test_pulumi_waits_for_the_whole_rollout(render, values):
    r = render(values)
    w, svc = r.workload, r.one("Service")
    c = r.container(r.serving_template())
    startup = c["startupProbe"]["periodSeconds"] * c["startupProbe"]["failureThreshold"]
    grace = r.serving_template()["spec"]["terminationGracePeriodSeconds"]
    pods = w["spec"]["replicas"]
    hpa = r.of_kind("HorizontalPodAutoscaler")
    if hpa:
        pods = max(pods, hpa[0]["spec"]["maxReplicas"])
    # maxSurge 0, maxUnavailable 1: pods are replaced one after the other, each waiting for the
    # old pod to drain and the new one to load its weights.
    assert _await_s(w) >= pods * (grace + startup)
    assert _await_s(svc) == _await_s(w)


def test_a_70b_rollout_outlasts_pulumis_default_wait(render):
    r = render(set={"model.weightsGiB": 132, "replicaCount": 4})  # Llama 70B bf16, 2 + 2 replicas
    window = 240 + 15 * 132
    assert window > 600                                  # Pulumi's default: 10 minutes
    assert _await_s(r.workload) >= 4 * window
