"""The golden reports (tests/golden/): every example stack's offline preview and the `breakeven estimate`
cases in tests/golden/cases.py, in each format, rendered again in memory and compared byte for byte with
the files `make golden` wrote (a unified diff on any difference).

Left out (normalised to `<volatile>`, see tests/golden/cases.py): the preview's timings (the table's
"Preview took ..." line, the values under the JSON's `timings`) and the random placeholder the offline
preview gives each secret. Everything else, absolute paths and dates included, must be reproducible.
A report that is meant to change: run `make golden` and review the diff in git.
"""

from __future__ import annotations

import difflib
import json

import pytest

from tests.golden.cases import ESTIMATES, FORMATS, GOLDEN, STACKS, estimate_report, preview_reports


def assert_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    assert path.exists(), f"{path} is missing: run `make golden`"
    expected = path.read_text(encoding="utf-8")
    if text != expected:
        diff = "".join(difflib.unified_diff(expected.splitlines(keepends=True), text.splitlines(keepends=True),
                                            f"golden/{name}", f"rendered/{name}"))
        pytest.fail(f"{name} differs from its golden file (run `make golden` if the change is meant):\n{diff}", pytrace=False)


@pytest.mark.helm  # the preview renders every chart with the real helm binary
@pytest.mark.parametrize("stack", STACKS)
def test_preview_matches_golden(stack):
    for fmt, text in preview_reports(stack).items():
        assert_golden(f"{stack}.{fmt}", text)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("case", ESTIMATES)
def test_estimate_matches_golden(case, fmt):
    assert_golden(f"estimate-{case}.{fmt}", estimate_report(case, fmt))


def test_every_golden_file_has_a_case():
    """A stack removed or renamed leaves no stale golden file behind."""
    names = {f"{s}.{f}" for s in STACKS for f in FORMATS} | {f"estimate-{c}.{f}" for c in ESTIMATES for f in FORMATS}
    on_disk = {p.name for p in GOLDEN.iterdir() if p.suffix.lstrip(".") in FORMATS}
    assert on_disk == names


def test_json_reports_are_versioned():
    """Every JSON report opens with the report schema's `version` (cost/report_model.py REPORT_VERSION)."""
    from cost.report_model import REPORT_VERSION

    for path in sorted(GOLDEN.glob("*.json")):
        doc = json.loads(path.read_text(encoding="utf-8"))
        assert next(iter(doc)) == "version" and doc["version"] == REPORT_VERSION, path.name
