"""Closest matches for a misspelt name: "did you mean …?" in one place.

Used wherever a name the user typed is not one the workbench knows: a model (not in the catalog,
or not offered by the server), a label column, a sample set or prompt variable. Matching ignores
case, and a name that differs only in case is always offered first.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def closest(name: str, choices: Iterable[str], n: int = 3, cutoff: float = 0.6) -> list[str]:
    """Up to ``n`` of ``choices`` closest to ``name`` (best first); case-only differences rank first."""
    options = [str(choice) for choice in dict.fromkeys(choices) if str(choice) != name]
    folded = name.casefold()
    same = [choice for choice in options if choice.casefold() == folded]
    by_fold: dict[str, list[str]] = {}
    for choice in options:
        by_fold.setdefault(choice.casefold(), []).append(choice)
    near = difflib.get_close_matches(folded, list(by_fold), n=n, cutoff=cutoff)
    found = same + [choice for key in near for choice in by_fold[key] if choice not in same]
    return found[:n]


def did_you_mean(name: str, choices: Iterable[str], n: int = 3) -> str:
    """`` (did you mean 'a' or 'b'?)`` for the closest matches, or an empty string when none is close."""
    found = closest(name, choices, n)
    if not found:
        return ""
    quoted = [repr(choice) for choice in found]
    listed = quoted[0] if len(quoted) == 1 else f"{', '.join(quoted[:-1])} or {quoted[-1]}"
    return f" (did you mean {listed}?)"
