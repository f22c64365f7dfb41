"""Measured usage in the gate: the policy config names a usage file per model (what `breakeven observe
--write-usage` writes) and the pack judges the measured volume, not the declared one.

A model declared above its breakeven volume but measured below it fails (self-hosting no longer pays: mandatory);
one declared below but measured above passes with an advisory; a usage file older than the allowed age is
reported. Driven through the pack as the Pulumi CLI starts it, with the policy config the CLI sends.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cost.pricing.tco import Overheads
from cost.units import format_tokens
from cost.usage import Usage
from tests.policies import builders as B

# Two spot L4 replicas, no overheads, priced with the seeds' 2025 book: breakeven with the cheapest API is
# about 2.7B tokens/month (tests/policies/test_boundaries.py), within the replicas' capacity.
M = B.M(name="chat-8b", instance_type="g6.xlarge", replicas=2, spares=0, zones=("us-east-1a", "us-east-1b"),
        capacity_type="spot")
ABOVE, BELOW = 5e9, 5e8
GRANT = {"priceBook": "seed-2025", "overheads": Overheads.none().to_dict()}


def stack(declared: float) -> list[dict]:
    m = B.M(**{**M.__dict__, "tokens_per_month": declared})
    return B.model_stack(m, production=False, stack={"overheads": Overheads.none(), "price_book": "seed-2025"})


def usage_file(tmp_path, tokens: float, *, days_old: float = 1, model: str = "llama-3.1-8b") -> str:
    when = (datetime.now(UTC) - timedelta(days=days_old)).strftime("%Y-%m-%dT%H:%M:%SZ")
    path = tmp_path / f"usage-{tokens:g}-{days_old:g}-{model.replace('/', '_')}.yaml"
    Usage(tokens, 600, 400, 3600.0, "http://chat-8b.llm:8000/metrics", when, model).save(path)
    return str(path)


def config(usage: str | None = None, **trust_extra) -> dict:
    grant = {**GRANT, **({"models": {M.name: {"usage": usage}}} if usage else {})}
    cfg = B.trusting({B.STACK: grant}, self_hosting_beats_api={"scope": "all"})
    for settings in cfg.values():
        settings["trust"] = {**settings["trust"], **trust_extra}
    return cfg


def test_the_declared_volumes_pass_and_fail_as_expected(cli_pack):
    assert not B.by_policy(cli_pack.evaluate(stack(ABOVE), config()), "self-hosting-beats-api")
    assert B.by_policy(cli_pack.evaluate(stack(BELOW), config()), "self-hosting-beats-api")


def test_measured_usage_below_breakeven_fails_a_stack_its_declaration_passes(cli_pack, tmp_path):
    f = usage_file(tmp_path, BELOW)
    got = cli_pack.evaluate(stack(ABOVE), config(f))
    (v,) = B.by_policy(got, "self-hosting-beats-api")
    assert v.mandatory
    assert (f"Judged on measured usage: {format_tokens(BELOW)} tokens/month" in v.detail
            and f"against the declared {format_tokens(ABOVE)} tokens/month" in v.detail
            and "self-hosting would pass" in v.detail and f in v.detail), v.detail


def test_measured_usage_above_breakeven_passes_with_an_advisory(cli_pack, tmp_path):
    got = cli_pack.evaluate(stack(BELOW), config(usage_file(tmp_path, ABOVE)))
    assert not B.by_policy(got, "self-hosting-beats-api")
    (v,) = B.by_policy(got, "measured-usage")
    assert not v.mandatory and "self-hosting now pays" in v.detail and format_tokens(BELOW) in v.detail


@pytest.mark.parametrize("days_old, max_age, stale", [(45, None, True), (10, None, False), (10, 7, True)])
def test_a_stale_usage_file_is_reported(cli_pack, tmp_path, days_old, max_age, stale):
    extra = {} if max_age is None else {"maxUsageAgeDays": max_age}
    got = cli_pack.evaluate(stack(ABOVE), config(usage_file(tmp_path, ABOVE, days_old=days_old), **extra))
    reported = [v for v in B.by_policy(got, "measured-usage") if "days allowed" in v.detail]
    assert bool(reported) == stale and all(not v.mandatory for v in reported)


def test_a_usage_file_the_pack_cannot_read_fails_closed(cli_pack, tmp_path):
    got = cli_pack.evaluate(stack(ABOVE), config(str(tmp_path / "missing.yaml")))
    assert any(v.mandatory and "usage file the policy config names" in v.detail and "missing.yaml" in v.detail
               for v in B.by_policy(got, "economics-readable"))


def test_a_usage_file_measured_on_another_model_is_refused(cli_pack, tmp_path):
    """Measured on a 70B endpoint, a usage file says nothing about the 8B model: it is refused (as estimate --usage and
    the preview refuse it), and the model is not judged on it."""
    f = usage_file(tmp_path, BELOW, model="llama-3.1-70b")
    got = cli_pack.evaluate(stack(ABOVE), config(f))
    assert any(v.mandatory and "usage file the policy config names" in v.detail and "measured on llama-3.1-70b" in v.detail
               for v in B.by_policy(got, "economics-readable")), [v.detail for v in got]
    assert not [v for v in got if "Judged on measured usage" in v.detail]
    # the same file, measured on the 8B's Hugging Face name, is the same model
    same = cli_pack.evaluate(stack(ABOVE), config(usage_file(tmp_path, BELOW, model="meta-llama/Llama-3.1-8B-Instruct")))
    assert not [v for v in B.by_policy(same, "economics-readable") if "usage file" in v.detail]
