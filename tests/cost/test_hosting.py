"""Dedicated and custom-model hosting of your own weights: priced for the same workload with the same
capacity model, and compared wherever an exemption applies."""

import json

import pytest

from breakeven.cli import main
from cost import catalog
from cost.deployment import Deployment, Exemptions
from cost.errors import InputError
from cost.estimate import estimate
from cost.pricing import hosting
from cost.pricing.api_prices import HOSTING_TIERS, load_price_book
from cost.report_model import estimate_document
from cost.workload import Workload

HOURS = 730
FINE_TUNED = Exemptions(fine_tuned=True)


def _offer(offer_id: str) -> hosting.HostingOffer:
    return next(h for h in hosting.offers() if h.offer.id == offer_id)


def test_fine_tuned_llama_33_70b_is_compared_with_hosting_of_its_weights_not_self_hosted_regardless():
    """The ML team's story: fine-tuned Llama 3.3 70B, 3B tokens/month. No per-token API serves its weights,
    so the comparison is with dedicated deployments and custom-model import, named in the verdict."""
    w = Workload.build(3e9, avg_input_tokens=600, avg_output_tokens=400)
    d = Deployment.build(model="llama-3.3-70b", gpu="H100", gpus_per_replica=4, exemptions=FINE_TUNED)
    e = estimate(d, w)
    v = e.verdict
    assert not any("regardless" in r for r in v.reasons)
    assert v.compared_with == "offers that serve your fine-tuned weights"
    tiers = {q.offer.id: q.offer.tier for q in e.apis}
    assert tiers[v.cheapest_api] in HOSTING_TIERS
    doc = estimate_document(e)
    dedicated = [a for a in doc["apis"] if a["tier"] == "dedicated"]
    assert dedicated and all(a["basis"] and a["includes"] and a["minimum"] and "fine-tuned" in a["serves"] for a in dedicated)
    assert any(a["tier"] == "custom-model" and a["id"].startswith("aws-custom-model-import") for a in doc["apis"])
    # the verdict says what the alternative runs for you: the MLOps line it removes
    assert any(f"{v.cheapest_api} includes" in r and "MLOps staff" in r for r in v.reasons)
    cheapest = min((q for q in e.apis if q.offer.tier in HOSTING_TIERS), key=lambda q: q.monthly_usd)
    assert v.cheapest_api == cheapest.offer.id and v.cheapest_api_monthly_usd == pytest.approx(cheapest.monthly_usd)


def test_a_dedicated_offer_is_sized_as_the_self_hosted_estimate_sizes_the_same_gpus():
    """The same capacity model: the offer's GPUs are the replicas `estimate` sizes on that GPU, times the
    tensor-parallel size, at the cheapest size that fits, times 730 h at the listed rate."""
    w = Workload.build(3e9, avg_input_tokens=600, avg_output_tokens=400)
    h = _offer("deepinfra-dedicated:h100-80gb")
    by_hand = []
    for tp in (1, 2, 4, 8):
        try:
            e = estimate(Deployment.build(model="llama-3.3-70b", gpu="H100", gpus_per_replica=tp, replicas=None), w)
        except InputError:
            continue   # does not fit
        by_hand.append(e.deployment.replicas * tp * HOURS * 1.98)
    q = next(q for q in hosting.quotes_for("llama-3.3-70b", w) if q.offer.id == h.offer.id)
    assert q.monthly_usd == pytest.approx(min(by_hand))
    assert q.usd_per_mtok == pytest.approx(q.monthly_usd / 3e9 * 1e6)
    assert "replica(s) x" in q.basis and "$1.98/GPU-hour" in q.basis


def test_a_dedicated_deployment_carries_the_failover_the_stack_declares_and_a_copy_offer_does_not():
    w = Workload.build(3e9, avg_input_tokens=600, avg_output_tokens=400)
    plain = {q.offer.id: q for q in hosting.quotes_for("llama-3.3-70b", w)}
    spare = {q.offer.id: q for q in hosting.quotes_for("llama-3.3-70b", w, spares=1)}
    di = "deepinfra-dedicated:h100-80gb"
    tp = next(t for t in (1, 2, 4, 8) if f"replica(s) x {t} H100" in plain[di].basis)
    assert spare[di].monthly_usd == pytest.approx(plain[di].monthly_usd + tp * HOURS * 1.98)
    assert "+1 replica(s)" in spare[di].basis
    cmi = "aws-custom-model-import:cmu-v1"
    assert spare[cmi].monthly_usd == plain[cmi].monthly_usd


def test_custom_model_import_is_priced_per_copy_from_its_custom_model_units():
    """Bedrock Custom Model Import: CMUs per copy (AWS's examples: 8B -> 2, 70B -> 8) x $0.0785 per CMU-minute."""
    w = Workload.build(1e9, avg_input_tokens=600, avg_output_tokens=400)
    h = _offer("aws-custom-model-import:cmu-v1")
    assert h.unit_usd_hour(catalog.model("llama-3.3-70b")) == pytest.approx(8 * 0.0785 * 60)
    assert h.unit_usd_hour(catalog.model("llama-3.1-8b")) == pytest.approx(2 * 0.0785 * 60)
    assert h.unit_usd_hour(catalog.model("llama-3.1-405b")) is None          # no published example that large
    q = next(q for q in hosting.quotes_for("llama-3.3-70b", w) if q.offer.id == h.offer.id)
    copies = round(q.monthly_usd / (8 * 0.0785 * 60 * HOURS))
    assert copies >= 1 and q.monthly_usd == pytest.approx(copies * 8 * 0.0785 * 60 * HOURS)
    assert "each assumed 4 A100-80GB" in q.basis     # 2 CMUs per 80 GB GPU, as AWS's two examples imply
    q8 = next(q for q in hosting.quotes_for("llama-3.1-8b", w) if q.offer.id == h.offer.id)
    assert "each assumed 1 A100-80GB" in q8.basis
    assert q.offer.provider == "aws"      # inside your own account: it can also serve private data
    assert not [q for q in hosting.quotes_for("deepseek-v3", w) if q.offer.id == h.offer.id]   # not a listed architecture


def test_private_fine_tuned_weights_are_compared_with_in_account_custom_model_import_only():
    w = Workload.build(1e9, avg_input_tokens=600, avg_output_tokens=400)
    d = Deployment.build(model="llama-3.3-70b", gpu="H100", gpus_per_replica=4,
                         exemptions=Exemptions(fine_tuned=True, private_data=True))
    v = estimate(d, w).verdict
    assert v.cheapest_api == "aws-custom-model-import:cmu-v1"
    assert v.compared_with == "offers that serve your fine-tuned weights and APIs inside your own cloud account"


def test_custom_inference_is_compared_with_an_offer_that_runs_your_container():
    w = Workload.build(1e9, avg_input_tokens=600, avg_output_tokens=400)
    d = Deployment.build(model="llama-3.1-8b", gpu="L4", replicas=None, exemptions=Exemptions(custom_inference=True))
    v = estimate(d, w).verdict
    assert v.cheapest_api == "together-dedicated:b200"
    assert not any("regardless" in r for r in v.reasons)


def test_regardless_only_when_nothing_can_serve_and_optimize_says_it_the_same_way(capsys):
    """Custom inference AND private data: no offer runs your code inside your account, so self-host
    regardless; `optimize --breakeven` says the verdict's sentence instead of "no volume beats"."""
    w = Workload.build(1e9, avg_input_tokens=600, avg_output_tokens=400)
    ex = Exemptions(custom_inference=True, private_data=True)
    v = estimate(Deployment.build(model="llama-3.1-8b", gpu="L4", replicas=None, exemptions=ex), w).verdict
    assert v.choice == "self-host" and v.cheapest_api is None
    sentence = next(r for r in v.reasons if "regardless" in r)
    args = ["optimize", "--model", "llama-3.1-8b", "--tokens-per-month", "1B", "--avg-input-tokens", "600",
            "--avg-output-tokens", "400", "--gpu", "L4", "--custom-inference", "--private-data", "--top", "1", "--breakeven"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert sentence[1:] in out and "no volume" not in out and "makes the cheapest configuration beat" not in out
    assert main(args + ["--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["no_alternative"] == sentence and doc["breakeven"]["no_alternative"] == sentence
    assert doc["breakeven"]["tokens_per_month"] is None


def test_a_replacing_price_book_is_the_whole_list_so_no_hosting_offer_is_added():
    w = Workload.build(1e9)
    d = Deployment.build(model="llama-3.1-8b", gpu="L4", replicas=None, exemptions=FINE_TUNED)
    e = estimate(d, w, book=load_price_book("seed-2025"))
    assert not [q for q in e.apis if q.offer.tier == "dedicated"]


def test_a_price_book_may_still_say_custom_hosting_for_custom_model(tmp_path):
    path = tmp_path / "book.yaml"
    path.write_text('name: mine\nsource: "our contract"\napis_mode: override\napis:\n'
                    '  - {id: "acme:ft-8b", tier: custom-hosting, blended_usd_per_mtok: 1.5, models: [llama-3.1-8b]}\n')
    offer = load_price_book(str(path)).apis[0]
    assert offer.tier == "custom-model" and offer.serves == ("fine-tuned",)


def test_a_bad_hosting_entry_names_the_key_the_value_and_what_is_allowed():
    entry = {"id": "x:y", "label": "X", "provider": "x", "tier": "dedicated", "gpu": "H100", "precision": "bf16",
             "unit": "hour", "usd_per_gpu_hour": 2.0, "billing": "b", "minimum": "m", "includes": "i",
             "serves": ["fine-tuned"], "source": "s"}
    with pytest.raises(InputError) as err:
        hosting._offer(entry, "hosting.yaml: offers[0]")
    assert "hosting.yaml: offers[0].unit" in str(err.value) and "hour" in str(err.value) and "gpu or copy" in str(err.value)
    with pytest.raises(InputError, match=r"offers\[0\]\.serves"):
        hosting._offer(dict(entry, unit="gpu", serves=["cheap"]), "hosting.yaml: offers[0]")


def test_no_volume_declared_still_reports_strict_json(capsys):
    """A fixed-cost offer has no price per token of nothing served: null, not Infinity."""
    assert main(["estimate", "--model", "llama-3.3-70b", "--gpu", "H100", "--gpus", "4", "--tokens-per-month", "0",
                 "--fine-tuned", "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    together = next(a for a in doc["apis"] if a["id"] == "together-dedicated:b200")
    assert together["usd_per_mtok"] is None and together["monthly_usd"] > 0     # its one-replica minimum
    args = ["optimize", "--model", "llama-3.3-70b", "--tokens-per-month", "0", "--fine-tuned", "--top", "1"]
    assert main(args + ["--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["cheapest_api"]["usd_per_mtok"] is None
    assert main(args) == 0 and "no tokens declared" in capsys.readouterr().out
