"""A cheaper successor of the same family is named: `successors` in the estimate JSON and one table line."""

import pytest

from cost.decide import successors
from cost.deployment import Deployment, Exemptions
from cost.errors import InputError
from cost.estimate import estimate
from cost.pricing import api_prices
from cost.report import render
from cost.report_model import estimate_document
from cost.workload import Workload

W = Workload.build(3e9, avg_input_tokens=600, avg_output_tokens=400)


def _cheapest(model: str) -> api_prices.ApiQuote:
    comparable, _ = api_prices.comparables(api_prices.quotes_for(model, W), [])
    return min(comparable, key=lambda q: q.monthly_usd)


def test_llama_31_70b_names_llama_33_70b_with_its_cheapest_api_and_monthly_cost():
    e = estimate(Deployment.build(model="llama-3.1-70b", gpu="H100", gpus_per_replica=2, precision="fp8"), W)
    doc = estimate_document(e)
    new, old = _cheapest("llama-3.3-70b"), _cheapest("llama-3.1-70b")
    assert new.monthly_usd < old.monthly_usd
    assert [(s["model"], s["cheapest_api"]) for s in doc["successors"]] == [("llama-3.3-70b", new.offer.id)]
    s = doc["successors"][0]
    assert s["monthly_usd"] == pytest.approx(new.monthly_usd, abs=0.005)
    assert s["instead_of_usd"] == pytest.approx(old.monthly_usd, abs=0.005) and "deprecations" in s["source"]
    lines = [line for line in render(e, "table").splitlines() if line.startswith("Successor:")]
    assert len(lines) == 1 and "llama-3.3-70b" in lines[0] and new.offer.id in lines[0]


def test_no_successor_line_for_the_newest_model_or_under_an_exemption():
    e = estimate(Deployment.build(model="llama-3.3-70b", gpu="H100", gpus_per_replica=2, precision="fp8"), W)
    assert estimate_document(e)["successors"] == [] and "Successor:" not in render(e, "table")
    tuned = Deployment.build(model="llama-3.1-70b", gpu="H100", gpus_per_replica=2, precision="fp8",
                             exemptions=Exemptions(fine_tuned=True))
    assert estimate(tuned, W).successors == ()   # your fine-tune is of 3.1: 3.3's APIs do not serve it


def test_a_successor_that_is_not_cheaper_is_not_listed():
    # on Bedrock alone 3.3 70B costs what 3.1 70B costs: no "for less", so no line
    assert successors.cheaper_successors("llama-3.1-70b", W, providers=("aws",)) == []


def test_a_bad_successor_entry_names_the_key(monkeypatch, tmp_path):
    (tmp_path / "successors.yaml").write_text("successors:\n  llama-3.1-70b:\n    - {model: llama-3.1-70b, source: x}\n")
    (tmp_path / "models.yaml").write_text((successors.catalog.DATA / "models.yaml").read_text())
    monkeypatch.setattr(successors.catalog, "DATA", tmp_path)
    successors.successors_of.cache_clear()
    try:
        with pytest.raises(InputError, match=r"successors\.llama-3\.1-70b\[0\]\.model"):
            successors.successors_of()
    finally:
        monkeypatch.undo()
        successors.successors_of.cache_clear()
