"""Write the golden reports (tests/golden/<stack>.<fmt>, tests/golden/estimate-<case>.<fmt>): `make golden`.

Run it when a report is meant to change, and review the diff it leaves in git: tests/test_golden.py fails
on any difference from these files. What is normalised, and why, is in tests/golden/cases.py.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.golden.cases import GOLDEN, reports  # noqa: E402


def main() -> int:
    written = 0
    for name, text in reports():
        (GOLDEN / name).write_text(text, encoding="utf-8")
        written += 1
    print(f"wrote {written} golden reports to {GOLDEN.relative_to(Path.cwd()) if GOLDEN.is_relative_to(Path.cwd()) else GOLDEN}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
