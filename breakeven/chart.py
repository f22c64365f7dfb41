"""Draw a breakeven curve (cost.decide.curve.Curve) as PNG or SVG with matplotlib (Agg, no display)."""

from __future__ import annotations

import math
import textwrap
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after the backend is chosen)
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import FuncFormatter, LogLocator  # noqa: E402

from cost.decide.curve import Curve  # noqa: E402
from cost.report_model import TIER_NAMES, curve_document  # noqa: E402
from cost.units import format_tokens  # noqa: E402

SUFFIXES = (".png", ".svg")
SELF_COLOUR = "#111111"
PLANNED_COLOUR = "#7a3db8"
STEP_FONT = 7.5        # points, configuration labels on the steps
PLANNED_FONT = 8.5     # points, the planned volume's label
TITLE_FONT = 12
MAX_OTHER_LABELS = 3   # breakeven volumes labelled one by one for a tier that is not the comparable one


def _usd_tick(y: float, _pos: object = None) -> str:
    if y >= 1e6:
        return f"${y / 1e6:g}M"
    if y >= 1e3:
        return f"${y / 1e3:g}k"
    return f"${y:g}"


def _tokens_tick(x: float, _pos: object = None) -> str:
    return format_tokens(x)


def _y_range(curve: Curve, ys: list[float]) -> tuple[float, float]:
    """Every step and every API line over the whole volume range, with a margin: no line is clipped."""
    api_ys = [curve.api_monthly_usd(a.id, x) for a in curve.apis for x in (curve.start, curve.end)]
    values = [y for y in ys + api_ys if y > 0]
    return min(values) / 2.5, max(values) * 4


def draw(curve: Curve, path: str | Path, width_px: int = 1200, height_px: int = 760) -> Path:
    """Write the chart (`figure`) to path (.png or .svg)."""
    path = Path(path)
    fig = figure(curve, width_px, height_px)
    fig.savefig(path, format=path.suffix[1:])
    plt.close(fig)
    return path


def figure(curve: Curve, width_px: int = 1200, height_px: int = 760) -> Figure:
    """The chart: log volume axis, the self-hosted step curve, a line per API, breakeven points marked
    (comparable APIs apart from quality-tier ones), the planned volume's step labelled with its
    configuration, cost and the cheapest comparable API there, configurations where space allows; the
    legend below the axes, outside them (the layout keeps it clear of the axis label at any size).
    Every label comes from its report document (`cost.report_model.curve_document`)."""
    dpi = min(200, max(80, width_px / 12))
    fig, ax = plt.subplots(figsize=(width_px / dpi, height_px / dpi), dpi=dpi, layout="constrained")
    data = curve_document(curve)
    steps = data["steps"]
    xs = [s["from"] for s in steps] + [curve.end]
    ys = [s["monthly_usd"] for s in steps] + [steps[-1]["monthly_usd"]]
    ax.plot(xs, ys, drawstyle="steps-post", color=SELF_COLOUR, linewidth=2.6, zorder=5,
            label="Self-hosted: cheapest configuration (full monthly cost)")

    tier = data["comparable_tier"]
    comparable = [a for a in curve.apis if a.tier == tier]
    others = [a for a in curve.apis if a.tier != tier]
    colours = {a.id: plt.get_cmap("tab10")(i % 10) for i, a in enumerate(comparable)}
    colours |= {a.id: plt.get_cmap("Dark2")(i % 8) for i, a in enumerate(others)}
    line_x = [curve.start, curve.end]
    for a in curve.apis:
        style = "-" if a.tier == tier else "--"
        ax.plot(line_x, [curve.api_monthly_usd(a.id, x) for x in line_x], style, color=colours[a.id], linewidth=1.4, zorder=2,
                label=f"{a.label}: ${curve.usd_per_mtok[a.id]:.3g}/1M" + ("" if a.tier == tier else f" ({a.tier} tier)"))

    lo_y, hi_y = _y_range(curve, ys)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(curve.start, curve.end)
    ax.set_ylim(lo_y, hi_y)
    span = math.log10(curve.end / curve.start)
    axes_px = fig.get_figwidth() * dpi * 0.9

    def width_of(text: str, size: float) -> float:
        """A label's width in decades of volume."""
        return max(len(line) for line in text.splitlines()) * size * 0.62 * dpi / 72 / axes_px * span

    # breakeven points: a filled circle against a comparable API, a hollow diamond against any other tier;
    # one label per volume and kind, staggered when close; another tier's many volumes share one label
    by_volume: dict[tuple[str, bool], list[dict]] = {}
    for c in data["breakeven"]:
        mine = c["tier"] == tier
        ax.plot([c["tokens_per_month"]], [c["self_hosted_monthly_usd"]], "o" if mine else "D", markersize=7 if mine else 6,
                markerfacecolor=colours[c["api"]] if mine else "white", markeredgecolor=colours[c["api"]], markeredgewidth=2,
                zorder=6)
        by_volume.setdefault((format_tokens(c["tokens_per_month"]), mine), []).append(c)
    groups: list[tuple[str, list[dict]]] = []   # (label, the crossings it stands for)
    spans: dict[str, list[dict]] = {}             # another tier with many volumes: one label spanning them
    for (text, mine), same in by_volume.items():
        other = same[0]["tier"]
        if not mine and sum(1 for k, v in by_volume.items() if not k[1] and v[0]["tier"] == other) > MAX_OTHER_LABELS:
            spans.setdefault(other, []).extend(same)
            continue
        label = text if len(same) == 1 else f"{text} ({len(same)} APIs)"
        groups.append((label if mine else f"{label}, {other} tier", same))
    for other, crossings in spans.items():
        crossings.sort(key=lambda c: c["tokens_per_month"])
        groups.append((f"{format_tokens(crossings[0]['tokens_per_month'])}-{format_tokens(crossings[-1]['tokens_per_month'])}, "
                       f"{other} tier ({len(crossings)} breakevens)", crossings))
    placed: list[tuple[float, int]] = []
    taken: list[tuple[float, float]] = []   # log10 volume spans the breakeven labels cover; step labels keep out
    for label, same in groups:
        x, y = same[0]["tokens_per_month"], same[0]["self_hosted_monthly_usd"]
        mine = same[0]["tier"] == tier
        colour = colours[same[0]["api"]] if len(same) == 1 else "#333333"
        near = [lvl for px, lvl in placed if abs(math.log10(x / px)) < span * 0.06]
        level = next(i for i in range(len(near) + 1) if i not in near)
        placed.append((x, level))
        ha = "right" if math.log10(curve.end / x) < span * 0.08 else "left" if math.log10(x / curve.start) < span * 0.08 else "center"
        width = width_of(label, 8.5)
        start = math.log10(x) - {"right": width, "left": 0.0, "center": width / 2}[ha]
        taken.append((start, start + width))
        ax.annotate(label, (x, y), xytext=(0, -16 - 13 * level),
                    textcoords="offset points", va="top", fontsize=8.5, color=colour, ha=ha,
                    fontweight="bold" if mine else "normal", zorder=7,
                    bbox=dict(boxstyle="square,pad=0.05", facecolor="white", edgecolor="none", alpha=0.85),
                    arrowprops=dict(arrowstyle="-", color=colour, lw=0.6) if level else None)

    # the planned volume: its step labelled with the configuration and cost, the cheapest comparable API there
    planned = data["planned"]
    if planned and curve.start <= planned["tokens_per_month"] <= curve.end:
        x, y = planned["tokens_per_month"], planned["self_hosted_monthly_usd"]
        ax.axvline(x, color=PLANNED_COLOUR, linestyle=":", linewidth=1.6, zorder=4)
        ax.plot([x], [y], "s", markersize=7, color=PLANNED_COLOUR, zorder=8)
        api = planned["cheapest_api"]
        if api is not None:
            ax.plot([x], [api["monthly_usd"]], "s", markersize=6, markerfacecolor="white", markeredgecolor=PLANNED_COLOUR,
                    markeredgewidth=1.8, zorder=8)
        # on the side of the line with the most room (the right when it fits), lines wrapped to that room
        room = {"right": math.log10(curve.end / x), "left": math.log10(x / curve.start)}
        fits_right = width_of(planned["label"], PLANNED_FONT) * 1.05 <= room["right"]
        right = fits_right or room["right"] >= room["left"]
        chars = max(20, int(room["right" if right else "left"] * 0.95 / width_of("x", PLANNED_FONT)))
        text = "\n".join(textwrap.fill(line, chars, break_on_hyphens=False) for line in planned["label"].splitlines())
        ax.annotate(text, (x, hi_y), xytext=(5 if right else -5, -5), textcoords="offset points", va="top",
                    ha="left" if right else "right", fontsize=PLANNED_FONT, color=PLANNED_COLOUR, fontweight="bold", zorder=9,
                    bbox=dict(boxstyle="square,pad=0.2", facecolor="white", edgecolor=PLANNED_COLOUR, linewidth=0.8, alpha=0.95))

    # the configuration where it changes, the replica count at the other steps, where a label has room
    pricings = {s["configuration"]["pricing"] for s in steps}
    free_from = None   # log10 volume where the last label ends
    last_unit = None
    for s in steps:
        c = s["configuration"]
        unit = f"{c['instance_type'] or c['cloud']} TP{c['gpus_per_replica']} {c['precision']}" + ("" if len(pricings) == 1 else f" {c['pricing']}")
        reps = c["replicas"]
        text = f"{unit}\n{reps} replica{'s' if reps > 1 else ''}" if unit != last_unit else f"×{reps}"
        x = max(s["from"], curve.start)
        width = width_of(text, STEP_FONT)
        lo, hi = math.log10(x), math.log10(x) + width
        if hi > math.log10(curve.end) or (free_from is not None and lo < free_from):
            continue
        if any(lo < end and start < hi for start, end in taken):
            continue   # a breakeven label sits there
        if planned and (s["from"] <= planned["tokens_per_month"] < s["to"] or lo <= math.log10(planned["tokens_per_month"]) <= hi):
            continue   # the planned label names this step; no neighbour's label sits across the planned line
        # Below the step's own tread: the staircase only rises to the right, so it never runs through the label.
        ax.annotate(text, (x, s["monthly_usd"]), xytext=(2, -5), textcoords="offset points", fontsize=STEP_FONT,
                    color="#222222", va="top", ha="left", zorder=4,
                    bbox=dict(boxstyle="square,pad=0.1", facecolor="white", edgecolor="none", alpha=0.85))
        free_from, last_unit = hi + width * 0.1, unit

    w = curve.workload
    chars = int(width_px / (TITLE_FONT * 0.62 * dpi / 72))   # what fits on one line of the title
    fig.suptitle(textwrap.fill(f"{curve.model}: {data['headline']}", chars, break_on_hyphens=False), fontsize=TITLE_FONT, fontweight="bold",
                 x=0.01, ha="left")
    pricing = f"{pricings.pop()} pricing; " if len(pricings) == 1 else ""
    name = TIER_NAMES.get(tier, tier)
    ax.set_title(f"{w.avg_input_tokens} in / {w.avg_output_tokens} out tokens per request; {pricing}{w.utilization:.0%} planned "
                 f"utilization; solid: {name} APIs, dashed: other tiers; filled circles: breakevens with {name} APIs, "
                 "diamonds: with other tiers", fontsize=8.5, color="#555555", loc="left", wrap=True)
    ax.set_xlabel("Tokens per month (input + output, log scale)")
    ax.set_ylabel("Monthly cost, USD (log scale)")
    ax.xaxis.set_major_formatter(FuncFormatter(_tokens_tick))
    ax.yaxis.set_major_formatter(FuncFormatter(_usd_tick))
    ax.yaxis.set_major_locator(LogLocator(base=10))
    ax.grid(True, which="major", color="#dddddd", linewidth=0.8)
    ax.grid(True, which="minor", color="#f0f0f0", linewidth=0.5)
    fig.legend(loc="outside lower center", ncol=3 if width_px >= 1400 else 2,
               fontsize=8 if width_px >= 900 else 6.5, frameon=False, handlelength=2.4)
    return fig
