"""The physics section of docs/sources.md is the tool's own output, and says what the model says."""

import runpy
from pathlib import Path

from cost import catalog
from cost.physics import capacity
from cost.seeds import report

ROOT = Path(__file__).resolve().parents[2]


def test_sources_page_section_is_generated_output():
    mod = runpy.run_path(str(ROOT / "scripts" / "update-readme.py"))
    assert mod["generated_block"]() in (ROOT / "docs" / "sources.md").read_text(), \
        "docs/sources.md drifted from `breakeven seeds`: run .venv/bin/python scripts/update-readme.py"


def test_two_a100_cannot_hold_200_concurrent_70b_requests_in_fp16():
    fit = capacity.memory_fit(catalog.model("llama-3.1-70b"), catalog.gpu("A100-80GB"), 2, "bf16", 1000)
    assert fit.kv_capacity_tokens // 1000 < 200
    assert f"holds {fit.kv_capacity_tokens // 1000} such requests, not 200-400" in report()


def test_report_names_the_split_behind_the_069_average():
    text = report()
    assert "3.27B tokens/month" in text and "50/50" in text
