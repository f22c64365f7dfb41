"""The capacity model's physics against the H200 measurements recorded in cost/data/gpu-measurements."""

import json

import pytest

from breakeven.cli import main
from cost import catalog
from cost.errors import InputError
from cost.physics import capacity
from cost.physics.factors import load as load_factors
from cost.physics.factors import published
from cost.physics.gpucheck import check, load


def test_measurement_file_is_dated_and_sourced():
    doc = load("H200")
    assert doc["checked"] and doc["source"] and doc["command"]
    run = doc["runs"][-1]
    assert run["device"]["name"] == "NVIDIA H200" and run["device"]["nvidia_smi"]["driver_version"]
    assert not run["errors"]


def test_published_fit_is_confirmed_where_the_h200_measures_it():
    r = check("H200")
    by = {x["factor"]: x for x in r["factors"]}
    # weight streaming and compute-bound GEMMs: the fitted values hold on an H200 within 10 %
    assert by["hbm_efficiency"]["status"] == "confirmed"
    assert by["gemm_mfu"]["status"] == "confirmed"
    # measured stream bandwidth sits above the model's effective bandwidth, below the datasheet
    assert r["model"]["hbm_gb_s"] < r["measured"]["stream_gb_s"] < r["datasheet"]["hbm_gb_s"]


def test_implied_factor_reproduces_the_measured_time():
    """The implied hbm_efficiency, put back into the model, gives the measured batch-1 GEMM time."""
    r = check("H200")
    implied = next(x["implied"] for x in r["factors"] if x["factor"] == "hbm_efficiency")
    row = next(x for x in r["decode"] if x["batch"] == 1)
    parts = capacity.decode_step(catalog.model("llama-3.1-8b"), catalog.gpu("H200"), 1, "bf16", 1, 1024,
                                 published().replace(hbm_efficiency=implied))
    assert parts["weights/gemm"] == pytest.approx(row["measured_gemms_s"], rel=2e-3)


def test_decode_steps_within_a_third_where_vllm_like_fusion_was_measured():
    r = check("H200")
    compiled = [x for x in r["decode"] if x["measured_step_kind"].startswith("torch.compile")]
    assert len(compiled) >= 2
    for x in compiled:
        assert 0.67 < x["model_over_measured"] < 1.5, x


def test_other_factors_check_against_their_own_file(tmp_path):
    f = published().replace(gemm_mfu=0.5, source="test")
    path = tmp_path / "f.yaml"
    f.save(path)
    by = {x["factor"]: x for x in check("H200", load_factors(path))["factors"]}
    assert by["gemm_mfu"]["status"].startswith("measured +")


def test_unknown_gpu_names_what_has_measurements():
    with pytest.raises(InputError, match="H200"):
        check("L4")


def test_cli_json_is_strict(capsys):
    assert main(["gpucheck", "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert {x["factor"] for x in doc["factors"]} >= {"hbm_efficiency", "gemm_mfu", "kv_read_efficiency"}
    assert main(["gpucheck", "--gpu", "L4"]) == 2
