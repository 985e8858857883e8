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
    title = d["title"]
    return title if isinstance(title, str) else title["text"]


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
    assert axis_titles(d) == {"Day", "Spend (USD)"} and has_tooltip(d)
    assert data_of(spec(charts.spend_per_day(pd.DataFrame(columns=["day", "cost_usd"])))) == []
    with pytest.raises(InputError, match="day"):
        charts.spend_per_day(pd.DataFrame({"cost_usd": [1.0]}))


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
