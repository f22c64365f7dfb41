"""The golden reports: what each example stack's offline preview and a few `breakeven estimate` runs print.

One file per report and format under tests/golden/: `<stack>.<table|markdown|json>` for every stack in
stacks/ and `estimate-<case>.<fmt>` for the configurations in ESTIMATES. `scripts/update-golden.py` writes
them; tests/test_golden.py renders them again in memory and compares byte for byte.

Only what is truly volatile is normalised (VOLATILE below): the preview's timings (the table's
"Preview took ..." line, the values under the JSON's `timings`: its keys stay) and the day
genai-prices' date-dependent prices are taken at (`prices in effect <date>`: the day the report runs; the
figures come from the pinned genai-prices snapshot, so they change only where that snapshot schedules a
price change, and then this test shows it). Nothing else: no absolute path or other date reaches these
reports (the golden test would show one), nor does the random placeholder the offline preview gives
each secret (were one to leak into a report, the test fails: it is not normalised).
"""

from __future__ import annotations

import contextlib
import io
import json
import re
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = Path(__file__).resolve().parent
FORMATS = ("table", "markdown", "json")
STACKS = tuple(sorted(p.name[len("Pulumi."):-len(".yaml")] for p in (ROOT / "stacks").glob("Pulumi.*.yaml")))

# Representative `breakeven estimate` configurations (the README's first examples): a dense model on a
# multi-GPU replica, an MoE model with fp8 KV cache and prefix caching, a two-node replica.
ESTIMATES: dict[str, list[str]] = {
    "llama-70b-h100x2-fp8": ["--model", "llama-3.1-70b", "--gpu", "H100", "--gpus", "2", "--precision", "fp8",
                             "--tokens-per-month", "3.2B", "--avg-input-tokens", "600", "--avg-output-tokens", "400"],
    "gpt-oss-120b-h100-mxfp4": ["--model", "gpt-oss-120b", "--gpu", "H100", "--precision", "mxfp4", "--kv-cache-dtype", "fp8",
                                "--tokens-per-month", "5B", "--avg-input-tokens", "3000", "--avg-output-tokens", "500",
                                "--prefix-cache-hit-rate", "0.6"],
    "deepseek-v3-h100x16": ["--model", "deepseek-v3", "--gpu", "H100", "--gpus", "16", "--precision", "fp8",
                            "--tokens-per-month", "20B"],
}

VOLATILE = "<volatile>"
_TOOK = re.compile(r"^Preview took .*\.$", re.M)
_PRICED_ON = re.compile(r"(prices in effect )[0-9]{4}-[0-9]{2}-[0-9]{2}")


def normalise(text: str, fmt: str) -> str:
    """The report with its volatile parts replaced by VOLATILE (see the module docstring)."""
    text = _PRICED_ON.sub(r"\g<1>" + VOLATILE, text)
    if fmt == "json":
        doc = json.loads(text)
        if isinstance(doc.get("timings"), dict):
            doc["timings"] = {k: VOLATILE for k in doc["timings"]}
        return json.dumps(doc, indent=2) + "\n"
    return _TOOK.sub(f"Preview took {VOLATILE}.", text).rstrip("\n") + "\n"


def preview_reports(stack: str) -> dict[str, str]:
    """format -> the offline preview of `stack` as `breakeven preview --stack <stack> --format <fmt>` prints
    it (the policy pack run; table text before the terminal colours it), normalised."""
    from infra.offline import preview

    p = preview.plan(stack)
    violations, _ = preview.run_policies(p)
    return {fmt: normalise(preview.render(p, fmt, violations), fmt) for fmt in FORMATS}


def estimate_report(case: str, fmt: str) -> str:
    """`breakeven estimate <ESTIMATES[case]> --format <fmt>`'s stdout, normalised."""
    from breakeven import cli

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = cli.main(["estimate", *ESTIMATES[case], "--format", fmt])
    if code != 0:
        raise RuntimeError(f"breakeven estimate {case} --format {fmt} exited {code}")
    return normalise(out.getvalue(), fmt)


def reports() -> Iterator[tuple[str, str]]:
    """(file name under tests/golden, text) for every golden report."""
    for stack in STACKS:
        for fmt, text in preview_reports(stack).items():
            yield f"{stack}.{fmt}", text
    for case in ESTIMATES:
        for fmt in FORMATS:
            yield f"estimate-{case}.{fmt}", estimate_report(case, fmt)
