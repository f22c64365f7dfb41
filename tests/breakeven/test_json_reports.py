"""Every `--format json` report opens with the report schema's `version` (cost/report_model.py REPORT_VERSION), so a
script reads one key to know the document's shape. The preview's and the estimates' JSON are held by the golden
files (tests/test_golden.py); `observe` and `calibrate` by tests/measure."""

from __future__ import annotations

import json

import pytest

from breakeven.cli import main
from cost.report_model import REPORT_VERSION

COMMANDS = {
    "estimate": ["estimate", "--model", "llama-3.1-8b", "--gpu", "L4", "--tokens-per-month", "1B"],
    "optimize": ["optimize", "--model", "llama-3.1-8b", "--tokens-per-month", "2B", "--top", "3"],
    "curve": ["curve", "--model", "llama-3.1-8b", "--from", "100M", "--to", "10B", "--points", "4", "--pricing", "on-demand"],
    "calibration": ["calibration"],
    "gpucheck": ["gpucheck"],
}


def versioned(out: str) -> dict:
    """The report, after checking that `version` is its first key and the current schema's."""
    doc = json.loads(out, parse_constant=lambda c: pytest.fail(f"non-standard JSON constant {c}"))
    assert next(iter(doc)) == "version" and doc["version"] == REPORT_VERSION
    return doc


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_json_report_carries_the_version_first(command, capsys):
    assert main([*COMMANDS[command], "--format", "json"]) == 0
    doc = versioned(capsys.readouterr().out)
    assert len(doc) > 1   # the report itself follows


def test_an_estimate_with_measured_factors_is_the_estimate_document_with_both_capacities(tmp_path, capsys):
    from cost.physics.factors import published

    published().replace(source="test: the published values, saved").save(tmp_path / "f.yaml")
    assert main([*COMMANDS["estimate"], "--format", "json"]) == 0
    plain = versioned(capsys.readouterr().out)
    assert main([*COMMANDS["estimate"], "--factors", str(tmp_path / "f.yaml"), "--format", "json"]) == 0
    measured = versioned(capsys.readouterr().out)
    assert set(measured) - set(plain) == {"capacity_comparison", "factors_used"}
    assert measured["self_hosted"]["capacity_tokens_per_month"] == plain["self_hosted"]["capacity_tokens_per_month"]


def test_the_optimize_report_is_the_report_models_document_of_the_same_search(capsys):
    """`optimize --format json` prints cost.report_model.optimize_document: its keys in the order scripts read them,
    the latency targets back in the milliseconds they were given, the cheapest API beside the first configuration."""
    from cost.decide.optimize import optimize
    from cost.report_model import optimize_document
    from cost.workload import Workload

    args = ["optimize", "--model", "llama-3.1-8b", "--tokens-per-month", "2B", "--top", "2", "--ttft-target-ms", "250",
            "--tpot-target-ms", "40", "--format", "json"]
    assert main(args) == 0
    doc = versioned(capsys.readouterr().out)
    assert list(doc) == ["version", "model", "workload", "profile", "usd_per_mtok_at", "configurations", "cheapest_api",
                         "no_alternative", "deploys", "breakeven"]
    assert (doc["workload"]["ttft_target_ms"], doc["workload"]["tpot_target_ms"]) == (250, 40)
    w = Workload.build(2e9, ttft_target_s=0.25, tpot_target_s=0.04)
    found = optimize("llama-3.1-8b", w, top=2)
    assert doc == json.loads(json.dumps({"version": REPORT_VERSION} | optimize_document("llama-3.1-8b", w, found)))
    assert doc["cheapest_api"]["id"] == found[0].estimate.verdict.cheapest_api and doc["deploys"] == "aws"
