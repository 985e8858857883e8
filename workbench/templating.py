"""``{{variable}}`` substitution.

One regular-expression pass replaces each ``{{name}}`` with the sample's value, inserted
literally: no expressions, no attribute access, no filters and no second pass. A value that
itself contains ``{{label}}``, ``{0.__class__}``, ``%s`` or ``{% raw %}`` reaches the model exactly
as written. Whitespace inside the braces is allowed (``{{ text }}``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence

from workbench.errors import InputError

VARIABLE = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_.-]*)\s*\}\}")


def variables(text: str) -> list[str]:
    """Variable names in ``text``, in order of first appearance, without duplicates."""
    return list(dict.fromkeys(VARIABLE.findall(text)))


def message_variables(messages: Iterable[Mapping[str, str]]) -> list[str]:
    """Variable names used across chat messages, in order of first appearance."""
    names: dict[str, None] = {}
    for message in messages:
        for name in variables(str(message.get("content", ""))):
            names[name] = None
    return list(names)


def missing_variables(messages: Iterable[Mapping[str, str]], available: Iterable[str]) -> list[str]:
    """Variables the messages use that ``available`` does not provide."""
    have = set(available)
    return [name for name in message_variables(messages) if name not in have]


def check_values(messages: Iterable[Mapping[str, str]], values: Mapping[str, object]) -> None:
    """Refuse, before a paid call, values that leave a ``{{variable}}`` missing or empty (as a sweep refuses
    a sample set without that column): the model would be asked about nothing."""
    unfilled = [name for name in message_variables(messages) if not str(values.get(name) or "").strip()]
    if unfilled:
        listed = ", ".join(f"{{{{{name}}}}}" for name in unfilled)
        raise InputError(f"give a value for {listed} before sending: the prompt uses it and it is empty")


def render(text: str, values: Mapping[str, object]) -> str:
    """Replace every ``{{name}}`` with ``str(values[name])`` in one pass."""

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            raise InputError(f"unknown variable {{{{{name}}}}}: the sample has no column {name!r}")
        value = values[name]
        return "" if value is None else str(value)

    return VARIABLE.sub(substitute, text)


def render_messages(messages: Sequence[Mapping[str, str]], values: Mapping[str, object]) -> list[dict[str, str]]:
    """Render each message's content; other keys (role, name) are copied unchanged."""
    return [{**message, "content": render(str(message.get("content", "")), values)} for message in messages]
