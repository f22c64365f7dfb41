"""calibrate refuses a fit the capacity model cannot explain; estimate --factors names the factors it used."""

from __future__ import annotations

import json

import pytest

from breakeven import cli
from cost.physics.factors import published
from cost.report_model import REPORT_VERSION
from measure import fit
from measure.loadgen import Level, Sweep

CAL = ["calibrate", "--endpoint", "http://test", "--model", "llama-3.1-8b", "--gpu", "L4", "--concurrency", "1,4,16",
       "--prompt-tokens", "128", "--max-tokens", "64"]


def fake_sweep(speedup: float):
    """A sweep whose measured tok/s are the published fit's prediction times `speedup` (1: a server the model explains)."""
    target = fit.Target(fit.model_from("llama-3.1-8b"), fit.device_from("L4"))

    def sweep(endpoint, model, levels, *, prompt_tokens, max_tokens, **_):
        out = []
        for c in levels:
            lv = Level(c, 10.0, 3 * c, 0, 3 * c * prompt_tokens, 3 * c * max_tokens, 1.0, {"p50": 0.1, "p99": 0.2},
                       {"p50": 0.02, "p99": 0.03})
            row = fit.rows(Sweep(endpoint, model, prompt_tokens, max_tokens, [lv]), target)[0]
            out.append(Level(c, 10.0, 3 * c, 0, 3 * c * prompt_tokens, 3 * c * max_tokens,
                             target.predict(row, published())[0] * speedup, lv.ttft_s, lv.tpot_s))
        return Sweep(endpoint, model, prompt_tokens, max_tokens, out)
    return sweep


def test_a_server_the_model_explains_gets_a_factors_file(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr("measure.loadgen.sweep", fake_sweep(1.0))
    out = tmp_path / "f.yaml"
    assert cli.main(CAL + ["--out", str(out), "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert next(iter(doc)) == "version" and doc["version"] == REPORT_VERSION   # the report schema's, first
    assert doc["usable"] and doc["problems"] == [] and doc["factors_file"] == str(out) and out.exists()
    assert max(lv["fitted_error"] for lv in doc["levels"]) <= fit.FIT_TOLERANCE


def test_a_physically_too_fast_server_is_refused_and_nothing_is_written(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr("measure.loadgen.sweep", fake_sweep(20.0))
    out = tmp_path / "f.yaml"
    assert cli.main(CAL + ["--out", str(out), "--format", "json"]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert not doc["usable"] and doc["factors_file"] is None and not out.exists()
    assert any("ended at its upper bound" in p for p in doc["problems"])
    assert any("misses its own measurement" in p and "tolerance 25%" in p for p in doc["problems"])
    assert cli.main(CAL + ["--out", str(out)]) == 1
    assert "UNUSABLE fit: " in capsys.readouterr().out and not out.exists()


def test_the_tolerance_is_a_flag_and_is_checked(monkeypatch, capsys):
    monkeypatch.setattr("measure.loadgen.sweep", fake_sweep(1.0))
    assert cli.main(CAL + ["--tolerance", "0"]) == 2
    assert "--tolerance: got 0" in capsys.readouterr().err


def test_estimate_with_factors_names_the_factors_it_used(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr("measure.loadgen.sweep", fake_sweep(0.7))
    out = tmp_path / "f.yaml"
    assert cli.main(CAL + ["--out", str(out), "--format", "json", "--tolerance", "0.5"]) == 0
    fitted = json.loads(capsys.readouterr().out)["factors"]
    est = ["estimate", "--model", "llama-3.1-8b", "--gpu", "L4", "--tokens-per-month", "1B", "--factors", str(out)]
    assert cli.main(est + ["--format", "json"]) == 0
    used = json.loads(capsys.readouterr().out)["factors_used"]
    assert used["file"] == str(out) and used["scope"]["gpu"] == "L4"
    assert used["differ_from_published"] and all(x["value"] == pytest.approx(fitted[n])
                                                  for n, x in used["differ_from_published"].items())
    assert cli.main(est) == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert first.startswith(f"Factors used: {out} (breakeven calibrate: http://test") and "(published " in first


def test_an_overhead_at_zero_is_no_bound_but_an_efficiency_at_its_end_is():
    levels = [{"concurrency": 1, "fitted_error": 0.05}]
    assert fit.problems(published().replace(per_seq_overhead_s=0.0, step_overhead_s=0.0), levels) == []
    (p,) = fit.problems(published().replace(gemm_mfu=0.02), levels)
    assert p.startswith("gemm_mfu ended at its lower bound 0.02")
    (p,) = fit.problems(published().replace(per_seq_overhead_s=0.01), levels)
    assert p.startswith("per_seq_overhead_s ended at its upper bound 0.01")
    (p,) = fit.problems(published(), [{"concurrency": 8, "fitted_error": 0.54}], tolerance=0.5)
    assert p == "the fit misses its own measurement at concurrency 8 by 54% (tolerance 50%, --tolerance)"
