"""Is the label column really labels? Warnings and row lists for gold labels, in one place.

A sample set whose "label" column is free text (a review picked as the label column) parses fine and
would be drawn as a hundred one-sample labels; two spellings of one label ("Positive", "positive")
are scored as one but counted as two. These are warnings, shown where a sample set is loaded or
checked against a prompt (CLI ``estimate``/``sweep``, the Samples and Prompts pages). Gold labels
that are not the prompt's are an error (:func:`workbench.sweep.check_compatible`), which counts every
such row and names the first few (:data:`workbench.datasets.ROW_CAP`).
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from collections.abc import Sequence

from workbench.datasets import Sample, SampleSet, capped, where
from workbench.scoring import normalize

MANY_LABELS = 50  # more distinct labels than this is not a classification
FREE_TEXT_SHARE = 0.5  # nor is a column where most samples have a label of their own
LONG_LABEL = 40  # characters: a typical label longer than this is a sentence


def rows_text(samples: Sequence[Sample]) -> str:
    """``row 3 'Postive', row 7 'neutral' and 4 more``: every row counted, the first few named."""
    return capped([f"{where(s)} {s.label!r}" for s in samples])


def unknown_labels(samples: SampleSet, labels: Sequence[str]) -> list[Sample]:
    """The samples whose gold label is none of ``labels`` (compared as the label parser compares)."""
    forms = {normalize(label) for label in labels}
    return [s for s in samples.samples if normalize(s.label) not in forms]


def looks_like_free_text(samples: SampleSet) -> str | None:
    """Why the label column looks like free text rather than labels, or None."""
    counts = Counter(s.label for s in samples.samples)
    n, distinct = len(samples), len(counts)
    typical = statistics.median(len(label) for label in counts.elements()) if n else 0
    many = distinct > MANY_LABELS or (n >= 10 and distinct > FREE_TEXT_SHARE * n)
    if not many and typical <= LONG_LABEL:
        return None
    return (
        f"column {samples.label_column!r} looks like free text, not labels: {distinct:,} distinct values in "
        f"{n:,} samples, typically {typical:,.0f} characters long; choose the column that holds the gold labels"
    )


def spelling_variants(samples: SampleSet) -> list[str]:
    """One line per label written more than one way (case, spacing, punctuation)."""
    counts = Counter(s.label for s in samples.samples)
    groups: dict[str, list[str]] = defaultdict(list)
    for label in counts:
        groups[normalize(label)].append(label)
    lines = []
    for spellings in groups.values():
        if len(spellings) > 1:
            listed = " and ".join(
                f"{label!r} ({counts[label]:,} row{'s' if counts[label] != 1 else ''})" for label in spellings
            )
            lines.append(
                f"{listed} are one label written {len(spellings)} ways: scoring counts them as one, label counts "
                "and stratified samples as different labels; use one spelling in the file"
            )
    return lines


def label_warnings(samples: SampleSet, labels: Sequence[str] | None = None) -> list[str]:
    """Everything suspicious about the gold labels (with ``labels``, the prompt's: which rows are not)."""
    found = []
    free = looks_like_free_text(samples)
    if free:
        found.append(f"{samples.name}: {free}")
    found.extend(f"{samples.name}: {line}" for line in spelling_variants(samples))
    if labels is not None and not free:
        unknown = unknown_labels(samples, labels)
        if unknown:
            found.append(
                f"{samples.name}: {len(unknown):,} gold label(s) are not among the prompt's labels "
                f"({', '.join(labels)}): {rows_text(unknown)}"
            )
    return found
