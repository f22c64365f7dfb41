"""The serving layer: namespace, secrets, the NVIDIA device plugin and one vLLM chart per model."""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s
import pulumi_kubernetes.apps.v1 as apps
import pulumi_kubernetes.batch.v1 as batch
import pulumi_kubernetes.core.v1 as core
import pulumi_kubernetes.helm.v4 as helm

from cost import catalog
from cost.estimate import Estimate
from cost.physics import weights_source
from cost.physics.multinode import layout
from infra.components.efa import EFA_RESOURCE, efa_interfaces
from infra.components.monitoring import MONITORING_NAMESPACE
from infra.components.pinned_chart import MANAGED_BY
from infra.components.weights import cache_values, model_cache
from infra.components.weights_s3 import S3Weights, reader_service_account, seed_job, seed_service_account
from infra.config.spec import GPU_POOL_LABEL, ModelSpec, StackSpec
from infra.placement import ModelPlacement
from infra.pricing import economics

CHART_PATH = "./charts/vllm"  # relative to the project root, where Pulumi runs the program
HF_SECRET = "hf-token"
HF_SECRET_KEY = "token"
API_KEY_SECRET = "vllm-api-key"
API_KEY_SECRET_KEY = "api-key"
DEVICE_PLUGIN_IMAGE = "nvcr.io/nvidia/k8s-device-plugin:v0.17.4"


@dataclass(frozen=True)
class SecretNames:
    """Names (never values) of the Kubernetes Secrets the chart mounts; "" when not created."""

    hugging_face: str
    api_key: str


def secret_names(hf_token: bool, api_key: bool, production: bool) -> SecretNames:
    """The Secrets the Serving component creates: the Hugging Face token's when one is set, the API key's when one
    is set or the stack is production. Without breakeven:vllmApiKey a production stack is a blocker
    (infra/config/blockers.py), refused outside preview, so only a preview names the key's Secret without creating it."""
    return SecretNames(HF_SECRET if hf_token else "", API_KEY_SECRET if api_key or production else "")


def pod_resources(p: ModelPlacement) -> dict:
    """CPU and memory of one vLLM pod: its share of the instance, leaving room for the kubelet and
    daemons. /dev/shm (NCCL buffers with tensor parallelism) counts against the memory limit."""
    inst = catalog.instance(p.model.instance_type)
    rpi = p.plan.replicas_per_instance
    cpu = p.pod_cpu
    request = max(4, int(inst.memory_gib * 0.8 / rpi) - 1)
    limit = max(request, int(inst.memory_gib * 0.9 / rpi) - 1)
    out: dict = {"requests": {"cpu": str(cpu), "memory": f"{request}Gi"}, "limits": {"memory": f"{limit}Gi"}}
    nics = efa_interfaces(p.plan)
    if nics:   # a multi-node replica's pod takes its node's EFA interfaces (infra/components/efa.py)
        out["requests"][EFA_RESOURCE] = out["limits"][EFA_RESOURCE] = nics
    return out


def dashboard_values(e: Estimate) -> dict:
    """The Grafana dashboard's cost figures for one model: what an hour of it costs, the tokens/s its
    serving replicas carry at full capacity, and the cheapest comparable API's blended $/1M."""
    hours = catalog.assumptions()["hours_per_month"]
    v = e.verdict
    api = next((q for q in e.apis if q.offer.id == v.cheapest_api), None)
    return {"enabled": True, "hourlyCostUsd": round(e.monthly_usd / hours, 4),
            "capacityTokensPerSecond": round(e.full_capacity_tokens_per_month / (hours * 3600), 2),
            "apiUsdPerMtok": 0 if api is None else round(api.usd_per_mtok, 4),
            "apiName": "no comparable API" if api is None else api.offer.id}


def weights_values(p: ModelPlacement, s3: S3Weights | None) -> dict:
    """The chart's weights path for one model: the S3 copy streamed by the Run:ai loader, read through the
    pods' IRSA role (infra/components/weights_s3.py), or the Hub; the startup window follows the path's seconds per GiB."""
    source = "s3" if p.weights_source == "s3" and s3 is not None else "huggingface"
    out: dict = {"probes": {"startup": {"secondsPerGiB": weights_source.seconds_per_gib(source)}}}
    if s3 is not None and source == "s3":
        out["weightsSource"] = {"type": "s3", "s3": {"uri": s3.uri, "region": s3.region,
                                                     "concurrency": weights_source.streamer_concurrency()}}
        out["serviceAccount"] = {"create": True, "name": reader_service_account(p.model),
                                 "annotations": {"eks.amazonaws.com/role-arn": s3.reader_role_arn}}
    return out


def chart_values(spec: StackSpec, p: ModelPlacement, secrets: SecretNames, estimate: Estimate | None = None,
                 monitored: bool = False, weights_s3: S3Weights | None = None) -> dict:
    """The chart's values for one placed model, computed from the spec (the values contract of charts/vllm);
    with its estimate, the Grafana dashboard carries its cost figures; `monitored`: the program's
    Prometheus (infra/components/monitoring.py) scrapes it through a PodMonitor; `weights_s3`: the model's S3 copy
    (the program's, infra/components/weights_s3.py), without which the pods read the Hub."""
    m = p.model
    values = {
        "replicaCount": p.total_replicas,
        "model": {
            "name": m.model,
            "source": m.hf,
            "precision": m.precision,
            "maxModelLen": m.max_model_len,
            "weightsGiB": m.weights_gib,
            "extraArgs": [*m.checkpoint_flags, *m.extra_args],
        },
        # Beyond one node: tensor inside each node, pipeline across the group's nodes (cost.physics.multinode.layout).
        "parallelism": multinode_parallelism(m.gpus_per_replica, p.plan.gpus_per_instance),
        "gpu": {
            "enabled": True,
            "gpusPerNode": p.plan.gpus_per_instance,   # the node's GPUs; each pod requests tensor x pipeline
            "nodeSelector": {GPU_POOL_LABEL: m.pool_label},
        },
        "engine": {"gpuMemoryUtilization": m.gpu_memory_utilization, "maxNumSeqs": m.max_num_seqs,
                   "kvCacheDtype": m.deployment.kv_cache_dtype, "expertParallel": m.deployment.expert_parallel,
                   "apiServerCount": m.deployment.api_servers},
        "resources": pod_resources(p),
        # Weights cached on the node (instance-store NVMe or its gp3 volume, infra/components/weights.py): a restarted pod
        # on the same node reuses them; no shared RWX volume to provision.
        "modelCache": cache_values(model_cache(spec.cluster, p), m.cache_gib),
        "secrets": {
            "huggingFace": {"secretName": secrets.hugging_face, "key": HF_SECRET_KEY},
            "apiKey": {"required": spec.production, "secretName": secrets.api_key, "key": API_KEY_SECRET_KEY},
        },
        "availability": {"production": spec.production, "podsPerNode": p.plan.replicas_per_instance},
        **access_values(spec),
        "economics": economics(spec, p).to_json(),
        **weights_values(p, weights_s3),
    }
    if estimate is not None:
        values["metrics"] = {"grafanaDashboard": dashboard_values(estimate)}
    if monitored:
        values.setdefault("metrics", {})["podMonitor"] = {"enabled": True}
        scrapers = values["networkPolicy"]["metricsNamespaces"]
        if MONITORING_NAMESPACE not in scrapers:
            scrapers.append(MONITORING_NAMESPACE)
    return values


def multinode_parallelism(gpus_per_replica: int, gpus_per_node: int) -> dict:
    """The chart's parallelism: vLLM's split of the replica's GPUs, tensor x pipeline, with pipeline = the nodes one
    replica spans (cost.physics.multinode.layout)."""
    lay = layout(gpus_per_replica, gpus_per_node)
    return {"tensor": lay.tensor, "pipeline": lay.pipeline}


INTERNAL_NLB = {
    # Both AWS controllers read one of these: the AWS Load Balancer Controller (scheme) and the in-tree
    # service controller EKS runs without it (type nlb, internal).
    "service.beta.kubernetes.io/aws-load-balancer-type": "nlb",
    "service.beta.kubernetes.io/aws-load-balancer-scheme": "internal",
    "service.beta.kubernetes.io/aws-load-balancer-internal": "true",
}


def access_values(spec: StackSpec) -> dict:
    """The chart's NetworkPolicy (only the callers `breakeven:access` lists, metrics scrapers on their own
    port) and, with `loadBalancer: internal`, an internal NLB Service whose traffic the policy admits from
    the VPC (an NLB in instance mode arrives from the nodes' addresses)."""
    a = spec.access
    out = {"networkPolicy": {"enabled": True, "allowSameNamespace": a.same_namespace,
                             "allowedNamespaces": list(a.client_namespaces),
                             "metricsNamespaces": list(a.metrics_namespaces),
                             "allowedCidrs": [spec.cluster.vpc_cidr] if a.internal_load_balancer else []}}
    if a.internal_load_balancer:
        out["service"] = {"type": "LoadBalancer", "annotations": dict(INTERNAL_NLB)}
    return out


def device_plugin_manifest() -> dict:
    """NVIDIA's k8s-device-plugin DaemonSet, on the GPU pools only (they carry the taint it tolerates)."""
    labels = {"app.kubernetes.io/name": "nvidia-device-plugin", **MANAGED_BY}
    return {
        "metadata": {"name": "nvidia-device-plugin", "namespace": "kube-system", "labels": labels},
        "spec": {
            "selector": {"matchLabels": {"app.kubernetes.io/name": "nvidia-device-plugin"}},
            "updateStrategy": {"type": "RollingUpdate"},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "priorityClassName": "system-node-critical",
                    "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
                    "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
                        {"matchExpressions": [{"key": GPU_POOL_LABEL, "operator": "Exists"}]}]}}},
                    "containers": [{
                        "name": "nvidia-device-plugin",
                        "image": DEVICE_PLUGIN_IMAGE,
                        "env": [{"name": "FAIL_ON_INIT_ERROR", "value": "false"}],
                        "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"memory": "256Mi"}},
                        "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
                        "volumeMounts": [{"name": "device-plugin", "mountPath": "/var/lib/kubelet/device-plugins"}],
                    }],
                    "volumes": [{"name": "device-plugin", "hostPath": {"path": "/var/lib/kubelet/device-plugins"}}],
                },
            },
        },
    }


@dataclass(frozen=True)
class Release:
    """One model's vLLM release: its chart values (`chart_values`), the node pool its pods wait for, and, for a model
    whose replaced nodes stream the weights from S3, what its seed Job copies (infra/components/weights_s3.py)."""

    name: str
    """The model's name: the Helm release."""
    values: dict
    node_pool: pulumi.Resource | None = None
    seed_model: ModelSpec | None = None
    """The model the seed Job downloads from the Hub (its repo, size and node pool); None: no seed Job."""
    weights_s3: S3Weights | None = None
    """The model's S3 copy, which the seed Job fills (with `seed_model`)."""


@dataclass
class ServingArgs:
    namespace: str
    provider: k8s.Provider
    secrets: SecretNames
    """The Secrets to create (`secret_names`) and that the releases' values name."""
    hf_token: pulumi.Output[str] | None
    """Secret output from `breakeven:hfToken` (None: no token, public weights only)."""
    api_key: pulumi.Output[str] | None
    """Secret output from `breakeven:vllmApiKey`."""
    releases: list[Release]
    device_plugin: bool
    controllers: list[pulumi.Resource] = field(default_factory=list)
    """Controllers whose CRDs the charts render (LeaderWorkerSet, the Prometheus operator): installed first."""


class Serving(pulumi.ComponentResource):
    """Namespace, the two Secrets, the device plugin and a `VllmService` per model."""

    services: dict[str, VllmService]

    def __init__(self, name: str, args: ServingArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("breakeven:serving:Serving", name, None, opts)
        self._provider = args.provider
        namespace = args.namespace
        k8s_opts = pulumi.ResourceOptions(parent=self, provider=args.provider)
        ns = core.Namespace(f"{name}-namespace", metadata={"name": namespace, "labels": MANAGED_BY}, opts=k8s_opts)
        deps: list[pulumi.Resource] = [ns]
        secret_values: tuple[tuple[str, str, pulumi.Output[str] | None], ...] = (
            (HF_SECRET, HF_SECRET_KEY, args.hf_token), (API_KEY_SECRET, API_KEY_SECRET_KEY, args.api_key))
        for secret, key, value in secret_values:
            if value is None:
                continue
            secret_value: pulumi.Output[str] = pulumi.Output.secret(value)
            deps.append(core.Secret(f"{name}-{secret}", metadata={"name": secret, "namespace": namespace, "labels": MANAGED_BY},
                                    type="Opaque", string_data={key: secret_value},
                                    opts=pulumi.ResourceOptions(parent=self, provider=args.provider, depends_on=[ns])))
        if args.device_plugin:
            manifest = device_plugin_manifest()
            deps.append(apps.DaemonSet(f"{name}-nvidia-device-plugin", metadata=manifest["metadata"], spec=manifest["spec"],
                                       opts=k8s_opts))
        deps.extend(args.controllers)
        self.services = {}
        for r in args.releases:
            after = deps + ([r.node_pool] if r.node_pool is not None else [])
            if r.seed_model is not None and r.weights_s3 is not None:
                after = [*after, self.seed(name, namespace, r, r.seed_model, r.weights_s3, args.secrets.hugging_face, after)]
            self.services[r.name] = VllmService(
                f"{name}-{r.name}",
                VllmServiceArgs(values=r.values, release=r.name, namespace=namespace),
                opts=pulumi.ResourceOptions(parent=self, provider=args.provider, depends_on=after),
            )
        self.register_outputs({"namespace": namespace, "releases": [r.name for r in args.releases]})

    def seed(self, name: str, namespace: str, r: Release, m: ModelSpec, s3: S3Weights, hf_secret: str,
             after: list[pulumi.Resource]) -> pulumi.Resource:
        """The model's seed service account (the seed role) and Job (infra/components/weights_s3.py); Pulumi waits for the
        Job to complete, so the chart's pods start on a filled prefix. The Job works in the release's model cache
        (its `modelCache` values: the node-local volume sized for the weights)."""
        opts = pulumi.ResourceOptions(parent=self, provider=self._provider, depends_on=after)
        sa = core.ServiceAccount(f"{name}-{m.name}-seed-sa", opts=opts, automount_service_account_token=False,
                                 metadata={"name": seed_service_account(m), "namespace": namespace, "labels": MANAGED_BY,
                                           "annotations": {"eks.amazonaws.com/role-arn": s3.seed_role_arn}})
        cache = r.values["modelCache"]
        work = ({"hostPath": {**cache["hostPath"], "type": "Directory"}} if cache["type"] == "hostPath"
                else {"emptyDir": cache["emptyDir"]})
        manifest = seed_job(namespace, m, s3, work, hf_secret, HF_SECRET_KEY)
        return batch.Job(f"{name}-{m.name}-weights-seed", metadata=manifest["metadata"], spec=manifest["spec"],
                         opts=pulumi.ResourceOptions(parent=self, provider=self._provider, depends_on=[*after, sa]))


@dataclass
class VllmServiceArgs:
    values: dict
    """Chart values (see `chart_values`)."""
    release: str
    """Helm release name (the model's name)."""
    namespace: str


class VllmService(pulumi.ComponentResource):
    """One model served by charts/vllm through `kubernetes.helm.v4.Chart`."""

    chart: helm.Chart

    def __init__(self, name: str, args: VllmServiceArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("breakeven:serving:VllmService", name, None, opts)
        provider = opts.provider if opts else None
        self.chart = helm.Chart(
            f"{name}-chart",
            chart=CHART_PATH,
            name=args.release,
            namespace=args.namespace,
            values=args.values,
            opts=pulumi.ResourceOptions(parent=self, provider=provider, depends_on=opts.depends_on if opts else None),
        )
        self.register_outputs({"release": args.release})
