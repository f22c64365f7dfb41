"""Resource dicts shaped exactly like `infra.offline.preview.plan(stack).resources`, for focused policy tests.

`model_stack(...)` builds one stack around one or more vLLM models: the subnets and GPU node groups
the program registers (infra/components/nodepools.py: one node group per zone, tainted, labelled with the
model's pool and tagged with its economics) and the objects charts/vllm renders for each model (a
Deployment carrying the `breakeven.dev/economics` annotation, a PodDisruptionBudget, a Service), each
a dict `{type, name, inputs, urn?, parent?, propertyDependencies?}`. The economics are written with
the same codec the program uses (`cost.economics`), never by hand.

`spec_stack(name)` builds the same for an example stack from its validated spec and placement (infra/placement.py), so a
test can compare the pack's figures with the preview's (`infra.pricing.price(placement)`).
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from typing import Any

from cost import catalog
from cost import economics as econ
from cost.deployment import Deployment, Exemptions
from cost.workload import Workload

NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
SUBNET = "aws:ec2/subnet:Subnet"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
PDB = "kubernetes:policy/v1:PodDisruptionBudget"
SERVICE = "kubernetes:core/v1:Service"
SECRET = "kubernetes:core/v1:Secret"
CHART = "kubernetes:helm.sh/v4:Chart"
STACK = "test"


def urn(type_: str, name: str) -> str:
    return f"urn:pulumi:{STACK}::breakeven::{type_}::{name}"


@dataclass
class M:
    """One model as a stack declares it (the spec's ModelSpec, flattened)."""

    name: str = "chat-8b"
    model: str = "llama-3.1-8b"
    precision: str = "bf16"
    instance_type: str = "g6.xlarge"
    gpus_per_replica: int = 1
    replicas: int = 1
    spares: int = 0
    zones: tuple[str, ...] = ("us-east-1a",)
    pools: tuple | None = None   # ((suffix, zones, nodes), ...); None: the plan's units, one pool per zone
    capacity_type: str = "on-demand"
    max_model_len: int = 8192
    gmu: float = 0.9
    max_num_seqs: int = 256
    kv_cache_dtype: str = "auto"
    expert_parallel: bool = False
    api_servers: int = 1
    tokens_per_month: float = 100e6
    avg_in: int = 600
    avg_out: int = 400
    utilization: float | None = None
    ttft_ms: float | None = None
    tpot_ms: float | None = None
    exemptions: tuple[str, ...] = ()
    stack: dict = field(default_factory=dict)   # this model's own stack-level economics (a disagreement test)

    @property
    def total(self) -> int:
        return self.replicas + self.spares


def _units(m: M) -> int:
    inst = catalog.instance(m.instance_type)
    if m.gpus_per_replica <= inst.gpus:
        per = inst.gpus // m.gpus_per_replica
        return -(-m.total // per)
    return m.total * (m.gpus_per_replica // inst.gpus)


def _pools(m: M) -> list[tuple[str, tuple[str, ...], int]]:
    if m.pools is not None:
        return [(s, tuple(z), n) for s, z, n in m.pools]
    units = _units(m)
    if len(m.zones) == 1:
        return [("all", m.zones, units)]
    base, extra = divmod(units, len(m.zones))
    return [(z[-1], (z,), base + (1 if i < extra else 0)) for i, z in enumerate(m.zones)]


def economics(m: M, stack: econ.StackEconomics) -> econ.Economics:
    """The model's economics value, as infra.pricing.economics builds it from a spec."""
    ex = {e.replace("-", "_"): True for e in m.exemptions if e != "low-ttft"}
    d = Deployment.build(model=m.model, instance_type=m.instance_type, gpus_per_replica=m.gpus_per_replica, replicas=m.replicas,
                         redundancy=m.spares, precision=m.precision, pricing=m.capacity_type, max_model_len=m.max_model_len,
                         gpu_memory_utilization=m.gmu, max_num_seqs=m.max_num_seqs, exemptions=Exemptions(**ex), name=m.name,
                         kv_cache_dtype=m.kv_cache_dtype, expert_parallel=m.expert_parallel, api_servers=m.api_servers)
    w = Workload.build(m.tokens_per_month, avg_input_tokens=m.avg_in, avg_output_tokens=m.avg_out,
                       utilization=0.8 if m.utilization is None else m.utilization,
                       ttft_target_s=None if m.ttft_ms is None else m.ttft_ms / 1000,
                       tpot_target_s=None if m.tpot_ms is None else m.tpot_ms / 1000)
    return econ.Economics(d, w, stack if not m.stack else econ.StackEconomics(**{**stack.__dict__, **m.stack}))


def vllm_objects(m: M, namespace: str, e: econ.Economics, *, pdb: bool = True, zone_spread: bool = True,
                 chart_urn: str = "") -> list[dict]:
    """What charts/vllm renders for one model (Deployment, PDB, Service), as plan.resources entries."""
    labels = {"app.kubernetes.io/name": "vllm", "app.kubernetes.io/instance": m.name}
    ann = {econ.ANNOTATION: e.to_json()}
    pod = {
        "nodeSelector": {"breakeven.dev/gpu-pool": m.name},
        "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
        "containers": [{
            "name": "vllm", "image": "vllm/vllm-openai:v0.10.1",
            "args": ["--model", catalog.model(m.model).hf, "--served-model-name", m.model,
                     "--tensor-parallel-size", str(m.gpus_per_replica), "--max-model-len", str(m.max_model_len),
                     "--gpu-memory-utilization", str(m.gmu), "--max-num-seqs", str(m.max_num_seqs),
                     *([] if m.kv_cache_dtype == "auto" else ["--kv-cache-dtype", m.kv_cache_dtype]),
                     *(["--enable-expert-parallel"] if m.expert_parallel else []),
                     *([] if m.api_servers == 1 else ["--api-server-count", str(m.api_servers)]),
                     "--api-key", "$(VLLM_API_KEY)"],
            "env": [
                {"name": "HF_TOKEN", "valueFrom": {"secretKeyRef": {"name": "hf-token", "key": "token"}}},
                {"name": "VLLM_API_KEY", "valueFrom": {"secretKeyRef": {"name": "vllm-api-key", "key": "api-key"}}},
                {"name": "VLLM_LOGGING_LEVEL", "value": "INFO"},
            ],
            "resources": {"limits": {"nvidia.com/gpu": m.gpus_per_replica}, "requests": {"nvidia.com/gpu": m.gpus_per_replica, "cpu": "4"}},
            "ports": [{"name": "http", "containerPort": 8000}],
        }],
    }
    if zone_spread:
        pod["topologySpreadConstraints"] = [{"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone",
                                             "whenUnsatisfiable": "ScheduleAnyway", "labelSelector": {"matchLabels": labels}}]
    out = [{
        "type": DEPLOYMENT, "name": f"{m.name}-chart:{namespace}/{m.name}", "parent": chart_urn,
        "urn": urn(DEPLOYMENT, f"{m.name}-chart:{namespace}/{m.name}"),
        "inputs": {"apiVersion": "apps/v1", "kind": "Deployment",
                   "metadata": {"name": m.name, "namespace": namespace, "labels": labels, "annotations": ann},
                   "spec": {"replicas": m.total, "selector": {"matchLabels": labels},
                            "template": {"metadata": {"labels": labels}, "spec": pod}}},
    }, {
        "type": SERVICE, "name": f"{m.name}-chart:{namespace}/{m.name}", "parent": chart_urn,
        "urn": urn(SERVICE, f"{m.name}-chart:{namespace}/{m.name}"),
        "inputs": {"apiVersion": "v1", "kind": "Service", "metadata": {"name": m.name, "namespace": namespace, "labels": labels},
                   "spec": {"selector": labels, "ports": [{"name": "http", "port": 80, "targetPort": "http"}]}},
    }]
    if pdb:
        out.append({
            "type": PDB, "name": f"{m.name}-chart:{namespace}/{m.name}", "parent": chart_urn,
            "urn": urn(PDB, f"{m.name}-chart:{namespace}/{m.name}"),
            "inputs": {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
                       "metadata": {"name": m.name, "namespace": namespace, "labels": labels},
                       "spec": {"maxUnavailable": 1, "selector": {"matchLabels": labels}}},
        })
    return out


def node_groups(m: M, subnet_urns: dict, e: econ.Economics, *, capacity_type: str | None = None, name_suffix: str = "",
                desired: int | None = None) -> list[dict]:
    """infra/components/nodepools.py: one node group per zone pool, tainted, labelled with the model's pool, tagged with its economics."""
    eks_cap = capacity_type or ("SPOT" if m.capacity_type == "spot" else "ON_DEMAND")
    out = []
    for suffix, zones, nodes in _pools(m):
        n = nodes if desired is None else desired
        name = f"gpu-{m.name}-{suffix}{name_suffix}"
        out.append({
            "type": NODE_GROUP, "name": name, "urn": urn(NODE_GROUP, name),
            "inputs": {"clusterName": "breakeven", "nodeGroupName": name, "instanceTypes": [m.instance_type],
                       "capacityType": eks_cap, "amiType": "AL2023_x86_64_NVIDIA",
                       "scalingConfig": {"desiredSize": n, "minSize": n, "maxSize": n if desired is None else max(desired, 1)},
                       "taints": [{"key": "nvidia.com/gpu", "value": "true", "effect": "NO_SCHEDULE"}],
                       "labels": {"breakeven.dev/gpu-pool": m.name, "nvidia.com/gpu.present": "true"},
                       "tags": {**e.to_tags(), "breakeven.dev/zones": " ".join(zones)},
                       "subnetIds": [f"network-private-{z[-1]}-id" for z in zones]},
            "propertyDependencies": {"subnetIds": [subnet_urns[z] for z in zones]},
        })
    return out


def subnets(zones) -> tuple[list[dict], dict]:
    res, urns = [], {}
    for i, z in enumerate(zones):
        name = f"network-private-{z[-1]}"
        u = urn(SUBNET, name)
        urns[z] = u
        res.append({"type": SUBNET, "name": name, "urn": u,
                    "inputs": {"vpcId": "network-vpc-id", "availabilityZone": z, "cidrBlock": f"10.0.{i * 32}.0/19"}})
    return res, urns


def model_stack(*models: M, production: bool = True, namespace: str = "llm", stack: dict | None = None,
                pdb: bool = True, zone_spread: bool = True, extra: list[dict] | None = None) -> list[dict]:
    """A whole stack's resources around these models. stack: StackEconomics fields (overheads, routing, ...)."""
    models = models or (M(),)
    st = econ.StackEconomics(**{"stack": STACK, "production": production, **(stack or {})})
    zones = sorted({z for m in models for z in m.zones} | {"us-east-1a", "us-east-1b"})
    res, urns = subnets(zones)
    for m in models:
        res += node_groups(m, urns, economics(m, st))
    for m in models:
        chart_urn = urn(CHART, f"serving-{m.name}-chart")
        res.append({"type": CHART, "name": f"serving-{m.name}-chart", "urn": chart_urn,
                    "inputs": {"chart": "./charts/vllm", "name": m.name, "namespace": namespace,
                               "values": {"replicaCount": m.total, "secrets": {"huggingFace": {"secretName": "hf-token",
                                                                                                "key": "token"}}}}})
        res += vllm_objects(m, namespace, economics(m, st), pdb=pdb, zone_spread=zone_spread, chart_urn=chart_urn)
    res.append({"type": SECRET, "name": "serving-hf-token", "urn": urn(SECRET, "serving-hf-token"),
                "inputs": {"metadata": {"name": "hf-token", "namespace": namespace}, "type": "Opaque",
                           "stringData": {"token": "[secret]"}}})
    return res + list(extra or [])


def find(resources: list[dict], type_: str, name_part: str = "") -> dict:
    return next(r for r in resources if r["type"] == type_ and name_part in r["name"])


def deployment(resources: list[dict], name: str = "") -> dict:
    return find(resources, DEPLOYMENT, name)


def set_economics(resources: list[dict], path: str, value: Any, name: str = "") -> list[dict]:
    """A copy with one field of a model's economics annotation changed, written raw (so a test can tamper:
    a string where a number belongs, NaN, ...). path: dotted, e.g. "workload.tokens_per_month"; None deletes."""
    out = copy.deepcopy(resources)
    ann = deployment(out, name)["inputs"]["metadata"]["annotations"]
    doc = json.loads(ann[econ.ANNOTATION])
    *parents, last = path.split(".")
    node = doc
    for p in parents:
        node = node[p]
    if value is None:
        node.pop(last, None)
    else:
        node[last] = value
    ann[econ.ANNOTATION] = json.dumps(doc)
    return out


# ---------------------------------------------------------------------------------------------
# The example stacks, from their specs
# ---------------------------------------------------------------------------------------------

def placed_of(stack: str):
    """(spec, placement) of an example stack, as the program loads and places it."""
    from infra.config import spec as spec_mod
    from infra.config import stackconfig
    from infra.placement import place

    cfg = stackconfig.load(stack)
    values = {k: ("[secret]" if k in cfg.secret_keys else v) for k, v in cfg.values.items()}
    spec = spec_mod.load(values, project=cfg.project, stack=stack)
    return spec, place(spec)


def helm_objects(spec, p, chart_urn: str) -> list[dict]:
    """The real chart rendered by helm with the program's values for the placed model (infra.components.serving.chart_values),
    registered as the preview registers rendered objects."""
    from infra.components.serving import SecretNames, chart_values
    from infra.offline import helmrender

    values = chart_values(spec, p, SecretNames("hf-token", "vllm-api-key"))
    out = helmrender.render(f"serving-{p.model.name}-chart", "./charts/vllm", p.model.name, spec.namespace, values,
                            spec.cluster.kubernetes_version)
    objects = [(helmrender.resource_type(o), helmrender.resource_name(out.chart_resource, o, out.namespace), o)
               for o in out.objects]
    return [{"type": t, "name": n, "urn": urn(t, n), "inputs": o, "parent": chart_urn} for t, n, o in objects]


def spec_stack(stack: str, *, helm: bool = False) -> list[dict]:
    """An example stack's resources as the program and the chart register them (see the module doc).

    helm: render the real chart with helm (else the chart's values contract is emulated here)."""
    from infra import pricing

    spec, placement = placed_of(stack)
    zones = sorted({z for p in placement.models for pool in p.pools for z in pool.zones} | set(spec.cluster.zones))
    res, urns = subnets(zones)
    for p in placement.models:
        m, w = p.model, p.model.workload
        flat = M(name=m.name, model=m.model, precision=m.precision, instance_type=m.instance_type, gpus_per_replica=m.gpus_per_replica,
                 replicas=p.replicas, spares=m.spares, pools=tuple((z.suffix, z.zones, z.nodes) for z in p.pools),
                 capacity_type=m.capacity_type, max_model_len=m.max_model_len, gmu=m.gpu_memory_utilization,
                 max_num_seqs=m.max_num_seqs, kv_cache_dtype=m.deployment.kv_cache_dtype,
                 expert_parallel=m.deployment.expert_parallel, api_servers=m.deployment.api_servers,
                 tokens_per_month=w.tokens_per_month,
                 avg_in=w.avg_input_tokens, avg_out=w.avg_output_tokens)
        e = pricing.economics(spec, p)
        res += node_groups(flat, urns, e)
        chart_urn = urn(CHART, f"serving-{m.name}-chart")
        res.append({"type": CHART, "name": f"serving-{m.name}-chart", "urn": chart_urn,
                    "inputs": {"chart": "./charts/vllm", "name": m.name, "namespace": spec.namespace}})
        res += helm_objects(spec, p, chart_urn) if helm else vllm_objects(flat, spec.namespace, e, chart_urn=chart_urn)
    return [{**r, "urn": r.get("urn", "").replace(f"urn:pulumi:{STACK}:", f"urn:pulumi:{stack}:")} for r in res]


def by_policy(violations, policy: str) -> list:
    return [v for v in violations if v.policy == policy]


def mandatory(violations) -> list:
    return [v for v in violations if v.mandatory]


def trusting(grants: dict | None = None, allowed: list[str] | None = None, **extra: Any) -> dict:
    """A policy config granting `grants` ({stack: {exemptions, commitments, ..., models}}) to every stack policy, as
    an organisation writes it (each policy is configured on its own by the CLI). extra: more per-policy settings."""
    from policies.rules import POLICIES

    value = {"grants": grants or {}, "allowedWorkloads": allowed or []}
    out: dict[str, Any] = {p.name: {"trust": value} for p in POLICIES if p.name != "secrets-via-references"}
    for name, settings in extra.items():
        out[name.replace("_", "-")] = {**out.get(name.replace("_", "-"), {}), **settings}
    return out
