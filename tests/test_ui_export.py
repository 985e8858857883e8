"""The Export screen with ``AppTest``: a seeded run's winner as code in every format, the prompt library,
and a promptfoo config imported from an upload. Uses the seeded database and loopback server of
:mod:`tests.test_ui_apptest`; nothing calls the real API and the key appears nowhere on the page."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from streamlit.testing.v1 import AppTest

from tests import test_ui_apptest as apptest
from tests.test_ui_apptest import ROOT, SERVER_KEY, rendered, says, shown, start, visit
from workbench import export
from workbench import prompts as library
from workbench.config import Settings
from workbench.metrics import cell_summaries
from workbench.service import Workbench
from workbench.storage import make_engine
from workbench.storage import repository as repo
from workbench.storage.results import results_frame
from workbench.winner import spec_for_cell, winner

LANGUAGES = {
    "python": "python",
    "typescript": "typescript",
    "curl": "bash",
    "json": "json",
    "promptfoo": "yaml",
    "pytest": "python",
}
# The seeded database and loopback server of the AppTest suite (pytest fixtures, requested by name).
server, seeded, env = apptest.server, apptest.seeded, apptest.env
FSCORE = ROOT / "tests" / "data" / "promptfoo" / "f-score"


@pytest.fixture
def truth(env: dict[str, object]) -> dict[str, object]:
    """The seeded run's cells, its winner and the winner's export spec, computed without the UI."""
    wb = Workbench.open(Settings(database_url=str(env["db_url"])))
    run_id = int(env["run_id"])
    cells = cell_summaries(*results_frame(wb.engine, run_id))
    best = winner(cells)
    spec, samples = spec_for_cell(wb, run_id, best)
    wb.engine.dispose()
    return {"cells": cells, "winner": best, "spec": spec, "samples": samples, "run_id": run_id}


def open_export(at: AppTest | None = None) -> AppTest:
    at = visit(at or start(), "export")
    assert at.title[0].value == "Export"
    assert not at.error, [e.value for e in at.error]
    return at


def code_of(at: AppTest) -> tuple[str, str]:
    """(language, text) of the export's code block: the first one on the page."""
    block = at.code[0]
    return block.proto.language, block.value.strip()  # st.code drops the final newline


def test_the_page_opens_on_the_latest_run_with_the_winner_preselected(
    env: dict[str, object], truth: dict[str, object]
) -> None:
    at = open_export()
    assert at.selectbox(key="export_run").value == truth["run_id"]
    cell = at.selectbox(key=f"export_cell_{truth['run_id']}")
    best = truth["winner"]
    assert cell.options[cell.index] == f"{best['model']} @ {best['temperature']:g} ★ winner"
    assert sum("★ winner" in option for option in cell.options) == 1 and len(cell.options) == 4
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Accuracy"] == f"{best['accuracy'] * 100:.1f}%"
    assert metrics["Samples × repeats"] == f"{best['samples']} × {best['repeats']}"  # samples, not calls
    assert metrics["p50 latency"].endswith(" ms")
    low, high = best["accuracy_ci95"]
    assert metrics["95% interval"] == f"{low * 100:.1f}–{high * 100:.1f}%"
    # the default format is Python: the same text the exporter writes for the winner
    language, text = code_of(at)
    assert (language, text) == ("python", export.render(truth["spec"], "python").strip())
    assert at.get("download_button")[0].proto.label == f"Download {export.filename(truth['spec'], 'python')}"
    assert SERVER_KEY not in rendered(at)


def test_every_format_renders_its_code_and_no_key(env: dict[str, object], truth: dict[str, object]) -> None:
    at = open_export()
    for fmt in export.FORMATS:
        at.radio(key="export_format").set_value(fmt).run()
        assert not at.exception and not at.error, (fmt, [e.value for e in at.error])
        language, text = code_of(at)
        assert language == LANGUAGES[fmt], fmt
        assert text == export.render(truth["spec"], fmt, samples=truth["samples"]).strip(), fmt
        assert SERVER_KEY not in text and "sk-" not in text, fmt
        assert SERVER_KEY not in rendered(at), fmt
        assert export.filename(truth["spec"], fmt) in at.get("download_button")[0].proto.label
    at.radio(key="export_format").set_value("python").run()
    _, text = code_of(at)
    assert "OPENAI_API_KEY" in text and truth["spec"].model in text


def test_pytest_margin_and_curl_values(env: dict[str, object], truth: dict[str, object]) -> None:
    at = open_export()
    at.radio(key="export_format").set_value("pytest").run()
    at.number_input(key="export_margin").set_value(10.0).run()
    _, text = code_of(at)
    assert text == export.render(truth["spec"], "pytest", samples=truth["samples"], margin=0.10).strip()
    at.radio(key="export_format").set_value("curl").run()
    at.checkbox(key="export_fill").check().run()
    _, text = code_of(at)
    first = truth["samples"].samples[0].variables
    assert text == export.render(truth["spec"], "curl", values=first).strip() and "{{" not in text


def test_promptfoo_can_include_several_cells(env: dict[str, object], truth: dict[str, object]) -> None:
    at = open_export()
    at.radio(key="export_format").set_value("promptfoo").run()
    picker = at.multiselect[0]
    assert len(picker.value) == 1  # the chosen cell
    picker.set_value(list(range(len(picker.options)))).run()
    assert not at.error, [e.value for e in at.error]
    _, text = code_of(at)
    config = yaml.safe_load(text)
    assert len(config["providers"]) == len(truth["cells"]) == 4
    assert len(config["tests"]) == len(truth["samples"])
    assert "gpt-4.1-mini @ 1: accuracy" in text  # every included cell's figures in the header
    picker.set_value([]).run()
    assert says(at.error, "choose at least one cell")


def test_save_to_prompts_writes_into_the_prompts_folder(
    env: dict[str, object], truth: dict[str, object], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "prompts"
    folder.mkdir()
    monkeypatch.setenv("WORKBENCH_PROMPTS_DIR", str(folder))
    at = open_export()
    spec = truth["spec"]
    key = f"export_save_name_{spec.prompt.content_hash[:12]}"
    assert at.text_input(key=key).value == spec.prompt.name
    at.text_input(key=key).input("shipped-sentiment").run()
    assert at.get("download_button")[-1].proto.label == "Download YAML"
    at.button(key="export_save_write").click().run()
    assert says(at.success, "Wrote prompts/shipped-sentiment.yaml")
    assert str(folder) not in rendered(at)  # the file's name, never the server's path
    saved = library.load("shipped-sentiment", folder)
    assert saved.file.messages == spec.prompt.messages and saved.labels == spec.prompt.labels
    # an existing file is replaced only after a confirmation
    at.text_input(key=key).input("shipped-sentiment").run()
    assert "export_save_write" not in [b.key for b in at.button]
    at.checkbox(key="export_overwrite").check().run()
    assert "export_save_write" in [b.key for b in at.button]
    # a name escaping the folder is refused
    at.text_input(key=key).input("../escaped").run()
    at.button(key="export_save_write").click().run()
    assert says(at.error, "must not contain")
    assert sorted(p.name for p in folder.iterdir()) == ["shipped-sentiment.yaml"]
    assert not (tmp_path / "escaped.yaml").exists()


def test_hosted_mode_offers_the_prompt_file_as_a_download(env: dict[str, object], monkeypatch) -> None:
    """With WORKBENCH_HOSTED set, the server's folder is not written: no write button, a download instead."""
    monkeypatch.setenv("WORKBENCH_HOSTED", "1")
    at = open_export()
    assert "export_save_write" not in [b.key for b in at.button]
    assert [b.proto.label for b in at.get("download_button")][-1] == "Download YAML"
    assert says(at.caption, "hosted")


def test_importing_the_f_score_promptfoo_config(env: dict[str, object]) -> None:
    at = open_export()
    at.file_uploader(key="ex_pf_config").set_value(
        ("promptfooconfig.yaml", (FSCORE / "promptfooconfig.yaml").read_bytes(), "application/yaml")
    ).run()
    assert says(at.error, "imdb_eval_sample.csv")  # the tests file it refers to is not uploaded yet
    at.file_uploader(key="ex_pf_files").set_value(
        [("imdb_eval_sample.csv", (FSCORE / "imdb_eval_sample.csv").read_bytes(), "text/csv")]
    ).run()
    assert not at.error, [e.value for e in at.error]
    page = "\n".join(shown(m) for m in at.markdown)
    assert "sentiment-analysis" in page and "labels positive, negative" in page and "variables text" in page
    assert "Samples:** 100, gold label in column **sentiment**" in page
    assert "gpt-4o-mini" in page and "repeats:** 1" in page
    assert says(at.warning, "derivedMetrics") and says(at.warning, "javascript")
    assert "promptfoo-upload-" not in rendered(at)  # the temporary folder is never shown
    at.button(key="ex_pf_store").click().run()
    assert says(at.success, "Stored 1 prompt version(s)")
    assert at.get("page_link"), "a link to the Sweep page"
    engine = make_engine(str(env["db_url"]))
    versions = repo.list_prompt_versions(engine)
    datasets = repo.list_datasets(engine)
    engine.dispose()
    assert "sentiment-analysis" in set(versions["name"])
    stored = datasets[datasets["rows"] == 100]  # the example library already holds these 100 reviews: reused
    assert len(stored) == 1 and says(at.success, f"sample set “{stored['name'].iloc[0]}” (#{stored['id'].iloc[0]})")
    assert at.session_state["sweep_prompt_ids"] == [
        int(versions[versions["name"] == "sentiment-analysis"]["id"].iloc[0])
    ]


@pytest.mark.parametrize(
    "prompt",
    [
        "\\x66ile:///proc/self/environ",  # a YAML escape: the raw text never says file://
        "\\x66ile://../../../../proc/self/cwd/.streamlit/secrets.toml",
        "file:///etc/hostname",
    ],
)
def test_an_uploaded_config_cannot_read_other_files_of_the_server(env: dict[str, object], prompt: str) -> None:
    config = f'prompts: ["{prompt}"]\nproviders: [openai:gpt-4.1-nano]\ntests: file://../../etc/x.csv\n'.encode()
    at = open_export()
    at.file_uploader(key="ex_pf_config").set_value(("promptfooconfig.yaml", config, "application/yaml")).run()
    assert says(at.error, "points outside the config's folder")
    assert "ex_pf_store" not in [b.key for b in at.button]
    page = rendered(at)
    assert "PATH=" not in page and SERVER_KEY not in page and "client_secret" not in page
    assert "promptfoo-upload-" not in page  # the temporary folder is never shown


def test_without_runs_the_page_explains_and_links_to_sweep(
    env: dict[str, object], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WORKBENCH_DATABASE_URL", f"sqlite:///{tmp_path / 'empty.db'}")
    at = open_export()
    assert says(at.info, "No runs yet")
    assert "Go to Sweep" in [link.proto.label for link in at.get("page_link")]
    assert not at.code


def test_a_failed_promptfoo_import_still_shows_what_would_not_translate(env: dict[str, object]) -> None:
    at = open_export()
    config = (ROOT / "tests" / "data" / "promptfoo" / "getting-started" / "promptfooconfig.yaml").read_bytes()
    at.file_uploader(key="ex_pf_config").set_value(("promptfooconfig.yaml", config, "application/yaml")).run()
    assert says(at.error, "no classification labels found")
    assert says(at.warning, "assertion icontains") and says(at.warning, "no gold label")
    assert "ex_pf_store" not in [b.key for b in at.button]


def test_promptfoo_cells_that_are_not_one_grid_are_listed_as_sweeps(env: dict[str, object]) -> None:
    at = open_export()
    config = (ROOT / "tests" / "data" / "promptfoo" / "provider-prompts" / "promptfooconfig.yaml").read_bytes()
    at.file_uploader(key="ex_pf_config").set_value(("promptfooconfig.yaml", config, "application/yaml")).run()
    assert not at.error, [e.value for e in at.error]
    page = "\n".join(shown(m) for m in at.markdown)
    assert "cells:** 4 (not one grid: 3 sweeps run exactly these cells)" in page
    assert "sweep 1: terse × gpt-4.1-nano @ 0" in page and "sweep 2: polite × gpt-4.1-mini @ 0.5" in page
