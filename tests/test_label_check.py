"""Label sanity: free text picked as labels, one label spelt two ways, gold labels the prompt lacks."""

from __future__ import annotations

import pytest

from workbench.datasets import parse_samples
from workbench.errors import InputError
from workbench.label_check import label_warnings, looks_like_free_text, rows_text, spelling_variants, unknown_labels
from workbench.promptfile import parse_prompt
from workbench.sweep import check_compatible

PROMPT = """\
name: p
labels: [positive, negative]
messages:
  - role: user
    content: "{{text}}"
"""


def csv(rows: list[tuple[str, str]], header: str = "text,label") -> bytes:
    return (header + "\n" + "\n".join(f'"{t}","{label}"' for t, label in rows) + "\n").encode()


def test_a_free_text_column_is_not_labels() -> None:
    reviews = [(f"r{i}", f"review number {i}: a long and winding opinion about the film") for i in range(30)]
    samples = parse_samples(csv(reviews), "reviews.csv")
    reason = looks_like_free_text(samples)
    assert reason and "30 distinct values in 30 samples" in reason and "free text" in reason
    assert label_warnings(samples, ["positive", "negative"]) == [f"reviews.csv: {reason}"]  # said once, not per row


def test_a_few_short_labels_are_fine() -> None:
    samples = parse_samples(csv([(f"t{i}", ["positive", "negative"][i % 2]) for i in range(40)]), "ok.csv")
    assert looks_like_free_text(samples) is None
    assert label_warnings(samples, ["positive", "negative"]) == []


def test_one_label_spelt_two_ways_is_reported() -> None:
    rows = [("a", "Positive"), ("b", "positive"), ("c", "positive"), ("d", "negative")]
    samples = parse_samples(csv(rows), "mixed.csv")
    (line,) = spelling_variants(samples)
    assert "'Positive' (1 row) and 'positive' (2 rows)" in line
    assert any("written 2 ways" in w for w in label_warnings(samples))


def test_every_bad_row_is_named_up_to_a_cap() -> None:
    rows = [("a", "positive")] + [(f"b{i}", "neutral") for i in range(7)] + [("c", "Postive")]
    samples = parse_samples(csv(rows), "bad.csv")
    unknown = unknown_labels(samples, ["positive", "negative"])
    assert [s.row for s in unknown] == list(range(3, 11))
    assert rows_text(unknown) == (
        "row 3 'neutral', row 4 'neutral', row 5 'neutral', row 6 'neutral', row 7 'neutral' and 3 more"
    )
    with pytest.raises(InputError) as caught:
        check_compatible(parse_prompt(PROMPT), samples)
    message = str(caught.value)
    assert "8 gold label(s)" in message and "row 3 'neutral'" in message and "and 3 more" in message
    assert "\n" not in message
