"""Breakeven curves: the step curve of the cheapest configuration, and where it meets each API."""

from __future__ import annotations

import json

import pytest

from cost import api_prices
from cost.curve import Constraints, configuration, curve, local_search
from cost.deployment import Deployment
from cost.errors import InputError
from cost.estimate import estimate
from cost.optimize import cheapest_alternative
from cost.workload import Workload

SHAPE = Workload.build(0, avg_input_tokens=600, avg_output_tokens=400, utilization=0.8)


@pytest.fixture(scope="module")
def c8():
    cheapest = local_search("llama-3.1-8b", SHAPE)
    return curve("llama-3.1-8b", SHAPE, cheapest, start=10e6, end=100e9, points=16)


def _reprice(config: dict, tokens: float) -> tuple[object, Workload]:
    """`breakeven estimate` with this configuration at this volume, from scratch."""
    d = Deployment.build(model="llama-3.1-8b", instance_type=config["instance_type"], gpus_per_replica=config["gpus_per_replica"],
                         precision=config["precision"], pricing=config["pricing"], replicas=config["replicas"],
                         redundancy=config["redundancy"])
    w = Workload.build(tokens, avg_input_tokens=600, avg_output_tokens=400, utilization=0.8)
    return estimate(d, w), w


def test_each_breakeven_is_where_self_hosting_and_the_api_cost_the_same_within_1_percent(c8):
    data = c8.to_dict()
    cheapest = local_search("llama-3.1-8b", SHAPE)
    assert {b["tier"] for b in data["breakeven"]} == {"equivalent", "quality"}
    for b in data["breakeven"]:
        e, w = _reprice(b["configuration"], b["tokens_per_month"])
        api = api_prices.quote(api_prices.offer(b["api"]), w).monthly_usd
        assert e.monthly_usd == pytest.approx(api, rel=0.01), b
        assert e.capacity_tokens_per_month >= w.tokens_per_month   # the configuration serves that volume
        # and it is a crossing: the API is cheaper a little below, self-hosting a little above
        below, above = b["tokens_per_month"] * 0.98, b["tokens_per_month"] * 1.02
        rate = c8.usd_per_mtok[b["api"]]
        assert cheapest(below).monthly_usd > rate * below / 1e6 and cheapest(above).monthly_usd <= rate * above / 1e6


def test_apis_without_a_crossing_are_cheaper_on_one_side_throughout(c8):
    for api, side in c8.without_breakeven():
        costs = [(s.monthly_usd, c8.api_monthly_usd(api.id, s.start), c8.api_monthly_usd(api.id, s.end)) for s in c8.steps]
        if side == "api":
            assert all(self_usd > hi for self_usd, lo, hi in costs)
        elif side == "self-host":
            assert all(self_usd < lo for self_usd, lo, hi in costs)


def test_the_steps_cover_the_range_rise_and_serve_their_volume(c8):
    steps = c8.steps
    assert steps[0].start == 10e6 and steps[-1].end == 100e9
    assert all(a.end == b.start for a, b in zip(steps, steps[1:]))
    assert all(a.monthly_usd <= b.monthly_usd + 1e-6 for a, b in zip(steps, steps[1:]))
    assert steps[-1].monthly_usd > steps[0].monthly_usd          # replicas are added as volume grows
    assert len({s.estimate.deployment.replicas for s in steps}) > 3
    cheapest = local_search("llama-3.1-8b", SHAPE)
    for s in steps:
        mid = (s.start * s.end) ** 0.5
        e = cheapest(mid)
        assert e.monthly_usd == pytest.approx(s.monthly_usd) and e.capacity_tokens_per_month >= mid


@pytest.mark.parametrize("tokens", [50e6, 5e9, 60e9])
def test_the_search_is_no_dearer_than_the_gpu_only_search(tokens):
    w = Workload.build(tokens, avg_input_tokens=600, avg_output_tokens=400, utilization=0.8)
    best = local_search("llama-3.1-8b", SHAPE, Constraints(pricings=("on-demand",), precisions=("bf16",)))(tokens)
    alt = cheapest_alternative(Deployment.build(model="llama-3.1-8b", gpu="L4"), w)
    assert best.monthly_usd <= estimate(alt.deployment, w).monthly_usd + 0.01
    assert best.deployment.pricing == "on-demand" and best.deployment.precision == "bf16"


def test_constraints_and_latency_targets_limit_the_search():
    shape = Workload.build(0, avg_input_tokens=600, avg_output_tokens=400, tpot_target_s=0.02)
    cheapest = local_search("llama-3.1-8b", shape, Constraints(gpus=("H100", "L40S"), redundancy=1))
    e = cheapest(2e9)
    assert e.deployment.gpu in ("H100", "L40S") and e.deployment.redundancy == 1
    assert e.throughput.tpot_s <= 0.02
    with pytest.raises(InputError) as err:
        local_search("llama-3.1-405b", SHAPE, Constraints(instance_types=("g6.xlarge",)))
    assert err.value.key == "constraints"


def test_json_is_strict_and_has_points_and_breakeven_with_configurations(c8):
    data = json.loads(json.dumps(c8.to_dict(), allow_nan=False))
    assert len(data["points"]) == 16
    keys = {"instance_type", "gpus_per_replica", "precision", "pricing", "replicas"}
    for entry in data["points"] + data["breakeven"]:
        assert keys <= set(entry["configuration"]) and entry["tokens_per_month"] > 0
    assert all({"api", "tokens_per_month", "configuration"} <= set(b) for b in data["breakeven"])
    assert configuration(c8.points[0]) == data["points"][0]["configuration"]
