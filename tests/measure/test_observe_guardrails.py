"""observe's guardrails: the window and a warning when it is short, declared vs measured, measurements without a deployment."""

from __future__ import annotations

import json
import re
from http.server import BaseHTTPRequestHandler

import pytest
import yaml

from breakeven.cli import main
from cost.report_model import REPORT_VERSION
from tests.localserver import serving
from tests.measure.test_counters import exposition


@pytest.fixture()
def endpoint():
    """A /metrics endpoint whose counters grow by 1000 prompt and 500 generation tokens (2 requests) per scrape."""
    yield from _serve("smollm2")


@pytest.fixture()
def llama_8b():
    """The same endpoint serving Llama 3.1 8B under its Hugging Face name (vLLM's model_name label)."""
    yield from _serve("meta-llama/Llama-3.1-8B-Instruct")


def _serve(model_name: str):
    scrapes = []

    class Metrics(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's name)
            n = len(scrapes)
            scrapes.append(n)
            body = exposition(prompt=1000 * n, gen=500 * n, requests=2 * n).replace(
                'model_name="smollm2"', f'model_name="{model_name}"').encode()
            self.send_response(200 if self.path == "/metrics" else 404)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    with serving(Metrics) as url:
        yield url


def observe(capsys, endpoint, *flags) -> dict:
    assert main(["observe", "--endpoint", endpoint, "--window", "0.5s", "--format", "json", *flags]) == 0
    return json.loads(capsys.readouterr().out)


def test_a_short_window_is_reported_with_a_warning_and_the_threshold_is_a_flag(capsys, endpoint):
    doc = observe(capsys, endpoint)
    assert next(iter(doc)) == "version" and doc["version"] == REPORT_VERSION   # the report schema's, first
    assert 0.4 < doc["window_s"] < 5 and doc["min_window_s"] == 900
    (w,) = doc["warnings"]
    assert w.startswith(f"the window of {doc['window_s']:,.1f} s is shorter than the 900 s (--min-window)")
    assert observe(capsys, endpoint, "--min-window", "0.1s")["warnings"] == []


def test_declared_against_measured_with_the_factor_and_a_warning_far_from_it(capsys, endpoint):
    doc = observe(capsys, endpoint, "--min-window", "0.1s", "--tokens-per-month", "10M")
    d = doc["declared"]
    assert d["tokens_per_month"] == 10e6 and d["measured_tokens_per_month"] == doc["tokens_per_month"]
    assert d["measured_to_declared"] == pytest.approx(doc["tokens_per_month"] / 10e6)
    assert d["measured_to_declared"] > 100   # 1500 tokens in half a second is billions a month
    (w,) = doc["warnings"]
    assert w.startswith(f"the measured volume is {d['measured_to_declared']:,.0f}x the declared 10M tokens/month")
    near = observe(capsys, endpoint, "--min-window", "0.1s", "--tokens-per-month", str(round(doc["tokens_per_month"])))
    assert near["warnings"] == [] and near["declared"]["measured_to_declared"] == pytest.approx(1, rel=0.5)


def test_table_says_unchanged_with_the_factor(capsys, endpoint):
    assert main(["observe", "--endpoint", endpoint, "--window", "0.5s", "--model", "llama-3.1-8b", "--gpu", "L4",
                 "--tokens-per-month", "10M"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"declared vs measured +10M declared, [0-9.]+[MBT] measured \([0-9,]+x\)", out)
    assert "x the declared volume" in out.split("verdict (declared)")[1].splitlines()[0]
    assert "WARNING: the window of " in out and "WARNING: the measured volume is " in out


def test_without_a_deployment_it_measures_and_says_what_pricing_needs(capsys, endpoint, tmp_path):
    usage = tmp_path / "u.yaml"
    doc = observe(capsys, endpoint, "--model", "llama-3.1-8b", "--write-usage", str(usage))
    assert doc["priced"] is False and doc["economics"] is None and doc["tokens_per_month"] > 0
    assert doc["to_price"] == "measurements only: give --model with --gpu or --instance (as in estimate), or --stack with --model-name to price them"
    assert yaml.safe_load(usage.read_text())["model"] == "llama-3.1-8b"   # so another model's estimate refuses it
    assert main(["estimate", "--model", "llama-3.1-70b", "--gpu", "H100", "--gpus", "2", "--usage", str(usage)]) == 2
    assert "measured on llama-3.1-8b" in capsys.readouterr().err
    assert main(["observe", "--endpoint", endpoint, "--window", "0.5s"]) == 0
    assert "not priced: measurements only: give --model with --gpu or --instance" in capsys.readouterr().out


def test_the_usage_file_records_the_model_the_endpoint_serves(capsys, llama_8b, tmp_path):
    """Without --model the usage file records the model vLLM reports serving, so another model's estimate refuses it;
    a --model the endpoint does not serve is refused rather than written into the file."""
    usage = tmp_path / "u.yaml"
    doc = observe(capsys, llama_8b, "--write-usage", str(usage))
    assert doc["served_models"] == ["meta-llama/Llama-3.1-8B-Instruct"]
    assert yaml.safe_load(usage.read_text())["model"] == "llama-3.1-8b"
    assert main(["estimate", "--model", "llama-3.1-70b", "--gpu", "H100", "--gpus", "2", "--usage", str(usage)]) == 2
    assert "measured on llama-3.1-8b" in capsys.readouterr().err
    assert main(["observe", "--endpoint", llama_8b, "--window", "0.5s", "--model", "llama-3.1-70b",
                 "--write-usage", str(tmp_path / "wrong.yaml")]) == 2
    assert "--model: got 'llama-3.1-70b'; allowed: the model the endpoint serves" in capsys.readouterr().err
    assert not (tmp_path / "wrong.yaml").exists()
