"""Output text -> label.

This module is deliberately self-contained (standard library only): the Python exporter copies
its source into generated scripts so that production code parses answers exactly as the
workbench scored them.

The rule: normalise case, whitespace and punctuation, then look for exactly one of the prompt's
labels as a whole word (or word sequence). "Positive.", "Label: negative" and " NEUTRAL\\n" all
parse. When a label is part of a longer label that also matches ("spam" inside "not spam"), the
longer one wins. A label right after a negation ("not", "no", "never", "nor", "neither",
"isn't") does not count: "The review is not negative, it is positive." is positive, and "not
positive" alone is unparsed rather than positive. Small models answer in sentences ("This review
is positive,", "The sentiment of the review is negative."), which parse. An answer that is a JSON
object (structured output, optionally in a code fence) is read by its values first: exactly one
value equal to a label wins, so
``{"sentiment": "positive", "reasoning": "not negative at all"}`` is positive. No label, or two
different labels, is ``unparsed`` and counts as wrong.
"""

import json
import re
import unicodedata

UNPARSED = "unparsed"

_NON_WORD = re.compile(r"[\W_]+", re.UNICODE)
# Words that cancel the label after them; "t" is what is left of "isn't", "wasn't", "doesn't".
_NEGATIONS = frozenset({"not", "no", "never", "nor", "neither", "t"})


def normalize(text):
    """Lower case, accents kept, every run of punctuation/whitespace made one space."""
    text = unicodedata.normalize("NFKC", str(text)).casefold()
    return _NON_WORD.sub(" ", text).strip()


def _json_label(output, forms):
    """The label named by exactly one value of a JSON-object answer, else None."""
    text = str(output).strip()
    if text.startswith("```"):
        text = text.split("\n", 1)[1] if "\n" in text else ""
        text = text.rsplit("```", 1)[0].strip()
    if not text.startswith("{"):
        return None
    try:
        data = json.loads(text)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    values = list(data.values())
    values += [v for inner in data.values() if isinstance(inner, dict) for v in inner.values()]
    found = {forms[normalize(v)] for v in values if isinstance(v, str) and normalize(v) in forms}
    return found.pop() if len(found) == 1 else None


def _negated(padded, start):
    """Whether the word before position ``start`` (a space) of ``padded`` is a negation."""
    before = padded[:start].rsplit(" ", 1)[-1]
    return before in _NEGATIONS


def parse_label(output, labels):
    """The one label mentioned in ``output``, or ``UNPARSED``."""
    if output is None:
        return UNPARSED
    text = normalize(output)
    if not text:
        return UNPARSED
    forms = {}
    for label in labels:
        form = normalize(label)
        if form:
            forms.setdefault(form, label)
    if text in forms:
        return forms[text]
    structured = _json_label(output, forms)
    if structured is not None:
        return structured
    padded = " " + text + " "
    spans = {}
    for form, label in forms.items():
        needle = " " + form + " "
        found = []
        start = padded.find(needle)
        while start != -1:
            if not _negated(padded, start):
                found.append((start, start + len(needle)))
            start = padded.find(needle, start + 1)
        if found:
            spans[label] = found
    matched = set()
    for label, found in spans.items():
        for begin, end in found:
            inside_longer = any(
                other != label and len(normalize(other)) > len(normalize(label)) and b <= begin and end <= e
                for other, others in spans.items()
                for b, e in others
            )
            if not inside_longer:
                matched.add(label)
                break
    if len(matched) == 1:
        return matched.pop()
    return UNPARSED
