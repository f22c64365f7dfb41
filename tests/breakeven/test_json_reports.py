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
