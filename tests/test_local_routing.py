"""Local models without llama.cpp: which names are local, where their calls go, defaults and refusals.

A loopback :class:`FakeOpenAI` stands in for an already running local server (Ollama, vLLM) named by
``WORKBENCH_LOCAL_BASE_URL``; the real llama.cpp server is exercised in ``test_local_model.py``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

from tests.conftest import PROMPT_YAML, SAMPLES_CSV, TEST_KEY
from tests.support.fake_openai import FakeOpenAI
from workbench import local as local_mod
from workbench.cli import main as cli_main
from workbench.config import Secret, Settings
from workbench.datasets import parse_samples
from workbench.errors import InputError, RequestError
from workbench.local import BUNDLED_MODEL, LocalModel, local_models, runnable
from workbench.pricing import Catalog
from workbench.promptfile import parse_prompt
from workbench.providers.local import DEFAULT_MAX_TOKENS, LocalProvider
from workbench.providers.openai_compat import classify
from workbench.service import Workbench
from workbench.storage import repository as repo

ROOT = Path(__file__).resolve().parents[1]

try:
    import httpx2 as http
except ImportError:  # pragma: no cover
    import httpx as http


@pytest.fixture
def no_bundle(monkeypatch: pytest.MonkeyPatch) -> None:
    """As on a machine without requirements-local.txt."""
    monkeypatch.setattr(local_mod, "bundled_gguf", lambda: None)


@pytest.fixture
def installed(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """As on a machine with requirements-local.txt (a stand-in file; nothing is started here)."""
    gguf = tmp_path / local_mod.BUNDLED_FILE
    gguf.write_bytes(b"GGUF")
    monkeypatch.setattr(local_mod, "bundled_gguf", lambda: gguf)
    monkeypatch.setattr(local_mod, "llama_server_installed", lambda: True)
    return gguf


@pytest.fixture
def local_server() -> Iterator[FakeOpenAI]:
    """An OpenAI-compatible server standing in for Ollama: any key, a model of its own."""
    with FakeOpenAI(models=["tiny-local", BUNDLED_MODEL], responder=lambda body, i: "Positive.") as fake:
        yield fake


def no_key(tmp_path: Path, **extra: object) -> Settings:
    return Settings(database_url=f"sqlite:///{tmp_path / 'w.db'}", timeout=5.0, **extra)


# --- which names are local, and what answers them ---------------------------------------------------------


def test_the_catalog_marks_smollm2_local_and_free() -> None:
    info = Catalog.load().lookup(BUNDLED_MODEL)
    assert info is not None and info.local and info.temperature
    assert (info.input, info.cached_input, info.output) == (0, 0, 0)
    assert info.as_of and info.source
    assert not Catalog.load().lookup("gpt-4.1-nano").local


def test_settings_read_the_local_variables(tmp_path: Path) -> None:
    settings = Settings.from_env(
        {
            "WORKBENCH_LOCAL_GGUF": str(tmp_path / "qwen2.5-0.5b-instruct.gguf"),
            "WORKBENCH_LOCAL_BASE_URL": "http://127.0.0.1:11434/v1/",
            "WORKBENCH_LOCAL_MODELS": "llama3.2:1b, qwen2.5:0.5b,",
        }
    )
    assert settings.local_gguf == tmp_path / "qwen2.5-0.5b-instruct.gguf"
    assert settings.local_base_url == "http://127.0.0.1:11434/v1"
    assert settings.local_models == ("llama3.2:1b", "qwen2.5:0.5b")
    assert not settings.remote_configured
    assert Settings.from_env({"OPENAI_API_KEY": "sk-x"}).remote_configured
    assert Settings.from_env({"OPENAI_BASE_URL": "http://127.0.0.1:8000/v1"}).remote_configured  # vLLM, no key


def test_what_answers_each_local_model(tmp_path: Path, installed: Path) -> None:
    catalog = Catalog.load()
    bundled = local_models(Settings(), catalog)
    assert bundled == {BUNDLED_MODEL: LocalModel(BUNDLED_MODEL, gguf=installed)}
    assert bundled[BUNDLED_MODEL].endpoint == "llama.cpp:SmolLM2-135M-Instruct.Q4_1.gguf"

    other = tmp_path / "qwen2.5-0.5b-instruct-q4_k_m.gguf"
    with_file = local_models(Settings(local_gguf=other), catalog)
    assert with_file["qwen2.5-0.5b-instruct-q4_k_m"] == LocalModel("qwen2.5-0.5b-instruct-q4_k_m", gguf=other)
    assert with_file[BUNDLED_MODEL].gguf == installed
    assert "no such GGUF file" in with_file["qwen2.5-0.5b-instruct-q4_k_m"].problem()

    ollama = Settings(local_base_url="http://127.0.0.1:11434/v1", local_models=("llama3.2:1b",))
    routed = local_models(ollama, catalog)
    assert routed["llama3.2:1b"].base_url == "http://127.0.0.1:11434/v1" and routed["llama3.2:1b"].problem() is None
    assert routed[BUNDLED_MODEL].gguf == installed  # not named: still the bundled file
    everything = local_models(Settings(local_base_url="http://127.0.0.1:8080/v1"), catalog)
    assert everything[BUNDLED_MODEL].base_url == "http://127.0.0.1:8080/v1"  # no names: every local model


def test_missing_pieces_are_named(no_bundle: None) -> None:
    models = local_models(Settings(local_models=("llama3.2:1b",)), Catalog.load())
    assert "pip install --no-cache-dir -r requirements-local.txt" in models[BUNDLED_MODEL].problem()
    assert "WORKBENCH_LOCAL_BASE_URL" in models["llama3.2:1b"].problem()
    assert runnable(models) == []


# --- defaults and refusals -------------------------------------------------------------------------------


def test_defaults_follow_the_key(tmp_path: Path, installed: Path) -> None:
    assert Workbench.open(no_key(tmp_path, api_key=Secret("sk-x"))).default_models() == (
        ["gpt-6-luna", "gpt-6-sol"],
        None,
    )
    models, note = Workbench.open(no_key(tmp_path)).default_models()
    assert models == [BUNDLED_MODEL]
    assert "no OPENAI_API_KEY: using the local model smollm2-135m" in note


def test_with_neither_a_key_nor_the_local_model_both_ways_are_explained(tmp_path: Path, no_bundle: None) -> None:
    wb = Workbench.open(no_key(tmp_path))
    with pytest.raises(InputError) as caught:
        wb.default_models()
    assert "OPENAI_API_KEY" in str(caught.value) and "pip install --no-cache-dir -r requirements-local.txt" in str(
        caught.value
    )
    with pytest.raises(InputError, match=r"gpt-4\.1-nano needs OPENAI_API_KEY, which is not set"):
        wb.check_runnable(["gpt-4.1-nano"])
    with pytest.raises(
        InputError, match=r"smollm2-135m is not installed: pip install --no-cache-dir -r requirements-local\.txt"
    ):
        wb.check_runnable([BUNDLED_MODEL])


def test_the_cli_refuses_with_both_ways_before_any_call(
    tmp_path: Path, no_bundle: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "p.yaml").write_text(PROMPT_YAML, encoding="utf-8")
    (tmp_path / "s.csv").write_text(SAMPLES_CSV, encoding="utf-8")
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "WORKBENCH_LOCAL_BASE_URL", "WORKBENCH_LOCAL_GGUF"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("WORKBENCH_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    base = ["sweep", "--prompt", str(tmp_path / "p.yaml"), "--dataset", str(tmp_path / "s.csv"), "--quiet"]
    assert cli_main(base) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "OPENAI_API_KEY" in err[0] and "requirements-local.txt" in err[0]
    assert cli_main([*base, "--models", "gpt-4.1-mini"]) == 2
    assert "gpt-4.1-mini needs OPENAI_API_KEY" in capsys.readouterr().err
    assert repo.list_runs(Workbench.open(Settings.from_env()).engine).empty  # refused before a run was made


# --- where the calls go ----------------------------------------------------------------------------------


def test_one_sweep_sends_local_and_openai_models_to_their_own_servers(
    tmp_path: Path, fake_server: FakeOpenAI, local_server: FakeOpenAI
) -> None:
    settings = Settings(
        api_key=Secret(TEST_KEY),
        base_url=fake_server.base_url,
        database_url=f"sqlite:///{tmp_path / 'mixed.db'}",
        timeout=5.0,
        local_base_url=local_server.base_url,
        local_models=("tiny-local",),
    )
    wb = Workbench.open(settings)
    samples = parse_samples(SAMPLES_CSV.encode(), "reviews.csv")
    plan = wb.plan([parse_prompt(PROMPT_YAML)], samples, ["tiny-local", "gpt-4.1-nano"], [0.0])
    assert plan.endpoint("tiny-local") == local_server.base_url
    assert plan.describe()["endpoints"] == {"tiny-local": local_server.base_url}
    run = wb.start(plan)
    outcome = wb.execute(run, plan)
    assert outcome.status == "completed", outcome.error
    assert {r["body"]["model"] for r in local_server.chat_requests()} == {"tiny-local"}
    assert {r["body"]["model"] for r in fake_server.chat_requests()} == {"gpt-4.1-nano"}
    # the OpenAI key never goes to the local server
    assert all(TEST_KEY not in json.dumps(r["headers"]) for r in local_server.requests)
    summary = wb.summary(run.id)
    costs = {c["model"]: c["cost_usd"] for c in summary["cells"]}
    assert costs["tiny-local"] == 0.0 and costs["gpt-4.1-nano"] > 0
    assert summary["endpoints"] == {"tiny-local": local_server.base_url}
    assert summary["base_url"] == fake_server.base_url


def test_a_local_models_reuse_key_does_not_depend_on_the_port(tmp_path: Path, installed: Path) -> None:
    wb = Workbench.open(no_key(tmp_path))
    samples = parse_samples(SAMPLES_CSV.encode(), "reviews.csv")
    first = wb.plan([parse_prompt(PROMPT_YAML)], samples, [BUNDLED_MODEL], [0.0])
    again = wb.plan([parse_prompt(PROMPT_YAML)], samples, [BUNDLED_MODEL], [0.0])
    assert [c.key for c in first.calls()] == [c.key for c in again.calls()]
    assert {c.endpoint for c in first.calls()} == {"llama.cpp:SmolLM2-135M-Instruct.Q4_1.gguf"}
    remote = wb.plan([parse_prompt(PROMPT_YAML)], samples, ["gpt-6-luna"], [0.0])
    assert "endpoints" not in remote.describe()  # plans without local models hash as they always did


def test_requests_are_adapted_for_the_llama_cpp_server(tmp_path: Path, local_server: FakeOpenAI) -> None:
    managed = LocalModel(BUNDLED_MODEL, gguf=tmp_path / "m.gguf")
    provider = LocalProvider(managed, local_server.base_url, Settings(api_key=Secret("sk-never-sent"), timeout=5.0))
    schema = {"type": "object", "properties": {"label": {"enum": ["positive", "negative"]}}}
    body = {
        "model": BUNDLED_MODEL,
        "messages": [{"role": "user", "content": "hi"}],
        "response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": schema}},
    }
    provider.complete(body)
    provider.complete({**body, "response_format": None, "max_completion_tokens": 7})
    first, second = (r["body"] for r in local_server.chat_requests())
    assert first["response_format"] == {"type": "json_object", "schema": schema}
    assert first["max_tokens"] == DEFAULT_MAX_TOKENS
    assert second["max_tokens"] == 7 and "max_completion_tokens" not in second
    assert body["response_format"]["type"] == "json_schema"  # the stored request is the prompt's own
    assert all("sk-never-sent" not in json.dumps(r["headers"]) for r in local_server.requests)
    # A server the workbench did not start gets the body as it is.
    named = LocalProvider(LocalModel("tiny-local", base_url=local_server.base_url), local_server.base_url, Settings())
    named.complete(body)
    assert local_server.chat_requests()[-1]["body"]["response_format"]["type"] == "json_schema"


def test_a_request_the_server_cannot_parse_is_not_retried() -> None:
    request = http.Request("POST", "http://127.0.0.1:1/v1/chat/completions")
    body = {"error": {"message": "1 validation error:\n  {'type': 'literal_error'}", "type": "internal_server_error"}}
    exc = openai.InternalServerError("Error code: 500", response=http.Response(500, request=request), body=body)
    error = classify(exc, BUNDLED_MODEL, "http://127.0.0.1:1/v1")
    assert isinstance(error, RequestError) and "validation error" in str(error)


def test_the_app_explains_both_ways_to_get_a_model(
    tmp_path: Path, no_bundle: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from streamlit.testing.v1 import AppTest

    for name in [n for n in os.environ if n.startswith(("OPENAI_", "WORKBENCH_"))]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("WORKBENCH_DATABASE_URL", f"sqlite:///{tmp_path / 'ui.db'}")
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.run()
    assert not at.exception
    (warning,) = [w.value for w in at.warning if "No model to call yet" in w.value]
    assert "OPENAI_API_KEY" in warning and "pip install --no-cache-dir -r requirements-local.txt" in warning
    assert any("is not installed" in c.value for c in at.sidebar.caption)
    at.switch_page("pages/sweep.py").run()
    assert not at.exception
    assert at.multiselect(key="sweep_models").value == []  # nothing to preselect


def test_a_model_named_in_settings_is_the_default_before_the_bundled_one(tmp_path: Path, installed: Path) -> None:
    other = tmp_path / "qwen2.5-0.5b-instruct.gguf"
    other.write_bytes(b"GGUF")
    models, note = Workbench.open(no_key(tmp_path, local_gguf=other)).default_models()
    assert models == ["qwen2.5-0.5b-instruct"] and "qwen2.5-0.5b-instruct" in note
    ollama = no_key(tmp_path, local_base_url="http://127.0.0.1:11434/v1", local_models=("llama3.2:1b",))
    assert Workbench.open(ollama).default_models()[0] == ["llama3.2:1b"]


def test_a_stream_cut_short_is_retried_and_a_free_model_without_usage_costs_0(tmp_path: Path) -> None:
    """llama.cpp ends a stream early when another request arrives, and streams carry no usage."""
    with FakeOpenAI(models=["tiny-local"], faults=["cut"], stream_usage=False) as server:
        wb = Workbench.open(
            no_key(tmp_path, local_base_url=server.base_url, local_models=("tiny-local",), max_attempts=3)
        )
        samples = parse_samples(SAMPLES_CSV.encode(), "reviews.csv")
        plan = wb.plan([parse_prompt(PROMPT_YAML)], samples, ["tiny-local"], [0.0])
        outcome = wb.execute(wb.start(plan), plan, stream=True, concurrency=1)
        assert outcome.status == "completed", outcome.error
        assert server.calls == 7  # the cut stream was sent again, not stored
        (cell,) = wb.summary(outcome.run_id)["cells"]
        assert cell["n"] == 6 and cell["errors"] == 0
        assert cell["prompt_tokens"] == 0  # unknown: the server reported none...
        assert cell["cost_usd"] == 0.0  # ...but a free model costs a known $0
