"""The typed stack spec: example stacks load, bad values name their key, the value and what is allowed."""

from __future__ import annotations

import copy

import pytest

from cost.errors import InputError
from cost.pricing.tco import Overheads
from infra.config import stackconfig
from infra.config.spec import P
from tests.infra.conftest import STACKS, load_placed, load_spec, stack_value


def test_every_config_file_is_an_example_stack():
    assert set(stackconfig.stacks()) >= set(STACKS)


@pytest.mark.parametrize("stack", STACKS)
def test_example_stacks_load(stack):
    spec, placement = load_placed(stack)
    assert spec.models and spec.stack == stack
    assert len(spec.cluster.zones) >= 2
    for m in placement.models:
        # nodes follow cost's packing of replicas (plus redundancy) onto instances
        assert m.nodes == m.plan.units
        assert sum(p.nodes for p in m.pools) == m.plan.units
        assert m.zones <= len(spec.cluster.zones)


def test_dev_is_one_spot_l4_replica():
    p = load_placed("dev")[1].models[0]
    m = p.model
    assert (m.model, m.instance_type, m.gpu, m.capacity_type) == ("llama-3.1-8b", "g6.xlarge", "L4", "spot")
    assert (p.replicas, m.spares, p.nodes) == (1, 0, 1)


def test_prod_spreads_n_plus_one_over_zones():
    spec, placement = load_placed("prod")
    m = placement.models[0]
    assert spec.production and m.model.spares >= 1 and m.zones >= 2
    assert [p.nodes for p in m.pools] == [1, 1] and len({p.zones for p in m.pools}) == 2
    # a spare *node*: the spares cover every replica one instance holds
    assert m.model.spares >= m.plan.replicas_per_instance
    assert placement.warnings() == []


def test_hybrid_model_workload_is_its_tier_share():
    spec = load_spec("hybrid")
    m = spec.models[0]
    tier = next(t for t in spec.routing.tiers if t.model == m.name)
    assert m.workload.tokens_per_month == pytest.approx(spec.routing.workload.tokens_per_month * tier.share)
    assert sum(t.share for t in spec.routing.tiers) == pytest.approx(1)


def test_the_fleet_analyst_is_sized_and_priced_with_its_fp8_kv_cache():
    """kvCacheDtype reaches the deployment the stack is priced with: the same GPUs hold twice the KV tokens."""
    from infra import pricing

    spec, placement = load_placed("fleet")
    models = _models("fleet")
    models[1]["kvCacheDtype"] = "auto"
    auto = load_placed("fleet", {f"{P}models": models})
    assert spec.model("analyst-72b").deployment.kv_cache_dtype == "fp8"
    assert auto[0].model("analyst-72b").deployment.kv_cache_dtype == "auto"
    fp8_est, auto_est = (next(e for e in pricing.price(s[1]).estimates if e.deployment.name == "analyst-72b")
                         for s in ((spec, placement), auto))
    assert fp8_est.fit.kv_capacity_tokens == pytest.approx(2 * auto_est.fit.kv_capacity_tokens, rel=0.01)
    assert fp8_est.full_capacity_tokens_per_month > auto_est.full_capacity_tokens_per_month
    assert fp8_est.monthly_usd == auto_est.monthly_usd       # same nodes, same bill
    assert placement.to_dict()["models"][1]["kvCacheDtype"] == "fp8"


def test_the_stack_schema_the_chart_and_the_capacity_model_take_the_same_kv_cache_dtypes():
    import json
    import typing

    from cost.catalog import KV_CACHE_DTYPES
    from infra.config import schema
    from infra.config.stackconfig import ROOT

    chart = json.loads((ROOT / "charts" / "vllm" / "values.schema.json").read_text())
    assert typing.get_args(schema.Model.model_fields["kv_cache_dtype"].annotation) == KV_CACHE_DTYPES
    assert tuple(chart["properties"]["engine"]["properties"]["kvCacheDtype"]["enum"]) == KV_CACHE_DTYPES


def test_expert_parallel_reaches_an_moe_deployment():
    models = [{"name": "moe", "model": "qwen3-30b-a3b", "instanceType": "g6e.12xlarge", "tensorParallel": 2,
               "expertParallel": True, "workload": {"tokensPerMonth": "2B"}}]
    m = load_spec("dev", {f"{P}models": models}).models[0]
    assert m.deployment.expert_parallel and m.deployment.gpus_per_replica == 2


def test_api_server_count_reaches_the_deployment_the_chart_values_and_the_capacity_model():
    """apiServerCount is priced (capacity.throughput's api_servers cap) and handed to the chart; 1 stays the default."""
    from infra import pricing
    from infra.components.serving import SecretNames, chart_values

    models = [{"name": "fast-8b", "model": "llama-3.1-8b", "instanceType": "p6-b200.48xlarge", "tensorParallel": 8,
               "workload": {"tokensPerMonth": "20B", "avgInputTokens": 200, "avgOutputTokens": 800}}]
    one = load_placed("dev", {f"{P}models": models})
    four = load_placed("dev", {f"{P}models": [{**models[0], "apiServerCount": 4}]})
    assert (one[0].models[0].deployment.api_servers, four[0].models[0].deployment.api_servers) == (1, 4)
    assert four[1].to_dict()["models"][0]["apiServerCount"] == 4
    secrets = SecretNames("hf-token", "vllm-api-key")
    assert chart_values(one[0], one[1].models[0], secrets)["engine"]["apiServerCount"] == 1
    assert chart_values(four[0], four[1].models[0], secrets)["engine"]["apiServerCount"] == 4
    est_one, est_four = (pricing.price(s[1]).estimates[0] for s in (one, four))
    assert est_one.throughput.limited_by == "api-server"
    assert est_four.throughput.limited_by != "api-server"
    assert est_four.full_capacity_tokens_per_month > est_one.full_capacity_tokens_per_month


def test_the_stack_schema_the_chart_and_the_economics_bound_the_api_server_count_alike():
    import json

    from cost.deployment import LIMITS
    from infra.config import schema
    from infra.config.stackconfig import ROOT

    chart = json.loads((ROOT / "charts" / "vllm" / "values.schema.json").read_text())["properties"]["engine"]
    bounds = {type(m).__name__: m for m in schema.Model.model_fields["api_server_count"].metadata}
    assert (bounds["Ge"].ge, bounds["Le"].le) == (1, LIMITS["api_servers"])
    assert (chart["properties"]["apiServerCount"]["minimum"], chart["properties"]["apiServerCount"]["maximum"]) == \
        (1, LIMITS["api_servers"])


def test_api_servers_need_a_core_each_in_the_pod():
    """vLLM runs one process per API server beside the engine core and a worker per GPU (vLLM's architecture
    overview): a count the pod's CPU request cannot hold is refused with the most that fits."""
    models = _models()            # prod: p4de.24xlarge, 96 vCPUs, two TP-4 pods per node -> 36 cores a pod
    models[0]["apiServerCount"] = 32
    err = _bad("prod", f"{P}models", models)
    assert err.key == f"{P}models[0].apiServerCount" and err.value == 32
    assert err.allowed == "at most 31 on p4de.24xlarge" and "36 CPU cores" in err.detail
    models[0]["apiServerCount"] = 31
    assert load_spec("prod", {f"{P}models": models}).models[0].deployment.api_servers == 31
    small = [{**_models("dev")[0], "apiServerCount": 2}]     # g6.xlarge: 4 vCPUs, 3 cores for the pod
    err = _bad("dev", f"{P}models", small)
    assert err.key == f"{P}models[0].apiServerCount" and err.allowed == "1 on g6.xlarge", err


def test_latency_targets_given_in_ms_are_priced_in_seconds_and_reported_in_the_ms_the_stack_gave():
    models = _models()
    models[0]["workload"] |= {"ttftTargetMs": 1500, "tpotTargetMs": 75}
    spec, placement = load_placed("prod", {f"{P}models": models})
    w = spec.models[0].workload
    assert (w.ttft_target_s, w.tpot_target_s) == (1.5, 0.075)
    doc = placement.to_dict()["models"][0]["workload"]
    assert (doc["ttftTargetMs"], doc["tpotTargetMs"]) == (1500, 75)


def test_prefix_cache_hit_rate_reaches_the_workload_of_a_model_and_of_a_routed_tier():
    models = _models()
    models[0]["workload"]["prefixCacheHitRate"] = 0.5
    spec, placement = load_placed("prod", {f"{P}models": models})
    assert spec.models[0].workload.prefix_cache_hit_rate == 0.5
    assert placement.to_dict()["models"][0]["workload"]["prefixCacheHitRate"] == 0.5
    routing = stack_value("hybrid", f"{P}routing")
    routing["prefixCacheHitRate"] = 0.3
    hybrid = load_spec("hybrid", {f"{P}routing": routing})
    assert hybrid.routing.workload.prefix_cache_hit_rate == 0.3
    assert hybrid.models[0].workload.prefix_cache_hit_rate == 0.3


def test_private_70b_differs_from_uneconomic_only_by_the_exemption():
    a, b = (load_placed(s)[1].to_dict() for s in ("uneconomic", "private-70b"))
    assert b["models"][0]["exemptions"]["privateData"] is True
    assert a["models"][0]["exemptions"]["privateData"] is False
    for key in ("model", "instanceType", "tensorParallel", "replicas", "redundancy", "capacityType", "workload", "nodes"):
        assert a["models"][0][key] == b["models"][0][key], key


def _models(stack="prod"):
    return copy.deepcopy(stack_value(stack, "breakeven:models"))


def _bad(stack, key, value):
    with pytest.raises(InputError) as info:
        load_placed(stack, {key: value})   # the spec's checks, then the placement's (the counts it sizes)
    return info.value


def _model_with(**changes):
    models = _models()
    models[0].update(changes)
    return models


@pytest.mark.parametrize("changes,key,allowed", [
    ({"model": "llama-9-1t"}, f"{P}models[0].model", "llama-3.1-8b"),
    ({"replicas": 0}, f"{P}models[0].replicas", "a whole number, from 1 to 64"),
    ({"replicas": 2.5}, f"{P}models[0].replicas", "a whole number"),
    ({"tensorParallel": 3}, f"{P}models[0].tensorParallel", "splits the attention heads evenly: 1, 2, 4, 8"),
    ({"tensorParallel": 1}, f"{P}models[0].tensorParallel", "smallest fitting configurations"),
    ({"instanceType": "g6.xlarge", "tensorParallel": 2}, f"{P}models[0].tensorParallel", "smallest fitting configurations"),
    ({"capacityType": "preemptible"}, f"{P}models[0].capacityType", "on-demand, spot, reserved-1y, reserved-3y"),
    ({"precision": "fp4"}, f"{P}models[0].precision", "bf16"),
    ({"redundancy": {"spares": 2, "zones": 4}}, f"{P}models[0].redundancy.zones", "at most 3"),
    ({"redundancy": "N plus one"}, f"{P}models[0].redundancy", '"N+1"'),
    ({"workload": {"tokensPerMonth": "3.2 billion"}}, f"{P}models[0].workload.tokensPerMonth", "100M, 3.2B"),
    ({"workload": {"tokensPerMonth": "-5M"}}, f"{P}models[0].workload.tokensPerMonth", "token volume"),
    ({"workload": {"tokensPerMonth": "1B", "inputShare": 1.5}}, f"{P}models[0].workload.inputShare", "strictly between 0 and 1"),
    ({"workload": {"tokensPerMonth": "1B", "tokensPerMonht": "1B"}}, f"{P}models[0].workload.tokensPerMonht", "a known key"),
    ({"replicaz": 2}, f"{P}models[0].replicaz", "a known key"),
    ({"name": "Chat_70B"}, f"{P}models[0].name", "a lowercase DNS label"),
    ({"source": "not a repo"}, f"{P}models[0].source", "a Hugging Face repo id"),
    ({"maxModelLen": 10_000_000}, f"{P}models[0].maxModelLen", "from 256 to 131072"),
])
def test_bad_model_values(changes, key, allowed):
    err = _bad("prod", f"{P}models", _model_with(**changes))
    assert err.key == key
    assert allowed in err.allowed
    assert f"{key}: got " in str(err)


def test_zones_fewer_than_the_redundancy_needs():
    cluster = stack_value("uneconomic", f"{P}cluster")
    cluster["zones"] = ["us-east-1a", "us-east-1b"]   # the model asks for 3
    err = _bad("uneconomic", f"{P}cluster", cluster)
    assert err.key == f"{P}models[0].redundancy.zones" and err.value == 3
    assert "at most 2" in err.allowed


def test_a_model_that_cannot_fit_its_gpus_says_what_would():
    err = _bad("dev", f"{P}models", [{**_models("dev")[0], "model": "llama-3.1-70b"}])
    assert err.key == f"{P}models[0].tensorParallel"
    assert "1x L4" in str(err.value) and "GB short" in err.detail


@pytest.mark.parametrize("cluster_change,key", [
    ({"zones": ["us-east-1a"]}, f"{P}cluster.zones"),
    ({"zones": ["us-east-1a", "us-west-2b"]}, f"{P}cluster.zones[1]"),
    ({"endpoint": {"publicAccess": True, "publicAccessCidrs": []}}, f"{P}cluster.endpoint.publicAccessCidrs"),
    ({"endpoint": {"publicAccess": True, "publicAccessCidrs": ["0.0.0.0/0"]}}, f"{P}cluster.endpoint.publicAccessCidrs[0]"),
    ({"endpoint": {"publicAccess": True, "publicAccessCidrs": ["10.0.0.300/32"]}}, f"{P}cluster.endpoint.publicAccessCidrs[0]"),
    ({"kubernetesVersion": 1.3}, f"{P}cluster.kubernetesVersion"),
    ({"vpcCidr": "10.0.0.0/24"}, f"{P}cluster.vpcCidr"),
    ({"gpuAmiType": "AL2_x86_64_GPU"}, f"{P}cluster.gpuAmiType"),
    ({"region": "us-west-2"}, f"{P}cluster.region"),
])
def test_bad_cluster_values(cluster_change, key):
    cluster = {**stack_value("prod", f"{P}cluster"), **cluster_change}
    assert _bad("prod", f"{P}cluster", cluster).key == key


def test_routing_shares_must_sum_to_one_and_name_known_targets():
    routing = stack_value("hybrid", f"{P}routing")
    bad_share = copy.deepcopy(routing)
    bad_share["tiers"][0]["share"] = 0.5
    assert _bad("hybrid", f"{P}routing", bad_share).key == f"{P}routing.tiers"
    bad_model = copy.deepcopy(routing)
    bad_model["tiers"][0]["model"] = "nobody"
    assert _bad("hybrid", f"{P}routing", bad_model).key == f"{P}routing.tiers[0].model"
    bad_api = copy.deepcopy(routing)
    bad_api["tiers"][1]["api"] = "groq:gpt-7"
    assert _bad("hybrid", f"{P}routing", bad_api).key == f"{P}routing.tiers[1].api"


def test_unknown_top_level_key():
    err = _bad("prod", f"{P}modles", "[]")
    assert err.key == f"{P}modles" and "a known key" in err.allowed
    # A missing API key is not a bad value but a blocker the preview lists (tests/infra/test_blockers.py).
    assert "vllmApiKey" not in load_spec("prod", {f"{P}vllmApiKey": ""}).secrets_present


def test_pricing_overheads_and_budget_are_validated():
    assert _bad("prod", f"{P}pricing", {"overheads": {"opsTax": 0.1}}).key == f"{P}pricing.overheads.opsTax"
    assert _bad("prod", f"{P}pricing", {"budgetUsdPerMonth": -1}).key == f"{P}pricing.budgetUsdPerMonth"
    assert _bad("prod", f"{P}pricing", {"priceBook": "no-such-book"}).key == f"{P}pricing.priceBook"


def test_node_disk_must_hold_the_weights():
    # dev: g6.xlarge has no instance store, so its gp3 disk holds the weights cache (22 GiB) and the image (40)
    err = _bad("dev", f"{P}pricing", {"overheads": {"storageGibPerNode": 50}})
    assert err.key == f"{P}pricing.overheads.storageGibPerNode" and "at least 62 GiB" in err.allowed


def test_with_instance_store_the_node_disk_holds_only_the_image():
    # prod: p4de.24xlarge keeps the weights on its 8 x 1000 GB NVMe; gp3 needs the image and runtime only
    assert load_spec("prod", {f"{P}pricing": {"overheads": {"storageGibPerNode": 40}}}).models[0].instance_type == "p4de.24xlarge"
    err = _bad("prod", f"{P}pricing", {"overheads": {"storageGibPerNode": 30}})
    assert "at least 40 GiB" in err.allowed


def test_a_spare_that_does_not_cover_a_node_is_a_warning():
    models = _model_with(redundancy={"spares": 1, "zones": 2})
    placement = load_placed("prod", {f"{P}models": models})[1]
    assert any("redundancy.spares" in w for w in placement.warnings())


def test_source_overrides_the_weights_not_the_architecture():
    m = load_spec("prod").models[0]
    assert m.model == "llama-3.3-70b" and m.hf == "your-org/llama-3.3-70b-support-ft"
    assert m.exemptions.fine_tuned
    assert load_spec("dev").models[0].hf == "meta-llama/Llama-3.1-8B-Instruct"


@pytest.mark.parametrize("precision,repo,gib,flags", [
    ("bf16", "meta-llama/Llama-3.1-8B-Instruct", 15, ()),
    ("fp8", "RedHatAI/Meta-Llama-3.1-8B-Instruct-FP8", 9, ()),
    ("int4-awq", "hugging-quants/Meta-Llama-3.1-8B-Instruct-AWQ-INT4", 6, ("--quantization=awq_marlin",)),
])
def test_precision_picks_the_checkpoint_and_sizes_the_cache_from_its_bytes(precision, repo, gib, flags):
    models = _models("dev")
    models[0]["precision"] = precision
    m = load_spec("dev", {f"{P}models": models}).models[0]
    assert (m.hf, m.weights_gib, m.checkpoint_flags) == (repo, gib, flags)
    assert m.cache_gib == -(-gib * 11 // 10) + 5       # the cache holds the bytes vLLM downloads


def test_a_quantized_precision_with_no_checkpoint_is_refused_naming_source():
    models = _models("dev")
    models[0].update(model="mistral-7b", precision="int4-awq")
    with pytest.raises(InputError) as info:
        load_spec("dev", {f"{P}models": models})
    assert info.value.key == f"{P}models[0].source"
    models[0]["source"] = "your-org/mistral-7b-awq"
    assert load_spec("dev", {f"{P}models": models}).models[0].hf == "your-org/mistral-7b-awq"


def test_a_precision_the_model_cannot_be_served_at_is_refused_naming_precision():
    """mxfp4 quantizes routed MoE experts: no `source` can make a dense model serve it."""
    for source in (None, "your-org/mistral-7b-mxfp4"):
        models = _models("dev")
        models[0].update(model="mistral-7b", precision="mxfp4", **({"source": source} if source else {}))
        with pytest.raises(InputError) as info:
            load_spec("dev", {f"{P}models": models})
        assert info.value.key == f"{P}models[0].precision" and info.value.allowed == "bf16, fp16, fp8, int4-awq"


# --- the input boundary: each refusal names the key the user wrote ---------------------------------

def _cluster_with(stack="prod", **changes):
    return {**stack_value(stack, f"{P}cluster"), **changes}


@pytest.mark.parametrize("changes,key,allowed", [
    ({"region": "us-fake-9"}, f"{P}cluster.region", "an AWS Region code"),
    ({"zones": ["us-east-1a", "us-east-1z"]}, f"{P}cluster.zones[1]", "us-east-1f"),
    ({"zones": ["us-east-1a", "us-east-1a"]}, f"{P}cluster.zones", "distinct"),
    ({"endpoint": {"publicAccessCidrs": ["0.0.0.0/00"]}}, f"{P}cluster.endpoint.publicAccessCidrs[0]", "0.0.0.0/0"),
    ({"endpoint": {"publicAccessCidrs": ["0.0.0.0/1", "128.0.0.0/1"]}}, f"{P}cluster.endpoint.publicAccessCidrs",
     "not all of IPv4"),
    ({"endpoint": {"publicAccessCidrs": ["203.0.113.0/24", "::/0"]}}, f"{P}cluster.endpoint.publicAccessCidrs[1]",
     "not all of IPv4 or IPv6"),
    ({"endpoint": {"publicAccessCidrs": ["::/1", "8000::/1"]}}, f"{P}cluster.endpoint.publicAccessCidrs", "IPv6"),
    ({"endpoint": {"publicAccessCidrs": ["10.0.0.1/24"]}}, f"{P}cluster.endpoint.publicAccessCidrs[0]", "CIDR"),
    ({"systemNodes": {"instanceType": "zz.bogus; rm -rf /"}}, f"{P}cluster.systemNodes.instanceType", "EC2 instance type"),
    ({"name": "a" * 57}, f"{P}cluster.name", "at most 56 characters"),
])
def test_bad_cluster_inputs(changes, key, allowed):
    err = _bad("prod", f"{P}cluster", _cluster_with(**changes))
    assert err.key == key and allowed in err.allowed, err


def test_a_region_outside_the_catalog_via_aws_region_is_refused():
    cluster = stack_value("prod", f"{P}cluster")
    with pytest.raises(InputError) as info:
        load_spec("prod", {"aws:region": "us-fake-9", f"{P}cluster": cluster})
    assert info.value.key == "aws:region"


def test_half_the_address_space_twice_is_allowed_outside_production():
    cluster = _cluster_with("dev", endpoint={"publicAccessCidrs": ["0.0.0.0/1", "128.0.0.0/1"]})
    assert load_spec("dev", {f"{P}cluster": cluster}).cluster.endpoint.public_access_cidrs == ("0.0.0.0/1", "128.0.0.0/1")


@pytest.mark.parametrize("changes,key,allowed", [
    ({"extraArgs": ["--api-key=hunter2"]}, f"{P}models[0].extraArgs[0]", "no API key flag"),
    ({"extraArgs": ["--api_key=hunter2"]}, f"{P}models[0].extraArgs[0]", "no API key flag"),
    ({"extraArgs": ["--API-KEY", "hunter2"]}, f"{P}models[0].extraArgs[0]", "no API key flag"),
    ({"extraArgs": ["--api-k", "hunter2"]}, f"{P}models[0].extraArgs[0]", "no API key flag"),   # argparse prefix
    ({"extraArgs": ["--enable-prefix-caching", "--config", "x.yaml"]}, f"{P}models[0].extraArgs[1]", "--config"),
    ({"extraArgs": ["--max-model-len=4096"]}, f"{P}models[0].extraArgs[0]", "maxModelLen"),
    ({"extraArgs": ["--kv-cache-dtype", "fp8"]}, f"{P}models[0].extraArgs[0]", "kvCacheDtype"),
    ({"extraArgs": ["--kv_cache_dtype=fp8"]}, f"{P}models[0].extraArgs[0]", "kvCacheDtype"),
    ({"extraArgs": ["--no-enable-expert-parallel"]}, f"{P}models[0].extraArgs[0]", "expertParallel"),
    ({"extraArgs": ["-ep"]}, f"{P}models[0].extraArgs[0]", "expertParallel"),
    ({"extraArgs": ["--enable-expert"]}, f"{P}models[0].extraArgs[0]", "expertParallel"),   # argparse prefix
    ({"extraArgs": ["--api-server-count", "4"]}, f"{P}models[0].extraArgs[0]", "apiServerCount"),
    ({"extraArgs": ["--api_server_count=4"]}, f"{P}models[0].extraArgs[0]", "apiServerCount"),
    ({"extraArgs": ["-asc=4"]}, f"{P}models[0].extraArgs[0]", "apiServerCount"),
    ({"extraArgs": ["--api-server", "4"]}, f"{P}models[0].extraArgs[0]", "apiServerCount"),   # argparse prefix
    ({"apiServerCount": 0}, f"{P}models[0].apiServerCount", "a whole number, from 1 to 64"),
    ({"apiServerCount": "two"}, f"{P}models[0].apiServerCount", "a whole number, from 1 to 64"),
    ({"extraArgs": ["--x 1"]}, f"{P}models[0].extraArgs[0]", "without whitespace"),
    ({"source": "your-org/model\n--api-key=x"}, f"{P}models[0].source", "without whitespace"),
    ({"source": "s3://Bad_Bucket/x"}, f"{P}models[0].source", "s3://bucket/prefix"),
    ({"replicas": 100_000_000_000}, f"{P}models[0].replicas", "from 1 to 64"),
    ({"replicas": "1e11"}, f"{P}models[0].replicas", "a whole number"),
    ({"gpuMemoryUtilization": "NaN"}, f"{P}models[0].gpuMemoryUtilization", "finite number"),
    ({"redundancy": "none"}, f"{P}models[0].redundancy", "at least one spare replica in a production stack"),
    ({"workload": {"tokensPerMonth": "1e400"}}, f"{P}models[0].workload.tokensPerMonth", "token volume"),
    ({"workload": {"tokensPerMonth": "1B", "avgInputTokens": 200_000, "avgOutputTokens": 300}},
     f"{P}models[0].workload.avgInputTokens", "llama-3.3-70b's context"),
    ({"workload": {"tokensPerMonth": "1B", "avgInputTokens": 9000, "avgOutputTokens": 300}},
     f"{P}models[0].maxModelLen", "at least 9,300"),
])
def test_bad_model_inputs(changes, key, allowed):
    err = _bad("prod", f"{P}models", _model_with(**changes))
    assert err.key == key and allowed in err.allowed, err


def test_tensor_parallel_must_split_the_attention_heads():
    # Qwen2.5 7B has 28 attention heads and 4 KV heads: TP 8 does not split them, TP 4 does.
    models = [{**_models("dev")[0], "model": "qwen2.5-7b", "instanceType": "g6.24xlarge", "tensorParallel": 8}]
    err = _bad("dev", f"{P}models", models)
    assert err.key == f"{P}models[0].tensorParallel" and "28 attention heads" in err.detail


@pytest.mark.parametrize("namespace", ["kube-system", "kube-public", "kube-node-lease", "default", "kube-anything"])
def test_reserved_namespaces_are_refused(namespace):
    err = _bad("prod", f"{P}namespace", namespace)
    assert err.key == f"{P}namespace" and "not default or kube-*" in err.allowed


def test_long_generated_node_group_names_name_the_key_to_shorten():
    cluster = _cluster_with(name="c" * 55)   # breakeven-system fits; c..c-chat-70b-a does not
    err = _bad("prod", f"{P}cluster", cluster)
    assert err.key == f"{P}models[0].name" and "shorter breakeven:cluster.name" in err.allowed
    assert "EKS allows 63" in err.detail


def test_node_group_names_follow_cluster_model_and_zone():
    m = load_placed("prod")[1].models[0]
    assert [p.node_group for p in m.pools] == ["breakeven-prod-chat-70b-a", "breakeven-prod-chat-70b-b"]


def test_non_finite_budget_and_overheads_are_refused():
    for value in (float("inf"), float("nan"), "1e400", 0):
        assert _bad("prod", f"{P}pricing", {"budgetUsdPerMonth": value}).key == f"{P}pricing.budgetUsdPerMonth"
    err = _bad("prod", f"{P}pricing", {"overheads": {"mlopsFte": float("inf")}})
    assert err.key == f"{P}pricing.overheads.mlopsFte" and "finite" in err.allowed


def test_overheads_none_and_default():
    none = load_spec("dev", {f"{P}pricing": {"overheads": "none"}}).pricing.overheads
    assert none == Overheads.none()
    assert load_spec("dev", {f"{P}pricing": {"overheads": "default"}}).pricing.overheads == Overheads()


def test_two_models_whose_chart_objects_would_share_a_name_are_refused():
    m = _models("dev")[0]
    models = [{**m, "name": "chat"}, {**m, "name": "chat-vllm"}]   # both render objects named chat-vllm
    err = _bad("dev", f"{P}models", models)
    assert err.key == f"{P}models[1].name" and "chat-vllm" in err.detail


def test_an_existing_cluster_takes_a_kubeconfig_path_or_its_contents():
    for kubeconfig in ("~/.kube/config", "apiVersion: v1\nkind: Config\n"):
        cluster = {"zones": ["us-east-1a", "us-east-1b"], "existing": {"kubeconfig": kubeconfig}}
        spec, placement = load_placed("dev", {f"{P}cluster": cluster})
        assert spec.cluster.existing.kubeconfig == kubeconfig
        assert [p.suffix for p in placement.models[0].pools] == ["all"]
    assert _bad("dev", f"{P}cluster", {"existing": {"kubeconfig": ""}}).key == f"{P}cluster.existing.kubeconfig"


def test_a_region_other_than_the_priced_one_is_a_warning_not_a_silent_price():
    cluster = {"region": "eu-west-1", "zones": ["eu-west-1a", "eu-west-1b"],
               "endpoint": {"publicAccessCidrs": ["203.0.113.0/24"]}}
    spec, placement = load_placed("dev", {f"{P}cluster": cluster, "aws:region": "eu-west-1"})
    assert spec.cluster.region == "eu-west-1"
    assert any("priced at us-east-1 rates" in w for w in placement.warnings())
    assert not any("priced at" in w for w in load_placed("dev")[1].warnings())
