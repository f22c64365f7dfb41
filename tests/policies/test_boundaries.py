"""Each policy just under and just over its threshold, through the pack over gRPC (in-process servicer)."""

from __future__ import annotations

import copy

import pytest

from cost import catalog
from cost.decide import advice, optimize
from cost.economics import Routing
from cost.physics import capacity
from cost.physics.capacity_range import capacity_range
from cost.pricing.fleet import Tier
from cost.pricing.tco import Overheads
from cost.workload import Workload
from policies import pricing, resources, trust
from tests.policies import builders as B

UNDER, OVER = 0.995, 1.005


def model(resources, granted: trust.Trust = trust.Trust()):
    return pricing.build_stack(resources, trust=granted).models[0]


def fires(pack, resources, policy, config=None) -> list:
    return B.by_policy(pack.evaluate(resources, config), policy)


def with_tokens(m: B.M, tokens: float) -> B.M:
    return B.M(**{**m.__dict__, "tokens_per_month": tokens})


# ---------------------------------------------------------------------------------------------
# self-hosting-beats-api
# ---------------------------------------------------------------------------------------------

BASE = B.M(name="chat-8b", instance_type="g6.xlarge", replicas=2, spares=0, zones=("us-east-1a", "us-east-1b"),
           capacity_type="on-demand")


def breakeven_tokens(m: B.M) -> float:
    """The volume at which the cheapest equivalent API costs what the stack pays for the model."""
    x = model(B.model_stack(m))
    quote = next(q for q in x.estimate.apis if q.offer.id == x.estimate.verdict.cheapest_api)
    return x.monthly_usd / quote.usd_per_mtok * 1e6


# A non-production stack judged anyway (scope "all") is judged at the modelled capacity; a production stack at the
# pessimistic end of the capacity's error band (test_production_is_judged_at_the_pessimistic_capacity_end).
NOMINAL = {"scope": "all"}


def test_self_hosting_must_cost_no_more_than_the_cheapest_equivalent_api(pack):
    be = breakeven_tokens(BASE)
    below = fires(pack, B.model_stack(with_tokens(BASE, be * UNDER), production=False), "self-hosting-beats-api",
                  {"self-hosting-beats-api": NOMINAL})
    above = fires(pack, B.model_stack(with_tokens(BASE, be * OVER), production=False), "self-hosting-beats-api",
                  {"self-hosting-beats-api": NOMINAL})
    assert len(below) == 1 and below[0].mandatory and above == []


def test_production_is_judged_at_the_pessimistic_capacity_end(pack):
    """Just above the modelled breakeven, the L4 replicas (outside the checked range: the widest band) no longer
    carry the volume at the band's low end: a production stack fails, and the message says why."""
    res = B.model_stack(with_tokens(BASE, breakeven_tokens(BASE) * OVER))
    r = capacity_range(model(res).estimate)
    assert r.band.basis == "widest" and r.pessimistic_monthly_usd > model(res).estimate.monthly_usd
    found = fires(pack, res, "self-hosting-beats-api")
    assert len(found) == 1 and found[0].mandatory and "pessimistic end of the capacity range" in found[0].message


def test_the_allowed_premium_is_a_boundary_too(pack):
    m = with_tokens(BASE, breakeven_tokens(BASE) / 1.5)  # self-hosting costs exactly 1.5x the API
    res = B.model_stack(m, production=False)
    assert fires(pack, res, "self-hosting-beats-api", {"self-hosting-beats-api": {"maxPremiumPct": 50 * UNDER, **NOMINAL}})
    assert not fires(pack, res, "self-hosting-beats-api", {"self-hosting-beats-api": {"maxPremiumPct": 50 * OVER, **NOMINAL}})


def test_non_production_stacks_are_not_held_to_the_api_price_unless_configured(pack):
    res = B.model_stack(with_tokens(BASE, 1e6), production=False)
    assert not fires(pack, res, "self-hosting-beats-api")
    assert fires(pack, res, "self-hosting-beats-api", {"self-hosting-beats-api": {"scope": "all"}})


def test_custom_inference_leaves_no_alternative_so_an_uneconomic_model_passes(pack):
    m = with_tokens(BASE, 1e6)
    assert fires(pack, B.model_stack(m), "self-hosting-beats-api")
    claimed = B.model_stack(B.M(**{**m.__dict__, "exemptions": ("custom-inference",)}))
    assert not fires(pack, claimed, "self-hosting-beats-api", B.trusting({B.STACK: {"exemptions": ["custom-inference"]}}))


@pytest.mark.parametrize("exemption, comparator", [("fine-tuned", "offers that serve your fine-tuned weights"),
                                                   ("private-data", "APIs inside your own cloud account")])
def test_an_exemption_is_compared_with_what_can_still_serve_it(pack, exemption, comparator):
    """Fine-tuned Llama 3.1 8B: LoRA hosting serves the weights; private data: Bedrock in your own account.
    Both cost less than the GPUs, so the exemption does not make the stack pass."""
    m = B.M(**{**with_tokens(BASE, 1e6).__dict__, "exemptions": (exemption,)})
    (v,) = fires(pack, B.model_stack(m), "self-hosting-beats-api", B.trusting({B.STACK: {"exemptions": [exemption]}}))
    assert v.mandatory and comparator in v.detail and f"despite its {exemption} exemption" in v.detail


def test_a_ttft_target_just_under_50_ms_is_the_low_ttft_exemption(pack):
    m = with_tokens(BASE, 1e6)
    low = B.trusting({B.STACK: {"exemptions": ["low-ttft"]}})
    assert not fires(pack, B.model_stack(B.M(**{**m.__dict__, "ttft_ms": 49.9})), "self-hosting-beats-api", low)
    assert fires(pack, B.model_stack(B.M(**{**m.__dict__, "ttft_ms": 50})), "self-hosting-beats-api", low)
    # low-ttft is not a claim: it is a declared TTFT target under 50 ms, or nothing
    assert "low_ttft" not in B.economics(m, pricing.econ.StackEconomics()).to_dict()["deployment"]["exemptions"]


def test_the_message_gives_both_monthly_figures_breakeven_and_a_fix(pack):
    # Spot L4s with no overheads, priced with the seeds' 2025 book: breakeven is within reach of the capacity.
    m = B.M(**{**BASE.__dict__, "capacity_type": "spot", "tokens_per_month": 5e8})
    res = B.model_stack(m, stack={"overheads": Overheads.none(), "price_book": "seed-2025"})
    x = model(res, trust.load({"grants": {B.STACK: {"priceBook": "seed-2025", "overheads": Overheads.none().to_dict()}}}))
    (v,) = fires(pack, res, "self-hosting-beats-api",
                 B.trusting({B.STACK: {"priceBook": "seed-2025", "overheads": Overheads.none().to_dict()}}))
    assert "$547.50/month" in v.detail and x.monthly_usd == 547.5          # 2 x $0.375/h x 730 h
    assert "$100.00/month" in v.detail                                      # 500M tokens at $0.20/1M
    assert "Breakeven with together:meta-llama/Llama-3-8b-chat-hf at $0.20/1M tokens: 2.74B tokens/month" in v.detail
    assert "To pass: declare (and serve) at least 2.74B tokens/month" in v.detail
    # out of reach: more volume alone cannot make it pass, and the message says so
    (v,) = fires(pack, B.model_stack(with_tokens(BASE, 50e6)), "self-hosting-beats-api")
    assert "never breaks even as configured" in v.detail and "declare (and serve)" not in v.detail


# ---------------------------------------------------------------------------------------------
# utilization-floor
# ---------------------------------------------------------------------------------------------

def test_planned_utilization_floor(pack):
    full = model(B.model_stack(BASE)).estimate.full_capacity_tokens_per_month
    low = fires(pack, B.model_stack(with_tokens(BASE, 0.6 * full * UNDER)), "utilization-floor")
    ok = fires(pack, B.model_stack(with_tokens(BASE, 0.6 * full * OVER)), "utilization-floor")
    assert len(low) == 1 and not low[0].mandatory and ok == []
    # one replica would run at ~119%: the advice never goes above the planned 80% (2 replicas needed)
    assert "serve it with" not in low[0].detail and "1 replica(s)" not in low[0].detail
    cfg = {"utilization-floor": {"minUtilization": 0.5}}
    assert not fires(pack, B.model_stack(with_tokens(BASE, 0.6 * full * UNDER)), "utilization-floor", cfg)


def test_fewer_replicas_advice_stays_within_the_planned_utilization_and_the_needed_line(pack):
    four = B.M(**{**BASE.__dict__, "replicas": 4})
    per_replica = model(B.model_stack(four)).estimate.full_capacity_tokens_per_month / 4
    # 1.5 replicas' worth on 4 (37.5%): 2 replicas carry it at 75%, between the 60% floor and the planned 80%
    (v,) = fires(pack, B.model_stack(with_tokens(four, 1.5 * per_replica)), "utilization-floor")
    assert "serve it with 2 replica(s) (75%, within the planned 80%)" in v.detail
    # 1.07 replicas' worth on 2 (53.5%): one replica would run at 107%; the report says 2 are needed
    res = B.model_stack(with_tokens(BASE, 1.07 * per_replica))
    assert model(res).estimate.replicas_needed == 2
    (v,) = fires(pack, res, "utilization-floor")
    assert "serve it with" not in v.detail and "107%" not in v.detail
    # 2.5 replicas' worth on 2 (125%): 3 would pass the 100% ceiling, but the report says 4 are needed at 80%
    res = B.model_stack(with_tokens(BASE, 2.5 * per_replica))
    assert model(res).estimate.replicas_needed == 4
    (v,) = fires(pack, res, "utilization-floor")
    assert "serve it with 4 replica(s)" in v.detail


def test_a_declared_volume_above_full_capacity_cannot_be_served(pack):
    full = model(B.model_stack(BASE)).estimate.full_capacity_tokens_per_month
    assert not fires(pack, B.model_stack(with_tokens(BASE, full * UNDER)), "utilization-floor")
    (v,) = fires(pack, B.model_stack(with_tokens(BASE, full * OVER)), "utilization-floor")
    assert "at most 100% can be served" in v.detail and "serve it with 3 replica(s)" in v.detail


# ---------------------------------------------------------------------------------------------
# model-fits-gpus
# ---------------------------------------------------------------------------------------------

def _largest_fitting_context(model_id: str, gpu: str, tp: int) -> int:
    m, g = catalog.model(model_id), catalog.gpu(gpu)
    lo, hi = 16, 1 << 20
    while hi - lo > 16:
        mid = (lo + hi) // 2 // 16 * 16
        lo, hi = (mid, hi) if capacity.memory_fit(m, g, tp, "bf16", mid).fits else (lo, mid)
    return lo


def test_the_model_must_fit_with_kv_cache_for_the_declared_context(pack):
    ctx = _largest_fitting_context("llama-3.1-8b", "L4", 1)
    fits = fires(pack, B.model_stack(B.M(**{**BASE.__dict__, "max_model_len": ctx})), "model-fits-gpus")
    too_long = fires(pack, B.model_stack(B.M(**{**BASE.__dict__, "max_model_len": ctx + 16})), "model-fits-gpus")
    assert fits == [] and len(too_long) == 1 and too_long[0].mandatory
    assert "GB short" in too_long[0].detail and "Smallest fitting configurations" in too_long[0].detail


def test_minimum_sequences_at_the_declared_context(pack):
    res = B.model_stack(BASE)
    seqs = model(res)
    fit = capacity.memory_fit(catalog.model("llama-3.1-8b"), catalog.gpu("L4"), 1, "bf16", seqs.context_tokens)
    n = fit.max_sequences_at_context
    assert not fires(pack, res, "model-fits-gpus", {"model-fits-gpus": {"minSequencesAtContext": n}})
    assert fires(pack, res, "model-fits-gpus", {"model-fits-gpus": {"minSequencesAtContext": n + 1}})


def test_a_70b_model_on_one_80gb_gpu_does_not_fit(pack):
    m = B.M(name="big", model="llama-3.1-70b", instance_type="p5.4xlarge", gpus_per_replica=1, replicas=2,
            zones=("us-east-1a", "us-east-1b"), tokens_per_month=1e9)
    (v,) = fires(pack, B.model_stack(m), "model-fits-gpus")
    assert "does not fit" in v.detail
    # it cannot be served, so it is not priced either, and the mandatory pricing policies fail closed
    assert "cannot compare" in fires(pack, B.model_stack(m), "self-hosting-beats-api")[0].detail


# ---------------------------------------------------------------------------------------------
# production-redundancy
# ---------------------------------------------------------------------------------------------

HA = B.M(name="chat-8b", instance_type="g6.xlarge", replicas=1, spares=1, zones=("us-east-1a", "us-east-1b"),
         tokens_per_month=1e9)


def test_production_needs_two_replicas(pack):
    one = B.M(**{**HA.__dict__, "spares": 0, "zones": ("us-east-1a", "us-east-1b")})
    (v,) = fires(pack, B.model_stack(one), "production-redundancy")
    assert "runs 1 replica(s); production needs at least 2" in v.detail
    assert not fires(pack, B.model_stack(HA), "production-redundancy")
    assert not fires(pack, B.model_stack(one, production=False), "production-redundancy")


def test_production_needs_two_zones(pack):
    one_zone = B.M(**{**HA.__dict__, "zones": ("us-east-1a",)})
    (v,) = fires(pack, B.model_stack(one_zone), "production-redundancy")
    assert "span 1 availability zone(s); production needs 2" in v.detail
    (v,) = fires(pack, B.model_stack(HA, zone_spread=False), "production-redundancy")
    assert "no topology spread constraint" in v.detail


def test_production_needs_a_pod_disruption_budget(pack):
    (v,) = fires(pack, B.model_stack(HA, pdb=False), "production-redundancy")
    assert "no PodDisruptionBudget" in v.detail
    res = B.model_stack(HA)
    B.find(res, B.PDB)["inputs"]["spec"] = {"maxUnavailable": 2, "selector": B.find(res, B.PDB)["inputs"]["spec"]["selector"]}
    (v,) = fires(pack, res, "production-redundancy")
    assert "allows every pod to be evicted" in v.detail


def test_production_serves_the_declared_load_with_one_replica_down(pack):
    per_replica = model(B.model_stack(HA)).estimate.full_capacity_tokens_per_month / HA.replicas
    # 1 + 1 replicas: with one down, one replica's full capacity must carry the volume
    assert not fires(pack, B.model_stack(with_tokens(HA, per_replica * UNDER)), "production-redundancy")
    (v,) = fires(pack, B.model_stack(with_tokens(HA, per_replica * OVER)), "production-redundancy")
    assert "with one replica of its 2 down" in v.detail


def test_zones_unknown_during_preview_fail_closed(pack):
    res = B.model_stack(HA)
    for ng in [r for r in res if r["type"] == B.NODE_GROUP]:
        ng.pop("propertyDependencies")
        ng["inputs"]["subnetIds"] = [resources.UNKNOWN_STRING_VALUE]
        del ng["inputs"]["tags"]["breakeven.dev/zones"]
    (v,) = fires(pack, res, "production-redundancy")
    assert v.mandatory and "cannot be resolved during preview" in v.detail


# ---------------------------------------------------------------------------------------------
# spot-needs-on-demand-fallback
# ---------------------------------------------------------------------------------------------

def test_spot_only_production_capacity_needs_an_on_demand_fallback(pack):
    spot = B.M(**{**HA.__dict__, "capacity_type": "spot"})
    res = B.model_stack(spot)
    (v,) = fires(pack, res, "spot-needs-on-demand-fallback")
    assert not v.mandatory and "ON_DEMAND" in v.detail
    _, urns = B.subnets(spot.zones)
    fallback = B.node_groups(spot, urns, B.economics(spot, pricing.econ.StackEconomics()), capacity_type="ON_DEMAND",
                             name_suffix="-fallback", desired=0)
    assert not fires(pack, res + fallback, "spot-needs-on-demand-fallback")
    assert not fires(pack, B.model_stack(spot, production=False), "spot-needs-on-demand-fallback")


# ---------------------------------------------------------------------------------------------
# monthly-budget
# ---------------------------------------------------------------------------------------------

def test_monthly_budget_cap_from_the_policy_config(pack):
    res = B.model_stack(HA)
    total = pricing.build_stack(res).monthly_usd
    assert not fires(pack, res, "monthly-budget")  # no cap configured: nothing to check
    (v,) = fires(pack, res, "monthly-budget", {"monthly-budget": {"maxMonthlyUsd": total * UNDER}})
    assert v.mandatory and f"${total:,.2f}/month" in v.detail
    assert not fires(pack, res, "monthly-budget", {"monthly-budget": {"maxMonthlyUsd": total * OVER}})


def test_monthly_budget_cap_the_stack_declares(pack):
    res = B.model_stack(HA)
    total = pricing.build_stack(res).monthly_usd
    over, under = (B.model_stack(HA, stack={"budget_usd_per_month": round(total * f, 2)}) for f in (UNDER, OVER))
    assert fires(pack, over, "monthly-budget") and not fires(pack, under, "monthly-budget")


def test_the_budget_counts_the_routed_api_tiers(pack):
    routing = Routing(Workload.build(1e9, avg_input_tokens=600, avg_output_tokens=400),
                      (Tier("simple", 0.5, deployment="chat-8b"), Tier("hard", 0.5, api="anthropic:claude-3-5-sonnet")))
    m = with_tokens(HA, 5e8)
    res = B.model_stack(m, stack={"routing": routing})
    s = pricing.build_stack(res)
    assert s.api_tiers_monthly_usd > 1000 and s.monthly_usd == pytest.approx(s.models[0].monthly_usd + s.api_tiers_monthly_usd)
    cap = {"monthly-budget": {"maxMonthlyUsd": s.models[0].monthly_usd * OVER}}
    assert "API tiers" in fires(pack, res, "monthly-budget", cap)[0].detail


# ---------------------------------------------------------------------------------------------
# secrets-via-references
# ---------------------------------------------------------------------------------------------

def _container(res):
    return B.deployment(res)["inputs"]["spec"]["template"]["spec"]["containers"][0]


def test_secret_references_pass_and_plain_values_fail(pack):
    res = B.model_stack(HA)
    assert not fires(pack, res, "secrets-via-references")  # secretKeyRef, $(VLLM_API_KEY), a Secret object
    plain = copy.deepcopy(res)
    _container(plain)["env"][0] = {"name": "HF_TOKEN", "value": "not-a-real-token"}
    (v,) = fires(pack, plain, "secrets-via-references")
    assert v.mandatory and "env HF_TOKEN to a plain value" in v.detail


def test_a_literal_api_key_on_the_command_line_fails(pack):
    res = B.model_stack(HA)
    args = _container(res)["args"]
    args[args.index("--api-key") + 1] = "letmein"
    (v,) = fires(pack, res, "secrets-via-references")
    assert "--api-key a literal" in v.detail


def test_credentials_in_chart_values_or_configmaps_fail(pack):
    res = B.model_stack(HA)
    B.find(res, B.CHART)["inputs"]["values"]["secrets"]["huggingFace"]["token"] = "plain-token-value"
    res.append({"type": "kubernetes:core/v1:ConfigMap", "name": "cfg",
                "inputs": {"metadata": {"name": "cfg"}, "data": {"notes": "key hf_abcdefghijklmnopqrstuvwxyz0123"}}})
    got = fires(pack, res, "secrets-via-references")
    assert {v.urn.rsplit("::", 1)[-1] for v in got} == {"serving-chat-8b-chart", "cfg"}


# ---------------------------------------------------------------------------------------------
# right-sized-gpus
# ---------------------------------------------------------------------------------------------

def test_oversized_gpus_against_the_cheapest_fitting_configuration(pack):
    big = B.M(name="chat-8b", instance_type="p5.4xlarge", replicas=1, spares=1, zones=("us-east-1a", "us-east-1b"),
              tokens_per_month=2e8)
    res = B.model_stack(big)
    x = model(res)
    alt = advice.cheapest_alternative(x.deployment, x.workload, None, x.context_tokens)
    premium = (optimize.gpu_monthly_usd(x.deployment) / alt.gpu_monthly_usd - 1) * 100
    assert premium > 25
    (v,) = fires(pack, res, "right-sized-gpus")
    assert not v.mandatory and alt.deployment.instance_type in v.detail
    assert fires(pack, res, "right-sized-gpus", {"right-sized-gpus": {"maxPremiumPct": premium * UNDER}})
    assert not fires(pack, res, "right-sized-gpus", {"right-sized-gpus": {"maxPremiumPct": premium * OVER}})


def test_the_cheapest_configuration_meets_the_latency_target():
    x = model(B.model_stack(B.M(**{**BASE.__dict__, "tpot_ms": 20})))
    alt = advice.cheapest_alternative(x.deployment, x.workload, None, x.context_tokens)
    assert alt is not None and alt.tpot_s <= 0.020
    loose = model(B.model_stack(BASE))
    assert advice.cheapest_alternative(loose.deployment, loose.workload, None).gpu_monthly_usd <= alt.gpu_monthly_usd


def test_secret_names_are_matched_word_by_word():
    import re

    from policies.secrets import SECRET_NAME, _words

    hits = ["HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "VLLM_API_KEY", "OPENAI_API_KEY", "AWS_SECRET_ACCESS_KEY", "hfToken", "apiKey",
            "DB_PASSWORD"]
    misses = ["TOKENIZERS_PARALLELISM", "maxTokens", "tokensPerMonth", "HF_HOME", "VLLM_LOGGING_LEVEL", "keyArn"]
    assert [n for n in hits if not re.search(SECRET_NAME, _words(n))] == []
    assert [n for n in misses if re.search(SECRET_NAME, _words(n))] == []


def test_provider_configs_and_secrets_are_where_credentials_belong(pack):
    res = B.model_stack(HA) + [{"type": "pulumi:providers:kubernetes", "name": "k8s",
                                "inputs": {"kubeconfig": "{}", "token": "hf_abcdefghijklmnopqrstuvwxyz0123"}}]
    B.find(res, B.SECRET)["inputs"]["stringData"]["token"] = "hf_abcdefghijklmnopqrstuvwxyz0123"
    assert not fires(pack, res, "secrets-via-references")
