"""One set of defaults: estimate, optimize and curve price the same workload on the same capacity type."""

from __future__ import annotations

import json

from breakeven.cli import main

WORKLOAD = ["--model", "llama-3.1-8b", "--tokens-per-month", "2B"]


def run_json(capsys, argv: list[str]) -> dict:
    assert main(argv + ["--format", "json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_estimate_of_optimizes_top_configuration_and_curves_planned_point_cost_the_same(capsys):
    best = run_json(capsys, ["optimize"] + WORKLOAD + ["--top", "1"])["configurations"][0]
    assert best["pricing"] == "on-demand"   # spot only when asked for
    again = run_json(capsys, ["estimate"] + WORKLOAD + ["--instance", best["instance_type"], "--gpus",
                                                         str(best["gpus_per_replica"]), "--precision", best["precision"]])
    assert again["deployment"]["pricing"] == "on-demand"
    assert again["self_hosted"]["replicas"] == best["replicas"]
    assert again["self_hosted"]["monthly_usd"] == best["monthly_usd"]
    planned = run_json(capsys, ["curve"] + WORKLOAD + ["--from", "100M", "--to", "10B", "--points", "2"])["planned"]
    assert planned["self_hosted_monthly_usd"] == best["monthly_usd"]
    assert planned["configuration"]["pricing"] == "on-demand"


def test_spot_is_searched_only_when_asked_for(capsys):
    asked = run_json(capsys, ["optimize"] + WORKLOAD + ["--pricing", "on-demand,spot", "--top", "40"])["configurations"]
    assert "spot" in {c["pricing"] for c in asked}
    batch = run_json(capsys, ["optimize"] + WORKLOAD + ["--profile", "batch", "--top", "5"])
    assert batch["profile"]["set"]["pricing"] == "spot" and {c["pricing"] for c in batch["configurations"]} == {"spot"}


def test_no_spot_in_optimize_production(capsys):
    prod = ["optimize"] + WORKLOAD + ["--production", "--zones", "2", "--top", "40"]
    assert {c["pricing"] for c in run_json(capsys, prod)["configurations"]} == {"on-demand"}
    # a profile's spot is a default, not a request: production keeps on-demand and does not claim the profile set it
    batch = run_json(capsys, prod + ["--profile", "batch"])
    assert {c["pricing"] for c in batch["configurations"]} == {"on-demand"} and "pricing" not in batch["profile"]["set"]
    assert main(prod + ["--pricing", "on-demand,spot"]) == 2
    err = capsys.readouterr().err
    assert "--pricing: got 'on-demand,spot'" in err and "on-demand, reserved-1y, reserved-3y for a production deployment" in err


def test_a_quantized_precision_for_fine_tuned_weights_says_the_team_must_produce_the_checkpoint(capsys):
    found = run_json(capsys, ["optimize"] + WORKLOAD + ["--fine-tuned", "--top", "10"])["configurations"]
    for c in found:
        quantized = c["precision"] not in ("bf16", "fp16")
        assert bool(c["notes"]) == quantized
        assert not quantized or "must quantize its own checkpoint" in c["notes"][0]
    assert main(["optimize"] + WORKLOAD + ["--fine-tuned", "--precision", "int4-awq", "--top", "1"]) == 0
    assert "NOTE (#1): fine-tuned weights at int4-awq: the team must quantize its own checkpoint" in capsys.readouterr().out
    est = run_json(capsys, ["estimate"] + WORKLOAD + ["--gpu", "L4", "--precision", "fp8", "--fine-tuned"])
    assert "must quantize its own checkpoint" in est["self_hosted"]["notes"][0]
    assert run_json(capsys, ["estimate"] + WORKLOAD + ["--gpu", "L4", "--precision", "fp8"])["self_hosted"]["notes"] == []
