"""Hybrid routing: the cheapest assignment of tiers to targets that serve the same model."""

import pytest

from cost.deployment import Deployment
from cost.pricing import api_prices
from cost.pricing.api_prices import load_price_book
from cost.pricing.fleet import Tier, price_fleet
from cost.workload import Workload

ROUTED = Workload.build(1e9, avg_input_tokens=500, avg_output_tokens=250)
TIERS = [Tier("simple", 0.75, deployment="router-8b"), Tier("medium", 0.15, api="groq:llama-3.3-70b-versatile"),
         Tier("complex", 0.10, api="anthropic:claude-3-5-sonnet")]


def router(volume: float) -> tuple[Deployment, Workload]:
    d = Deployment.build(model="llama-3.1-8b", instance_type="g6.xlarge", replicas=1, redundancy=1, name="router-8b")
    return d, Workload.build(volume, avg_input_tokens=500, avg_output_tokens=250)


def test_the_cheapest_assignment_keeps_each_tier_on_its_model_and_drops_retired_apis():
    f = price_fleet([router(0.75e9)], tiers=TIERS, routed_workload=ROUTED)
    r = f.routing
    assert r.declared_monthly_usd == pytest.approx(f.monthly_usd)          # the declared blend, priced alike
    assert r.monthly_usd < r.declared_monthly_usd and r.saves_usd == pytest.approx(r.declared_monthly_usd - r.monthly_usd)
    chosen = {name: (target, kind) for name, target, kind in r.assignment}
    simple, medium, complex_ = chosen["simple"], chosen["medium"], chosen["complex"]
    assert simple[0] == "router-8b" or "llama-3.1-8b" in api_prices.models_served(simple[0])
    assert "llama-3.3-70b" in api_prices.models_served(medium[0])
    assert api_prices.offer(complex_[0]).tier == "quality" and api_prices.retired(complex_[0]) is None
    # at genai-prices' few-cents 8B rates, the self-hosted tier is the expensive part
    assert simple[1] == "api"
    quotes = {q.offer.id: q for q in api_prices.quotes_for("llama-3.1-8b", Workload.build(0.75e9, avg_input_tokens=500,
                                                                                          avg_output_tokens=250))}
    cheapest_8b = min((q for q in quotes.values() if q.offer.tier == "equivalent" and not api_prices.retired(q.offer.id)),
                      key=lambda q: q.monthly_usd)
    assert simple[0] == cheapest_8b.offer.id


def test_self_hosting_a_tier_is_kept_where_it_is_cheapest():
    book = load_price_book("seed-2025")   # the articles' $0.20/1M for an 8B API
    routed = Workload.build(100e9, avg_input_tokens=500, avg_output_tokens=250)
    tiers = [Tier("simple", 0.75, deployment="router-8b"), Tier("complex", 0.25, api="openai:gpt-4o")]
    d = Deployment.build(model="llama-3.1-8b", instance_type="g6.xlarge", replicas=None, redundancy=1, precision="fp8",
                         pricing="reserved-3y", name="router-8b")
    f = price_fleet([(d, Workload.build(75e9, avg_input_tokens=500, avg_output_tokens=250))], tiers=tiers,
                    routed_workload=routed, book=book)
    assert dict((n, (t, k)) for n, t, k in f.routing.assignment)["simple"] == ("router-8b", "self-hosted")
    assert f.routing.saves_usd == pytest.approx(0, abs=0.01)   # the declared assignment is already the cheapest
