"""Results kept for the process (catalog indexes, API quotes, the capacity model): each caller gets what a fresh
computation would give, for exactly its own inputs, and may change what it was given."""

from __future__ import annotations

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
