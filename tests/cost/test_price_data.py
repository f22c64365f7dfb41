"""Reviewed price data: spot ranges that are prices, and the price book of hosts genai-prices lacks."""

from __future__ import annotations

import pytest

from cost import catalog
from cost.deployment import Deployment
from cost.errors import InputError
from cost.pricing import api_prices
from cost.pricing.nodes import plan_nodes
from cost.workload import Workload


def test_every_spot_range_lies_below_its_on_demand_price():
    """A zone without spot capacity reports the on-demand cap; a range reaching it is not a spot price."""
    for inst in catalog.instances().values():
        if inst.spot_usd_hr_range and inst.on_demand_usd_hr:
            assert inst.spot_usd_hr_range[1] < 0.95 * inst.on_demand_usd_hr, inst.type


def test_p5_spot_is_refused_rather_than_priced_at_a_meaningless_midpoint():
    assert catalog.instance("p5.48xlarge").spot_usd_hr is None
    with pytest.raises(InputError):
        plan_nodes(Deployment.build(model="llama-3.1-70b", instance_type="p5.48xlarge", pricing="spot"))


def test_open_hosts_are_in_the_default_set_beside_genai_prices():
    """DeepInfra, GMI Cloud and Inference.net (not in genai-prices) are compared without a price book;
    naming the book changes nothing."""
    book = api_prices.load_price_book("open-hosts-2026")
    w = Workload.build(1e9, avg_input_tokens=600, avg_output_tokens=400)
    default = {q.offer.id: q for q in api_prices.quotes_for("deepseek-v3", w)}
    quotes = {q.offer.id: q for q in api_prices.quotes_for("deepseek-v3", w, book)}
    assert list(default) == list(quotes)
    assert any(not q.offer.flat for q in quotes.values())   # genai-prices' hosts stay
    assert api_prices.offer("deepinfra:deepseek-ai/DeepSeek-V3").label == "DeepInfra DeepSeek V3"
    assert api_prices.models_served("deepinfra:deepseek-ai/DeepSeek-V3") == ("deepseek-v3",)
    q = quotes["deepinfra:deepseek-ai/DeepSeek-V3"]
    assert q.request_usd == pytest.approx((600 * 0.38 + 400 * 0.89) / 1e6)
    assert "read 2026-11-29" in q.offer.source
    # entries apply only to their model
    assert not any(i.startswith("deepinfra:deepseek") for i in (x.offer.id for x in api_prices.quotes_for("qwen3-32b", w, book)))
