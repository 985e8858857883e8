"""How sure a model was of an answer: the probability of its answer from the logprobs the API returned.

Standard library only: the cascade exporter copies this source into generated Python code, and the
TypeScript export carries a line-for-line port, so shipped code computes the very number the
simulation used.

The rule: the probability the model gave its whole answer, ``exp(sum of the token logprobs)`` over
``logprobs.content`` in token order. For a prompt that answers with the label alone this is the
label's probability. The sum is a plain left-to-right loop (not ``sum()``, which compensates since
Python 3.12, nor numpy's pairwise sum) so Python and JavaScript add the same numbers in the same order.
"""

import json
import math


def answer_probability(logprobs):
    """The answer's probability from a chat choice's ``logprobs`` (dict or its JSON text); None when absent."""
    if logprobs is None:
        return None
    if isinstance(logprobs, str):
        try:
            logprobs = json.loads(logprobs)
        except ValueError:
            return None
    if not isinstance(logprobs, dict):
        return None
    content = logprobs.get("content")
    if not isinstance(content, list) or not content:
        return None
    total = 0.0
    for entry in content:
        value = entry.get("logprob") if isinstance(entry, dict) else None
        if isinstance(value, bool) or not isinstance(value, int | float):
            return None
        total += float(value)
    return math.exp(total)
