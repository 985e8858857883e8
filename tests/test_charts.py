"""Charts build, serialise to Vega-Lite, carry the right data, titles, units, palette and tooltips."""

from __future__ import annotations

import json

import altair as alt
import numpy as np
import pandas as pd
import pytest

from tests.test_metrics import LABELS, make_frame, paired_frame
from workbench import charts
from workbench.errors import InputError
from workbench.metrics import build_report


def spec(chart: alt.TopLevelMixin) -> dict:
    """The Vega-Lite dict, checked to be plain JSON."""
    d = chart.to_dict()
    json.dumps(d, allow_nan=False)
    return d


def data_of(d: dict) -> list[dict]:
    """The one inline dataset of a chart spec."""
    (rows,) = d["datasets"].values()
    return rows


def layers(d: dict) -> list[dict]:
    return d.get("layer", [d])


def encodings(d: dict) -> list[dict]:
    return [layer.get("encoding", {}) for layer in layers(d)]


def title_of(d: dict) -> str:
    """The title with its subtitle lines (what a reader sees above the chart)."""
    title = d["title"]
    if isinstance(title, str):
        return title
    subtitle = title.get("subtitle") or []
    return " ".join([title["text"], *([subtitle] if isinstance(subtitle, str) else subtitle)])


def axis_titles(d: dict) -> set[str]:
    return {enc[ch]["title"] for enc in encodings(d) for ch in ("x", "y") if "title" in enc.get(ch, {})}


def has_tooltip(d: dict) -> bool:
    return any("tooltip" in enc for enc in encodings(d))


@pytest.fixture
def report() -> dict:
    frame = paired_frame()
    # round-trip through JSON, as the UI or a notebook may hold it
    return json.loads(json.dumps(build_report(frame, {1: LABELS}, run_id=1)))


def test_accuracy_vs_temperature(report: dict) -> None:
    d = spec(charts.accuracy_vs_temperature(report))
    rows = data_of(d)
    by_cell = {(r["model"], r["temperature"]): r for r in rows}
    assert len(rows) == len(report["cells"])
    for c in report["cells"]:
        r = by_cell[(c["model"], c["temperature"])]
        assert r["accuracy"] == c["accuracy"]
        assert [r["ci_low"], r["ci_high"]] == c["accuracy_ci95"]
        assert r["series"] == c["model"]
    marks = [layer["mark"]["type"] if isinstance(layer["mark"], dict) else layer["mark"] for layer in layers(d)]
    assert marks == ["area", "line"]
    band = encodings(d)[0]
    assert band["y"]["field"] == "ci_low" and band["y2"]["field"] == "ci_high"
    assert "Temperature" in axis_titles(d) and any("%" in t for t in axis_titles(d))
    assert "Accuracy" in title_of(d) and has_tooltip(d)
    assert encodings(d)[1]["color"]["scale"]["range"] == charts.OKABE_ITO


def test_consistency_vs_temperature(report: dict) -> None:
    d = spec(charts.consistency_vs_temperature(report))
    rows = data_of(d)
    expected = {
        (c["model"], c["temperature"]): c["consistency"] for c in report["cells"] if c["consistency"] is not None
    }
    assert {(r["model"], r["temperature"]): r["consistency"] for r in rows} == expected
    assert expected and has_tooltip(d) and "Consistency" in title_of(d)
    # a single-repeat run has no consistency: the chart is empty, not an error
    single = dict(report, cells=[dict(c, consistency=None) for c in report["cells"]])
    assert data_of(spec(charts.consistency_vs_temperature(single))) == []


def test_cost_vs_accuracy_marks_frontier_and_recommendation(report: dict) -> None:
    d = spec(charts.cost_vs_accuracy(report))
    rows = data_of(d)
    assert len(rows) == len(report["cells"])
    frontier = {(p["model"], p["temperature"]) for p in report["pareto"]}
    assert {(r["model"], r["temperature"]) for r in rows if r["frontier"]} == frontier
    rec = report["recommendation"]
    assert [(r["model"], r["temperature"]) for r in rows if r["recommended"]] == [(rec["model"], rec["temperature"])]
    assert "Cost per 1,000 items (USD)" in axis_titles(d) and has_tooltip(d)
    # unknown cost: left out, and the title says so
    unknown = dict(report, cells=[dict(report["cells"][0], cost_per_1k_usd=None), *report["cells"][1:]])
    d = spec(charts.cost_vs_accuracy(unknown))
    assert len(data_of(d)) == len(report["cells"]) - 1
    assert "1 cell(s) of unknown cost" in title_of(d)


def test_confusion_heatmap(report: dict) -> None:
    cell = report["cells"][0]
    d = spec(charts.confusion_heatmap(cell))
    rows = data_of(d)
    assert len(rows) == len(cell["confusion"]["labels"]) * len(cell["confusion"]["columns"])
    for r in rows:
        i, j = cell["confusion"]["labels"].index(r["gold"]), cell["confusion"]["columns"].index(r["predicted"])
        assert r["count"] == cell["confusion"]["matrix"][i][j]
    text = [enc for enc in encodings(d) if "text" in enc]
    assert text and text[0]["text"]["field"] == "count"
    x = encodings(d)[0]["x"]
    assert x["sort"] == [*LABELS, "unparsed"] and x["title"] == "Predicted label"
    assert cell["model"] in title_of(d) and has_tooltip(d)
    with pytest.raises(InputError):
        charts.confusion_heatmap({"model": "m"})


def test_latency_distribution_summary_matches_numpy() -> None:
    rng = np.random.default_rng(0)
    rows = [
        {"model": m, "temperature": 0, "sample_index": i, "gold": "positive", "predicted": "positive"}
        | {"latency_ms": float(rng.gamma(2, 100))}
        for m in ("nano", "mini")
        for i in range(200)
    ]
    rows.append({"model": "nano", "temperature": 0, "sample_index": 999, "gold": "positive", "predicted": "positive"})
    rows[-1]["latency_ms"] = 1e6  # an outlier outside the whisker
    rows.append({"model": "nano", "temperature": 0, "sample_index": 1000, "gold": "positive", "predicted": None})
    frame = make_frame(rows)
    d = spec(charts.latency_distribution(frame))
    got = {r["series"]: r for r in data_of(d)}
    assert set(got) == {"nano", "mini"}
    for model in ("nano", "mini"):
        lat = frame.loc[(frame["model"] == model) & frame["predicted"].notna(), "latency_ms"].to_numpy()
        q1, med, q3, p95 = np.percentile(lat, [25, 50, 75, 95])
        r = got[model]
        assert r["n"] == len(lat)
        assert (r["q1"], r["median"], r["q3"], r["p95"]) == pytest.approx((q1, med, q3, p95))
        inside = lat[(lat >= q1 - 1.5 * (q3 - q1)) & (lat <= q3 + 1.5 * (q3 - q1))]
        assert (r["low"], r["high"]) == pytest.approx((inside.min(), inside.max()))
        assert r["max"] == pytest.approx(lat.max())
    assert got["nano"]["high"] < 1e6 == got["nano"]["max"]
    assert "Latency (ms)" in axis_titles(d) and has_tooltip(d)


def test_spend_per_day() -> None:
    runs = pd.DataFrame(
        {"day": ["2025-01-02", "2025-01-01", "2025-01-02"], "cost_usd": [0.25, 0.5, 0.125], "calls": [3, 4, 5]}
    )
    d = spec(charts.spend_per_day(runs))
    assert data_of(d) == [
        {"day": "2025-01-01", "cost_usd": 0.5, "calls": 4},
        {"day": "2025-01-02", "cost_usd": 0.375, "calls": 8},
    ]
    assert axis_titles(d) == {"Day (UTC)", "Spend (USD)"} and has_tooltip(d)
    assert data_of(spec(charts.spend_per_day(pd.DataFrame(columns=["day", "cost_usd"])))) == []
    with pytest.raises(InputError, match="day"):
        charts.spend_per_day(pd.DataFrame({"cost_usd": [1.0]}))


def test_spend_per_day_one_day_is_one_normal_bar() -> None:
    d = spec(charts.spend_per_day(pd.DataFrame({"day": ["2025-03-04"], "cost_usd": [0.2], "calls": [2]})))
    assert data_of(d) == [{"day": "2025-03-04", "cost_usd": 0.2, "calls": 2}]
    x = d["encoding"]["x"]
    # days as text on a discrete axis: one band per day, no time scale stretching one day across the chart
    assert x["type"] == "ordinal" and x["field"] == "day" and "timeUnit" not in x
    assert d["mark"]["width"] == charts.SPEND_BAR_PX  # a fixed bar, however wide the column


def test_spend_per_day_shows_days_without_spend() -> None:
    runs = pd.DataFrame({"day": ["2025-01-01", "2025-01-04"], "cost_usd": [0.5, 0.25], "calls": [1, 2]})
    rows = data_of(spec(charts.spend_per_day(runs)))
    assert [r["day"] for r in rows] == ["2025-01-01", "2025-01-02", "2025-01-03", "2025-01-04"]
    assert [r["cost_usd"] for r in rows] == [0.5, 0, 0, 0.25]
    # many days: bars scale with their band and the labels slant
    days = pd.date_range("2025-01-01", periods=30, freq="D")
    d = spec(charts.spend_per_day(pd.DataFrame({"day": days, "cost_usd": 0.1})))
    assert len(data_of(d)) == 30 and d["mark"]["width"] == {"band": 0.8}
    assert d["encoding"]["x"]["axis"]["labelAngle"] == -45
    # a gap longer than the fill limit is not filled with hundreds of empty days
    far = pd.DataFrame({"day": ["2024-01-01", "2025-01-01"], "cost_usd": [0.1, 0.2]})
    assert [r["day"] for r in data_of(spec(charts.spend_per_day(far)))] == ["2024-01-01", "2025-01-01"]


def y_scales(d: dict) -> list[dict]:
    return [enc["y"]["scale"] for enc in encodings(d) if "scale" in enc.get("y", {})]


def test_tied_accuracy_gets_a_readable_axis(report: dict) -> None:
    """All cells at 100%: the y domain still spans a few points (no "100.000000%" ticks), inside 0-100%."""
    tie = dict(report, cells=[dict(c, accuracy=1.0, accuracy_ci95=[1.0, 1.0]) for c in report["cells"]])
    for chart in (charts.cost_vs_accuracy(tie), charts.accuracy_vs_temperature(tie)):
        d = spec(chart)
        scales = y_scales(d)
        assert scales
        for scale in scales:
            low, high = scale["domain"]
            assert 0.0 <= low < high <= 1.0 and high - low >= charts.MIN_SHARE_SPAN
        formats = {enc["y"]["axis"]["format"] for enc in encodings(d) if "axis" in enc.get("y", {})}
        assert formats == {charts.PERCENT_FORMAT}  # explicit precision, never a bare "%"
    zero = dict(report, cells=[dict(c, consistency=0.0) for c in report["cells"]])
    (scale,) = y_scales(spec(charts.consistency_vs_temperature(zero)))
    assert scale["domain"] == [0.0, charts.MIN_SHARE_SPAN]


def test_cost_vs_accuracy_one_cost_is_centred(report: dict) -> None:
    same = dict(report, cells=[dict(c, cost_per_1k_usd=0.05) for c in report["cells"]])
    d = spec(charts.cost_vs_accuracy(same))
    x_domains = [enc["x"]["scale"].get("domain") for enc in encodings(d) if "scale" in enc.get("x", {})]
    assert x_domains and all(domain == [0, 0.1] for domain in x_domains)
    # the "recommended" label sits on the side of the ring that has room
    rec = report["recommendation"]
    varied = dict(
        report, cells=[dict(c, cost_per_1k_usd=1.0 if c["model"] == rec["model"] else 0.1) for c in report["cells"]]
    )
    rows = data_of(spec(charts.cost_vs_accuracy(varied)))
    assert {r["label_side"] for r in rows if r["recommended"]} == {"right"}  # the dearest: label to its left


def test_latency_distribution_has_no_legend_and_readable_labels() -> None:
    def chart_for(models: list[str]) -> dict:
        rows = [
            {"model": m, "temperature": 0, "sample_index": i, "gold": "positive", "predicted": "positive"}
            | {"latency_ms": 100.0 + i}
            for m in models
            for i in range(3)
        ]
        return spec(charts.latency_distribution(make_frame(rows)))

    short = chart_for(["gpt-4.1-nano", "gpt-4.1-mini"])
    colors = [enc["color"] for enc in encodings(short) if "color" in enc]
    assert colors and all(c["legend"] is None for c in colors)  # the x axis names the boxes
    assert encodings(short)[0]["x"]["axis"]["labelAngle"] == 0
    long = chart_for(["gpt-4.1-nano", "gpt-4.1-mini", "gpt-4o-mini-2024-07-18", "some-local-model:latest"])
    assert encodings(long)[0]["x"]["axis"]["labelAngle"] < 0


def test_consistency_axis_title_is_short(report: dict) -> None:
    titles = axis_titles(spec(charts.consistency_vs_temperature(report)))
    assert titles and all(len(t) <= 30 for t in titles)


def test_empty_report_still_builds() -> None:
    frame = make_frame([{"model": "m", "temperature": 0, "sample_index": 0, "gold": "positive", "predicted": None}])
    report = build_report(frame, {1: LABELS}, run_id=1)
    for build in (charts.accuracy_vs_temperature, charts.consistency_vs_temperature, charts.cost_vs_accuracy):
        assert data_of(spec(build(report))) == []
    assert data_of(spec(charts.latency_distribution(frame))) == []
    assert len(data_of(spec(charts.confusion_heatmap(report["cells"][0])))) == 3 * 4


def test_several_prompts_are_told_apart() -> None:
    rows = [
        {"prompt_version_id": pv, "prompt_name": name, "model": "m", "temperature": 0.0, "sample_index": 0}
        | {"gold": "positive", "predicted": "positive"}
        for pv, name in [(1, "short"), (2, "long")]
    ]
    report = build_report(make_frame(rows), {1: LABELS, 2: LABELS}, run_id=1)
    series = {r["series"] for r in data_of(spec(charts.accuracy_vs_temperature(report)))}
    assert series == {"short · m", "long · m"}


def test_accuracy_legend_comes_from_the_lines_not_the_pale_bands(report: dict) -> None:
    d = spec(charts.accuracy_vs_temperature(report))
    band, line = encodings(d)
    assert band["color"]["legend"] is None and line["color"].get("legend", {}) is not None
    assert d["resolve"]["legend"]["color"] == "independent"  # else the band's "no legend" hides the lines' too
