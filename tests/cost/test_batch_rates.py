"""Batch work is priced at the batch rates open-model hosts publish, not only the closed APIs'."""

import pytest

from cost.deployment import Deployment
from cost.errors import InputError
from cost.estimate import estimate
from cost.pricing import api_prices as ap
from cost.report_model import estimate_document
from cost.workload import Workload


def _quotes(batch: bool) -> dict[str, ap.ApiQuote]:
    w = Workload.build(3e9, avg_input_tokens=600, avg_output_tokens=400, batch=batch)
    return {q.offer.id: q for q in ap.quotes_for("llama-3.3-70b", w)}


def test_a_batch_workload_pays_the_open_model_hosts_published_batch_share():
    """The batch team's story: Llama 3.3 70B offline work on Together and Bedrock at half the on-line price,
    with the provider's own page as the source; a host without a published batch rate stays on-line."""
    online, batch = _quotes(False), _quotes(True)
    for offer_id in ("together:meta-llama/Llama-3.3-70B-Instruct-Turbo", "aws:meta.llama3-3-70b-instruct-v1:0"):
        assert batch[offer_id].batch_price and not online[offer_id].batch_price
        assert batch[offer_id].monthly_usd == pytest.approx(online[offer_id].monthly_usd * 0.5)
        assert "50% of its on-line price" in batch[offer_id].batch_source
    assert "docs.together.ai" in batch["together:meta-llama/Llama-3.3-70B-Instruct-Turbo"].batch_source
    novita = "novita:meta-llama/llama-3.3-70b-instruct"
    assert not batch[novita].batch_price and batch[novita].monthly_usd == pytest.approx(online[novita].monthly_usd)


def test_genai_prices_own_batch_variant_wins_and_the_estimate_names_each_source():
    w = Workload.build(3e9, avg_input_tokens=600, avg_output_tokens=400, batch=True)
    e = estimate(Deployment.build(model="llama-3.3-70b", gpu="H100", gpus_per_replica=2, precision="fp8"), w)
    by_id = {a["id"]: a for a in estimate_document(e)["apis"]}
    assert by_id["openai:gpt-4o"]["batch_price"] and by_id["openai:gpt-4o"]["source"].endswith(ap.GENAI_BATCH_SOURCE)
    together = by_id["together:meta-llama/Llama-3.3-70B-Instruct-Turbo"]
    assert together["batch_price"] and "docs.together.ai/docs/inference/pricing" in together["source"]
    cheapest = min((a for a in by_id.values() if a["tier"] == "equivalent"), key=lambda a: a["monthly_usd"])
    assert e.verdict.cheapest_api_monthly_usd == pytest.approx(cheapest["monthly_usd"], abs=0.01)


def test_a_bad_batch_rate_names_the_key(monkeypatch, tmp_path):
    (tmp_path / "batch-rates.yaml").write_text("providers:\n  together: {share_of_online: 1.5, source: x}\n")
    (tmp_path / "apis.yaml").write_text((ap.catalog.DATA / "apis.yaml").read_text())
    monkeypatch.setattr(ap.catalog, "DATA", tmp_path)
    ap._batch_rates.cache_clear()
    try:
        with pytest.raises(InputError, match=r"providers\.together\.share_of_online.*1\.5"):
            ap._batch_rates()
    finally:
        monkeypatch.undo()
        ap._batch_rates.cache_clear()
