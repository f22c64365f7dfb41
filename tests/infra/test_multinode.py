"""A model larger than one node, from the stack file to the LeaderWorkerSet the pack prices.

The example `llama-405b`: Llama 3.1 405B bf16 needs 16 H100s, two p5.48xlarge per replica.
"""

from __future__ import annotations

import re

import pytest

from cost.deployment import Deployment, Exemptions
from cost.errors import InputError
from cost.estimate import estimate
from cost.physics import multinode
from cost.pricing.tco import Overheads
from cost.workload import Workload
from infra.components import serving
from infra.components.lws import LWS_CHART, LWS_CHART_VERSION
from infra.offline import helmrender
from infra.placement import place
from tests.infra.conftest import run_stack, stack_value

P = "breakeven:"
STACK = "llama-405b"


def _lws(run):
    return [r for r in run.resources if r.type == "kubernetes:helm.sh/v4:Chart" and r.inputs.get("chart") == LWS_CHART]


def test_the_program_installs_the_pinned_lws_controller_only_where_a_replica_spans_nodes(runs):
    _, run, _ = runs[STACK]
    [lws] = _lws(run)
    assert lws.inputs["version"] == LWS_CHART_VERSION and lws.inputs["namespace"] == "lws-system"
    # Single-node stacks get no controller they do not use.
    assert not _lws(runs["prod"][1]) and not _lws(runs["dev"][1])


def test_each_group_stays_in_one_zone_and_groups_spread_over_zones(runs):
    _, run, spec = runs[STACK]
    m = place(spec).models[0]
    assert m.plan.instances_per_replica == 2 and m.total_replicas == 2
    groups = [r for r in run.resources if r.type == "aws:eks/nodeGroup:NodeGroup" and r.name.startswith("gpu-")]
    # One node group per zone, each holding one whole group (2 nodes), in two distinct zones.
    assert sorted(g.inputs["scalingConfig"]["desiredSize"] for g in groups) == [2, 2]
    assert len({tuple(g.inputs["subnetIds"]) for g in groups}) == 2
    assert all(len(g.inputs["subnetIds"]) == 1 for g in groups)


def test_zones_beyond_the_groups_are_refused_before_any_resource():
    value = stack_value(STACK, f"{P}models")
    value[0]["redundancy"] = {"spares": 1, "zones": 3}   # 2 groups of 2 nodes cannot fill 3 zones
    _, run = run_stack(STACK, {f"{P}models": value})
    assert isinstance(run.error, InputError) and not run.resources
    assert run.error.key == f"{P}models[0].redundancy.zones"
    assert "at most 2" in run.error.allowed and "one zone" in run.error.allowed


@pytest.mark.helm
def test_the_leader_and_worker_pods_split_tensor_in_a_node_and_pipeline_across(runs):
    _, _, spec = runs[STACK]
    m = place(spec).models[0]
    values = serving.chart_values(spec, m, serving.SecretNames("hf-token", "vllm-api-key"))
    r = helmrender.render("chart", "charts/vllm", m.model.name, spec.namespace, values, spec.cluster.kubernetes_version)
    [lws] = [o for o in r.objects if o["kind"] == "LeaderWorkerSet"]
    assert not [o for o in r.objects if o["kind"] == "Deployment"]
    lwt = lws["spec"]["leaderWorkerTemplate"]
    assert lws["spec"]["replicas"] == m.total_replicas and lwt["size"] == 2
    for role, template in (("leader", lwt["leaderTemplate"]), ("worker", lwt["workerTemplate"])):
        c = next(c for c in template["spec"]["containers"] if c["name"] == "vllm")
        assert "--tensor-parallel-size=8" in c["args"] and "--pipeline-parallel-size=2" in c["args"], role
        assert "--nnodes=2" in c["args"], role
        assert c["resources"]["limits"]["nvidia.com/gpu"] == 8, role
        # The group's pods share one zone: required pod affinity on the group key, by zone.
        term = template["spec"]["affinity"]["podAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][0]
        assert term["topologyKey"] == "topology.kubernetes.io/zone"
        assert term["matchLabelKeys"] == ["leaderworkerset.sigs.k8s.io/group-key"]
    worker = next(c for c in lwt["workerTemplate"]["spec"]["containers"] if c["name"] == "vllm")
    assert "--headless" in worker["args"] and "--node-rank=$(LWS_WORKER_INDEX)" in worker["args"]


def test_the_program_prices_the_two_node_stack_as_estimate_prices_it(runs):
    """The same configuration, given to `cost.estimate` directly (as `breakeven estimate` would), costs
    what the program exports and logs."""
    _, run, _ = runs[STACK]
    d = Deployment(model="llama-3.1-405b", gpu="H100", gpus_per_replica=16, replicas=1, redundancy=1, precision="bf16",
                   pricing="on-demand", instance_type="p5.48xlarge", max_num_seqs=64,
                   max_model_len=8192, exemptions=Exemptions(private_data=True), name="llama-405b")
    w = Workload(tokens_per_month=4e9, avg_input_tokens=2000, avg_output_tokens=500, utilization=0.8)
    e = estimate(d, w, overheads=Overheads(mlops_fte=0.5))
    exported = run.outputs["cost"]["models"][0]
    assert e.plan.nodes == 4 and e.fit.nodes == 2
    assert exported["self_hosted"]["monthly_usd"] == pytest.approx(round(e.monthly_usd, 2), abs=0.005)
    assert run.outputs["cost"]["monthly_usd"] == pytest.approx(round(e.monthly_usd, 2), abs=0.005)


@pytest.mark.parametrize("gpus, fragment", [
    (12, "splits the attention heads evenly"),      # 128 heads: 12 does not divide them
    (20, "splits the attention heads evenly"),
])
def test_estimate_and_the_program_refuse_a_layout_vllm_cannot_serve_with_the_same_message(gpus, fragment):
    from cost.pricing.nodes import plan_nodes

    with pytest.raises(InputError) as from_cost:   # what `breakeven estimate` builds and plans
        plan_nodes(Deployment.build(model="llama-3.1-405b", gpu="H100", gpus_per_replica=gpus, replicas=1,
                                    precision="bf16", instance_type="p5.48xlarge"))
    value = stack_value(STACK, f"{P}models")
    value[0]["tensorParallel"] = gpus
    _, run = run_stack(STACK, {f"{P}models": value})
    assert isinstance(run.error, InputError) and not run.resources
    assert run.error.key == f"{P}models[0].tensorParallel"
    assert run.error.allowed == from_cost.value.allowed and fragment in run.error.allowed


def test_a_per_node_tensor_size_that_does_not_split_the_heads_is_refused():
    from cost import catalog

    # A hypothetical 4-GPU node: 405B's 128 heads split 4 ways is fine; a 6-GPU node would not split them.
    inst = catalog.instance("p5.48xlarge")
    fake = type(inst)(**{**inst.__dict__, "gpus": 6, "type": "six-gpu"})
    with pytest.raises(InputError, match=re.escape("divides llama-3.1-405b's 128 attention heads")):
        multinode.require_deployable("llama-3.1-405b", fake, 12)
    assert multinode.require_deployable("llama-3.1-405b", inst, 16) == multinode.Layout(8, 2)


@pytest.mark.helm
def test_the_pack_prices_the_rendered_leaderworkerset_as_the_program_does_and_gates_it():
    """The offline preview (program under mocks, chart through helm) shown to the policy pack: the pack reads
    the LeaderWorkerSet's nodes from the node groups and prices what `estimate` prices; its verdict."""
    from infra.offline import preview
    from policies import pricing as pack_pricing
    from policies import trust

    p = preview.plan(STACK)
    [lws] = [r for r in p.resources if r["type"] == "kubernetes:leaderworkerset.x-k8s.io/v1:LeaderWorkerSet"]
    assert lws["inputs"]["spec"]["leaderWorkerTemplate"]["size"] == 2
    # The pinned controller stays one Chart resource offline (an OCI chart is not pulled here).
    assert [r["inputs"]["version"] for r in p.resources if r["inputs"].get("chart") == LWS_CHART] == [LWS_CHART_VERSION]
    # The private-data exemption is granted by the policy config (trust.example.json).
    view = pack_pricing.build_stack(p.resources, stack=p.stack, trust=trust.load("trust.example.json"))
    assert [x.message for x in view.all_problems] == []
    assert view.figures()["monthly_usd"] == p.cost["monthly_usd"]
    violations, code = preview.run_policies(p)
    assert code == 0, violations   # no mandatory violation: N+1 groups in two zones carry the 4B tokens/month
    # advisories only: one H200 node would do it cheaper; and since tensor-parallel shards stream their weights at the
    # full rate (issue 22), the one serving group carries 6.95B at 80 %, so 4B uses 58 % of it (the 60 % floor)
    assert sorted((v.policy, v.level) for v in violations) == [("right-sized-gpus", "advisory"),
                                                                ("utilization-floor", "advisory")]


def test_a_multi_node_replica_on_an_efa_instance_gets_every_efa_interface_and_the_device_plugin(runs):
    from cost.catalog.instance_hardware import hardware
    from infra.components.efa import EFA_PLUGIN_CHART, EFA_PLUGIN_VERSION, EFA_RESOURCE

    _, run, spec = runs[STACK]
    m = place(spec).models[0]
    nics = hardware(m.model.instance_type).efa_interfaces
    assert nics == 32   # p5.48xlarge: 32 network cards (cost/data/instance-hardware.yaml)
    # One launch template per zone (each names its zone's placement group: tests/infra/test_placement.py).
    lts = [r for r in run.resources if r.type == "aws:ec2/launchTemplate:LaunchTemplate" and r.name.startswith(f"gpu-{m.model.name}-lt")]
    assert len(lts) == len(m.pools) == 2
    for lt in lts:
        interfaces = lt.inputs["networkInterfaces"]
        assert [(i["networkCardIndex"], i["deviceIndex"]) for i in interfaces] == [(c, 0) for c in range(nics)]
        assert interfaces[0]["interfaceType"] == "efa" and {i["interfaceType"] for i in interfaces[1:]} == {"efa-only"}
        assert all("subnetId" not in i for i in interfaces)   # the node group picks the zone's subnet
    [plugin] = [r for r in run.resources if r.type == "kubernetes:helm.sh/v4:Chart" and r.inputs["chart"] == EFA_PLUGIN_CHART]
    assert plugin.inputs["version"] == EFA_PLUGIN_VERSION
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in plugin.inputs["values"]["tolerations"]
    [chart] = [r for r in run.resources if r.type == "kubernetes:helm.sh/v4:Chart" and r.inputs["chart"] == "./charts/vllm"]
    res = chart.inputs["values"]["resources"]
    assert res["requests"][EFA_RESOURCE] == res["limits"][EFA_RESOURCE] == nics
    # A replica inside one node (prod: TP4 on a p4de, which has EFA) needs none of it.
    _, prod_run, _ = runs["prod"]
    assert not [r for r in prod_run.resources if r.inputs.get("chart") == EFA_PLUGIN_CHART]
    assert all(not r.inputs.get("networkInterfaces") for r in prod_run.resources if r.type == "aws:ec2/launchTemplate:LaunchTemplate")


def test_optimize_searches_multi_node_groups_and_prices_them_as_the_program():
    """Restricted to H100 bf16, the cheapest configuration is the example's two-node group, at its price."""
    from cost.decide.optimize import Constraints, optimize

    _, run = run_stack(STACK)
    w = Workload(tokens_per_month=4e9, avg_input_tokens=2000, avg_output_tokens=500, utilization=0.8)
    [best] = optimize("llama-3.1-405b", w, Constraints(gpus=("H100",), precisions=("bf16",), pricings=("on-demand",),
                                                        production=True, zones=2, max_model_len=8192, max_num_seqs=64),
                      exemptions=Exemptions(private_data=True), overheads=Overheads(mlops_fte=0.5), top=1)
    d = best.deployment
    assert (d.instance_type, d.gpus_per_replica, d.replicas, d.redundancy) == ("p5.48xlarge", 16, 1, 1)
    assert round(best.monthly_usd, 2) == run.outputs["cost"]["monthly_usd"]
