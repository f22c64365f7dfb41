"""`breakeven preview --format markdown`: the preview as a pull-request comment.

Modelled on Infracost's comment: the figure a reviewer needs first (the stack's monthly total and,
against a baseline, the change), then the verdict per model, the policy results (mandatory first),
the line items that make up the total, and everything else in a collapsed `<details>` section.
Tables keep to four or five short columns so the comment reads on a phone. Built from the preview's
JSON document, so a saved `--format json` output renders the same comment.
"""

from __future__ import annotations

import re

from cost.report import grid
from cost.units import format_tokens, format_usd
from infra.offline import preview_compare

MESSAGE_CHARS = 220  # a policy message's first line is cut here in the summary; the details keep it whole
_PREFIX = re.compile(r"^(?P<name>[\w.-]+) \(.*?\): ")  # "router-8b (llama-3.1-8b bf16 on ...): " opens a model's message
ICON = {"mandatory": "❌", "advisory": "⚠️"}


def _short(text: str) -> str:
    """A policy message's first line without the model's description, cut at a word near MESSAGE_CHARS."""
    first = _PREFIX.sub("", text.splitlines()[0] if text else "")
    if len(first) <= MESSAGE_CHARS:
        return first
    return first[:MESSAGE_CHARS].rsplit(" ", 1)[0].rstrip(",;:") + " …"


def _subject(v: dict) -> str:
    """What a violation is about: the model its message names, else the resource (the stack when none)."""
    m = _PREFIX.match(v.get("message") or "")
    if m:
        return m.group("name")
    return v["urn"].rsplit("::", 1)[-1] if v.get("urn") else "stack"


def model_rows(cost: dict) -> list[list[str]]:
    """[model, verdict, self-host/mo, cheapest API/mo, declared / capacity tokens] per model."""
    out = []
    for m in cost["models"]:
        d, s, v = m["deployment"], m["self_hosted"], m["verdict"]
        api = "-" if v.get("cheapest_api_monthly_usd") is None else format_usd(v["cheapest_api_monthly_usd"])
        load = f"{format_tokens(m['workload']['tokens_per_month'])} / {format_tokens(s['capacity_tokens_per_month'])}"
        out.append([f"`{d.get('name') or d['model']}`", f"**{v['choice']}**", format_usd(s["monthly_usd"]), api, load])
    return out


def line_item_rows(cost: dict) -> list[list[str]]:
    """Every line item of the stack total (per model, then API tiers of a routing blend) and the total."""
    prefix = len(cost["models"]) > 1 or bool(cost.get("routing"))
    out = []
    for m in cost["models"]:
        name = m["deployment"].get("name") or m["deployment"]["model"]
        for i in m["self_hosted"]["line_items"]:
            out.append([f"{name} · {i['name']}" if prefix else i["name"], format_usd(i["monthly_usd"])])
    for t in (cost.get("routing") or {}).get("tiers", []):
        if t.get("kind") == "api":
            out.append([f"API tier {t['name']} ({t['share']:.0%}, `{t['target']}`)", format_usd(t["monthly_usd"])])
    out.append(["**Total**", f"**{format_usd(cost['monthly_usd'])}**"])
    return out


def _policies(policies: dict | None) -> tuple[str, list[str]]:
    """(one-line status, list items: mandatory first)."""
    if not policies:
        return "Policies: not run (the policy pack is not installed)", []
    violations = sorted(policies.get("violations", []), key=lambda v: v["level"] != "mandatory")
    status = ("✅ Policies passed" if policies.get("passed") else "❌ Policies failed") + \
        f": {policies.get('mandatory', 0)} mandatory, {policies.get('advisory', 0)} advisory violation(s)"
    items = [f"- {ICON.get(v['level'], '•')} **{v['level']}** `{v['policy']}` on `{_subject(v)}`: {_short(v['message'])}"
             for v in violations]
    return status, items


def comment(doc: dict, comparison: dict | None = None, details: str = "") -> str:
    """The pull-request comment for one preview document (and its comparison with a baseline)."""
    cost = doc["cost"]
    out = [f"## 💰 breakeven · stack `{doc['stack']}`", ""]
    total = f"**{format_usd(cost['monthly_usd'])}/month**"
    if cost.get("budget_usd_per_month") is not None:
        total += f" · budget {format_usd(cost['budget_usd_per_month'])}: {'within' if cost.get('within_budget') else '**over**'}"
    out.append(total)
    if comparison is not None:
        out.append("")
        out.append(preview_compare.render(comparison, markdown=True))
    status, items = _policies(doc.get("policies"))
    out += ["", grid(["Model", "Verdict", "Self-host/mo", "Cheapest API/mo", "Tokens: declared / capacity"], model_rows(cost), True)]
    out += ["", "### Policies", "", status] + ([""] + items if items else [])
    out += ["", "### Line items", "", grid(["Item", "Monthly"], line_item_rows(cost), True)]
    full = [f"#### `{v['policy']}` ({v['level']}) on `{_subject(v)}`\n\n{v['message']}"
            for v in sorted((doc.get("policies") or {}).get("violations", []), key=lambda v: v["level"] != "mandatory")]
    body = "\n\n".join(full + ([details] if details else []))
    if body:
        out += ["", "<details><summary>Details: policy messages, quantities and unit prices, API comparison, planned resources</summary>",
                "", body, "", "</details>"]
    return "\n".join(out) + "\n"
