"""The example notebook runs end to end against the local stand-in server (nbclient)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

NOTEBOOK = Path(__file__).resolve().parent.parent / "notebooks" / "compare_models.ipynb"


def test_example_notebook_executes(tmp_path, monkeypatch):
    for name in ("OPENAI_BASE_URL", "OPENAI_API_KEY", "WORKBENCH_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(
        notebook, timeout=180, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOK.parent)}}
    )
    client.execute()
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    text = "\n".join(str(o.get("data", {}).get("text/plain", "")) + str(o.get("text", "")) for o in outputs)
    assert "gpt-6-luna" in text and "gpt-6-sol" in text and "gpt-4.1-mini" in text
    assert "gpt-5-mini" not in text and "does not take" not in text  # no model left out a cell here
    assert "verdict" in text  # the recommendation was printed
    charts = [
        o
        for o in outputs
        if any("vegalite" in key for key in o.get("data", {})) or "vegaEmbed" in str(o.get("data", {}).get("text/html"))
    ]
    assert len(charts) >= 3, "the three charts render (Altair's Vega-Lite output)"
    assert os.environ.get("OPENAI_API_KEY") is None
