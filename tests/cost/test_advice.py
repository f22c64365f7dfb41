"""Decide, then advise: `estimate` says what rules self-hosting out; `cost.decide.advice` prices the fix."""

from dataclasses import replace

import pytest

from cost.decide import advice, optimize
from cost.deployment import Deployment
from cost.estimate import estimate
from cost.pricing.fleet import price_fleet
from cost.report_model import fleet_document
from cost.units import format_usd
from cost.workload import Workload

BATCH = Workload.build(50e9, avg_input_tokens=4500, avg_output_tokens=500)
ONE_REPLICA = Deployment.build(model="llama-3.1-70b", gpu="L40S", gpus_per_replica=4, precision="fp8", pricing="spot",
                               replicas=1)
SLOW = Deployment.build(model="llama-3.1-8b", gpu="L4", replicas=None)
TIGHT = Workload.build(100e6, tpot_target_s=0.030)


def test_an_undersized_estimate_is_advised_with_the_bill_of_the_replicas_it_needs():
    e = estimate(ONE_REPLICA, BATCH)
    need = e.replicas_needed
    assert e.verdict.choice == "undersized" and need > 1
    assert e.verdict.reasons[0].endswith(f"needs {need} replicas")        # decided, not advised
    sized_usd = estimate(replace(ONE_REPLICA, replicas=need), BATCH).monthly_usd
    advised = advice.advise(e)
    assert advised.verdict.reasons[0] == (e.verdict.reasons[0] + f", about {format_usd(sized_usd)}/month. Fix: --replicas "
                                          f"{need}, or leave --replicas out to size automatically")
    assert advised.verdict.reasons[1:] == e.verdict.reasons[1:] and advised.monthly_usd == e.monthly_usd


def test_a_missed_target_is_advised_with_the_cheapest_configuration_meeting_it():
    e = estimate(SLOW, TIGHT)
    assert e.verdict.choice == "target-unmet" and "Fix" not in e.verdict.reasons[0]
    best = optimize.optimize(SLOW.model, TIGHT, optimize.Constraints(pricings=(SLOW.pricing,), redundancy=SLOW.redundancy),
                             top=1)[0]
    assert advice.advise(e).verdict.reasons[0] == (e.verdict.reasons[0] + f". Fix: {best.describe()} meets it for "
                                                   f"{format_usd(best.monthly_usd)}/month, or relax the target")


def test_estimate_never_searches_for_a_fix(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("estimate() called the optimizer")

    monkeypatch.setattr(optimize, "optimize", refuse)
    assert estimate(SLOW, TIGHT).verdict.choice == "target-unmet"
    with pytest.raises(AssertionError, match="optimizer"):
        advice.advise(estimate(SLOW, TIGHT))


def test_a_verdict_with_nothing_blocking_it_is_left_as_decided():
    e = estimate(replace(ONE_REPLICA, replicas=None), BATCH)
    assert e.verdict.choice == "api"
    assert advice.advise(e) is e


def test_a_fleet_shows_each_blocker_with_its_fix():
    fleet = price_fleet([(ONE_REPLICA, BATCH)])
    reason = fleet.estimates[0].verdict.reasons[0]
    assert fleet.estimates[0].verdict.choice == "undersized" and "Fix: --replicas" in reason
    assert fleet_document(fleet)["models"][0]["verdict"]["reasons"][0] == reason


# What to change to pass a policy: the suggestions the policy pack words (policies/rules.py).
OVERSIZED = Deployment.build(model="llama-3.1-8b", instance_type="p5.48xlarge", gpus_per_replica=1, replicas=1)
CHAT = Workload.build(500e6, avg_input_tokens=600, avg_output_tokens=400, utilization=0.7)


def test_beating_the_api_suggests_the_cheapest_configuration_priced_with_the_same_overheads():
    e = estimate(OVERSIZED, CHAT)
    api = e.verdict.cheapest_api_monthly_usd
    assert e.monthly_usd > api
    alt = advice.beat_api(OVERSIZED, CHAT, api)
    cheapest = advice.cheapest_alternative(OVERSIZED, CHAT)
    assert alt.configuration.deployment == cheapest.deployment and not alt.same
    assert alt.monthly_usd == estimate(cheapest.deployment, CHAT).monthly_usd
    assert alt.beats == (alt.monthly_usd <= api)
    assert not advice.beat_api(OVERSIZED, CHAT, alt.monthly_usd - 0.01).beats   # a limit it misses by a cent
    assert advice.beat_api(OVERSIZED, CHAT, alt.monthly_usd).beats


def test_a_model_already_on_the_cheapest_configuration_is_told_so():
    best = advice.cheapest_alternative(OVERSIZED, CHAT).deployment
    alt = advice.beat_api(best, CHAT, 0.0)
    assert alt.same and not alt.beats


def test_a_smaller_configuration_only_when_its_gpus_cost_less():
    alt = advice.smaller_configuration(OVERSIZED, CHAT)
    assert alt is not None and alt.gpu_monthly_usd < optimize.gpu_monthly_usd(OVERSIZED)
    assert advice.smaller_configuration(alt.deployment, CHAT) is None


def test_right_sizing_suggests_only_beyond_the_margin():
    chosen = optimize.gpu_monthly_usd(OVERSIZED)
    cheapest = advice.cheapest_alternative(OVERSIZED, CHAT).gpu_monthly_usd
    premium = chosen / cheapest - 1
    assert advice.right_sized(OVERSIZED, CHAT, chosen, premium * 0.99) is not None
    assert advice.right_sized(OVERSIZED, CHAT, chosen, premium * 1.01) is None
