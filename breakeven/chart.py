"""Draw a breakeven curve (cost.curve.Curve) as PNG or SVG with matplotlib (Agg, no display)."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after the backend is chosen)
from matplotlib.ticker import FuncFormatter, LogLocator  # noqa: E402

from cost.curve import Curve  # noqa: E402
from cost.units import format_tokens  # noqa: E402

SUFFIXES = (".png", ".svg")
SELF_COLOUR = "#111111"
PLANNED_COLOUR = "#7a3db8"
STEP_FONT = 7.5        # points, configuration labels on the steps


def _usd_tick(y: float, _pos: object = None) -> str:
    if y >= 1e6:
        return f"${y / 1e6:g}M"
    if y >= 1e3:
        return f"${y / 1e3:g}k"
    return f"${y:g}"


def _tokens_tick(x: float, _pos: object = None) -> str:
    return format_tokens(x)


def draw(curve: Curve, path: str | Path, width_px: int = 1200, height_px: int = 760) -> Path:
    """Write the chart to path (.png or .svg): log volume axis, the self-hosted step curve, a line per
    API, breakeven points marked and labelled, the planned volume, configurations where space allows."""
    path = Path(path)
    dpi = min(200, max(80, width_px / 12))
    fig, ax = plt.subplots(figsize=(width_px / dpi, height_px / dpi), dpi=dpi, layout="constrained")
    data = curve.to_dict()
    steps = data["steps"]
    xs = [s["from"] for s in steps] + [curve.end]
    ys = [s["monthly_usd"] for s in steps] + [steps[-1]["monthly_usd"]]
    ax.plot(xs, ys, drawstyle="steps-post", color=SELF_COLOUR, linewidth=2.6, zorder=5,
            label="Self-hosted: cheapest configuration (full monthly cost)")

    equivalent = [a for a in curve.apis if a.tier == "equivalent"]
    quality = [a for a in curve.apis if a.tier != "equivalent"]
    colours = {a.id: plt.get_cmap("tab10")(i % 10) for i, a in enumerate(equivalent)}
    colours |= {a.id: plt.get_cmap("Dark2")(i % 8) for i, a in enumerate(quality)}
    line_x = [curve.start, curve.end]
    for a in curve.apis:
        style = "-" if a.tier == "equivalent" else "--"
        ax.plot(line_x, [curve.api_monthly_usd(a.id, x) for x in line_x], style, color=colours[a.id], linewidth=1.4, zorder=2,
                label=f"{a.label}: ${curve.usd_per_mtok[a.id]:.3g}/1M")

    lo_y = min(ys) / 20
    hi_y = max(ys) * 20
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(curve.start, curve.end)
    ax.set_ylim(lo_y, hi_y)
    span = math.log10(curve.end / curve.start)

    # breakeven points: a marker on each crossing; one label per volume (APIs at the same price cross at the
    # same volume) in the API's colour, or dark grey naming how many APIs cross there; staggered when close
    by_volume: dict[str, list[dict]] = {}
    for c in data["breakeven"]:
        ax.plot([c["tokens_per_month"]], [c["self_hosted_monthly_usd"]], "o", markersize=7, markerfacecolor="white",
                markeredgecolor=colours[c["api"]], markeredgewidth=2, zorder=6)
        by_volume.setdefault(format_tokens(c["tokens_per_month"]), []).append(c)
    placed: list[tuple[float, int]] = []
    for text, same in by_volume.items():
        x, y = same[0]["tokens_per_month"], same[0]["self_hosted_monthly_usd"]
        colour = colours[same[0]["api"]] if len(same) == 1 else "#333333"
        near = [lvl for px, lvl in placed if abs(math.log10(x / px)) < span * 0.06]
        level = next(i for i in range(len(near) + 1) if i not in near)
        placed.append((x, level))
        ax.annotate(text if len(same) == 1 else f"{text} ({len(same)} APIs)", (x, y), xytext=(0, -16 - 13 * level),
                    textcoords="offset points", ha="center", va="top", fontsize=8.5, color=colour, fontweight="bold",
                    zorder=7, bbox=dict(boxstyle="square,pad=0.05", facecolor="white", edgecolor="none", alpha=0.85),
                    arrowprops=dict(arrowstyle="-", color=colour, lw=0.6) if level else None)

    # the configuration where it changes, the replica count at the other steps, where a label has room
    axes_px = fig.get_figwidth() * dpi * 0.9
    pricings = {s["configuration"]["pricing"] for s in steps}
    free_from = None   # log10 volume where the last label ends
    last_unit = None
    for s in steps:
        c = s["configuration"]
        unit = f"{c['instance_type'] or c['cloud']} TP{c['gpus_per_replica']} {c['precision']}" + ("" if len(pricings) == 1 else f" {c['pricing']}")
        reps = c["replicas"]
        text = f"{unit}\n{reps} replica{'s' if reps > 1 else ''}" if unit != last_unit else f"×{reps}"
        x = max(s["from"], curve.start)
        width = max(len(line) for line in text.splitlines()) * STEP_FONT * 0.62 * dpi / 72 / axes_px * span  # decades
        if math.log10(x) + width > math.log10(curve.end) or (free_from is not None and math.log10(x) < free_from):
            continue
        # Below the step's own tread: the staircase only rises to the right, so it never runs through the label.
        ax.annotate(text, (x, s["monthly_usd"]), xytext=(2, -5), textcoords="offset points", fontsize=STEP_FONT,
                    color="#222222", va="top", ha="left", zorder=4,
                    bbox=dict(boxstyle="square,pad=0.1", facecolor="white", edgecolor="none", alpha=0.85))
        free_from, last_unit = math.log10(x) + width * 1.1, unit

    planned = data["planned"]
    if planned and curve.start <= planned["tokens_per_month"] <= curve.end:
        x = planned["tokens_per_month"]
        ax.axvline(x, color=PLANNED_COLOUR, linestyle=":", linewidth=1.6, zorder=4)
        ax.annotate(f"planned {format_tokens(x)}/month\n${planned['self_hosted_monthly_usd']:,.0f} self-hosted",
                    (x, hi_y), xytext=(4, -4), textcoords="offset points", va="top", ha="left", fontsize=8.5,
                    color=PLANNED_COLOUR, fontweight="bold")

    w = curve.workload
    fig.suptitle(f"{curve.model}: self-hosting vs APIs, {w.avg_input_tokens} in / {w.avg_output_tokens} out tokens per request",
                 fontsize=12, fontweight="bold", x=0.01, ha="left")
    pricing = f"{pricings.pop()} pricing; " if len(pricings) == 1 else ""
    ax.set_title(f"{pricing}{w.utilization:.0%} planned utilization; circles: breakeven volumes (found by bisection); "
                 f"dashed: quality-tier APIs", fontsize=8.5, color="#555555", loc="left")
    ax.set_xlabel("Tokens per month (input + output, log scale)")
    ax.set_ylabel("Monthly cost, USD (log scale)")
    ax.xaxis.set_major_formatter(FuncFormatter(_tokens_tick))
    ax.yaxis.set_major_formatter(FuncFormatter(_usd_tick))
    ax.yaxis.set_major_locator(LogLocator(base=10))
    ax.grid(True, which="major", color="#dddddd", linewidth=0.8)
    ax.grid(True, which="minor", color="#f0f0f0", linewidth=0.5)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=3 if width_px >= 1400 else 2,
              fontsize=8 if width_px >= 900 else 6.5, frameon=False, handlelength=2.4)
    fig.savefig(path, format=path.suffix[1:])
    plt.close(fig)
    return path
