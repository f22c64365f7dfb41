"""Issue 9's users: the kit decides replicas, configuration and comparator instead of trusting a guess."""

import json

import pytest

from breakeven.cli import main
from cost.decide.optimize import SEARCH_PRICINGS, Constraints, optimize
from cost.decide.sensitivity import sensitivity
from cost.deployment import Deployment, Exemptions
from cost.estimate import estimate
from cost.pricing.api_prices import load_price_book
from cost.report_model import estimate_document, sensitivity_note
from cost.workload import Workload


def cli_json(capsys, *args: str) -> dict:
    assert main([*args, "--format", "json"]) == 0
    return json.loads(capsys.readouterr().out)


BATCH = ["--model", "llama-3.1-70b", "--gpu", "L40S", "--gpus", "4", "--precision", "fp8", "--pricing", "spot",
         "--tokens-per-month", "50B", "--avg-input-tokens", "4500", "--avg-output-tokens", "500"]


def test_a_batch_job_on_one_guessed_replica_is_never_a_self_host(capsys):
    guessed = cli_json(capsys, "estimate", *BATCH, "--replicas", "1")
    sh, v = guessed["self_hosted"], guessed["verdict"]
    assert v["choice"] == "undersized" and sh["carries_share"] < 0.15
    need = sh["replicas_needed"]
    assert 10 <= need <= 13
    assert f"needs {need} replicas" in v["reasons"][0] and f"--replicas {need}" in v["reasons"][0]
    sized = cli_json(capsys, "estimate", *BATCH)   # no --replicas: sized to carry the volume
    s = sized["self_hosted"]
    assert s["replicas"] == need and s["replicas_sized"] and s["carries_share"] == 1.0
    assert sized["verdict"]["choice"] == "api"      # carried properly, it loses to the API several times over
    assert s["monthly_usd"] > 2.5 * sized["verdict"]["cheapest_api_monthly_usd"]


def test_a_tpot_target_the_gpu_cannot_meet_is_said_with_the_best_achievable_and_a_fix(capsys):
    r = cli_json(capsys, "estimate", "--model", "llama-3.1-8b", "--gpu", "L4", "--tokens-per-month", "100M",
                 "--tpot-target-ms", "30")
    v = r["verdict"]
    assert v["choice"] == "target-unmet"
    best = r["self_hosted"]["tpot_s"] * 1000
    assert best > 30 and f"best achievable: TPOT {best:.1f} ms" in v["reasons"][0]
    assert "Fix: " in v["reasons"][0] and "meets it for $" in v["reasons"][0]
    basis = r["self_hosted"]["usd_per_mtok_basis"]
    assert "planned 80% utilization" in basis["usd_per_mtok"] and "declared volume" in basis["usd_per_mtok_at_workload"]


def test_fine_tuned_weights_are_compared_with_custom_model_hosting():
    w = Workload.build(1e9)
    d = Deployment.build(model="llama-3.1-8b", gpu="L4", replicas=None, exemptions=Exemptions(fine_tuned=True))
    e = estimate(d, w, book=load_price_book("seed-2025"))
    v = e.verdict
    assert v.cheapest_api == "custom-hosting:fine-tuned-8b" and v.cheapest_api_monthly_usd == pytest.approx(3000)
    assert e.monthly_usd > 3000 and v.choice == "api"
    assert not any("regardless" in r for r in v.reasons)
    # without a price book, the shipped offers that serve LoRA weights (sourced in apis.yaml)
    v2 = estimate(d, w).verdict
    assert v2.cheapest_api.startswith("fireworks-lora:") and v2.compared_with == "offers that serve your fine-tuned weights"


def test_private_data_is_compared_with_the_in_account_api_or_an_allow_list():
    w = Workload.build(3e9)
    d = Deployment.build(model="llama-3.1-70b", instance_type="p5.48xlarge", gpus_per_replica=2, precision="fp8",
                         replicas=None, exemptions=Exemptions(private_data=True))
    v = estimate(d, w).verdict
    assert v.cheapest_api == "aws:meta.llama3-1-70b-instruct-v1:0" and "own cloud account" in v.compared_with
    allowed = estimate(d, w, providers=("together",)).verdict
    assert allowed.cheapest_api.startswith("together:")
    nothing = estimate(Deployment.build(model="qwen2.5-72b", gpu="H100", gpus_per_replica=2, precision="fp8", replicas=None,
                                        exemptions=Exemptions(private_data=True)), w).verdict
    assert nothing.choice == "self-host" and nothing.cheapest_api is None and "regardless" in nothing.reasons[0]


def test_retired_apis_are_listed_but_never_the_cheapest():
    w = Workload.build(1e9, avg_input_tokens=500, avg_output_tokens=500)
    e = estimate(Deployment.build(model="llama-3.1-70b", gpu="H100", gpus_per_replica=2, precision="fp8"), w)
    listed = {q.offer.id: q for q in e.apis}
    retired = "groq:llama-3.1-70b-versatile"
    assert retired in listed
    assert e.verdict.cheapest_api != retired
    assert estimate_document(e)["apis"][[q.offer.id for q in e.apis].index(retired)]["retired"].startswith("retired 2025-")
    seed = estimate(Deployment.build(model="llama-3.1-70b", gpu="A100-80GB", gpus_per_replica=2), w,
                    book=load_price_book("seed-2025"))
    assert seed.verdict.cheapest_api != "groq:llama3-70b-8192"   # the seed book still names it


def test_the_70b_question_is_one_search_not_forty_estimates():
    """At what volume does self-hosting 70B beat Together, and on what? optimize at a few volumes, every
    capacity type asked for (spot included)."""
    wins = []
    for volume in (1e9, 3e9, 10e9, 30e9, 100e9):
        w = Workload.build(volume, avg_input_tokens=600, avg_output_tokens=400)
        best = optimize("llama-3.1-70b", w, Constraints(pricings=SEARCH_PRICINGS), top=1, providers=("together",))[0]
        wins.append(best.monthly_usd < best.estimate.verdict.cheapest_api_monthly_usd)
        assert best.estimate.verdict.cheapest_api.startswith("together:")
        assert best.estimate.verdict.choice == ("self-host" if wins[-1] else "api")
    assert wins[0] is False and wins[-1] is True and wins == sorted(wins)   # one crossing, and it is found


def test_replicas_default_to_what_the_instance_holds():
    w = Workload.build(2e9, avg_input_tokens=600, avg_output_tokens=400)
    e = estimate(Deployment.build(model="llama-3.1-8b", instance_type="g6.24xlarge", replicas=None), w)
    assert e.deployment.replicas >= 2 and e.plan.replicas_per_instance == 4 and e.plan.nodes == 1


def test_every_assumption_is_a_flag(capsys):
    args = ["estimate", "--model", "llama-3.1-8b", "--instance", "g6.xlarge", "--tokens-per-month", "1B"]
    base = cli_json(capsys, *args, "--pricing", "reserved-1y")["self_hosted"]
    tuned = cli_json(capsys, *args, "--pricing", "reserved-1y", "--reserved-discount", "0.5", "--fte", "0.5",
                     "--usd-per-fte-month", "10000", "--ops-tax", "0.2", "--monitoring-usd", "400")["self_hosted"]
    items = {i["name"]: i for i in tuned["line_items"]}
    assert items["MLOps staff"]["monthly_usd"] == 5000 and items["Monitoring"]["monthly_usd"] == 400
    assert items["Ops tax"]["unit_usd"] == 0.2
    assert items["GPU compute"]["unit_usd"] == pytest.approx(0.8048 * 0.5)
    assert {i["name"]: i for i in base["line_items"]}["GPU compute"]["unit_usd"] == pytest.approx(0.8048 * 0.7)
    spot = {i["name"]: i for i in cli_json(capsys, *args, "--pricing", "spot", "--spot-price", "low")["self_hosted"]["line_items"]}
    assert spot["GPU compute"]["unit_usd"] == pytest.approx(0.35)


@pytest.mark.parametrize("flag, value, needle", [
    ("--reserved-discount", "lots", "--reserved-discount: got 'lots'"),
    ("--spot-price", "cheap", "--spot-price: got 'cheap'"),
    ("--ops-tax", "1.5", "--ops-tax: got 1.5"),
    ("--profile", "gaming", "--profile: got 'gaming'; allowed: chat, rag, batch"),
])
def test_bad_assumption_flags_name_the_flag(capsys, flag, value, needle):
    assert main(["estimate", "--model", "llama-3.1-8b", "--gpu", "L4", "--tokens-per-month", "1B", flag, value]) == 2
    assert needle in capsys.readouterr().err


def test_the_sensitivity_band_says_when_the_verdict_flips(capsys):
    d = Deployment.build(model="llama-3.1-8b", instance_type="g6.xlarge", replicas=None, pricing="reserved-1y", precision="fp8")
    s = sensitivity(d, Workload.build(30e9), providers=("aws",))
    low, base, high = (b.estimate for b in s.bands)
    assert low.monthly_usd < base.monthly_usd < high.monthly_usd
    assert (low.verdict.choice, high.verdict.choice) == ("self-host", "api") and s.flips
    assert "flips" in sensitivity_note(s)
    r = cli_json(capsys, "estimate", "--model", "llama-3.1-8b", "--instance", "g6.xlarge", "--pricing", "reserved-1y",
                 "--precision", "fp8", "--tokens-per-month", "30B", "--providers", "aws")
    assert r["sensitivity"]["flips"] is True
    assert [r["sensitivity"][b]["verdict"] for b in ("low", "high")] == ["self-host", "api"]
    assert r["sensitivity"]["base"]["monthly_usd"] == r["self_hosted"]["monthly_usd"]


def test_profiles_set_defaults_the_user_overrides_and_say_which(capsys):
    r = cli_json(capsys, "estimate", "--model", "llama-3.1-8b", "--gpu", "L4", "--tokens-per-month", "1B",
                 "--profile", "chat", "--tpot-target-ms", "80")
    assert r["profile"]["set"] == {"avg-input-tokens": 600, "avg-output-tokens": 400, "ttft-target-ms": 1000}
    assert r["self_hosted"]["tpot_s"] <= 0.080
    batch = cli_json(capsys, "estimate", "--model", "llama-3.1-8b", "--gpu", "L4", "--tokens-per-month", "1B",
                     "--profile", "batch")
    assert batch["deployment"]["pricing"] == "spot" and batch["profile"]["set"]["max-num-seqs"] == 512
    claude = next(a for a in batch["apis"] if a["id"] == "anthropic:claude-sonnet-5-5")
    assert claude["batch_price"] is True
    live = cli_json(capsys, "estimate", "--model", "llama-3.1-8b", "--gpu", "L4", "--tokens-per-month", "1B",
                    "--avg-input-tokens", "4500", "--avg-output-tokens", "500")
    # Anthropic's Message Batches bill at half the standard rates (genai-prices' batch variant)
    assert next(a for a in live["apis"] if a["id"] == claude["id"])["monthly_usd"] == pytest.approx(2 * claude["monthly_usd"])


def test_optimize_command_json_is_sorted_and_strict(capsys):
    r = cli_json(capsys, "optimize", "--model", "llama-3.1-8b", "--tokens-per-month", "2B", "--top", "5")
    costs = [c["monthly_usd"] for c in r["configurations"]]
    assert len(costs) == 5 and costs == sorted(costs)
    assert set(r["configurations"][0]) >= {"instance_type", "gpus_per_replica", "precision", "pricing", "replicas",
                                          "monthly_usd", "usd_per_mtok", "ttft_ms", "tpot_ms", "utilization"}
    assert r["cheapest_api"]["id"] and r["cheapest_api"]["monthly_usd"] > 0
