"""The command line contract, driven as a user (or another tool) drives it: ``python -m workbench``.

Every figure of ``sweep --json`` is checked against what the loopback server answered and billed;
every bad input must exit non-zero with one ``error:`` line on stderr and no traceback.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.conftest import PROMPT_YAML, SAMPLES_CSV, SWEEP_CELL_CONTRACT, TEST_KEY, cli_env, nano_answers, truth_cells
from tests.support.fake_openai import FakeOpenAI
from workbench import formatting as fmt
from workbench.cli import main

CELL_KEYS = set(SWEEP_CELL_CONTRACT)
SWEEP = ["--models", "gpt-4.1-nano,gpt-4.1-mini", "--temperatures", "0,0.7", "--repeats", "2"]
WRONG_KEY = "sk-wrong-key-abcdef123456"


def one_json_object(stdout: str) -> dict:
    """stdout holds exactly one JSON object (and nothing else)."""
    obj, end = json.JSONDecoder().raw_decode(stdout.strip())
    assert end == len(stdout.strip()), "more than one JSON value on stdout"
    assert isinstance(obj, dict)
    return obj


def contract(cells: list[dict]) -> list[dict]:
    return [{k: c[k] for k in CELL_KEYS} for c in cells]


def test_sweep_show_runs_estimate_and_rerun(run_cli, fake_server, prompt_file, samples_file):
    fake_server.responder = nano_answers
    fake_server.cached_tokens = lambda body, prompt_tokens: prompt_tokens // 4
    fake_server.fail_rate = 0.125
    fake_server.faults.extend(["429", "500", "429"])
    base = ["--prompt", prompt_file, "--dataset", samples_file, *SWEEP, "--json"]

    code, out, err = run_cli(["estimate", *base])
    assert code == 0, err
    est = one_json_object(out)
    assert fake_server.calls == 0
    assert est["calls"] == 2 * 2 * 6 * 2
    assert [m["model"] for m in est["models"]] == ["gpt-4.1-nano", "gpt-4.1-mini"]
    for m in est["models"]:
        assert {"model", "calls", "prompt_tokens", "est_completion_tokens", "est_cost_usd"} <= set(m)
        assert m["calls"] == 24 and m["est_cost_usd"] > 0
    assert est["est_total_usd"] == pytest.approx(sum(m["est_cost_usd"] for m in est["models"]), rel=1e-12)

    code, out, err = run_cli(["sweep", *base, "--concurrency", "4"])
    assert code == 0, err
    result = one_json_object(out)
    assert "Traceback" not in err
    billed = fake_server.billed()
    truth = truth_cells(billed)
    assert result["status"] == "completed"
    assert isinstance(result["run_id"], int)
    assert result["new_calls"] == len(billed) == 48
    total = sum(cell["cost"] for cell in truth.values())
    assert result["spent_usd"] == float(total)
    assert result["total_cost_usd"] == float(total)
    assert len(result["cells"]) == 4
    for cell in result["cells"]:
        assert set(cell) >= CELL_KEYS
        expected = truth[(cell["model"], cell["temperature"])]
        assert cell["n"] == expected["n"] == 12
        assert cell["accuracy"] == pytest.approx(expected["accuracy"], abs=1e-12)
        assert cell["macro_f1"] == pytest.approx(expected["macro_f1"], abs=1e-12)
        assert (cell["unparsed"], cell["errors"]) == (expected["unparsed"], 0)
        assert cell["prompt_tokens"] == expected["prompt_tokens"]
        assert cell["cached_tokens"] == expected["cached_tokens"] > 0
        assert cell["completion_tokens"] == expected["completion_tokens"]
        assert cell["cost_usd"] == float(expected["cost"])
        assert 0 < cell["latency_p50_ms"] <= cell["latency_p95_ms"]
    for m in est["models"]:  # the estimate's prompt tokens are what the server billed
        assert m["prompt_tokens"] == sum(u["prompt_tokens"] for b, u, _ in billed if b["model"] == m["model"])

    code, out, err = run_cli(["show", result["run_id"], "--json"])
    assert code == 0, err
    shown = one_json_object(out)
    assert shown["run_id"] == result["run_id"] and shown["status"] == "completed"
    assert shown["cells"] == result["cells"]
    assert shown["total_cost_usd"] == result["total_cost_usd"]

    calls_before = fake_server.calls
    code, out, err = run_cli(["-v", "sweep", *base])
    assert code == 0, err
    again = one_json_object(out)
    assert (again["new_calls"], again["spent_usd"], again["status"]) == (0, 0, "completed")
    assert fake_server.calls == calls_before
    assert contract(again["cells"]) == contract(result["cells"])
    assert again["total_cost_usd"] == result["total_cost_usd"]
    assert TEST_KEY not in out + err

    code, out, err = run_cli(["runs", "--json"])
    assert code == 0, err
    runs = one_json_object(out)["runs"]
    assert [r["id"] for r in runs] == [again["run_id"], result["run_id"]]
    assert runs[1]["status"] == "completed" and runs[1]["answered"] == 48


# --------------------------------------------------------------------------- bad input, in real subprocesses


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _write_inputs(root: Path) -> dict[str, Path]:
    files = {
        "prompt": PROMPT_YAML,
        "samples.csv": SAMPLES_CSV,
        "gold.csv": SAMPLES_CSV.replace("text,label", "text,gold"),
        "body.csv": SAMPLES_CSV.replace("text,label", "body,label"),
        "empty.csv": "",
        "broken.csv": 'text,label\ns01 fine,positive\n"s02 never closed,negative\ns03 x,neutral\n',
        "broken.yaml": "name: x\nlabels: [a, b\nmessages:\n  - role: user\n",
    }
    paths = {}
    for name, text in files.items():
        path = root / (name if "." in name else f"{name}.yaml")
        path.write_text(text, encoding="utf-8")
        paths[name] = path
    return paths


# name -> (argv with {placeholders}, env overrides, expected text in the error line, calls the server?)
BAD_INPUTS = {
    "missing label column": (["estimate", "--prompt", "{prompt}", "--dataset", "{gold.csv}"], {}, "no label column"),
    "unknown variable": (["sweep", "--prompt", "{prompt}", "--dataset", "{body.csv}"], {}, "{{text}}"),
    "empty file": (["sweep", "--prompt", "{prompt}", "--dataset", "{empty.csv}"], {}, "empty"),
    "broken CSV": (["sweep", "--prompt", "{prompt}", "--dataset", "{broken.csv}"], {}, "row 3"),
    "broken YAML": (["sweep", "--prompt", "{broken.yaml}", "--dataset", "{samples.csv}"], {}, "broken YAML at line"),
    "temperature 3": (
        ["sweep", "--prompt", "{prompt}", "--dataset", "{samples.csv}", "--temperatures", "0,3"],
        {},
        "temperature 3 is outside 0-2",
    ),
    "missing file": (["sweep", "--prompt", "{prompt}", "--dataset", "{root}/nope.csv"], {}, "no such sample file"),
    "wrong key": (
        ["sweep", "--prompt", "{prompt}", "--dataset", "{samples.csv}", "--json"],
        {"OPENAI_API_KEY": WRONG_KEY},
        "rejected the API key",
    ),
    "unreachable server": (
        ["sweep", "--prompt", "{prompt}", "--dataset", "{samples.csv}", "--json"],
        {"OPENAI_BASE_URL": "http://127.0.0.1:{dead_port}/v1"},
        "cannot connect",
    ),
    "unknown run id": (["show", "99"], {}, "no run 99"),
    "budget below the estimate": (
        ["sweep", "--prompt", "{prompt}", "--dataset", "{samples.csv}", "--max-cost", "0.000001", "--json", "--quiet"],
        {},
        "exceeds the budget",
    ),
}
CALLS_SERVER = {"wrong key", "unreachable server"}


@pytest.fixture(scope="module")
def bad_input_results(tmp_path_factory):
    """Run every bad-input case at once (each in its own process and database)."""
    root = tmp_path_factory.mktemp("bad-input")
    paths = _write_inputs(root)
    server = FakeOpenAI(api_keys={TEST_KEY})
    fill = {**{k: str(v) for k, v in paths.items()}, "root": str(root), "dead_port": str(_closed_port())}

    def filled(text: str) -> str:
        for key, value in fill.items():
            text = text.replace("{" + key + "}", value)
        return text

    def run(name: str) -> tuple[int, str, str]:
        argv, overrides, _ = BAD_INPUTS[name]
        args = [filled(a) for a in argv]
        if args[0] in ("sweep", "estimate"):
            args += ["--models", "gpt-4.1-nano"]
        db = root / f"{name.replace(' ', '-')}.db"
        env = cli_env(server.base_url, f"sqlite:///{db}", **{k: filled(v) for k, v in overrides.items()})
        done = subprocess.run(
            [sys.executable, "-m", "workbench", *args], env=env, cwd=root, capture_output=True, text=True, timeout=120
        )
        return done.returncode, done.stdout, done.stderr

    with ThreadPoolExecutor(max_workers=len(BAD_INPUTS)) as pool:
        results = dict(zip(BAD_INPUTS, pool.map(run, BAD_INPUTS), strict=True))
    yield results, server
    server.close()


@pytest.mark.parametrize("name", list(BAD_INPUTS))
def test_bad_input_exits_nonzero_with_one_error_line(bad_input_results, name):
    results, _ = bad_input_results
    code, out, err = results[name]
    assert code != 0
    assert "Traceback" not in err and "Traceback" not in out
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, err
    assert BAD_INPUTS[name][2] in errors[0]
    if name not in CALLS_SERVER:
        assert err.strip() == errors[0]  # nothing else on stderr
        assert out == ""
    else:
        result = one_json_object(out)  # --json still prints its one object, saying what happened
        assert result["status"] == "failed" and BAD_INPUTS[name][2] in result["error"]
    assert TEST_KEY not in out + err and WRONG_KEY not in out + err


def test_bad_input_made_no_calls_except_the_wrong_key(bad_input_results):
    _, server = bad_input_results
    requests = server.chat_requests()
    assert requests, "the wrong-key case should have reached the server"
    assert all(r["headers"]["authorization"] == f"Bearer {WRONG_KEY}" for r in requests)
    assert all(r["status"] == 401 for r in requests)
    assert len(requests) <= 8  # no retries: at most one 401 per in-flight worker (default concurrency 8)


# --------------------------------------------------------------------------- more bad input, in process (fast)


@pytest.fixture
def in_process(monkeypatch, fake_server, db_url, capsys):
    """``main(argv)`` with the same environment as ``run_cli``; returns (code, stdout, stderr)."""
    for name, value in cli_env(fake_server.base_url, db_url).items():
        if name.startswith(("OPENAI_", "WORKBENCH_")):
            monkeypatch.setenv(name, value)

    def run(args: list[str]) -> tuple[int, str, str]:
        capsys.readouterr()
        code = main([str(a) for a in args])
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run


@pytest.mark.parametrize(
    ("dataset", "needle"),
    [
        ("text,label\n", "no samples"),
        ("text,label\ns01 x,positive\ns02 y,angry\n", "row 3 'angry'"),
        ("text,label\ns01 x,positive\ns02 a,b,negative\n", "row 3: 3 fields"),
    ],
)
def test_more_bad_samples(in_process, tmp_path, prompt_file, dataset, needle):
    path = tmp_path / "d.csv"
    path.write_text(dataset)
    code, out, err = in_process(["sweep", "--prompt", prompt_file, "--dataset", path, "--models", "gpt-4.1-nano"])
    assert code != 0 and out == ""
    assert err.count("\n") == 1 and err.startswith("error:") and needle in err


def test_label_column_option_and_human_output(in_process, tmp_path, prompt_file, samples_file):
    data = tmp_path / "gold.csv"
    data.write_text(SAMPLES_CSV.replace("text,label", "text,gold"))
    args = ["estimate", "--prompt", prompt_file, "--dataset", data, "--models", "gpt-4.1-nano"]
    code, _, err = in_process(args)
    assert code != 0 and "--label-column" in err
    code, out, err = in_process([*args, "--label-column", "gold"])
    assert code == 0 and out == ""
    assert "6 calls" in err and "prompt tokens" in err
    code, out, err = in_process(
        ["sweep", "--prompt", prompt_file, "--dataset", samples_file, "--models", "gpt-4.1-nano"]
    )
    assert code == 0
    assert "run 1: completed" in out and "gpt-4.1-nano" in out and "accuracy" in out
    code, out, _ = in_process(["show", "1"])
    assert code == 0 and "run 1: completed" in out
    code, out, _ = in_process(["runs"])
    assert code == 0 and "completed" in out and "6/6 answered" in out


def test_non_utf8_samples(in_process, tmp_path, prompt_file):
    path = tmp_path / "latin1.csv"
    path.write_bytes("text,label\ns01 caf\xe9,positive\n".encode("latin-1"))
    code, _, err = in_process(["estimate", "--prompt", prompt_file, "--dataset", path, "--models", "gpt-4.1-nano"])
    assert code != 0 and err.startswith("error:") and "line 2" in err and "UTF-8" in err


def test_missing_prompt_file(in_process, tmp_path, samples_file):
    code, _, err = in_process(
        ["estimate", "--prompt", tmp_path / "no.yaml", "--dataset", samples_file, "--models", "m"]
    )
    assert code != 0 and "no such prompt file" in err and err.count("\n") == 1


def test_bad_database_url(in_process, monkeypatch, prompt_file, samples_file):
    monkeypatch.setenv("WORKBENCH_DATABASE_URL", "definitely not a url")
    code, _, err = in_process(["runs"])
    assert code != 0 and "not a database URL" in err and err.count("\n") == 1


@pytest.mark.parametrize(
    ("name", "value", "needle"),
    [
        ("WORKBENCH_TIMEOUT", "soon", "WORKBENCH_TIMEOUT must be a number"),
        ("WORKBENCH_TIMEOUT", "0", "WORKBENCH_TIMEOUT must be more than 0"),
        ("WORKBENCH_MAX_ATTEMPTS", "2.5", "WORKBENCH_MAX_ATTEMPTS must be a whole number"),
    ],
)
def test_bad_settings_in_the_environment(in_process, monkeypatch, name, value, needle):
    monkeypatch.setenv(name, value)
    code, out, err = in_process(["runs"])
    assert code != 0 and out == ""
    assert err.startswith("error:") and needle in err and err.count("\n") == 1


def test_unknown_model_stops_with_a_clear_message(in_process, fake_server, prompt_file, samples_file):
    args = ["sweep", "--prompt", prompt_file, "--dataset", samples_file, "--models", "gpt-4.1-nano-2020-01-01,gpt-0"]
    code, out, err = in_process([*args, "--json", "--quiet"])
    assert code != 0
    result = one_json_object(out)
    assert result["status"] == "failed" and "'gpt-0' is not available" in result["error"]
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "gpt-0" in errors[0]
    by_model = {c["model"]: c for c in result["cells"]}
    assert by_model["gpt-4.1-nano-2020-01-01"]["n"] == 6  # the snapshot id resolves and its cells complete
    assert by_model["gpt-0"]["errors"] == 6 and by_model["gpt-0"]["n"] == 0
    assert sum(1 for r in fake_server.chat_requests() if r["status"] == 404) <= 8


def test_argument_errors_are_not_tracebacks(in_process, prompt_file, samples_file):
    with pytest.raises(SystemExit) as info:
        in_process(["sweep", "--prompt", prompt_file, "--dataset", samples_file, "--models", "m", "--repeats", "0"])
    assert info.value.code != 0


def test_report_target_and_volume(in_process, prompt_file, samples_file):
    sweep = ["sweep", "--prompt", prompt_file, "--dataset", samples_file, "--models", "gpt-4.1-nano"]
    code, _, err = in_process([*sweep, "--repeats", "2"])
    assert code == 0, err
    code, out, err = in_process(["report", "1", "--target", "0.5", "--volume", "20000", "--json"])
    assert code == 0, err
    report = one_json_object(out)
    assert report["target"] == 0.5 and report["volume_per_month"] == 20000
    cell = report["cells"][0]
    assert (cell["samples"], cell["repeats"], cell["n"]) == (6, 2, 12)
    low, high = cell["accuracy_ci95"]
    assert cell["meets_target"] == ("yes" if low >= 0.5 else "no" if high < 0.5 else "unclear")
    assert cell["cost_per_month_usd"] == pytest.approx(cell["cost_per_1k_usd"] * 20)
    assert report["recommendation"]["summary"].endswith(".")
    code, out, err = in_process(["report", "1", "--target", "0.5", "--volume", "20000"])
    assert code == 0, err
    assert "samples × 2 repeats; intervals count samples" in out
    assert "target?" in out and "cost/month" in out and "recommendation: " in out
    assert "is the best" not in out and "e-" not in out  # full sentences, no scientific notation
    for bad, needle in [("1.5", "--target must be between 0 and 1"), ("90", "did you mean 0.9?"), ("nan", "--target")]:
        code, out, err = in_process(["report", "1", "--target", bad])
        assert code == 2 and out == "" and err.count("\n") == 1 and needle in err, err
    code, out, err = in_process(["report", "1", "--volume", "-5"])
    assert code == 2 and "--volume" in err and err.count("\n") == 1


def test_runs_show_paid_apart_from_reused(in_process, fake_server, prompt_file, samples_file):
    """A 0-call identical re-run paid $0 and reused what the first run paid: runs, runs --json and show agree."""
    sweep = ["sweep", "--prompt", prompt_file, "--dataset", samples_file, "--models", "gpt-4.1-nano", "--json"]
    code, out, err = in_process(sweep)
    assert code == 0, err
    first = one_json_object(out)
    calls = fake_server.calls
    code, out, err = in_process(sweep)
    assert code == 0, err
    again = one_json_object(out)
    assert fake_server.calls == calls and again["new_calls"] == 0
    assert again["spent_usd"] == 0 and again["reused_usd"] == pytest.approx(first["spent_usd"])
    assert first["reused_usd"] == 0 and first["spent_usd"] > 0
    assert first["spent_usd"] == pytest.approx(first["total_cost_usd"])
    code, out, err = in_process(["runs", "--json"])
    runs = {r["id"]: r for r in one_json_object(out)["runs"]}
    assert runs[again["run_id"]]["spent_usd"] == 0
    assert runs[again["run_id"]]["reused_usd"] == pytest.approx(first["spent_usd"])
    assert runs[first["run_id"]]["spent_usd"] == pytest.approx(first["spent_usd"])
    assert runs[first["run_id"]]["reused_usd"] == 0
    for run_id, paid in [(first["run_id"], first["spent_usd"]), (again["run_id"], 0.0)]:
        code, out, err = in_process(["show", run_id, "--json"])
        shown = one_json_object(out)
        assert shown["spent_usd"] == pytest.approx(paid) and shown["reused_usd"] == runs[run_id]["reused_usd"]
    code, out, err = in_process(["show", again["run_id"]])
    assert f"paid $0 · reused answers worth {fmt.money(first['spent_usd'])}" in out
    code, out, err = in_process(["runs"])
    assert f"paid $0, reused {fmt.money(first['spent_usd'])}" in out


def test_a_sweep_process_collects_garbage_again_once_its_calls_start() -> None:
    """``python -m workbench sweep`` starts with the collector off (start-up frees nothing) and must turn
    it back on when the calls start, or a long sweep would never free a reference cycle."""
    import gc

    from workbench.cli.common import calls_starting

    was = gc.isenabled()
    try:
        gc.disable()
        calls_starting()
        assert gc.isenabled()
        calls_starting()  # already on (a sweep run in-process, a notebook): nothing changes
        assert gc.isenabled()
    finally:
        gc.unfreeze()
        if not was:
            gc.disable()


def test_a_quiet_sweep_imports_neither_the_sdk_nor_the_tokenizer(fake_server, db_url, prompt_file, samples_file):
    """What makes a sweep as fast as a bare client (benchmarks/bench_sweep.py): its calls need neither the
    openai SDK (~0.5 s to import) nor tiktoken's table (~0.4 s to load) when nothing prints or caps the
    estimate. A structural guard, not a timing: ``-X importtime`` lists every module the process imported."""
    sweep = ["sweep", "--prompt", str(prompt_file), "--dataset", str(samples_file), "--models", "gpt-4.1-mini"]
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "workbench", *sweep, "--quiet", "--json"],
        env=cli_env(fake_server.base_url, db_url),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert one_json_object(done.stdout)["status"] == "completed"
    imported = {line.split("|")[-1].strip() for line in done.stderr.splitlines() if line.startswith("import time:")}
    assert "pandas" in imported  # the summary's, loaded while the calls ran: the listing is complete
    # tiktoken's module is small; its o200k table loads with tiktoken_ext.openai_public (the estimate's)
    assert not {"openai", "httpx", "httpx2", "tiktoken_ext.openai_public"} & imported
