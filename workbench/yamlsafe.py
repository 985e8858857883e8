"""YAML that cannot explode: :func:`load` refuses documents whose aliases expand beyond a bound.

PyYAML shares an anchored node between its aliases, so a 246-byte "billion laughs" document
loads in microseconds, and then anything that walks it (validation, ``json.dumps``, a deep copy,
hashing, showing it) walks 10^9 nodes. :func:`load` composes the document, counts the nodes it
stands for with every alias expanded (memoised, so counting is as cheap as the text is long) and
refuses more than ``max_nodes`` before constructing anything. Prompt files, the Params box,
promptfoo configs and the team price table all load through it.
"""

from __future__ import annotations

from typing import Any

import yaml

from workbench.errors import InputError

MAX_NODES = 100_000  # a prompt file or a promptfoo config of thousands of tests stays far below


def expanded_size(node: yaml.Node, memo: dict[int, int] | None = None, limit: int = MAX_NODES) -> int:
    """How many nodes ``node`` stands for once every alias is expanded (stops counting past ``limit``)."""
    memo = {} if memo is None else memo
    open_nodes: set[int] = set()  # being counted: meeting one again is a recursive alias (infinite)
    stack: list[tuple[yaml.Node, bool]] = [(node, False)]
    while stack:
        current, children_done = stack.pop()
        key = id(current)
        if key in memo:
            continue
        children: list[yaml.Node] = []
        if isinstance(current, yaml.SequenceNode):
            children = list(current.value)
        elif isinstance(current, yaml.MappingNode):
            children = [part for pair in current.value for part in pair]
        if children_done:
            open_nodes.discard(key)
            memo[key] = min(limit + 1, 1 + sum(memo.get(id(child), 1) for child in children))
        elif key not in open_nodes:
            open_nodes.add(key)
            if any(id(child) in open_nodes for child in children):
                return limit + 1  # an alias inside its own anchor expands forever
            stack.append((current, True))
            stack.extend((child, False) for child in children if id(child) not in memo and id(child) not in open_nodes)
    return memo[id(node)]


def load(text: str, source: str, max_nodes: int = MAX_NODES, loader: type[yaml.SafeLoader] = yaml.SafeLoader) -> Any:
    """``yaml.safe_load(text)`` (or ``loader``, a SafeLoader subclass), refusing a document that
    expands to more than ``max_nodes`` nodes."""
    try:
        node = yaml.compose(text, Loader=loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise InputError(f"{source}: broken YAML{where}: {problem}") from None
    except RecursionError:
        raise InputError(f"{source}: the YAML is nested too deeply") from None
    if node is None:
        return None
    if expanded_size(node, limit=max_nodes) > max_nodes:
        raise InputError(
            f"{source}: the YAML expands to more than {max_nodes:,} values (aliases repeating or containing"
            " themselves); refused"
        )
    constructor = loader("")
    try:
        return constructor.construct_document(node)
    except yaml.YAMLError as exc:
        raise InputError(f"{source}: invalid YAML: {getattr(exc, 'problem', None) or exc}") from None
    except RecursionError:
        raise InputError(f"{source}: the YAML is nested too deeply") from None
    finally:
        constructor.dispose()
