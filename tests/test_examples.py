"""The shipped example prompts in prompts/: each loads, pairs with a sample file, and fits it."""

from __future__ import annotations

import hashlib
from collections import Counter
from pathlib import Path

import pytest

from workbench.datasets import SampleSet, load_samples
from workbench.promptfile import PromptFile, load_prompt
from workbench.scoring import parse_label
from workbench.templating import render_messages

PROMPTS = Path(__file__).resolve().parent.parent / "prompts"
# Sample sets whose gold label is not in the default column `label`.
LABEL_COLUMNS = {"imdb_sentiment": "sentiment"}
EXPECTED = {"sentiment", "spam", "support_topic", "imdb_sentiment"}
MIN_ROWS = 30
MIN_PER_LABEL = 3
IMDB_SHA256 = "a76a7da3275637a1157e1188f21d067d21488f99495e1635ece1da0fc772cccc"

PROMPT_FILES = sorted(PROMPTS.glob("*.yaml"))


def sample_file(prompt_path: Path) -> Path:
    """The one sample file sharing the prompt file's stem (.csv or .jsonl)."""
    found = [p for p in (prompt_path.with_suffix(".csv"), prompt_path.with_suffix(".jsonl")) if p.exists()]
    assert len(found) == 1, f"{prompt_path.name}: expected exactly one matching .csv or .jsonl, found {found}"
    return found[0]


def load_pair(prompt_path: Path) -> tuple[PromptFile, SampleSet]:
    column = LABEL_COLUMNS.get(prompt_path.stem, "label")
    return load_prompt(prompt_path), load_samples(sample_file(prompt_path), label_column=column)


def test_the_expected_examples_ship() -> None:
    assert {p.stem for p in PROMPT_FILES} == EXPECTED


@pytest.mark.parametrize("path", PROMPT_FILES, ids=lambda p: p.stem)
def test_prompt_loads_and_is_named_for_its_file(path: Path) -> None:
    prompt = load_prompt(path)
    assert prompt.name == path.stem
    assert prompt.description
    assert prompt.variables
    assert 0 < prompt.params.get("max_tokens", 0) <= 10


@pytest.mark.parametrize("path", PROMPT_FILES, ids=lambda p: p.stem)
def test_system_message_names_every_label(path: Path) -> None:
    prompt = load_prompt(path)
    system = " ".join(m["content"] for m in prompt.messages if m["role"] == "system")
    missing = [label for label in prompt.labels if label not in system]
    assert not missing
    assert "exactly one" in system


@pytest.mark.parametrize("path", PROMPT_FILES, ids=lambda p: p.stem)
def test_samples_fit_the_prompt(path: Path) -> None:
    prompt, samples = load_pair(path)
    assert len(samples) >= MIN_ROWS
    assert set(samples.label_counts()) <= set(prompt.labels)
    assert set(prompt.variables) <= set(samples.variable_names)
    # every label is represented often enough to score it
    counts = Counter(s.label for s in samples.samples)
    assert {label: counts[label] for label in prompt.labels if counts[label] < MIN_PER_LABEL} == {}


@pytest.mark.parametrize("path", PROMPT_FILES, ids=lambda p: p.stem)
def test_every_sample_renders_without_empty_input(path: Path) -> None:
    prompt, samples = load_pair(path)
    for sample in samples.samples:
        render_messages(prompt.messages, sample.variables)
        assert any(sample.variables[name].strip() for name in prompt.variables), f"row {sample.row} is empty"


@pytest.mark.parametrize("path", PROMPT_FILES, ids=lambda p: p.stem)
def test_samples_have_no_duplicates(path: Path) -> None:
    _, samples = load_pair(path)
    keys = Counter(tuple(sorted(s.variables.items())) for s in samples.samples)
    assert [key for key, n in keys.items() if n > 1] == []


@pytest.mark.parametrize("path", PROMPT_FILES, ids=lambda p: p.stem)
def test_each_label_answer_parses_to_itself(path: Path) -> None:
    prompt = load_prompt(path)
    for label in prompt.labels:
        assert parse_label(label, prompt.labels) == label
        assert parse_label(f"{label.upper()}.", prompt.labels) == label


def test_support_topic_is_jsonl_with_two_variables() -> None:
    prompt, samples = load_pair(PROMPTS / "support_topic.yaml")
    assert sample_file(PROMPTS / "support_topic.yaml").suffix == ".jsonl"
    assert prompt.variables == ["subject", "body"]
    assert samples.columns == ("subject", "body", "label")


def test_imdb_copy_is_unmodified() -> None:
    data = (PROMPTS / "imdb_sentiment.csv").read_bytes()
    assert hashlib.sha256(data).hexdigest() == IMDB_SHA256
    samples = load_samples(PROMPTS / "imdb_sentiment.csv", label_column="sentiment")
    assert samples.columns == ("text", "sentiment")
    assert samples.label_counts() == {"negative": 52, "positive": 48}


def test_imdb_prompt_tells_which_label_column_to_use() -> None:
    assert "--label-column sentiment" in load_prompt(PROMPTS / "imdb_sentiment.yaml").description


def test_readme_lists_every_file() -> None:
    readme = (PROMPTS / "README.md").read_text(encoding="utf-8")
    files = sorted(p.name for p in PROMPTS.iterdir() if p.is_file() and p.name != "README.md")
    assert [name for name in files if f"`{name}`" not in readme] == []
    assert "MIT" in readme
    assert "examples/f-score" in readme
