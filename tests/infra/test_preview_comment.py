"""The preview as a pull-request comment (--format markdown) and against a baseline (--compare-to)."""

from __future__ import annotations

import json
import re

import pytest
from markdown_it import MarkdownIt

from infra.config.spec import P
from infra.offline import preview, preview_comment, preview_compare
from tests.infra.conftest import CANARY, stack_value

PHONE_LINES = 45  # what the comment shows before its collapsed details


def _strict(text: str) -> dict:
    def refuse(token: str):
        raise AssertionError(f"not strict JSON: {token}")
    return json.loads(text, parse_constant=refuse)


@pytest.fixture(scope="module")
def hybrid():
    p = preview.plan("hybrid", secrets=CANARY)
    violations, code = preview.run_policies(p)
    assert code == 1  # the example hybrid stack fails a mandatory policy
    return p, violations


def _tokens(md: str):
    return MarkdownIt("commonmark").enable("table").parse(md)


def _tables(tokens) -> list[list[list[str]]]:
    """Every table as rows of cell texts (header row first)."""
    tables, rows, row = [], None, None
    for t in tokens:
        if t.type == "table_open":
            rows = []
        elif t.type == "tr_open":
            row = []
        elif t.type == "inline" and row is not None:
            row.append(t.content)
        elif t.type == "tr_close":
            rows.append(row)
            row = None
        elif t.type == "table_close":
            tables.append(rows)
    return tables


def _headings(tokens) -> list[tuple[str, str]]:
    return [(t.tag, tokens[i + 1].content) for i, t in enumerate(tokens) if t.type == "heading_open"]


def _usd(cell: str) -> float:
    return float(re.sub(r"[*$,]", "", cell))


@pytest.mark.helm
def test_the_comment_parses_as_markdown_with_totals_verdicts_policies_and_details(hybrid):
    p, violations = hybrid
    md = preview.render(p, "markdown", violations)
    tokens = _tokens(md)
    heads = _headings(tokens)
    assert heads[0] == ("h2", "💰 breakeven · stack `hybrid`")
    assert [h for h in heads if h[0] == "h3"][:2] == [("h3", "Policies"), ("h3", "Line items")]

    tables = _tables(tokens)
    models, items = tables[0], tables[1]
    assert models[0][:2] == ["Model", "Verdict"]
    assert [(r[0], r[1]) for r in models[1:]] == [(f"`{m['deployment']['name']}`", f"**{m['verdict']['choice']}**")
                                                  for m in p.cost["models"]]
    # the line items add up to the stack's monthly total, which is the exported figure
    assert items[-1] == ["**Total**", f"**${p.cost['monthly_usd']:,.2f}**"]
    assert sum(_usd(r[1]) for r in items[1:-1]) == pytest.approx(p.cost["monthly_usd"], abs=0.01 * len(items))
    assert any("API tier" in r[0] for r in items[1:-1])  # the routing blend's API tiers are part of the total

    # policies: the mandatory violation is listed before the advisory one
    bullets = [tokens[i + 2].content for i, t in enumerate(tokens) if t.type == "list_item_open"]
    levels = [b.split("**")[1] for b in bullets if "**" in b]
    assert levels[0] == "mandatory" and "advisory" in levels and levels == sorted(levels, key=lambda x: x != "mandatory")
    assert "Policies failed: 1 mandatory" in md
    name = p.cost["models"][0]["deployment"]["name"]
    policy_lines = [b for b in bullets if b.startswith(("❌ **", "⚠️ **"))]
    assert len(policy_lines) == 2 and all(f"on `{name}`: " in b and f"{name} (" not in b for b in policy_lines)

    # everything else is collapsed, and what is shown first is short
    html = [t.content for t in tokens if t.type == "html_block"]
    assert html[0].startswith("<details><summary>") and html[-1].strip() == "</details>"
    assert len(md.split("<details>")[0].splitlines()) <= PHONE_LINES
    assert ("h3", "Cost report") in heads and any("Planned resources" in h[1] for h in heads)  # inside the details
    assert "| Type | Name | Key inputs |" in md


@pytest.mark.helm
def test_the_comment_renders_from_a_saved_json_document(hybrid):
    p, violations = hybrid
    saved = _strict(preview.render(p, "json", violations))
    md = preview_comment.comment(saved)
    assert md.startswith("## 💰 breakeven · stack `hybrid`") and f"${p.cost['monthly_usd']:,.2f}/month" in md


@pytest.fixture(scope="module")
def dev_without_overheads(tmp_path_factory):
    """A baseline: the dev stack priced on GPU hours only, saved as `preview --format json` writes it."""
    p = preview.plan("dev", secrets=CANARY, overrides={f"{P}pricing": {"overheads": "none"}})
    violations, _ = preview.run_policies(p)
    path = tmp_path_factory.mktemp("baseline") / "dev.json"
    path.write_text(preview.render(p, "json", violations))
    return path, p


@pytest.mark.helm
def test_compare_shows_each_line_item_the_total_capacity_and_verdict(dev_without_overheads):
    path, base = dev_without_overheads
    current = preview.plan("dev", secrets=CANARY)
    violations, _ = preview.run_policies(current)
    cmp = preview_compare.compare(preview_compare.load(path), preview.document(current, violations))
    total = cmp["monthly_usd"]
    assert total["before"] == base.cost["monthly_usd"] and total["after"] == current.cost["monthly_usd"]
    assert total["delta"] == pytest.approx(current.cost["monthly_usd"] - base.cost["monthly_usd"], abs=0.01)
    (model,) = cmp["models"]
    items = {i["name"]: i for i in model["line_items"]}
    assert items["GPU compute"]["delta"] == 0                      # same hardware
    assert items["Ops tax"]["before"] is None and items["Ops tax"]["after"] > 0   # added by the overheads
    assert model["capacity_tokens_per_month"]["delta"] == 0
    assert model["verdict"]["before"] and model["verdict"]["after"]
    assert preview_compare.exceeds(cmp, 5.0) and not preview_compare.exceeds(cmp, total["pct"] + 1)

    table = preview_compare.render(cmp)
    assert "Monthly cost increases by" in table and "chat-8b · Ops tax" in table and "chat-8b · GPU compute" not in table
    md = preview_comment.comment(preview.document(current, violations, cmp), cmp)
    tables = _tables(_tokens(md))
    change = next(t for t in tables if t[0][0] == "Change")
    assert change[-1][0] == "Monthly total" and change[-1][2] == f"${current.cost['monthly_usd']:,.2f}"


@pytest.mark.helm
def test_compare_shows_a_kv_cache_dtype_change_as_a_configuration_and_capacity_change(tmp_path):
    """A pull request that turns on the fleet analyst's fp8 KV cache: the same bill, more capacity, and the
    configuration row says why."""
    models = stack_value("fleet", f"{P}models")
    models[1]["kvCacheDtype"] = "auto"
    base = preview.plan("fleet", secrets=CANARY, overrides={f"{P}models": models})
    current = preview.plan("fleet", secrets=CANARY)
    cmp = preview_compare.compare(_strict(preview.render(base, "json", [])), preview.document(current, []))
    analyst = next(m for m in cmp["models"] if m["name"] == "analyst-72b")
    assert analyst["monthly_usd"]["delta"] == 0 and analyst["capacity_tokens_per_month"]["delta"] > 0
    assert "KV cache" not in analyst["configuration"]["before"]
    assert analyst["configuration"]["after"].endswith(", fp8 KV cache")
    assert "analyst-72b · configuration" in preview_compare.render(cmp)


@pytest.mark.helm
def test_fail_on_increase_sets_the_exit_code(dev_without_overheads, capsys):
    path, _ = dev_without_overheads
    assert preview.main("dev", "markdown", str(path), fail_on_increase=5) == 1
    out, err = capsys.readouterr()
    assert "Monthly cost increases by" in out and "more than --fail-on-increase 5%" in err
    assert preview.main("dev", "json", str(path), fail_on_increase=100000) == 0
    doc = _strict(capsys.readouterr().out)
    assert doc["comparison"]["monthly_usd"]["delta"] > 0 and doc["policies"]["passed"] is True


@pytest.mark.parametrize("content,detail", [(None, "No such file"), ("{not json", "not JSON"),
                                            ('{"cost": {"monthly_usd": 1}}', "no cost.monthly_usd and cost.models")])
def test_a_bad_baseline_exits_2_before_anything_runs(tmp_path, capsys, content, detail):
    path = tmp_path / "baseline.json"
    if content is not None:
        path.write_text(content)
    assert preview.main("dev", "table", str(path)) == 2
    err = capsys.readouterr().err
    assert f"--compare-to: got '{path}'" in err and detail in err and "nothing was registered" in err


def test_fail_on_increase_needs_a_baseline(capsys):
    assert preview.main("dev", "table", None, fail_on_increase=5) == 2
    assert "--fail-on-increase: got 5" in capsys.readouterr().err
