"""The README's optimizer table and sensitivity band are the commands' own output."""

import runpy
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_readme_decide_section_is_generated_output():
    mod = runpy.run_path(str(ROOT / "scripts" / "update-readme.py"))
    block = mod["decide_block"]()
    assert "| 1 | " in block and "| low |" in block and "| high |" in block
    assert block in (ROOT / "README.md").read_text(), \
        "README drifted from `breakeven optimize` / `breakeven estimate`: run .venv/bin/python scripts/update-readme.py"
