"""Results kept for the process (catalog indexes, API quotes, the capacity model): each caller gets what a fresh
computation would give, for exactly its own inputs, and may change what it was given."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest

from cost import catalog
from cost.deployment import Deployment
from cost.errors import InputError
from cost.estimate import estimate
from cost.physics import capacity
from cost.pricing import api_prices as ap
from cost.workload import Workload

W = Workload.build(2e9, avg_input_tokens=600, avg_output_tokens=400)


def test_quotes_are_a_new_list_each_call():
    # estimate() extends its quotes with hosting offers: that must not reach the next caller
    first = ap.quotes_for("llama-3.1-70b", W)
    first.append(first[0])
    assert len(ap.quotes_for("llama-3.1-70b", W)) == len(first) - 1


def test_quotes_follow_the_workload_and_the_price_book():
    plain = {q.offer.id: q.monthly_usd for q in ap.quotes_for("llama-3.1-70b", W)}
    double = {q.offer.id: q.monthly_usd for q in ap.quotes_for("llama-3.1-70b", replace(W, tokens_per_month=4e9))}
    assert double == pytest.approx({k: 2 * v for k, v in plain.items()})
    seed = {q.offer.id: q.monthly_usd for q in ap.quotes_for("llama-3.1-70b", W, ap.load_price_book("seed-2025"))}
    assert seed != plain


def test_the_capacity_model_answers_for_the_request_shape_asked():
    m, g = catalog.model("llama-3.1-70b"), catalog.gpu("H100")
    short = capacity.throughput(m, g, 2, "fp8", 600, 400)
    long = capacity.throughput(m, g, 2, "fp8", 6000, 400)
    assert long.output_tok_s < short.output_tok_s
    assert capacity.throughput(m, g, 2, "fp8", 600, 400) == short


def test_the_same_hardware_at_another_price_is_priced_again():
    d = Deployment.build(model="llama-3.1-70b", gpu="H100", gpus_per_replica=2, replicas=2, precision="fp8")
    on_demand, reserved = estimate(d, W), estimate(replace(d, pricing="reserved-1y"), W)
    assert on_demand.capacity_tokens_per_month == reserved.capacity_tokens_per_month
    assert reserved.monthly_usd < on_demand.monthly_usd


def test_lookups_by_any_name_case_insensitive_and_bad_names_named():
    m = catalog.model("llama-3.1-70b")
    assert catalog.model(m.hf.upper()) is m
    assert catalog.gpu("h100") is catalog.gpu("H100")
    with pytest.raises(InputError, match="model"):
        catalog.model("no-such-model")
    with pytest.raises(InputError, match="gpu"):
        catalog.gpu("no-such-gpu")


def test_the_node_plan_follows_the_replicas_the_capacity_type_and_the_book():
    from cost.pricing.nodes import plan_nodes

    d = Deployment.build(model="llama-3.1-70b", gpu="H100", gpus_per_replica=2, replicas=4, redundancy=1)
    plan = plan_nodes(d)   # 4 replicas of 2 GPUs fill one 8-GPU instance; the spare needs a second
    assert plan_nodes(replace(d, replicas=8)).serving_units > plan.serving_units
    assert plan_nodes(replace(d, redundancy=0)).failover_units == 0 < plan.failover_units
    assert plan_nodes(replace(d, pricing="reserved-1y")).unit_usd_hr < plan.unit_usd_hr
    assert plan_nodes(d, ap.load_price_book("seed-2025")).billing == "gpu" != plan.billing
    assert plan_nodes(d) == plan   # asked again, the same plan


def test_the_alternatives_follow_the_allow_list_and_the_exemptions():
    d = Deployment.build(model="llama-3.1-70b", gpu="H100", gpus_per_replica=2, replicas=2)
    every = estimate(d, W).verdict
    together = estimate(d, W, providers=("together",)).verdict
    assert together.cheapest_api.startswith("together:") and together.compared_with != every.compared_with
    exempt = estimate(replace(d, exemptions=replace(d.exemptions, fine_tuned=True)), W).verdict
    assert exempt.compared_with != every.compared_with
    assert estimate(d, W).verdict == every   # what the allow-list or the exemption kept does not leak back


def test_the_bench_prints_full_estimates_per_second_and_the_written_rate():
    from cost import bench

    out = bench.run(0.01)
    assert re.match(r"^[\d,]+ estimates/s \(one core, in-process; ", out)
    assert re.search(r"; [\d,]+/s with the verdict's reasons and per-API breakevens written", out)
