"""Naming a run's cells: what a user types (``[VERSION:]MODEL[@EFFORT][@TEMPERATURE]``), the
unambiguous text of a cell, and the one cell of a run's results frame that a text names.

Used wherever a person picks a cell by name (the cascade's cheap and strong cells in the CLI, the
notebook API and the Compare page), so a cell is written and read one way everywhere.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from workbench.errors import InputError
from workbench.metrics import CELL

EFFORT = "reasoning_effort"
_ANY = object()


@dataclass(frozen=True)
class CellChoice:
    """A cell as the user wrote it: ``[PROMPT_VERSION_ID:]MODEL[@EFFORT][@TEMPERATURE]``."""

    model: str
    effort: Any = _ANY  # str, None (no effort) or _ANY
    temperature: Any = _ANY  # float, None (sent without one) or _ANY
    prompt_version_id: int | None = None


_NONE_WORDS = {"", "-", "none", "default", "null"}


def _temperature_part(text: str) -> float | None:
    if text.lower() in _NONE_WORDS:
        return None
    return float(text)


def parse_cell(text: str) -> CellChoice:
    """``gpt-4.1-nano``, ``gpt-4.1-nano@0.7``, ``gpt-6-luna@low@default``, ``3:gpt-4.1-nano@0``."""
    text = str(text).strip()
    if not text:
        raise InputError("a cell is empty: give a model name, or MODEL@EFFORT@TEMPERATURE")
    version = None
    match = re.match(r"^(\d+):(.+)$", text)
    if match:
        version, text = int(match.group(1)), match.group(2)
    model, *rest = text.split("@")
    model = model.strip()
    if not model:
        raise InputError(f"cell {text!r} has no model name before '@'")
    parts = [p.strip() for p in rest]
    try:
        if not parts:
            return CellChoice(model, prompt_version_id=version)
        if len(parts) == 1:  # MODEL@TEMPERATURE, or MODEL@EFFORT when it is not a number
            try:
                return CellChoice(model, temperature=_temperature_part(parts[0]), prompt_version_id=version)
            except ValueError:
                return CellChoice(model, effort=parts[0], prompt_version_id=version)
        if len(parts) == 2:
            effort = None if parts[0].lower() in ("", "-", "null") else parts[0]
            return CellChoice(model, effort, _temperature_part(parts[1]), version)
    except ValueError:
        raise InputError(f"cell {text!r}: temperature {parts[-1]!r} is not a number") from None
    raise InputError(f"cell {text!r}: expected MODEL, MODEL@TEMPERATURE or MODEL@EFFORT@TEMPERATURE")


def cell_fields(frame: pd.DataFrame) -> list[str]:
    """The columns that identify a cell in this frame (the effort only when the frame has it)."""
    return [c for c in CELL if c != EFFORT or EFFORT in frame.columns]


def cell_text(cell: Mapping[str, Any], with_version: bool = False) -> str:
    """The unambiguous way to type a cell: ``MODEL@EFFORT@TEMPERATURE`` (``-`` and ``default`` for none)."""
    t = cell.get("temperature")
    temp = "default" if t is None or (isinstance(t, float) and math.isnan(t)) else f"{float(t):g}"
    effort = cell.get(EFFORT)
    text = f"{cell['model']}@{effort or '-'}@{temp}"
    return f"{int(cell['prompt_version_id'])}:{text}" if with_version else text


def same_temperature(value: Any, wanted: Any) -> bool:
    if wanted is None:
        return value is None or (isinstance(value, float) and math.isnan(value))
    return value is not None and not (isinstance(value, float) and math.isnan(value)) and abs(value - wanted) < 1e-9


def cells_of(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """The run's cells: one dict per cell with its fields and prompt name, in cell order."""
    fields = cell_fields(frame)
    if frame.empty:
        return []
    table = frame.groupby(fields, sort=True, dropna=False)["prompt_name"].first().reset_index()
    cells = []
    for row in table.to_dict("records"):
        t = row["temperature"]
        row["temperature"] = None if t is None or pd.isna(t) else float(t)
        if EFFORT in row and (row[EFFORT] is None or pd.isna(row[EFFORT])):
            row[EFFORT] = None
        row["prompt_version_id"] = int(row["prompt_version_id"])
        cells.append(row)
    return cells


def resolve_cell(frame: pd.DataFrame, text: str, role: str = "cell") -> dict[str, Any]:
    """The one cell of the run that ``text`` names; a one-line error listing the cells otherwise."""
    choice = parse_cell(text)
    cells = cells_of(frame)
    several = len({c["prompt_version_id"] for c in cells}) > 1
    found = [
        c
        for c in cells
        if c["model"] == choice.model
        and (choice.prompt_version_id is None or c["prompt_version_id"] == choice.prompt_version_id)
        and (choice.temperature is _ANY or same_temperature(c["temperature"], choice.temperature))
        and (choice.effort is _ANY or c.get(EFFORT) == choice.effort)
    ]
    if len(found) == 1:
        return found[0]
    listed = ", ".join(cell_text(c, several) for c in cells) or "none"
    if not found:
        raise InputError(f"the run has no {role} cell {text!r} (its cells: {listed})")
    matching = ", ".join(cell_text(c, several) for c in found)
    raise InputError(f"{role} {text!r} matches {len(found)} cells ({matching}): name one as MODEL@EFFORT@TEMPERATURE")


def cell_mask(frame: pd.DataFrame, cell: Mapping[str, Any]) -> pd.Series:
    """The rows of ``frame`` that belong to ``cell``."""
    mask = (frame["model"] == cell["model"]) & (frame["prompt_version_id"] == cell["prompt_version_id"])
    temps = frame["temperature"].astype(float)
    t = cell["temperature"]
    mask &= temps.isna() if t is None else np.isclose(temps, float(t), rtol=0, atol=1e-9)
    if EFFORT in frame.columns:
        effort = cell.get(EFFORT)
        mask &= frame[EFFORT].isna() if effort is None else frame[EFFORT] == effort
    return mask
