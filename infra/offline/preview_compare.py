"""`breakeven preview --compare-to BASELINE.json`: what a change does to a stack's cost.

Both sides are `breakeven preview --format json` documents (the baseline is a saved one). The
comparison covers each model's line items, monthly cost, capacity, configuration and verdict, the
API tiers of a routing blend, the stack's monthly total and the policy outcome.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cost.catalog import strictload
from cost.errors import InputError
from cost.report import grid
from cost.units import format_tokens, format_usd

KEY = "--compare-to"
ALLOWED = "a file written by `breakeven preview --stack S --format json`"


def load(path: str | Path) -> dict:
    """Read a baseline preview document; InputError naming --compare-to when it is not one."""
    text = strictload.read_text(path, KEY, "preview JSON file")
    try:
        doc = strictload.json_text(text, str(path), KEY)
    except InputError as err:
        if err.key != KEY:      # a value inside the document, named by the file and its path
            raise
        raise InputError(KEY, str(path), ALLOWED, f"not JSON: {err.detail}") from None
    cost = doc.get("cost") if isinstance(doc, dict) else None
    if not isinstance(cost, dict) or not isinstance(cost.get("models"), list) or not _is_number(cost.get("monthly_usd")):
        raise InputError(KEY, str(path), ALLOWED, "it has no cost.monthly_usd and cost.models")
    for i, m in enumerate(cost["models"]):
        items = ((m or {}).get("self_hosted") or {}).get("line_items") if isinstance(m, dict) else None
        if not isinstance(items, list) or not isinstance(m.get("deployment"), dict):
            raise InputError(KEY, str(path), ALLOWED, f"cost.models[{i}] has no deployment and self_hosted.line_items")
    return doc


def _is_number(x: object) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def delta(before: float | None, after: float | None) -> dict:
    """{before, after, delta, pct}: pct is None where there is no baseline figure to divide by."""
    d = None if before is None or after is None else round(after - before, 2)
    pct = None if d is None or not before else round(d / before * 100, 2)
    return {"before": before, "after": after, "delta": d, "pct": pct}


def _model_key(m: dict) -> str:
    return m["deployment"].get("name") or m["deployment"].get("model")


def _configuration(m: dict) -> str:
    d = m["deployment"]
    return (f"{d.get('replicas')}+{d.get('redundancy')} x {d.get('gpus_per_replica')}x {d.get('gpu')} on "
            f"{d.get('instance_type') or 'per-GPU pricing'}, {d.get('precision')}, {d.get('pricing')}"
            + (f", {d['kv_cache_dtype']} KV cache" if d.get("kv_cache_dtype", "auto") != "auto" else "")
            + (", expert parallel" if d.get("expert_parallel") else "")
            + (f", {d['api_servers']} API servers" if d.get("api_servers", 1) > 1 else ""))


def _items(m: dict | None) -> dict[str, float]:
    return {} if m is None else {i["name"]: i["monthly_usd"] for i in m["self_hosted"]["line_items"]}


def _model(name: str, before: dict | None, after: dict | None) -> dict:
    b_items, a_items = _items(before), _items(after)
    names = list(a_items) + [n for n in b_items if n not in a_items]
    pick = lambda m, f: None if m is None else f(m)
    entry: dict[str, Any] = {
        "name": name,
        "status": "added" if before is None else "removed" if after is None else "changed",
        "monthly_usd": delta(pick(before, lambda m: m["self_hosted"]["monthly_usd"]), pick(after, lambda m: m["self_hosted"]["monthly_usd"])),
        "capacity_tokens_per_month": delta(pick(before, lambda m: m["self_hosted"].get("capacity_tokens_per_month")),
                                           pick(after, lambda m: m["self_hosted"].get("capacity_tokens_per_month"))),
        "configuration": {"before": pick(before, _configuration), "after": pick(after, _configuration)},
        "verdict": {"before": pick(before, lambda m: m.get("verdict", {}).get("choice")),
                    "after": pick(after, lambda m: m.get("verdict", {}).get("choice"))},
        "line_items": [{"name": n} | delta(b_items.get(n), a_items.get(n)) for n in names],
    }
    same = (entry["monthly_usd"]["delta"] == 0 and entry["capacity_tokens_per_month"]["delta"] == 0
            and entry["configuration"]["before"] == entry["configuration"]["after"]
            and entry["verdict"]["before"] == entry["verdict"]["after"])
    if entry["status"] == "changed" and same:
        entry["status"] = "unchanged"
    return entry


def _tiers(cost: dict) -> dict[str, float]:
    routing = cost.get("routing") or {}
    return {f"{t['name']} ({t['target']})": t["monthly_usd"] for t in routing.get("tiers", []) if t.get("kind") == "api"}


def _policy_summary(doc: dict) -> dict | None:
    p = doc.get("policies")
    return None if not isinstance(p, dict) else {k: p.get(k) for k in ("passed", "mandatory", "advisory")}


def compare(baseline: dict, current: dict) -> dict:
    """What changes from the baseline preview document to the current one (JSON-ready)."""
    b_cost, a_cost = baseline["cost"], current["cost"]
    b_models = {_model_key(m): m for m in b_cost["models"]}
    a_models = {_model_key(m): m for m in a_cost["models"]}
    names = list(a_models) + [n for n in b_models if n not in a_models]
    b_tiers, a_tiers = _tiers(b_cost), _tiers(a_cost)
    return {
        "baseline_stack": baseline.get("stack"),
        "stack": current.get("stack"),
        "monthly_usd": delta(b_cost["monthly_usd"], a_cost["monthly_usd"]),
        "models": [_model(n, b_models.get(n), a_models.get(n)) for n in names],
        "api_tiers": [{"name": n} | delta(b_tiers.get(n), a_tiers.get(n)) for n in list(a_tiers) + [n for n in b_tiers if n not in a_tiers]],
        "policies": {"before": _policy_summary(baseline), "after": _policy_summary(current)},
    }


def exceeds(comparison: dict, pct: float) -> bool:
    """True when the monthly total rises by more than pct percent (any rise from a zero baseline)."""
    m = comparison["monthly_usd"]
    if not m["delta"] or m["delta"] <= 0:
        return False
    return m["pct"] is None or m["pct"] > pct


def _money(x: float | None) -> str:
    return "-" if x is None else format_usd(x)


def _change(d: dict, money: bool = True) -> str:
    if d["delta"] is None:
        return "added" if d["before"] is None else "removed"
    if d["delta"] == 0:
        return "no change"
    amount = format_usd(abs(d["delta"])) if money else format_tokens(abs(d["delta"]))
    pct = "" if d["pct"] is None else f" ({d['pct']:+.1f}%)"
    return f"{'+' if d['delta'] > 0 else '-'}{amount}{pct}"


def headline(comparison: dict) -> str:
    """One sentence: the monthly total before and after."""
    m = comparison["monthly_usd"]
    if not m["delta"]:
        return f"Monthly cost unchanged at {format_usd(m['after'])}"
    word = "increases" if m["delta"] > 0 else "decreases"
    pct = "" if m["pct"] is None else f" ({m['pct']:+.1f}%)"
    return f"Monthly cost {word} by {format_usd(abs(m['delta']))}{pct}: {format_usd(m['before'])} -> {format_usd(m['after'])}"


def rows(comparison: dict) -> list[list[str]]:
    """[what, before, after, change] for everything that changed, then the total."""
    out: list[list[str]] = []
    for m in comparison["models"]:
        if m["status"] == "unchanged":
            continue
        for item in m["line_items"]:
            if item["delta"] != 0:
                out.append([f"{m['name']} · {item['name']}", _money(item["before"]), _money(item["after"]), _change(item)])
        out.append([f"{m['name']} · total", _money(m["monthly_usd"]["before"]), _money(m["monthly_usd"]["after"]),
                    _change(m["monthly_usd"])])
        cap = m["capacity_tokens_per_month"]
        if cap["delta"] != 0:
            fmt = lambda x: "-" if x is None else format_tokens(x)
            out.append([f"{m['name']} · capacity tokens/mo", fmt(cap["before"]), fmt(cap["after"]), _change(cap, money=False)])
        if m["configuration"]["before"] != m["configuration"]["after"]:
            out.append([f"{m['name']} · configuration", m["configuration"]["before"] or "-", m["configuration"]["after"] or "-", "changed"])
        v = m["verdict"]
        out.append([f"{m['name']} · verdict", v["before"] or "-", v["after"] or "-", "no change" if v["before"] == v["after"] else "changed"])
    for t in comparison["api_tiers"]:
        if t["delta"] != 0:
            out.append([f"API tier {t['name']}", _money(t["before"]), _money(t["after"]), _change(t)])
    p = comparison["policies"]
    word = lambda s: "-" if s is None else ("passed" if s["passed"] else f"FAILED ({s['mandatory']} mandatory)")
    if p["before"] != p["after"]:
        out.append(["policies", word(p["before"]), word(p["after"]), "changed"])
    m = comparison["monthly_usd"]
    out.append(["Monthly total", _money(m["before"]), _money(m["after"]), _change(m)])
    return out


def render(comparison: dict, markdown: bool = False) -> str:
    """The comparison as a table for people or as markdown."""
    unchanged = [m["name"] for m in comparison["models"] if m["status"] == "unchanged"]
    table = grid(["Change", "Baseline", "This change", "Difference"], rows(comparison), markdown)
    note = f"Unchanged: {', '.join(unchanged)}." if unchanged else ""
    if markdown:
        return "\n".join([f"**{headline(comparison)}**", "", table] + (["", note] if note else []))
    title = f"Against the baseline (stack {comparison['baseline_stack']})"
    return "\n".join([title, "=" * len(title), headline(comparison), "", table] + (["", note] if note else []))
