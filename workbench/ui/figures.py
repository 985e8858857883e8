"""Chart builders the analytics module does not cover (sample sets, not results)."""

from __future__ import annotations

import altair as alt
import pandas as pd


def label_distribution(counts: dict[str, int], title: str = "Samples per gold label") -> alt.Chart:
    """Horizontal bars: how many samples carry each gold label."""
    frame = pd.DataFrame({"label": list(counts), "samples": list(counts.values())})
    return (
        alt.Chart(frame, title=title)
        .mark_bar()
        .encode(
            x=alt.X("samples:Q", title="samples (count)", axis=alt.Axis(format="d", tickMinStep=1)),
            y=alt.Y("label:N", title="gold label", sort="-x"),
            tooltip=["label", "samples"],
        )
        .properties(height=alt.Step(28))
    )
