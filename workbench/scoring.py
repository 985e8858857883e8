"""Output text -> label.

This module is deliberately self-contained (standard library only): the Python exporter copies
its source into generated scripts so that production code parses answers exactly as the
workbench scored them.

The rule: normalise case, whitespace and punctuation, then look for exactly one of the prompt's
labels as a whole word (or word sequence). "Positive.", "Label: negative" and " NEUTRAL\\n" all
parse. When a label is part of a longer label that also matches ("spam" inside "not spam"), the
longer one wins. No label, or two different labels, is ``unparsed`` and counts as wrong.
"""

import re
import unicodedata

UNPARSED = "unparsed"

_NON_WORD = re.compile(r"[\W_]+", re.UNICODE)


def normalize(text):
    """Lower case, accents kept, every run of punctuation/whitespace made one space."""
    text = unicodedata.normalize("NFKC", str(text)).casefold()
    return _NON_WORD.sub(" ", text).strip()


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
    padded = " " + text + " "
    spans = {}
    for form, label in forms.items():
        needle = " " + form + " "
        found = []
        start = padded.find(needle)
        while start != -1:
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
