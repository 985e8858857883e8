"""The example notebook runs end to end through the public API only, against the loopback server.

The notebook itself holds no test code and no ``sys.path`` edits: this test starts the stand-in
server and gives the kernel the environment a user would set (``OPENAI_BASE_URL``, ``OPENAI_API_KEY``,
``WORKBENCH_DATABASE_URL``), with the checkout on ``PYTHONPATH`` as ``pip install -e .`` would.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.fake_openai import FakeOpenAI, label_responder
from workbench.config import Settings
from workbench.pricing import Catalog

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "notebooks" / "compare_models.ipynb"
KEY = "sk-notebook-test-0123456789"


def test_the_notebook_uses_only_the_public_api():
    source = "\n".join("".join(cell["source"]) for cell in json.loads(NOTEBOOK.read_text())["cells"])
    assert "import workbench" in source and "workbench.open()" in source
    for internal in ("sys.path", "tests.", "workbench.service", "workbench.storage", "FakeOpenAI", "gpt-"):
        assert internal not in source, internal


def test_example_notebook_executes(tmp_path, monkeypatch):
    for name in list(__import__("os").environ):
        if name.startswith(("OPENAI_", "WORKBENCH_")):
            monkeypatch.delenv(name)
    with FakeOpenAI(
        api_keys={KEY}, latency=0.01, responder=label_responder(["positive", "negative", "neutral"])
    ) as fake:
        monkeypatch.setenv("OPENAI_BASE_URL", fake.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", KEY)
        monkeypatch.setenv("WORKBENCH_DATABASE_URL", f"sqlite:///{tmp_path / 'notebook.db'}")
        monkeypatch.setenv("PYTHONPATH", str(ROOT))
        notebook = nbformat.read(NOTEBOOK, as_version=4)
        client = nbclient.NotebookClient(
            notebook, timeout=180, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOK.parent)}}
        )
        client.execute()
        calls = fake.calls
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    text = "\n".join(
        str(o.get("data", {}).get("text/plain", ""))
        + str(o.get("data", {}).get("text/html", ""))
        + str(o.get("text", ""))
        for o in outputs
    )
    pair = Catalog.load(Settings.from_env({}).catalog_path).default_pair()
    assert pair and all(model in text for model in pair)  # the catalog's default pair, named nowhere in the notebook
    assert "<table" in text and "Recommended:" in text  # the run shows itself as HTML
    assert "verdict" in text  # the recommendation
    assert "def classify" in text  # the export
    charts = [
        o
        for o in outputs
        if any("vegalite" in key for key in o.get("data", {})) or "vegaEmbed" in str(o.get("data", {}).get("text/html"))
    ]
    assert len(charts) >= 3, "the three charts render (Altair's Vega-Lite output)"
    assert 0 < calls <= 24 * 2 * 2 * 2  # samples x models x temperatures x repeats, each paid once at most
