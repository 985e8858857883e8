"""YAML the way promptfoo reads it, and values as the text promptfoo sends.

promptfoo loads configs with js-yaml's YAML 1.2 core schema plus timestamps (``loadYaml`` in
promptfoo's source), not YAML 1.1 as PyYAML's ``safe_load`` does: ``Yes``, ``on``, ``1_000`` and
``12:30`` stay text, ``0123`` is the number 123, ``0o17`` is 15, ``1e3`` is 1000. A number reaches
the model as JavaScript's ``String(number)`` (``1.50`` -> "1.5", ``1e3`` -> "1000"), ``true`` as
"true", ``null`` as "". Dates become JavaScript ``Date`` objects, which promptfoo sends as
"[object Object]": :func:`var_text` refuses them so the importer can say so.
"""

from __future__ import annotations

import datetime
import math
import re
from typing import Any, ClassVar

import yaml

__all__ = ["JsYamlLoader", "js_number_text", "load", "resolves_to_text", "scalar_text"]

_NULL = re.compile(r"^(?:~|null|Null|NULL|)$")
_BOOL = re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$")
_INT = re.compile(r"^(?:0o[0-7]+|0x[0-9a-fA-F]+|[-+]?[0-9]+)$")
_FLOAT = re.compile(
    r"^(?:[-+]?[0-9]+(?:\.[0-9]*)?(?:[eE][-+]?[0-9]+)?|[-+]?\.[0-9]+(?:[eE][-+]?[0-9]+)?"
    r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
)
_TIMESTAMP = re.compile(
    r"^(?:[0-9]{4}-[0-9]{2}-[0-9]{2}"
    r"|[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}(?:[Tt]|[ \t]+)[0-9]{1,2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]*)?"
    r"(?:[ \t]*(?:Z|[-+][0-9]{1,2}(?::[0-9]{2})?))?)$"
)


class JsYamlLoader(yaml.SafeLoader):
    """PyYAML's safe loader with js-yaml's core-schema resolvers instead of YAML 1.1's."""

    yaml_implicit_resolvers: ClassVar[dict[Any, list[tuple[str, re.Pattern[str]]]]] = {}


for _tag, _pattern, _first in (
    ("tag:yaml.org,2002:null", _NULL, ["~", "n", "N", ""]),
    ("tag:yaml.org,2002:bool", _BOOL, list("tTfF")),
    ("tag:yaml.org,2002:int", _INT, list("-+0123456789")),
    ("tag:yaml.org,2002:float", _FLOAT, list("-+.0123456789")),
    ("tag:yaml.org,2002:timestamp", _TIMESTAMP, list("0123456789")),
    ("tag:yaml.org,2002:merge", re.compile(r"^<<$"), ["<"]),
):
    JsYamlLoader.add_implicit_resolver(_tag, _pattern, _first)


def _int(loader: JsYamlLoader, node: yaml.ScalarNode) -> int:
    text = str(loader.construct_scalar(node))
    sign = -1 if text.startswith("-") else 1
    digits = text.lstrip("+-")
    if digits.startswith("0o"):
        return sign * int(digits[2:], 8)
    if digits.startswith("0x"):
        return sign * int(digits[2:], 16)
    if digits.startswith("0b"):  # only with an explicit !!int tag
        return sign * int(digits[2:], 2)
    return sign * int(digits, 10)


def _float(loader: JsYamlLoader, node: yaml.ScalarNode) -> float:
    text = str(loader.construct_scalar(node)).lower()
    sign = -1.0 if text.startswith("-") else 1.0
    body = text.lstrip("+-")
    if body == ".inf":
        return sign * math.inf
    if body == ".nan":
        return math.nan
    return sign * float(body)


JsYamlLoader.add_constructor("tag:yaml.org,2002:int", _int)
JsYamlLoader.add_constructor("tag:yaml.org,2002:float", _float)


def load(text: str) -> Any:
    """One YAML document as promptfoo reads it."""
    return yaml.load(text, Loader=JsYamlLoader)  # a SafeLoader subclass: safe


def resolves_to_text(value: str) -> bool:
    """Whether a plain (unquoted) scalar ``value`` reads back as this text in promptfoo."""
    return not any(p.match(value) for p in (_NULL, _BOOL, _INT, _FLOAT, _TIMESTAMP)) and value != "<<"


def js_number_text(value: float) -> str:
    """JavaScript's ``String(number)`` (ECMAScript Number::toString) for a double."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if value == 0:
        return "0"
    sign = "-" if value < 0 else ""
    mantissa, _, exponent = repr(abs(value)).partition("e")  # Python's repr is the shortest round trip, as JS's
    whole, _, fraction = mantissa.partition(".")
    digits = whole + fraction
    point = len(whole) + int(exponent or 0)  # the decimal point sits after this many of the digits
    stripped = digits.lstrip("0")
    point -= len(digits) - len(stripped)
    digits = stripped.rstrip("0")
    k, n = len(digits), point
    if k <= n <= 21:
        return sign + digits + "0" * (n - k)
    if 0 < n <= 21:
        return sign + digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return sign + "0." + "0" * (-n) + digits
    e = n - 1
    head = digits[0] + ("." + digits[1:] if k > 1 else "")
    return f"{sign}{head}e{'+' if e >= 0 else '-'}{abs(e)}"


def scalar_text(value: Any) -> str | None:
    """A var value as the text promptfoo inserts into a prompt, or None when it is not one scalar."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return js_number_text(float(value))
    if isinstance(value, str):
        return value
    if isinstance(value, datetime.date):
        return None  # a JavaScript Date: promptfoo sends "[object Object]"
    return None
