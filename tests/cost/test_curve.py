"""Breakeven curves: the exact step curve of the cheapest configuration, and where it meets each API."""

from __future__ import annotations

import itertools
import json

import pytest

from cost.decide.curve import cheapest_search, configuration, curve
from cost.decide.optimize import Constraints
from cost.deployment import Deployment, Exemptions
from cost.errors import InputError
from cost.estimate import estimate
from cost.pricing import api_prices
from cost.report_model import curve_document, curve_headline
from cost.workload import Workload

SHAPE = Workload.build(0, avg_input_tokens=600, avg_output_tokens=400, utilization=0.8)
ON_DEMAND = Constraints(pricings=("on-demand",))


@pytest.fixture(scope="module")
def search():
    return cheapest_search("llama-3.1-70b", SHAPE, ON_DEMAND)


@pytest.fixture(scope="module")
def c70(search):
    return curve("llama-3.1-70b", SHAPE, search, start=10e6, end=100e9, points=16, constraints=ON_DEMAND)


def _reprice(config: dict, tokens: float):
    """`breakeven estimate` with this configuration at this volume, from scratch."""
    d = Deployment.build(model="llama-3.1-70b", instance_type=config["instance_type"], gpus_per_replica=config["gpus_per_replica"],
                         precision=config["precision"], pricing=config["pricing"], replicas=config["replicas"],
                         redundancy=config["redundancy"])
    w = Workload.build(tokens, avg_input_tokens=600, avg_output_tokens=400, utilization=0.8)
    return estimate(d, w), w


def test_each_breakeven_is_where_self_hosting_and_the_api_cost_the_same_within_1_percent(c70, search):
    data = curve_document(c70)
    assert {b["tier"] for b in data["breakeven"]} == {"equivalent", "quality"}
    for b in data["breakeven"]:
        e, w = _reprice(b["configuration"], b["tokens_per_month"])
        api = api_prices.quote(api_prices.offer(b["api"]), w).monthly_usd
        assert e.monthly_usd == pytest.approx(api, rel=0.01), b
        assert e.capacity_tokens_per_month >= w.tokens_per_month * (1 - 1e-9)   # it serves that volume
        # and it is a crossing: the API is cheaper just below it, self-hosting no dearer just above
        rate = c70.usd_per_mtok[b["api"]]
        below, above = b["tokens_per_month"] * 0.995, b["tokens_per_month"] * 1.0001
        assert search(below).monthly_usd > rate * below / 1e6 and search(above).monthly_usd <= rate * above / 1e6 * 1.001


def test_apis_without_a_crossing_are_cheaper_on_one_side_throughout(c70):
    for api, side in c70.without_breakeven():
        rows = [(s.monthly_usd, c70.api_monthly_usd(api.id, s.start), c70.api_monthly_usd(api.id, s.end)) for s in c70.steps]
        if side == "api":
            assert all(usd > hi for usd, lo, hi in rows)
        elif side == "self-host":
            assert all(usd < lo for usd, lo, hi in rows)


def test_the_steps_are_exact_cover_the_range_and_rise(c70, search):
    steps = c70.steps
    assert steps[0].start == 10e6 and steps[-1].end == 100e9
    assert all(b.start == pytest.approx(a.end, rel=1e-8) for a, b in itertools.pairwise(steps))
    assert all(a.monthly_usd <= b.monthly_usd for a, b in itertools.pairwise(steps))
    assert steps[-1].monthly_usd > 5 * steps[0].monthly_usd and len({s.estimate.deployment.replicas for s in steps}) > 3
    for s in steps[:-1]:
        # a step ends where its configuration runs out of capacity: just before, the same cost; just after,
        # a dearer configuration or another one at the same cost
        assert s.estimate.capacity_tokens_per_month == pytest.approx(s.end, rel=1e-8)
        inside, past = search(s.end * (1 - 1e-6)), search(s.end * (1 + 1e-6))
        assert inside.monthly_usd == pytest.approx(s.monthly_usd)
        assert past.monthly_usd > s.monthly_usd + 0.005 or configuration(past) != configuration(s.estimate)
        assert all(x.deployment.pricing == "on-demand" for x in (inside, past))


def test_constraints_and_latency_targets_limit_the_search():
    shape = Workload.build(0, avg_input_tokens=600, avg_output_tokens=400, tpot_target_s=0.03)
    e = cheapest_search("llama-3.1-8b", shape, Constraints(gpus=("H100", "L40S"), redundancy=1))(2e9)
    assert e.deployment.gpu in ("H100", "L40S") and e.deployment.redundancy >= 1
    assert e.throughput.tpot_s <= 0.03
    with pytest.raises(InputError) as err:
        cheapest_search("llama-3.1-405b", SHAPE, Constraints(instance_types=("g6.xlarge",)))(1e9)
    assert err.value.key == "constraints"


def test_json_is_strict_and_has_points_and_breakeven_with_configurations(c70):
    data = json.loads(json.dumps(curve_document(c70), allow_nan=False))
    assert len(data["points"]) == 16 and data["points"][0]["tokens_per_month"] == 10_000_000
    keys = {"instance_type", "gpus_per_replica", "precision", "pricing", "replicas"}
    for entry in data["points"] + data["breakeven"]:
        assert keys <= set(entry["configuration"]) and entry["tokens_per_month"] > 0
    assert all({"api", "tokens_per_month", "configuration"} <= set(b) for b in data["breakeven"])
    assert data["points"][0]["configuration"] == configuration(c70.steps[0].estimate)
    assert data["constraints"]["pricings"] == ["on-demand"]


def test_the_headline_speaks_of_the_equivalent_apis_only():
    """Below 1B tokens/month an 8B deployment crosses only quality-tier APIs: no breakeven with the equivalent ones."""
    c = curve("llama-3.1-8b", SHAPE, cheapest_search("llama-3.1-8b", SHAPE), start=10e6, end=1e9, points=2)
    data = curve_document(c)
    assert data["comparable_tier"] == "equivalent"
    assert data["breakeven"] and {b["tier"] for b in data["breakeven"]} == {"quality"}
    assert data["headline"] == ("the equivalent-model APIs stay cheaper than self-hosting at every volume from "
                                "10M-1B tokens/month: no breakeven")
    wide = curve("llama-3.1-70b", SHAPE, cheapest_search("llama-3.1-70b", SHAPE), start=10e6, end=100e9, points=2)
    equivalent = {b["api"] for b in curve_document(wide)["breakeven"] if b["tier"] == "equivalent"}
    assert equivalent and curve_headline(wide).startswith(f"self-hosting breaks even with {len(equivalent)} of ")


def test_the_planned_point_carries_the_cheapest_comparable_api_and_the_label_the_chart_draws():
    planned_shape = Workload.build(1e9, avg_input_tokens=600, avg_output_tokens=400, utilization=0.8)
    c = curve("llama-3.1-70b", planned_shape, cheapest_search("llama-3.1-70b", planned_shape), start=100e6, end=10e9, points=2)
    p = curve_document(c)["planned"]
    again, _ = _reprice(p["configuration"], 1e9)
    assert p["self_hosted_monthly_usd"] == round(again.monthly_usd, 2)
    assert p["cheapest_api"]["id"] == again.verdict.cheapest_api
    assert p["cheapest_api"]["monthly_usd"] == round(again.verdict.cheapest_api_monthly_usd, 2)
    cfg = p["configuration"]
    assert p["label"].splitlines() == [
        f"planned 1B/month: ${p['self_hosted_monthly_usd']:,.2f}/month self-hosted",
        f"{cfg['replicas']}+{cfg['redundancy']} x {cfg['instance_type']} TP{cfg['gpus_per_replica']} {cfg['precision']} "
        f"{cfg['pricing']}",
        f"cheapest comparable API: {p['cheapest_api']['label']} ${p['cheapest_api']['monthly_usd']:,.2f}/month"]


def test_a_quantized_planned_point_for_fine_tuned_weights_says_the_team_must_make_the_checkpoint():
    shape = Workload.build(1e9, avg_input_tokens=600, avg_output_tokens=400)
    tuned = Exemptions(fine_tuned=True)
    c = curve("llama-3.1-8b", shape, cheapest_search("llama-3.1-8b", shape, Constraints(precisions=("fp8",)), exemptions=tuned),
              start=100e6, end=10e9, points=2, exemptions=tuned)
    p = curve_document(c)["planned"]
    assert "must quantize its own checkpoint" in p["notes"][0]
    assert p["label"].splitlines()[-1] == "the team must quantize its own fp8 checkpoint"
    assert c.comparable_tier == "custom-model"
