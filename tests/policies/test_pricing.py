"""What the pack prices from the resources, and what it says when it cannot price something."""

from __future__ import annotations

import copy
import os

import pytest

from cost import economics as econ
from cost.report_model import fleet_document
from policies import pricing
from policies.resources import UNKNOWN_STRING_VALUE
from tests.policies import builders as B

HA = B.M(name="chat-8b", instance_type="g6.xlarge", replicas=1, spares=1, zones=("us-east-1a", "us-east-1b"),
         tokens_per_month=1e9)
ECON = "self-hosting-beats-api"
READABLE = "economics-readable"


def test_the_pack_reads_what_the_chart_renders():
    s = pricing.build_stack(B.model_stack(HA))
    (m,) = s.models
    d, w = m.deployment, m.workload
    assert (d.model, d.gpu, d.instance_type, d.gpus_per_replica, d.replicas, d.redundancy, d.pricing) == \
        ("llama-3.1-8b", "L4", "g6.xlarge", 1, 1, 1, "on-demand")
    assert (d.max_model_len, d.gpu_memory_utilization, d.max_num_seqs) == (8192, 0.9, 256)   # checked against the vLLM args
    assert (w.tokens_per_month, w.avg_input_tokens, w.avg_output_tokens) == (1e9, 600, 400)
    assert [g.zones for g in m.node_groups] == [["us-east-1a"], ["us-east-1b"]]               # via the subnets
    assert s.production and m.priced and not s.all_problems


def test_a_leaderworkerset_spans_nodes():
    res = B.model_stack(B.M(name="big", model="llama-3.1-405b", precision="fp8", instance_type="p5.48xlarge", gpus_per_replica=16,
                            replicas=1, zones=("us-east-1a",), tokens_per_month=1e9), production=False)
    dep = B.deployment(res)
    lws = copy.deepcopy(dep)
    template = lws["inputs"]["spec"].pop("template")
    template["spec"]["containers"][0]["resources"] = {"limits": {"nvidia.com/gpu": 8}}
    lws["type"] = "kubernetes:leaderworkerset.x-k8s.io/v1:LeaderWorkerSet"
    lws["inputs"].update(apiVersion="leaderworkerset.x-k8s.io/v1", kind="LeaderWorkerSet")
    lws["inputs"]["spec"]["leaderWorkerTemplate"] = {"size": 2, "leaderTemplate": template, "workerTemplate": template}
    res[res.index(dep)] = lws
    (m,) = pricing.build_stack(res).models
    assert m.deployment.gpus_per_replica == 16 and m.estimate.plan.nodes == 2 and not m.problems


def test_an_unknown_value_during_preview_fails_closed(pack):
    res = B.model_stack(HA)
    B.deployment(res)["inputs"]["metadata"]["annotations"]["breakeven.dev/economics"] = UNKNOWN_STRING_VALUE
    got = pack.evaluate(res)
    (econ,) = B.by_policy(got, ECON)
    assert econ.mandatory and "unknown during preview" in econ.detail and "Failing closed" in econ.detail
    assert any(v.mandatory and "unknown during preview" in v.detail for v in B.by_policy(got, READABLE))


def test_unknown_node_group_inputs_are_unknown_not_wrong():
    res = B.model_stack(HA)
    for ng in (r for r in res if r["type"] == B.NODE_GROUP):
        ng["inputs"]["capacityType"] = UNKNOWN_STRING_VALUE
    s = pricing.build_stack(res)
    assert any(p.unknown and "capacityType is unknown during preview" in p.message for p in s.all_problems)


def test_an_instance_type_outside_the_catalog_cannot_be_priced(pack):
    res = B.model_stack(HA)
    for ng in (r for r in res if r["type"] == B.NODE_GROUP):
        ng["inputs"]["instanceTypes"] = ["p9.96xlarge"]
    got = pack.evaluate(res, {"monthly-budget": {"maxMonthlyUsd": 10_000}})
    for policy in ("self-hosting-beats-api", "monthly-budget", "production-redundancy"):
        (v,) = B.by_policy(got, policy)
        assert v.mandatory and "p9.96xlarge is not in the catalog" in v.detail, policy
    assert any(v.mandatory and "p9.96xlarge" in v.detail for v in B.by_policy(got, READABLE))


def test_an_unknown_instance_type_during_preview_is_reported_as_unknown():
    res = B.model_stack(HA)
    for ng in (r for r in res if r["type"] == B.NODE_GROUP):
        ng["inputs"]["instanceTypes"] = UNKNOWN_STRING_VALUE
    s = pricing.build_stack(res)
    assert not s.models[0].priced and any(p.unknown for p in s.all_problems)


def test_a_workload_no_node_group_carries_cannot_be_priced(pack):
    res = B.model_stack(HA)
    pod = B.deployment(res)["inputs"]["spec"]["template"]["spec"]
    pod["nodeSelector"] = {"breakeven.dev/gpu-pool": "elsewhere"}
    (v,) = B.by_policy(pack.evaluate(res), ECON)
    assert "no GPU node group matches" in v.detail
    pod["nodeSelector"] = {"breakeven.dev/gpu-pool": "chat-8b"}
    pod["tolerations"] = []
    assert "no GPU node group matches" in B.by_policy(pack.evaluate(res), ECON)[0].detail


def test_node_group_nodes_no_replica_uses_are_billed_and_reported(pack):
    base = pricing.build_stack(B.model_stack(HA)).models[0]
    res = B.model_stack(HA)
    ng = B.find(res, B.NODE_GROUP, "-a")
    ng["inputs"]["scalingConfig"]["desiredSize"] = 3
    m = pricing.build_stack(res).models[0]
    assert m.idle_nodes == 2 and m.idle_usd == 2 * 0.8048 * 730
    assert m.monthly_usd == base.monthly_usd + m.idle_usd
    assert any("2 node(s) more than its replicas need" in v.detail for v in B.by_policy(pack.evaluate(res), "utilization-floor"))


def test_a_gpu_node_group_no_model_uses_is_a_mandatory_violation_with_its_cost(pack):
    res = B.model_stack(HA)
    _, urns = B.subnets(("us-east-1a",))
    orphan = B.node_groups(B.M(name="old", instance_type="p5.48xlarge", zones=("us-east-1a",)), urns,
                           B.economics(HA, pricing.econ.StackEconomics()))
    orphan[0]["inputs"]["tags"] = {}
    got = B.by_policy(pack.evaluate(res + orphan), READABLE)
    assert any(v.mandatory and "no priced model uses" in v.detail and "$40,179.20/month" in v.detail for v in got)


def test_resources_that_disagree_with_the_economics_are_priced_as_deployed_and_fail():
    res = B.set_economics(B.model_stack(HA), "deployment.instance_type", "g6.4xlarge")
    (m,) = pricing.build_stack(res).models
    assert m.deployment.instance_type == "g6.xlarge" and any("g6.4xlarge" in p.message for p in m.problems)
    spot = B.model_stack(HA)
    for ng in (r for r in spot if r["type"] == B.NODE_GROUP):
        ng["inputs"]["capacityType"] = "SPOT"
    (m,) = pricing.build_stack(spot).models
    assert m.deployment.pricing == "spot" and any("declare on-demand" in p.message for p in m.problems)


MOE = B.M(name="moe", model="qwen3-30b-a3b", instance_type="g6e.12xlarge", gpus_per_replica=2, kv_cache_dtype="fp8",
          expert_parallel=True, tokens_per_month=1e9)


def _args(res: list[dict]) -> list[str]:
    return B.deployment(res)["inputs"]["spec"]["template"]["spec"]["containers"][0]["args"]


def _moe_with_args(change) -> pricing.Model:
    res = B.model_stack(MOE, production=False)
    change(_args(res))
    (m,) = pricing.build_stack(res).models
    return m


def test_kv_cache_dtype_and_expert_parallel_are_read_from_the_command_line():
    """The server's --kv-cache-dtype and --enable-expert-parallel are cross-checked with the economics: agreeing,
    nothing to say; a server that runs otherwise is priced as it runs, and the disagreement is a problem."""
    m = _moe_with_args(lambda args: None)
    assert (m.deployment.kv_cache_dtype, m.deployment.expert_parallel) == ("fp8", True) and not m.problems

    def drop(*flags):
        return lambda args: args.__setitem__(slice(None), [a for a in args if a not in flags])
    m = _moe_with_args(drop("--kv-cache-dtype", "fp8"))
    assert m.deployment.kv_cache_dtype == "auto"
    assert any("--kv-cache-dtype fp8 but the resources run auto" in p.message for p in m.problems), m.problems
    m = _moe_with_args(drop("--enable-expert-parallel"))
    assert m.deployment.expert_parallel is False
    assert any("--enable-expert-parallel True but the resources run False" in p.message for p in m.problems)
    # argparse: the last occurrence wins, `--no-` turns a switch off, `-ep` is the short form.
    m = _moe_with_args(lambda args: args.append("--no-enable-expert-parallel"))
    assert m.deployment.expert_parallel is False and m.problems
    m = _moe_with_args(lambda args: args.extend(["--kv-cache-dtype=auto"]))
    assert m.deployment.kv_cache_dtype == "auto" and m.problems
    m = _moe_with_args(lambda args: args.__setitem__(args.index("--enable-expert-parallel"), "-ep"))
    assert m.deployment.expert_parallel is True and not m.problems
    # What the pack cannot read is a problem and no price, never a guess.
    m = _moe_with_args(lambda args: args.__setitem__(args.index("--enable-expert-parallel"), "--enable-expert"))
    assert m.deployment is None and any("written in full" in p.message for p in m.problems)
    m = _moe_with_args(lambda args: args.__setitem__(args.index("fp8"), "nvfp4"))
    assert m.deployment is None and any("nvfp4" in p.message for p in m.problems)


def test_a_prefix_cache_hit_rate_with_prefix_caching_turned_off_is_a_problem():
    res = B.set_economics(B.model_stack(HA), "workload.prefix_cache_hit_rate", 0.5)
    for ng in (r for r in res if r["type"] == B.NODE_GROUP):
        ng["inputs"]["tags"][econ.TAG_PREFIX + "workload.prefix_cache_hit_rate"] = "0.5"
    (m,) = pricing.build_stack(res).models
    assert m.workload.prefix_cache_hit_rate == 0.5 and not m.problems     # vLLM caches prefixes by default
    _args(res).append("--no-enable-prefix-caching")
    (m,) = pricing.build_stack(res).models
    assert any("50% of prompt tokens" in p.message for p in m.problems), m.problems


def test_the_api_server_count_is_read_from_the_command_line():
    """--api-server-count caps a replica's output rate: the server's is cross-checked with the economics, in every
    spelling `vllm serve` reads (`=N`, underscores, the `-asc` alias, the last occurrence winning); absent, it is 1."""
    fast = B.M(name="fast", api_servers=4)
    res = B.model_stack(fast, production=False)
    (m,) = pricing.build_stack(res).models
    assert m.deployment.api_servers == 4 and not m.problems

    def with_args(model, change):
        res = B.model_stack(model, production=False)
        change(_args(res))
        (m,) = pricing.build_stack(res).models
        return m

    def drop(args):
        i = args.index("--api-server-count")
        del args[i:i + 2]
    m = with_args(fast, drop)
    assert m.deployment.api_servers == 1
    assert any("--api-server-count 4 but the resources run 1" in p.message for p in m.problems), m.problems
    for extra in (["--api_server_count=4"], ["-asc", "4"], ["-asc=2", "--api-server-count", "4"]):
        m = with_args(fast, lambda a, extra=extra: (drop(a), a.extend(extra)))
        assert m.deployment.api_servers == 4 and not m.problems, (extra, m.problems)
    m = with_args(B.M(name="plain"), lambda a: a.extend(["--api-server-count=8"]))
    assert m.deployment.api_servers == 8 and any("--api-server-count 1 but the resources run 8" in p.message
                                                 for p in m.problems)
    # What the pack cannot read, or vLLM would not run, is a problem and no price, never a guess.
    m = with_args(fast, lambda a: a.__setitem__(a.index("--api-server-count"), "--api-server"))
    assert m.deployment is None and any("written in full" in p.message for p in m.problems), m.problems
    m = with_args(fast, lambda a: a.__setitem__(a.index("4"), "0"))
    assert m.deployment is None and any("api_servers" in p.message for p in m.problems), m.problems


def test_expert_parallel_on_a_dense_model_cannot_be_priced():
    res = B.model_stack(HA)
    _args(res).append("--enable-expert-parallel")
    (m,) = pricing.build_stack(res).models
    assert m.deployment is None and any("no experts" in p.message for p in m.problems), m.problems


def test_stack_level_economics_must_agree():
    a = B.M(name="a", instance_type="g6.xlarge", zones=("us-east-1a",))
    b = B.M(name="b", instance_type="g6.xlarge", zones=("us-east-1b",), stack={"budget_usd_per_month": 1.0})
    s = pricing.build_stack(B.model_stack(a, b, stack={"budget_usd_per_month": 5000.0}))
    assert any("disagree on stack-level economics" in p.message for p in s.problems)


def test_a_fleet_splits_stack_overheads_like_the_preview():
    from cost.pricing.fleet import price_fleet

    a = B.M(name="a", instance_type="g6.xlarge", zones=("us-east-1a",), tokens_per_month=1e8)
    b = B.M(name="b", model="llama-3.1-70b", instance_type="p4de.24xlarge", gpus_per_replica=4, zones=("us-east-1b",), tokens_per_month=1e9)
    s = pricing.build_stack(B.model_stack(a, b))
    direct = price_fleet([(m.deployment, m.workload) for m in s.models])
    assert s.figures() == fleet_document(direct)


def test_the_pack_is_memoised_per_resource_set():
    res = B.model_stack(HA)
    assert pricing.stack_for(res) is pricing.stack_for(copy.deepcopy(res))
    assert pricing.stack_for(res) is not pricing.stack_for(B.model_stack(HA, production=False))


def test_a_model_the_fleet_cannot_price_is_isolated_and_the_rest_priced():
    ok = B.M(name="a", instance_type="g6.xlarge", zones=("us-east-1a",), tokens_per_month=1e8)
    no_spot = B.M(name="b", instance_type="p5.4xlarge", capacity_type="spot", zones=("us-east-1b",), tokens_per_month=1e8)
    s = pricing.build_stack(B.model_stack(ok, no_spot))
    a, b = s.models
    assert a.priced and not b.priced and "no spot price" in b.problems[0].message
    assert s.all_problems and s.monthly_usd == a.monthly_usd


def test_routing_tiers_that_cannot_be_priced_are_reported_and_left_out(pack):
    from cost.economics import Routing
    from cost.pricing.fleet import Tier
    from cost.workload import Workload

    routing = Routing(Workload.build(1e9, avg_input_tokens=600, avg_output_tokens=400),
                      (Tier("simple", 0.5, deployment="chat-8b"), Tier("hard", 0.5, api="nowhere:no-such-model")))
    res = B.model_stack(HA, stack={"routing": routing})
    s = pricing.build_stack(res)
    assert s.models[0].priced and s.api_tiers_monthly_usd == 0
    assert any("cannot be priced as a whole" in p.message for p in s.problems)
    # the budget cannot be checked against an incomplete total: it fails closed
    (v,) = B.by_policy(pack.evaluate(res, {"monthly-budget": {"maxMonthlyUsd": 1e6}}), "monthly-budget")
    assert "cannot be checked" in v.detail


@pytest.mark.helm
def test_the_charts_leaderworkerset_is_priced_across_nodes_and_passes_production(pack):
    """A 405B model at TP16 on two p5.48xlarge per replica: the chart renders a LeaderWorkerSet."""
    import pytest

    from infra.components.serving import SecretNames, chart_values
    from infra.offline import helmrender

    spec, placement = B.placed_of("private-70b")
    m = spec.models[0]
    values = chart_values(spec, placement.models[0], SecretNames("hf-token", "vllm-api-key"))
    big = B.M(name="chat-70b", model="llama-3.1-405b", precision="fp8", instance_type="p5.48xlarge", gpus_per_replica=16, replicas=1,
              spares=1, zones=("us-east-1a", "us-east-1b"), pools=(("a", ("us-east-1a",), 2), ("b", ("us-east-1b",), 2)),
              tokens_per_month=2e9, max_model_len=m.max_model_len, gmu=m.gpu_memory_utilization, max_num_seqs=m.max_num_seqs,
              exemptions=("private-data",))
    e = B.economics(big, pricing.econ.StackEconomics(stack="prod", production=True))
    values["economics"] = e.to_json()
    values["model"].update(name="llama-3.1-405b", source="meta-llama/Llama-3.1-405B-Instruct-FP8", precision="fp8",
                           weightsGiB=380)
    values.update(replicaCount=2)
    values["parallelism"]["tensor"], values["gpu"]["gpusPerNode"] = 16, 8
    try:
        out = helmrender.render("serving-big-chart", "./charts/vllm", "chat-70b", "llm", values, "1.33")
    except helmrender.HelmNotFound as e:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"helm is not installed here: {e}")
    objects = [{"type": helmrender.resource_type(o), "name": helmrender.resource_name(out.chart_resource, o, out.namespace),
                "inputs": o} for o in out.objects]
    assert any(o["type"].endswith(":LeaderWorkerSet") for o in objects)
    subnet_res, urns = B.subnets(("us-east-1a", "us-east-1b"))
    pools = B.node_groups(big, urns, e)
    res = subnet_res + pools + objects
    (x,) = pricing.build_stack(res).models
    assert (x.deployment.gpus_per_replica, x.deployment.replicas, x.deployment.redundancy) == (16, 1, 1)
    assert x.estimate.plan.nodes == 4 and x.idle_nodes == 0
    granted = B.trusting({B.STACK: {"exemptions": ["private-data"]}})
    assert B.mandatory(pack.evaluate(res, granted)) == []   # private data exemption, two zones, a PDB, spread via the leaders
