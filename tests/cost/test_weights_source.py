"""The replaced node's weights path, priced (cost/physics/weights_source.py, cost/data/weights-source.yaml)."""

from __future__ import annotations

import math

from cost.physics import weights_source as ws

LLAMA_70B = 141_107_412_992   # bytes, cost/data/checkpoints.yaml


def test_the_s3_rate_follows_from_the_stated_connections_and_aws_per_connection_figure():
    s = ws.prices()["streamer"]
    assert ws.s3_seconds_per_gib() == math.ceil(2**30 / (s["concurrency"] * s["mb_s_per_connection"] * 1e6 * s["planning_share"])) == 2
    assert ws.cold_start_s("s3", 132) == 240 + 2 * 132
    assert ws.cold_start_s("huggingface", 132) == 240 + 15 * 132


def test_the_docstring_table_figures_are_what_the_functions_price():
    # 4 nodes, 2 replacements a month each: NAT $0.045/GB vs S3 $0.023/GB-month plus ranged GETs
    assert round(ws.nat_redownload_usd(LLAMA_70B, 4), 2) == 50.80
    assert round(ws.s3_monthly_usd(LLAMA_70B, 4), 2) == 3.30
    assert "$50.80" in ws.__doc__ and "$3.30" in ws.__doc__


def test_s3_is_chosen_where_it_is_cheaper_and_the_program_can_build_it():
    assert ws.choose(LLAMA_70B, 4, program_owns_cluster=True) == "s3"
    assert ws.choose(LLAMA_70B, 4, program_owns_cluster=False) == "huggingface"
    # storage paid monthly for weights no node ever re-reads: one node, no restarts would make NAT cheaper;
    # at 2 restarts a month S3 wins from the first node (0.023 < 2 x 0.045)
    assert ws.s3_monthly_usd(LLAMA_70B, 1) < ws.nat_redownload_usd(LLAMA_70B, 1)


def test_every_line_carries_its_price_quantity_and_a_dated_source():
    for item in [*ws.s3_lines("m", LLAMA_70B, 4), ws.endpoint_line()]:
        assert item.source and "checked 2026-12-06" in item.source
        assert item.monthly_usd == item.quantity * item.unit_usd
