"""Shared fixtures: a loopback OpenAI-compatible server, settings pointed at it, and a CLI runner.

Nothing here talks to the real API: every test that makes calls starts its own ``FakeOpenAI`` on
127.0.0.1 and a SQLite file in ``tmp_path``. The key below is accepted by the fake server only.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pytest

from tests.support.fake_openai import FakeOpenAI
from workbench.config import Secret, Settings
from workbench.service import Workbench

ROOT = Path(__file__).resolve().parents[1]
TEST_KEY = "sk-test-not-real"
# The cell fields of the sweep JSON contract, in order, written out here rather than imported: the
# tests pin the contract, whatever the code's own list says.
SWEEP_CELL_CONTRACT = [
    "model",
    "reasoning_effort",  # null for cells sent without one (models that do not reason, or their default)
    "temperature",  # null for cells sent without one
    "n",
    "accuracy",
    "macro_f1",
    "unparsed",
    "errors",
    "prompt_tokens",
    "cached_tokens",
    "completion_tokens",
    "reasoning_tokens",  # part of completion_tokens, billed as output
    "cut_off",  # answers left empty because reasoning used the whole length cap
    "cost_usd",
    "latency_p50_ms",
    "latency_p95_ms",
]

PROMPT_YAML = """\
name: sentiment-test
description: A tiny sentiment prompt for tests.
labels: [positive, negative, neutral]
messages:
  - role: system
    content: Classify the sentiment of the review as positive, negative or neutral. Answer with the label only.
  - role: user
    content: "{{text}}"
"""

# Each text carries a distinctive marker the scripted responder can find.
SAMPLES_CSV = """\
text,label
"s01 I loved the soup, great service",positive
s02 Cold food and a rude waiter,negative
s03 It was a restaurant,neutral
"s04 Wonderful, would come again",positive
s05 Never again,negative
s06 Open on Sundays,neutral
"""


@pytest.fixture
def fake_server() -> Iterator[FakeOpenAI]:
    """A fresh fake OpenAI server per test that accepts only ``TEST_KEY``."""
    server = FakeOpenAI(api_keys={TEST_KEY})
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def quick_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """Retries back off for 20 ms instead of the runner's base (retry-after floors stay as sent)."""
    from workbench import runner

    monkeypatch.setattr(runner, "BACKOFF_BASE_S", 0.02)


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'workbench.db'}"


@pytest.fixture
def settings(fake_server: FakeOpenAI, db_url: str) -> Settings:
    """Settings pointed at the fake server, a temporary SQLite file, short timeouts and fast failure."""
    return Settings(
        api_key=Secret(TEST_KEY),
        base_url=fake_server.base_url,
        database_url=db_url,
        timeout=5.0,
        max_attempts=8,
    )


@pytest.fixture
def wb(settings: Settings) -> Iterator[Workbench]:
    bench = Workbench.open(settings)
    try:
        yield bench
    finally:
        bench.engine.dispose()


@pytest.fixture
def prompt_file(tmp_path: Path) -> Path:
    path = tmp_path / "sentiment.yaml"
    path.write_text(PROMPT_YAML, encoding="utf-8")
    return path


@pytest.fixture
def samples_file(tmp_path: Path) -> Path:
    path = tmp_path / "samples.csv"
    path.write_text(SAMPLES_CSV, encoding="utf-8")
    return path


def cli_env(base_url: str, db_url: str, key: str | None = TEST_KEY, **extra: str) -> dict[str, str]:
    """A clean environment for ``python -m workbench``: no inherited OpenAI or workbench settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "WORKBENCH_"))}
    env.update({"OPENAI_BASE_URL": base_url, "WORKBENCH_DATABASE_URL": db_url, "PYTHONPATH": str(ROOT)})
    env.setdefault("WORKBENCH_TIMEOUT", "5")
    if key is not None:
        env["OPENAI_API_KEY"] = key
    env.update(extra)
    return env


@pytest.fixture
def run_cli(fake_server: FakeOpenAI, db_url: str, tmp_path: Path) -> Callable[..., tuple[int, str, str]]:
    """``run_cli(args, env=None)`` runs ``python -m workbench *args`` and returns (code, stdout, stderr).

    The environment points at the fake server and the test's database; ``env`` entries override it
    (a value of ``None`` removes the variable).
    """

    def run(args: list[str], env: Mapping[str, str | None] | None = None, timeout: float = 60) -> tuple[int, str, str]:
        full = cli_env(fake_server.base_url, db_url)
        for name, value in (env or {}).items():
            if value is None:
                full.pop(name, None)
            else:
                full[name] = value
        done = subprocess.run(
            [sys.executable, "-m", "workbench", *map(str, args)],
            cwd=tmp_path,
            env=full,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        return done.returncode, done.stdout, done.stderr

    return run


# --------------------------------------------------------------------------- the truth, from the server's side

GOLD = {"s01": "positive", "s02": "negative", "s03": "neutral", "s04": "positive", "s05": "negative", "s06": "neutral"}
LABELS = ("positive", "negative", "neutral")


def nano_answers(body: Mapping[str, object], call_index: int) -> str:
    """Right, wrong and unparsable answers in the spellings a real model uses; mini is always right."""
    from tests.support.fake_openai import last_user_text

    marker = last_user_text(body)[:3]
    if body.get("model") != "gpt-4.1-nano":
        return GOLD[marker].capitalize() + "."
    return {
        "s01": "Positive.",
        "s02": "Label: negative",
        "s03": "positive",
        "s04": "positive or negative, hard to say",
        "s05": " NEGATIVE\n",
        "s06": "neutral",
    }[marker]


def truth_cells(
    billed: list[tuple[dict, dict, str]], labels: tuple[str, ...] = LABELS, gold: Mapping[str, str] = GOLD
) -> dict[tuple[str, float | None], dict[str, object]]:
    """Per (model, temperature): what the server answered and billed, scored and priced independently."""
    from decimal import Decimal

    from tests.support.fake_openai import last_user_text
    from workbench.pricing import Catalog, cost
    from workbench.scoring import UNPARSED, parse_label

    catalog = Catalog.load()
    cells: dict[tuple[str, float | None], dict[str, object]] = {}
    pairs: dict[tuple[str, float | None], list[tuple[str, str]]] = {}
    for body, usage, answer in billed:
        key = (body["model"], body.get("temperature"))
        cell = cells.setdefault(
            key,
            {"n": 0, "correct": 0, "unparsed": 0, "prompt_tokens": 0, "cached_tokens": 0, "completion_tokens": 0,
             "cost": Decimal(0)},
        )  # fmt: skip
        expected = gold[last_user_text(body)[:3]]
        predicted = parse_label(answer, labels)
        cached = usage["prompt_tokens_details"]["cached_tokens"]
        cell["n"] += 1
        cell["correct"] += predicted == expected
        cell["unparsed"] += predicted == UNPARSED
        cell["prompt_tokens"] += usage["prompt_tokens"]
        cell["cached_tokens"] += cached
        cell["completion_tokens"] += usage["completion_tokens"]
        cell["cost"] += cost(catalog.lookup(body["model"]), usage["prompt_tokens"], cached, usage["completion_tokens"])
        pairs.setdefault(key, []).append((expected, predicted))
    for key, cell in cells.items():
        cell["accuracy"] = cell["correct"] / cell["n"]
        f1s = []
        for label in labels:
            tp = sum(1 for g, p in pairs[key] if g == label and p == label)
            fp = sum(1 for g, p in pairs[key] if g != label and p == label)
            fn = sum(1 for g, p in pairs[key] if g == label and p != label)
            f1s.append(2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0)
        cell["macro_f1"] = sum(f1s) / len(f1s)
    return cells
