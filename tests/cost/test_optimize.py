import itertools
import json

import pytest

from cost import catalog
from cost.decide.advice import cheapest_alternative
from cost.decide.optimize import Constraints, gpu_monthly_usd, optimize
from cost.deployment import Deployment
from cost.errors import InputError
from cost.estimate import estimate
from cost.physics import capacity
from cost.workload import Workload

REDUCED = ("g6.xlarge", "g6.24xlarge", "g5.12xlarge", "g6e.xlarge", "g6e.12xlarge")


def brute_force(model: str, w: Workload, instance_types, precisions, pricings, max_replicas: int = 40) -> list[tuple]:
    """Every instance x TP x precision x pricing x replica count, each fully estimated; the cheapest
    replica count per cell that carries the volume at the planned utilization and meets the targets."""
    best = {}
    for itype, tp, prec, pricing in itertools.product(instance_types, capacity.TP_SIZES, precisions, pricings):
        inst = catalog.instance(itype)
        if tp > inst.gpus:
            continue
        for n in range(1, max_replicas + 1):
            try:
                d = Deployment.build(model=model, instance_type=itype, gpus_per_replica=tp, replicas=n, precision=prec,
                                     pricing=pricing)
                e = estimate(d, w)
            except InputError:
                break
            if e.misses:
                break
            if e.capacity_tokens_per_month >= w.tokens_per_month * (1 - 1e-9):
                best[(itype, tp, prec, pricing)] = (round(e.monthly_usd, 6), n)
                break
    return sorted(best.values())


@pytest.mark.parametrize("model, volume, shape, tpot", [
    ("llama-3.1-8b", 2e9, (600, 400), None),
    ("llama-3.1-8b", 300e6, (2000, 300), 0.04),
    ("llama-3.1-70b", 5e9, (4500, 500), None),
])
def test_search_equals_brute_force_on_a_reduced_catalog(model, volume, shape, tpot):
    w = Workload.build(volume, avg_input_tokens=shape[0], avg_output_tokens=shape[1], tpot_target_s=tpot)
    precisions, pricings = ("bf16", "fp8", "int4-awq"), ("on-demand", "spot", "reserved-1y")
    want = brute_force(model, w, REDUCED, precisions, pricings)
    got = optimize(model, w, Constraints(instance_types=REDUCED, precisions=precisions, pricings=pricings), top=None)
    assert want, "the brute force must find something to compare"
    costs = [round(c.monthly_usd, 6) for c in got]
    assert costs == sorted(costs)        # cheapest first; equal costs in any order
    assert sorted((round(c.monthly_usd, 6), c.deployment.replicas) for c in got) == want
    top3 = optimize(model, w, Constraints(instance_types=REDUCED, precisions=precisions, pricings=pricings), top=3)
    assert [round(c.monthly_usd, 6) for c in top3] == [m for m, _ in want[:3]]


def test_the_ranking_is_the_reports_full_monthly_cost():
    w = Workload.build(1e9, avg_input_tokens=600, avg_output_tokens=400)
    found = optimize("llama-3.1-8b", w, top=5)
    assert [c.monthly_usd for c in found] == sorted(c.monthly_usd for c in found)
    for c in found:
        again = estimate(c.deployment, w)
        assert c.monthly_usd == again.monthly_usd
        assert {i.name for i in again.line_items} >= {"GPU compute", "Ops tax", "MLOps staff", "Monitoring"}
        assert c.utilization <= w.utilization + 1e-9 and c.estimate.verdict.choice not in ("undersized", "target-unmet")
    json.dumps([c.to_dict() for c in found], allow_nan=False)


def test_cheapest_configuration_fits_serves_and_undercuts_an_oversized_one():
    w = Workload.build(500e6, avg_input_tokens=600, avg_output_tokens=400, utilization=0.7)
    big = Deployment.build(model="llama-3.1-8b", instance_type="p5.48xlarge", gpus_per_replica=1, replicas=1)
    alt = cheapest_alternative(big, w)
    d = alt.deployment
    assert capacity.memory_fit(catalog.model(d.model), catalog.gpu(d.gpu), d.gpus_per_replica, d.precision, 1000).fits
    assert alt.gpu_monthly_usd < gpu_monthly_usd(big) / 10


def test_latency_target_excludes_slow_hardware():
    w = Workload.build(100e6, avg_input_tokens=600, avg_output_tokens=400, tpot_target_s=0.015)
    alt = cheapest_alternative(Deployment.build(model="llama-3.1-8b", gpu="L4"), w)
    assert alt.tpot_s <= 0.015 and alt.deployment.gpu != "L4"
    slow = estimate(Deployment.build(model="llama-3.1-8b", gpu="L4", replicas=None), w)
    assert slow.misses  # the L4 cannot do 15 ms at any concurrency


def test_failover_sits_on_its_own_node_and_zone():
    w = Workload.build(200e6, avg_input_tokens=600, avg_output_tokens=400)
    for c in optimize("llama-3.1-8b", w, Constraints(instance_types=("g6.24xlarge", "g6.xlarge"), redundancy=1), top=None):
        p = c.estimate.plan
        # the spare replicas fill whole instances of their own: losing any node leaves the serving replicas
        assert p.failover_units >= 1
        assert c.deployment.redundancy >= p.replicas_per_instance
    prod = optimize("llama-3.1-8b", w, Constraints(production=True, zones=3), top=3)
    assert all(c.estimate.plan.nodes >= 3 for c in prod)
    with pytest.raises(InputError, match="zones"):
        optimize("llama-3.1-8b", w, Constraints(production=True, zones=1))


def test_constraints_narrow_the_search_and_bad_ones_name_the_key():
    w = Workload.build(3e9, avg_input_tokens=600, avg_output_tokens=400)
    found = optimize("llama-3.1-70b", w, Constraints(precisions=("fp8",), pricings=("on-demand",), gpus=("h100",)), top=None)
    assert found and {(c.deployment.precision, c.deployment.pricing, c.deployment.gpu) for c in found} == {("fp8", "on-demand", "H100")}
    with pytest.raises(InputError, match=r"^pricing: got 'cheap'"):
        optimize("llama-3.1-70b", w, Constraints(pricings=("cheap",)))
    with pytest.raises(InputError, match=r"^gpu: got 'Z100'"):
        optimize("llama-3.1-70b", w, Constraints(gpus=("Z100",)))


def test_a_target_no_hardware_meets_gives_nothing():
    w = Workload.build(100e6, avg_input_tokens=600, avg_output_tokens=400, tpot_target_s=0.0005)
    assert optimize("llama-3.1-70b", w) == []


def test_breakeven_volume_is_where_the_optimized_stack_starts_beating_the_api():
    from dataclasses import replace

    from cost.decide.optimize import breakeven_volume

    w = Workload.build(1e9, avg_input_tokens=600, avg_output_tokens=400)
    found = breakeven_volume("llama-3.1-70b", w, providers=("together",))
    v = found.tokens_per_month
    assert 1e9 < v < 1e12

    def margin(volume):
        best = optimize("llama-3.1-70b", replace(w, tokens_per_month=volume), top=1, providers=("together",))[0]
        return best.estimate.verdict.cheapest_api_monthly_usd - best.monthly_usd

    assert margin(v) >= 0 > margin(v / 1.03)
    assert found.configuration.monthly_usd <= found.configuration.estimate.verdict.cheapest_api_monthly_usd
    never = breakeven_volume("llama-3.1-70b", w, high=1e9, providers=("together",))
    assert never.tokens_per_month is None and never.to_dict()["tokens_per_month"] is None
