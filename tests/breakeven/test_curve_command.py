"""`breakeven curve`: the chart files, the data formats and the input boundary."""

from __future__ import annotations

import csv
import io
import json
import re
import xml.etree.ElementTree as ET

import matplotlib.image
import pytest

from breakeven.cli import main

BASE = ["curve", "--model", "llama-3.1-70b", "--from", "100M", "--to", "50B", "--points", "8", "--tokens-per-month", "1B",
        "--pricing", "on-demand"]


@pytest.fixture(scope="module")
def drawn(tmp_path_factory):
    """One curve drawn as PNG (small) and SVG (large), with its JSON."""
    d = tmp_path_factory.mktemp("curve")
    out = {}
    for name, size in (("c.png", "640x420"), ("c.svg", "1600x900")):
        buf = io.StringIO()
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr("sys.stdout", buf)
            assert main(BASE + ["--format", "json", "--output", str(d / name), "--size", size]) == 0
        out[name] = (d / name, json.loads(buf.getvalue()))
    return out


def test_png_is_a_valid_image_of_the_requested_size(drawn):
    path, _ = drawn["c.png"]
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    pixels = matplotlib.image.imread(path)
    assert pixels.shape[:2] == (420, 640)
    assert pixels.std() > 0.05   # something is drawn


def test_svg_parses_as_xml_with_an_svg_root_and_the_labels(drawn):
    path, data = drawn["c.svg"]
    root = ET.parse(path).getroot()
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    text = path.read_text()
    assert "llama-3.1-70b" in text and "planned 1B/month" in text
    assert data["breakeven"], "the range was chosen to contain breakeven volumes"


def test_the_planned_volumes_label_is_drawn_from_the_curves_data(drawn):
    for name in ("c.svg", "c.png"):
        _, data = drawn[name]
        planned = data["planned"]
        assert planned["label"].startswith("planned 1B/month: $") and "cheapest comparable API: " in planned["label"]
        assert planned["cheapest_api"]["monthly_usd"] < planned["self_hosted_monthly_usd"]
    shown = [t.strip() for t in re.findall(r"<!-- (.*?) -->", drawn["c.svg"][0].read_text())]  # each text line drawn
    label = drawn["c.svg"][1]["planned"]["label"].splitlines()
    at = shown.index(label[0])
    assert shown[at:at + len(label)] == label
    assert "llama-3.1-70b: " + drawn["c.svg"][1]["headline"] in " ".join(shown)


def test_no_api_line_is_clipped_at_the_volumes_shown():
    from breakeven.chart import _y_range
    from cost.decide.curve import cheapest_search, curve
    from cost.workload import Workload

    shape = Workload.build(0, avg_input_tokens=600, avg_output_tokens=400)
    c = curve("llama-3.1-8b", shape, cheapest_search("llama-3.1-8b", shape), start=10e6, end=100e9, points=2)
    low, high = _y_range(c, [s.monthly_usd for s in c.steps])
    for a in c.apis:
        assert low < c.api_monthly_usd(a.id, c.start) and c.api_monthly_usd(a.id, c.end) < high
    assert low < min(s.monthly_usd for s in c.steps) and max(s.monthly_usd for s in c.steps) < high


def test_json_keeps_the_constraints_and_marks_the_planned_volume(drawn):
    _, data = drawn["c.png"]
    assert data["constraints"]["pricings"] == ["on-demand"]
    assert all(p["configuration"]["pricing"] == "on-demand" for p in data["points"])
    assert data["planned"]["tokens_per_month"] == 1_000_000_000
    assert data["range"] == {"from": 100e6, "to": 50e9}


def test_csv_has_a_row_per_point_and_api_and_per_breakeven(capsys, drawn):
    _, data = drawn["c.png"]
    assert main(BASE + ["--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    points = [r for r in rows if r["kind"] == "point"]
    assert len(points) == len(data["points"]) * len(data["apis"])
    assert [float(r["tokens_per_month"]) for r in rows if r["kind"] == "breakeven"] == [b["tokens_per_month"] for b in data["breakeven"]]
    assert {"instance_type", "gpus_per_replica", "precision", "pricing", "replicas"} <= set(rows[0])


def test_table_names_the_breakeven_volumes(capsys):
    assert main(BASE + ["--points", "4"]) == 0
    out = capsys.readouterr().out
    assert "Breakeven volumes" in out and "Self-hosted cost steps" in out and "Planned 1B tokens/month" in out
    assert "\x1b[" not in out   # no colour codes when stdout is not a terminal


@pytest.mark.parametrize("flags,key", [
    (["--output", "chart.jpg"], "--output"), (["--size", "100x50"], "--size"), (["--from", "0"], "--from"),
    (["--to", "10M"], "--to"), (["--precision", "fp3"], "--precision"), (["--gpu", "Z80"], "--gpu"),
    (["--avg-input-tokens", "0"], "--avg-input-tokens"), (["--utilization", "1.5"], "--utilization"),
])
def test_bad_flags_exit_2_naming_the_flag_and_write_nothing(tmp_path, capsys, flags, key):
    png = tmp_path / "out.png"
    args = BASE + ["--output", str(png)] + flags
    if flags[0] == "--output":
        args = BASE + ["--output", str(tmp_path / flags[1])]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"breakeven: error: {key}: got ") and "allowed:" in err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("size", [(640, 420), (1200, 760)])
def test_the_legend_stays_clear_of_the_axis_label_and_inside_the_image(size):
    """At the size a reader sees (a slide's 640x420 as well as 1200x760) the legend below the axes overlaps neither
    the x-axis label nor the tick labels, and is not cut off by the image's edge."""
    from breakeven.chart import figure, plt
    from cost.decide.curve import cheapest_search, curve
    from cost.workload import Workload

    shape = Workload.build(1e9, avg_input_tokens=600, avg_output_tokens=400)
    c = curve("llama-3.1-70b", shape, cheapest_search("llama-3.1-70b", shape), start=10e6, end=100e9, points=8)
    fig = figure(c, *size)
    try:
        fig.canvas.draw()
        renderer = fig.canvas.get_renderer()
        (legend,) = fig.legends
        box = legend.get_window_extent(renderer)
        ax = fig.axes[0]
        assert not box.overlaps(ax.xaxis.label.get_window_extent(renderer))
        assert not any(box.overlaps(t.get_window_extent(renderer)) for t in ax.get_xticklabels() if t.get_text())
        assert box.y0 >= 0 and box.x0 >= 0 and box.x1 <= size[0] + 1
    finally:
        plt.close(fig)


def test_configuration_labels_keep_clear_of_the_breakeven_labels():
    """The docs' chart (llama-3.1-70b, 10M-100B, 1B planned): a step's configuration label never sits on a breakeven
    volume's label (they are placed independently; a step label gives way)."""
    from matplotlib.text import Annotation

    from breakeven.chart import STEP_FONT, figure, plt
    from cost.decide.curve import cheapest_search, curve
    from cost.workload import Workload

    shape = Workload.build(1e9, avg_input_tokens=600, avg_output_tokens=400)
    c = curve("llama-3.1-70b", shape, cheapest_search("llama-3.1-70b", shape), start=10e6, end=100e9)
    fig = figure(c, 1200, 760)
    try:
        fig.canvas.draw()
        renderer = fig.canvas.get_renderer()
        notes = [t for t in fig.axes[0].texts if isinstance(t, Annotation)]
        steps = [t.get_window_extent(renderer) for t in notes if t.get_fontsize() == STEP_FONT]
        volumes = [t.get_window_extent(renderer) for t in notes if t.get_fontsize() == 8.5]
        assert steps and volumes
        assert not [(s, v) for s in steps for v in volumes if s.overlaps(v)]
    finally:
        plt.close(fig)
