"""The optimizer table and sensitivity band in docs/cost-model.md are the commands' own output."""

import runpy
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_readme_decide_section_is_generated_output():
    mod = runpy.run_path(str(ROOT / "scripts" / "update-readme.py"))
    block = mod["decide_block"]()
    assert "| 1 | " in block and "| low |" in block and "| high |" in block
    assert block in (ROOT / "docs" / "cost-model.md").read_text(), \
        "docs/cost-model.md drifted from `breakeven optimize` / `breakeven estimate`: run .venv/bin/python scripts/update-readme.py"
