"""`breakeven estimate --weights-source` prices the weights path as the program does, for the same configuration.

The program exports the S3 copy's line items in `bill.platform_line_items` and logs the cache, the one-time seed and
the startup window; `estimate` shows them under "Weights path" (table, markdown) and `weights` (JSON)."""

from __future__ import annotations

import json
import re

import pytest

from breakeven import cli
from infra.placement import place
from tests.infra.conftest import run_stack, stack_value

P = "breakeven:"
# The llama-405b stack's configuration, as its header gives it.
LLAMA_405B = ["estimate", "--model", "llama-3.1-405b", "--precision", "bf16", "--instance", "p5.48xlarge", "--gpus", "16",
              "--replicas", "1", "--redundancy", "1", "--pricing", "on-demand", "--max-model-len", "8192",
              "--max-num-seqs", "64", "--tokens-per-month", "4B", "--avg-input-tokens", "2000", "--avg-output-tokens", "500",
              "--private-data", "--fte", "0.5"]
# The dev stack's configuration (one g6.xlarge, llama-3.1-8b bf16).
DEV = ["estimate", "--model", "llama-3.1-8b", "--instance", "g6.xlarge", "--replicas", "1", "--tokens-per-month", "100M"]
NAMED = re.compile(r"^(S3 weights copy|S3 GET requests), (?P<model>[^ ]+) ")


def _cli(capsys, argv: list[str]) -> str:
    assert cli.main(argv) == 0
    return capsys.readouterr().out


def _unnamed(item: dict) -> dict:
    """A line item without the model's name in it (the stack names the model; estimate uses the catalog id)."""
    return {**item, "name": NAMED.sub(r"\1, <model> ", item["name"])}


def _log(run) -> str:
    return "\n".join(text for _, text in run.logs)


def test_the_s3_weights_path_is_priced_line_for_line_as_the_program_exports_it(runs, capsys):
    _, run, spec = runs["llama-405b"]
    p = place(spec).models[0]
    m = p.model
    assert p.weights_source == "s3"
    got = json.loads(_cli(capsys, LLAMA_405B + ["--weights-source", "s3", "--format", "json"]))["weights"]
    exported = [i for i in run.outputs["bill"]["platform_line_items"] if i["name"].startswith("S3 ")]
    assert len(exported) == 3 and [_unnamed(i) for i in got["line_items"]] == [_unnamed(i) for i in exported]
    assert got["monthly_usd"] == pytest.approx(sum(i["monthly_usd"] for i in exported), abs=0.01)
    # The one-time seed, the cache and the startup window: the figures the program's report logs.
    log = _log(run)
    assert f"seeding it once costs ${got['seed_usd']:,.2f}" in log
    assert f"Weights cache, {m.name}: {got['cache']['needed_gib_per_node']:,} GiB per node in instance-store NVMe" in log
    assert f"startup window {got['startup_window_s'] / 60:,.0f} min" in log
    assert got["cache"]["medium"] == "instance-store" and got["nodes"] == p.nodes == 4 and got["in_monthly_total"] is False


def test_the_table_and_markdown_show_the_copy_the_requests_and_the_seed(capsys):
    for fmt, heading in (("table", "Weights path (--weights-source s3)\n====="), ("markdown", "### Weights path (--weights-source s3)")):
        text = _cli(capsys, LLAMA_405B + ["--weights-source", "s3", "--format", fmt])
        assert heading in text
        for row in ("S3 weights copy, llama-3-1-405b (Standard)", "S3 GET requests, llama-3-1-405b (node starts)",
                    "S3 gateway VPC endpoint", "Seeding the S3 copy, once", "NVMe instance store at /mnt/k8s-disks/0"):
            assert row in text, (fmt, row)
        assert "$18.98" in text and "$37.01" in text   # the stack header's figures: monthly copy, one-time seed


def test_without_the_flag_estimate_shows_no_weights_path(capsys):
    assert "Weights path" not in _cli(capsys, DEV)
    assert "weights" not in json.loads(_cli(capsys, DEV + ["--format", "json"]))


def test_the_hub_path_is_the_weights_share_of_the_programs_nat_line(capsys):
    from cost.pricing.platform import prices

    value = stack_value("dev", f"{P}models")
    value[0]["weights"] = {"source": "huggingface"}
    _, run = run_stack("dev", {f"{P}models": value})
    assert run.error is None, run.error
    [nat] = [i for i in run.outputs["bill"]["platform_line_items"] if i["name"].startswith("NAT data processed")]
    assert not [i for i in run.outputs["bill"]["platform_line_items"] if i["name"].startswith("S3 ")]
    got = json.loads(_cli(capsys, DEV + ["--weights-source", "huggingface", "--format", "json"]))["weights"]
    [hub] = got["line_items"]
    a = prices()["assumed"]
    images_gb = got["nodes"] * a["node_restarts_per_month"] * a["image_gb"]
    assert hub["unit_usd"] == nat["unit_usd"] and hub["quantity"] == pytest.approx(nat["quantity"] - images_gb, abs=1e-3)
    assert got["seed_usd"] == 0 and got["cache"]["medium"] == "ebs"   # g6.xlarge is not in instance-hardware.yaml: EBS
    assert f"startup window {got['startup_window_s'] / 60:,.0f} min" in _log(run)
