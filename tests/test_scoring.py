"""Output text -> label: normalisation and the "exactly one label" rule."""

from __future__ import annotations

import ast
import inspect
import sys

import pytest

from workbench import scoring
from workbench.scoring import UNPARSED, normalize, parse_label

SENTIMENT = ["positive", "negative", "neutral"]


@pytest.mark.parametrize(
    ("output", "expected"),
    [
        ("Positive.", "positive"),
        ("Label: negative", "negative"),
        (" NEUTRAL\n", "neutral"),
        ("positive", "positive"),
        ("**Negative**", "negative"),
        ("The sentiment is: neutral!", "neutral"),
        ("negative. negative.", "negative"),
        ("Positive, not negative", "positive"),
    ],
)
def test_one_label_parses(output, expected):
    assert parse_label(output, SENTIMENT) == expected


@pytest.mark.parametrize(
    "output", ["positive or negative", "", "   ", None, "I cannot tell", "positively", "not positive"]
)
def test_no_label_or_two_labels_is_unparsed(output):
    assert parse_label(output, SENTIMENT) == UNPARSED


def test_longer_label_wins_over_the_label_inside_it():
    labels = ["spam", "not spam"]
    assert parse_label("not spam", labels) == "not spam"
    assert parse_label("Not spam.", labels) == "not spam"
    assert parse_label("This message is not spam.", labels) == "not spam"
    assert parse_label("Verdict: spam", labels) == "spam"
    assert parse_label("spam", labels) == "spam"
    assert parse_label("SPAM!", labels) == "spam"
    assert parse_label("It is spam, not spam", labels) == UNPARSED


# Real answers of SmolLM2-135M-Instruct (the local model) to the IMDB prompt, with their reading.
SMALL_MODEL_ANSWERS = [
    ("This review is positive,", "positive"),
    ("The sentiment of the review is negative.", "negative"),
    ("The review is positive,", "positive"),
    ("A very positive review.", "positive"),
    ("- positive: this review", "positive"),
    ("The review is indeed positive, and I believe it contains a", "positive"),
    ("The review is a mix of positive and negative, with the", UNPARSED),
    ("This review contains a mix of positive and negative sentiment, with", UNPARSED),
    ("The Columbo series has been praised for its exceptional storytelling and", UNPARSED),
    ("The sentiment of this review", UNPARSED),
    ("7/10.", UNPARSED),
]


@pytest.mark.parametrize(("output", "expected"), SMALL_MODEL_ANSWERS)
def test_small_model_sentences_parse(output, expected):
    assert parse_label(output, ["positive", "negative"]) == expected


@pytest.mark.parametrize(
    ("output", "expected"),
    [
        ("The review is not negative, it is positive.", "positive"),
        ("Not negative. Positive!", "positive"),
        ("This isn't positive at all: negative", "negative"),
        ("It wasn't negative", UNPARSED),
        ("neither positive nor negative", UNPARSED),
        ("Never positive", UNPARSED),
    ],
)
def test_a_label_after_a_negation_does_not_count(output, expected):
    assert parse_label(output, ["positive", "negative"]) == expected


def test_negation_does_not_touch_labels_that_contain_it():
    assert parse_label("The answer is no", ["yes", "no"]) == "no"
    assert parse_label("This is not spam", ["spam", "not spam"]) == "not spam"
    assert parse_label("Not spam, not at all", ["spam", "not spam"]) == "not spam"


def test_label_returned_as_the_prompt_spells_it():
    assert parse_label("billing", ["Billing", "Technical support"]) == "Billing"
    assert parse_label("technical-support", ["Billing", "Technical support"]) == "Technical support"


def test_normalize():
    assert normalize("  Hello,   WORLD!\n") == "hello world"
    assert normalize("Ｐｏｓｉｔｉｖｅ") == "positive"  # NFKC folds full-width letters
    assert normalize("snake_case") == "snake case"


def test_module_is_stdlib_only_so_it_can_be_inlined():
    tree = ast.parse(inspect.getsource(scoring))
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            imported.add((node.module or "").split(".")[0])
    assert imported <= set(sys.stdlib_module_names)


def test_json_answers_are_read_by_their_values():
    labels = ["positive", "negative"]
    answer = '{"sentiment": "positive", "confidence": 8, "reasoning": "hardly negative"}'
    assert parse_label(answer, labels) == "positive"
    assert parse_label('```json\n{"sentiment": "Negative"}\n```', labels) == "negative"
    assert parse_label('{"a": "positive", "b": "negative"}', labels) == "unparsed"
    assert parse_label('{"reasoning": "positive vibes"}', labels) == "positive"  # falls back to the text rule
