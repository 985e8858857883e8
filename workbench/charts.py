"""Altair charts of a run report (no Streamlit): each function returns a chart object.

The same object renders in a Jupyter notebook (Altair's own renderer) and in ``st.altair_chart``.
Charts take the report dict of :func:`workbench.metrics.build_report` (so they also work on a
report read back from JSON) or a small pre-aggregated frame: raw per-response rows are reduced in
pandas first, so a chart of a 100,000-response run carries a few dozen data rows, not 100,000.

Colours: the Okabe-Ito palette (distinguishable with the common colour-vision deficiencies) for
series, a single-hue sequential scheme for counts.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import altair as alt
import pandas as pd

from workbench.errors import InputError
from workbench.metrics import cell_name
from workbench.pricing import EFFORTS

OKABE_ITO = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"]
USD_FORMAT = "$,.4~g"
PERCENT_FORMAT = ".1~%"  # explicit precision: a bare "%" lets Vega pick up to 6 decimals on a narrow domain
MIN_SHARE_SPAN = 0.04  # a share axis spans at least 4 points, so equal values do not collapse the domain
LEVEL_LABEL_CHARS = 36  # latency box plot: more characters of model names than this get slanted labels
SPEND_FILL_DAYS = 92  # spend charts show every day (0 when nothing was spent) up to this many days
SPEND_FIXED_BARS = 10  # up to this many days, bars keep SPEND_BAR_PX pixels however wide the chart is
SPEND_BAR_PX = 32


def _title(text: str, *subtitle: str) -> alt.TitleParams:
    """A short title with its explanation as subtitle lines: a long one-line title is cut off at a column's width."""
    return alt.TitleParams(text=text, subtitle=list(subtitle), anchor="start")


def _palette(title: str) -> alt.Color:
    return alt.Color("series:N", title=title, scale=alt.Scale(range=OKABE_ITO))


def _share_scale(*columns: pd.Series, padding: int = 12) -> alt.Scale:
    """A 0-1 share axis around the values: at least :data:`MIN_SHARE_SPAN` wide, inside [0, 1], plus
    ``padding`` pixels each side so marks at the edge (a cell at 100%) are not cut by the frame.

    With ``zero=False`` and every value equal (all cells at 100%, say) Vega would make a zero-width
    domain and label its one tick with six decimals; the widened domain keeps normal ticks. The
    padding is less than one tick spacing, so no tick beyond 0% or 100% appears.
    """
    values = pd.concat([pd.to_numeric(c, errors="coerce") for c in columns]).dropna()
    if values.empty:
        return alt.Scale(zero=False)
    low, high = float(values.min()), float(values.max())
    pad = max((MIN_SHARE_SPAN - (high - low)) / 2, 0.0)
    low, high = max(0.0, low - pad), min(1.0, high + pad)
    if high - low < MIN_SHARE_SPAN:  # pushed against 0% or 100%: widen on the other side
        low, high = (0.0, MIN_SHARE_SPAN) if low == 0.0 else (1.0 - MIN_SHARE_SPAN, 1.0)
    return alt.Scale(domain=[low, high], zero=False, nice=False, padding=padding)


def _cells(report: Mapping[str, Any] | list[dict[str, Any]]) -> list[dict[str, Any]]:
    if isinstance(report, Mapping):
        if "cells" not in report:
            raise InputError("report has no 'cells' (expected the dict of metrics.build_report)")
        return list(report["cells"])
    return list(report)


def _cell_frame(report: Mapping[str, Any] | list[dict[str, Any]]) -> pd.DataFrame:
    """One row per cell with a display series (model, or prompt version · model when versions differ)."""
    cells = _cells(report)
    several = len({c["prompt_version_id"] for c in cells}) > 1
    rows = [
        {
            "series": _series(c, several),
            "cell": cell_name(c, several),
            "model": c["model"],
            "prompt": c.get("prompt_label") or c["prompt_name"],
            "reasoning_effort": c.get("reasoning_effort"),
            "effort_rank": EFFORTS.index(c["reasoning_effort"]) if c.get("reasoning_effort") in EFFORTS else None,
            "temperature": c["temperature"],
            "n": c["n"],
            "samples": c.get("samples", c["n"]),
            "correct": c.get("correct"),
            "accuracy": c["accuracy"],
            "ci_low": (c.get("accuracy_ci95") or [None, None])[0],
            "ci_high": (c.get("accuracy_ci95") or [None, None])[1],
            "macro_f1": c.get("macro_f1"),
            "consistency": c.get("consistency"),
            "flips": len(c.get("flips") or []),
            "cost_per_1k_usd": c.get("cost_per_1k_usd"),
            "prompt_version_id": c["prompt_version_id"],
        }
        for c in cells
    ]
    columns = ["series", "cell", "model", "prompt", "reasoning_effort", "effort_rank", "temperature", "n", "samples"]
    columns += ["correct", "accuracy", "ci_low", "ci_high"]
    columns += ["macro_f1", "consistency", "flips", "cost_per_1k_usd", "prompt_version_id"]
    return pd.DataFrame(rows, columns=columns)


def _series(cell: Mapping[str, Any], several: bool) -> str:
    """A line of a chart: the model (with its effort when one was sent, and prompt when prompts differ)."""
    model = f"{cell['model']} ({cell['reasoning_effort']})" if cell.get("reasoning_effort") else cell["model"]
    return f"{cell.get('prompt_label') or cell['prompt_name']} · {model}" if several else model


def _by_effort(report: Mapping[str, Any] | list[dict[str, Any]]) -> pd.DataFrame:
    """Cells sent with an effort, one line per model (and temperature when several were sent)."""
    data = _cell_frame(report)
    data = data[data["effort_rank"].notna()].copy()
    several = data["prompt_version_id"].nunique() > 1
    temps = data["temperature"].map(lambda t: "" if t is None or pd.isna(t) else f" @ {t:g}")
    data["line"] = (data["prompt"] + " · " if several else "") + data["model"] + temps
    return data.sort_values(["line", "effort_rank"])


def has_efforts(report: Mapping[str, Any] | list[dict[str, Any]]) -> bool:
    """Whether any cell was sent with a reasoning effort (the effort charts have something to show)."""
    return any(c.get("reasoning_effort") for c in _cells(report))


def accuracy_vs_effort(report: Mapping[str, Any] | list[dict[str, Any]]) -> alt.LayerChart:
    """Accuracy per reasoning effort (lowest first), one line per model, with its 95% interval as bars."""
    data = _by_effort(report)
    data = data[data["accuracy"].notna()]
    order = [e for e in EFFORTS if e in set(data["reasoning_effort"])]
    x = alt.X("reasoning_effort:N", title="Reasoning effort", sort=order)
    scale = _share_scale(data["accuracy"], data["ci_low"], data["ci_high"])
    axis = alt.Axis(format=PERCENT_FORMAT)
    title = "Accuracy (% correct, 95% interval)"
    base = alt.Chart(data).encode(x=x, color=alt.Color("line:N", title="Model"))
    bars = base.mark_rule(opacity=0.5).encode(y=alt.Y("ci_low:Q", title=title, axis=axis, scale=scale), y2="ci_high:Q")
    line = base.mark_line(point=True).encode(
        y=alt.Y("accuracy:Q", title=title, axis=axis, scale=scale),
        detail="line:N",
        tooltip=[
            alt.Tooltip("cell:N", title="Cell"),
            alt.Tooltip("accuracy:Q", title="Accuracy", format=".1%"),
            alt.Tooltip("ci_low:Q", title="95% low", format=".1%"),
            alt.Tooltip("ci_high:Q", title="95% high", format=".1%"),
            alt.Tooltip("n:Q", title="Answers"),
        ],
    )
    return alt.layer(bars, line).properties(title="Accuracy by reasoning effort (bars: 95% Wilson interval)")


def cost_vs_effort(report: Mapping[str, Any] | list[dict[str, Any]]) -> alt.Chart:
    """Cost per 1,000 items per reasoning effort (lowest first), one line per model; unknown costs left out."""
    data = _by_effort(report)
    data = data[data["cost_per_1k_usd"].notna()]
    order = [e for e in EFFORTS if e in set(data["reasoning_effort"])]
    return (
        alt.Chart(data, title="Cost per 1,000 items by reasoning effort")
        .mark_line(point=True)
        .encode(
            x=alt.X("reasoning_effort:N", title="Reasoning effort", sort=order),
            y=alt.Y("cost_per_1k_usd:Q", title="Cost per 1,000 items (USD)", axis=alt.Axis(format="$,.4f")),
            color=alt.Color("line:N", title="Model"),
            detail="line:N",
            tooltip=[
                alt.Tooltip("cell:N", title="Cell"),
                alt.Tooltip("cost_per_1k_usd:Q", title="Cost per 1k", format="$,.6f"),
                alt.Tooltip("n:Q", title="Answers"),
            ],
        )
    )


def accuracy_vs_temperature(report: Mapping[str, Any] | list[dict[str, Any]]) -> alt.LayerChart:
    """Accuracy per temperature, one line per model, with its 95% interval (samples as the unit) as a band."""
    data = _cell_frame(report)
    data = data[data["accuracy"].notna() & data["temperature"].notna()].sort_values(["series", "temperature"])
    base = alt.Chart(data).encode(
        x=alt.X("temperature:Q", title="Temperature"), color=_palette("Model"), detail="series:N"
    )
    title = "Accuracy (% correct)"
    scale = _share_scale(data["accuracy"], data["ci_low"], data["ci_high"])
    axis = alt.Axis(format=PERCENT_FORMAT)
    band = base.mark_area(opacity=0.18).encode(
        y=alt.Y("ci_low:Q", title=title, axis=axis, scale=scale),
        y2="ci_high:Q",
        color=_palette("Model").legend(None),  # the legend comes from the lines, not from the pale bands
    )
    line = base.mark_line(point=True).encode(
        y=alt.Y("accuracy:Q", title=title, axis=axis, scale=scale),
        tooltip=[
            alt.Tooltip("cell:N", title="Cell"),
            alt.Tooltip("accuracy:Q", title="Accuracy", format=".1%"),
            alt.Tooltip("ci_low:Q", title="95% low", format=".1%"),
            alt.Tooltip("ci_high:Q", title="95% high", format=".1%"),
            alt.Tooltip("correct:Q", title="Correct"),
            alt.Tooltip("samples:Q", title="Samples"),
            alt.Tooltip("n:Q", title="Answers"),
        ],
    )
    chart = alt.layer(band, line).resolve_legend(color="independent")  # so only the lines make the legend
    return chart.properties(title=_title("Accuracy by temperature", "Band: 95% interval, samples as the unit"))


def consistency_vs_temperature(report: Mapping[str, Any] | list[dict[str, Any]]) -> alt.Chart:
    """Share of samples whose repeats agree, per temperature and model (empty when the run has 1 repeat)."""
    data = _cell_frame(report)
    data = data[data["consistency"].notna() & data["temperature"].notna()].sort_values(["series", "temperature"])
    return (
        alt.Chart(data, title=_title("Consistency by temperature", "Samples whose repeats all agree"))
        .mark_line(point=True)
        .encode(
            x=alt.X("temperature:Q", title="Temperature"),
            y=alt.Y(
                "consistency:Q",
                title="Repeats agree (%)",
                axis=alt.Axis(format=PERCENT_FORMAT),
                scale=_share_scale(data["consistency"]),
            ),
            color=_palette("Model"),
            tooltip=[
                alt.Tooltip("cell:N", title="Cell"),
                alt.Tooltip("consistency:Q", title="Consistency", format=".1%"),
                alt.Tooltip("flips:Q", title="Samples that flip"),
            ],
        )
    )


def cost_vs_accuracy(report: Mapping[str, Any]) -> alt.LayerChart:
    """Cost per 1,000 items against accuracy; the Pareto frontier as a line, the recommendation ringed.

    Cells of unknown cost cannot be placed and are left out (the title says how many).
    """
    data = _cell_frame(report)
    unknown = int((data["cost_per_1k_usd"].isna() & data["accuracy"].notna()).sum())
    data = data[data["cost_per_1k_usd"].notna() & data["accuracy"].notna()].copy()
    frontier = report.get("pareto", []) if isinstance(report, Mapping) else []
    rec = report.get("recommendation") if isinstance(report, Mapping) else None

    def flag(keys: list[Mapping[str, Any]]) -> pd.Series:
        marks = {(k["prompt_version_id"], k["model"], k["temperature"]) for k in keys}
        return pd.Series(
            [
                (p, m, t) in marks
                for p, m, t in zip(data["prompt_version_id"], data["model"], data["temperature"], strict=True)
            ],
            index=data.index,
            dtype=bool,
        )

    data["frontier"] = flag(frontier)
    data["recommended"] = flag([rec] if rec else [])
    middle = (data["cost_per_1k_usd"].min() + data["cost_per_1k_usd"].max()) / 2 if len(data) else 0.0
    data["label_side"] = ["right" if cost > middle else "left" for cost in data["cost_per_1k_usd"]]
    data = data.sort_values(["cost_per_1k_usd", "accuracy"])
    costs = data["cost_per_1k_usd"].unique()
    if len(costs) == 1:  # one cost for every cell: centre it on an axis from $0, not a zero-width domain
        x_scale = alt.Scale(domain=[0, 2 * float(costs[0]) or 1.0], padding=24)
    else:
        x_scale = alt.Scale(zero=False, padding=24)
    x = alt.X("cost_per_1k_usd:Q", title="Cost per 1,000 items (USD)", axis=alt.Axis(format=USD_FORMAT), scale=x_scale)
    y = alt.Y(
        "accuracy:Q",
        title="Accuracy (% correct)",
        axis=alt.Axis(format=PERCENT_FORMAT),
        scale=_share_scale(data["accuracy"], padding=24),
    )
    tooltip = [
        alt.Tooltip("cell:N", title="Cell"),
        alt.Tooltip("accuracy:Q", title="Accuracy", format=".1%"),
        alt.Tooltip("cost_per_1k_usd:Q", title="Cost per 1k (USD)", format="$,.6~f"),
        alt.Tooltip("n:Q", title="Answers"),
        alt.Tooltip("frontier:N", title="On the frontier"),
    ]
    base = alt.Chart(data).encode(x=x, y=y)
    line = (
        base.transform_filter(alt.datum.frontier)
        .mark_line(color="#555555", strokeDash=[4, 3])
        .encode(order="cost_per_1k_usd:Q")
    )
    points = base.mark_point(filled=True, size=90).encode(
        color=_palette("Model"), shape=alt.Shape("temperature:O", title="Temperature"), tooltip=tooltip
    )
    ring = base.transform_filter(alt.datum.recommended).mark_point(size=450, color="#000000", strokeWidth=2)
    # "recommended" below the ring (the best cells sit at the top), on the side with room for it.
    labels = [
        base.transform_filter(alt.datum.recommended & (alt.datum.label_side == side))
        .mark_text(align=side, dx=14 if side == "left" else -14, dy=14)
        .encode(text=alt.value("recommended"))
        for side in ("left", "right")
    ]
    notes = ["Dashed: Pareto frontier · ring: recommended"]
    if unknown:
        notes.append(f"{unknown} cell(s) of unknown cost not shown")
    return alt.layer(line, points, ring, *labels).properties(title=_title("Cost against accuracy", *notes))


def confusion_heatmap(cell: Mapping[str, Any]) -> alt.LayerChart:
    """Gold (rows) against predicted (columns, ``unparsed`` last) for one cell dict, counts written in."""
    if "confusion" not in cell:
        raise InputError("cell has no 'confusion' (expected one of report['cells'])")
    conf = cell["confusion"]
    rows = [
        {"gold": g, "predicted": p, "count": int(conf["matrix"][i][j])}
        for i, g in enumerate(conf["labels"])
        for j, p in enumerate(conf["columns"])
    ]
    data = pd.DataFrame(rows, columns=["gold", "predicted", "count"])
    totals = data.groupby("gold")["count"].transform("sum")
    data["share"] = (data["count"] / totals.where(totals > 0)).fillna(0.0)
    top = max(int(data["count"].max()) if len(data) else 0, 1)
    base = alt.Chart(data).encode(
        x=alt.X("predicted:N", title="Predicted label", sort=list(conf["columns"]), axis=alt.Axis(labelAngle=0)),
        y=alt.Y("gold:N", title="Gold label", sort=list(conf["labels"])),
    )
    rect = base.mark_rect().encode(
        color=alt.Color("count:Q", title="Answers (items)", scale=alt.Scale(scheme="blues", domain=[0, top])),
        tooltip=[
            alt.Tooltip("gold:N", title="Gold"),
            alt.Tooltip("predicted:N", title="Predicted"),
            alt.Tooltip("count:Q", title="Answers"),
            alt.Tooltip("share:Q", title="Share of gold row", format=".1%"),
        ],
    )
    text = base.mark_text().encode(
        text="count:Q",
        color=alt.condition(alt.datum.count > top / 2, alt.value("white"), alt.value("black")),
    )
    name = cell_name(cell, cell.get("prompt_label") is not None) if {"model", "temperature"} <= set(cell) else "cell"
    return alt.layer(rect, text).properties(
        title=_title("Confusion matrix", name), width=alt.Step(80), height=alt.Step(40)
    )


def latency_summary(frame: pd.DataFrame) -> pd.DataFrame:
    """Per model: answer count and box-plot statistics of latency (ms), Tukey whiskers at 1.5 IQR."""
    missing = [c for c in ("model", "latency_ms", "predicted") if c not in frame.columns]
    if missing:
        raise InputError(f"results frame is missing column(s): {', '.join(missing)}")
    rows = frame.loc[frame["predicted"].notna() & frame["latency_ms"].notna(), ["model", "latency_ms"]]
    rows = rows.assign(latency_ms=rows["latency_ms"].astype(float))
    columns = ["model", "n", "q1", "median", "q3", "p95", "low", "high", "min", "max"]
    if rows.empty:
        return pd.DataFrame(columns=columns)
    g = rows.groupby("model", sort=True)["latency_ms"]
    stats = g.quantile([0.25, 0.5, 0.75, 0.95]).unstack()
    stats.columns = ["q1", "median", "q3", "p95"]
    stats["n"], stats["min"], stats["max"] = g.size(), g.min(), g.max()
    iqr = stats["q3"] - stats["q1"]
    bounds = rows.join(stats[["q1", "q3"]].assign(iqr=iqr), on="model")
    inside = bounds[
        (bounds["latency_ms"] >= bounds["q1"] - 1.5 * bounds["iqr"])
        & (bounds["latency_ms"] <= bounds["q3"] + 1.5 * bounds["iqr"])
    ]
    whisk = inside.groupby("model")["latency_ms"].agg(["min", "max"])
    stats["low"], stats["high"] = whisk["min"], whisk["max"]
    return stats.reset_index()[columns]


def latency_distribution(frame: pd.DataFrame) -> alt.LayerChart:
    """Box plot of answer latency per model (box: quartiles, tick: median, whiskers: 1.5 IQR)."""
    data = latency_summary(frame).rename(columns={"model": "series"})
    names = [str(name) for name in data["series"]]
    # Side by side, model names collide in a narrow column: slant them when they would not fit level.
    level = len(names) <= 1 or (sum(len(n) for n in names) <= LEVEL_LABEL_CHARS and max(map(len, names)) <= 16)
    axis = alt.Axis(labelAngle=0) if level else alt.Axis(labelAngle=-35, labelAlign="right", labelLimit=150)
    base = alt.Chart(data).encode(x=alt.X("series:N", title="Model", axis=axis))
    y_title = "Latency (ms)"
    quantiles = [("min", "min"), ("q1", "p25"), ("median", "p50"), ("q3", "p75"), ("p95", "p95"), ("max", "max")]
    tooltip = [
        alt.Tooltip("series:N", title="Model"),
        alt.Tooltip("n:Q", title="Answers"),
        *(alt.Tooltip(f"{c}:Q", title=f"{t} (ms)", format=",.0f") for c, t in quantiles),
    ]
    whiskers = base.mark_rule().encode(y=alt.Y("low:Q", title=y_title), y2="high:Q")
    color = _palette("Model").legend(None)  # the x axis already names each box
    box = base.mark_bar(size=40).encode(y="q1:Q", y2="q3:Q", color=color, tooltip=tooltip)
    median = base.mark_tick(color="white", size=40, thickness=2).encode(y="median:Q")
    return alt.layer(whiskers, box, median).properties(title="Latency per answer by model", width=alt.Step(90))


def spend_per_day(runs_frame: pd.DataFrame) -> alt.Chart:
    """Money spent per day (bars), from a frame with ``day`` and ``cost_usd`` (and optionally ``calls``).

    Days are UTC calendar days kept as ``YYYY-MM-DD`` text on an ordinal axis: one day is one bar of
    normal width (a time axis stretches a single day across the chart), and no browser time zone can
    move a bar to the day before. Days without spend between the first and the last show as $0 while
    the range is at most :data:`SPEND_FILL_DAYS` days, so gaps stay visible.
    """
    missing = [c for c in ("day", "cost_usd") if c not in runs_frame.columns]
    if missing:
        raise InputError(f"spend frame is missing column(s): {', '.join(missing)}")
    days = runs_frame.assign(
        day=pd.to_datetime(runs_frame["day"]).dt.strftime("%Y-%m-%d"),
        cost_usd=pd.to_numeric(runs_frame["cost_usd"], errors="coerce"),
        calls=runs_frame["calls"] if "calls" in runs_frame.columns else 0,
    )
    data = days.groupby("day", as_index=False, sort=True).agg(cost_usd=("cost_usd", "sum"), calls=("calls", "sum"))
    if len(data) > 1:
        every = pd.date_range(data["day"].iloc[0], data["day"].iloc[-1], freq="D").strftime("%Y-%m-%d")
        if len(every) <= SPEND_FILL_DAYS:
            data = data.set_index("day").reindex(every, fill_value=0).rename_axis("day").reset_index()
    tooltip = [alt.Tooltip("day:O", title="Day (UTC)"), alt.Tooltip("cost_usd:Q", title="Spent (USD)", format="$,.6~f")]
    if "calls" in runs_frame.columns:
        tooltip.append(alt.Tooltip("calls:Q", title="Calls"))
    few = len(data) <= SPEND_FIXED_BARS
    axis = alt.Axis(labelAngle=0 if few else -45, labelOverlap="parity")
    # The chart is stretched to its column: a few days keep bars of a fixed width, centred in their band.
    width = SPEND_BAR_PX if few else alt.RelativeBandSize(0.8)
    return (
        alt.Chart(data, title="Spend per day")
        .mark_bar(color=OKABE_ITO[0], width=width)
        .encode(
            x=alt.X("day:O", title="Day (UTC)", sort="ascending", axis=axis),
            y=alt.Y("cost_usd:Q", title="Spend (USD)", axis=alt.Axis(format=USD_FORMAT)),
            tooltip=tooltip,
        )
    )
