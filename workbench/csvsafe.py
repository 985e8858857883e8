"""CSV files that are safe to open in a spreadsheet (no formula injection).

Model answers and sample texts are untrusted: a cell such as ``=HYPERLINK(...)`` or
``+cmd|' /C calc'!A0`` would run as a formula in Excel or LibreOffice. Following OWASP's CSV
injection advice, every *text* cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a
carriage return gets a leading single quote, so spreadsheets show it as text. Numbers stay
numbers (a negative cost is not text and is written as is). Header names are treated the same.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from workbench.errors import InputError

TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
_TRIGGER_PATTERN = r"^[=+\-@\t\r]"


def escape_cell(value: Any) -> Any:
    """One value made safe: a string starting with a trigger character gets a leading ``'``."""
    if isinstance(value, str) and value.startswith(TRIGGERS):
        return "'" + value
    return value


def _escape_column(column: pd.Series) -> pd.Series:
    if pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column):
        return column
    if pd.api.types.is_datetime64_any_dtype(column):
        return column
    values = column.astype("object")
    try:
        risky = values.str.match(_TRIGGER_PATTERN).fillna(False).astype(bool)
    except AttributeError:  # no text in this column at all (e.g. lists, dates as objects)
        return column
    if not risky.any():
        return column
    return values.where(~risky, "'" + values.where(risky, "").astype(str))


def sanitize(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` with every risky text cell (and header) prefixed, ready for ``to_csv``."""
    out = pd.DataFrame({i: _escape_column(frame.iloc[:, i]) for i in range(frame.shape[1])}, index=frame.index)
    out.columns = [escape_cell(str(c)) for c in frame.columns]
    return out


def _as_frame(data: pd.DataFrame | Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    if isinstance(data, pd.DataFrame):
        return data
    return pd.DataFrame(list(data))


def to_csv_bytes(frame: pd.DataFrame | Iterable[Mapping[str, Any]]) -> bytes:
    """UTF-8 CSV of ``frame`` (no index, CRLF line ends), injection-safe: for download buttons."""
    buffer = io.StringIO()
    # CRLF line ends (RFC 4180) also make the csv writer quote a cell holding a lone \r or \n
    sanitize(_as_frame(frame)).to_csv(buffer, index=False, lineterminator="\r\n")
    return buffer.getvalue().encode("utf-8")


def write_csv(frame_or_rows: pd.DataFrame | Iterable[Mapping[str, Any]], path: str | Path) -> Path:
    """Write an injection-safe UTF-8 CSV (no index) to ``path`` and return the path."""
    path = Path(path)
    try:
        path.write_bytes(to_csv_bytes(frame_or_rows))
    except OSError as exc:
        raise InputError(f"cannot write {path}: {exc.strerror or exc}") from None
    return path


# --- the report as CSV files ---------------------------------------------------------------------

_CELL_KEY = ["prompt_version_id", "prompt_name", "prompt_label", "model", "temperature"]


def _cell_rows(cells: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for c in cells:
        row = {k: v for k, v in c.items() if k not in ("accuracy_ci95", "per_class", "confusion", "flips")}
        low, high = c.get("accuracy_ci95") or [None, None]
        row["accuracy_ci95_low"], row["accuracy_ci95_high"] = low, high
        row["flips"] = " ".join(str(s) for s in c.get("flips") or [])
        rows.append({**{k: c.get(k) for k in _CELL_KEY}, **row})
    return rows


def _per_class_rows(cells: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {**{k: c.get(k) for k in _CELL_KEY}, "label": label, **scores}
        for c in cells
        for label, scores in (c.get("per_class") or {}).items()
    ]


def _confusion_rows(cells: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for c in cells:
        conf = c.get("confusion") or {"labels": [], "columns": [], "matrix": []}
        for gold, counts in zip(conf["labels"], conf["matrix"], strict=True):
            for predicted, count in zip(conf["columns"], counts, strict=True):
                rows.append({**{k: c.get(k) for k in _CELL_KEY}, "gold": gold, "predicted": predicted, "count": count})
    return rows


def _pair_rows(pairs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for p in pairs:
        row: dict[str, Any] = {}
        for side in ("a", "b"):
            row.update({f"{side}_{k}": p[side].get(k) for k in _CELL_KEY})
        row.update({k: v for k, v in p.items() if k not in ("a", "b", "diff_ci95")})
        row["diff_ci95_low"], row["diff_ci95_high"] = p.get("diff_ci95") or [None, None]
        rows.append(row)
    return rows


_COLUMNS = {
    "per_class": [*_CELL_KEY, "label", "precision", "recall", "f1", "support"],
    "confusion": [*_CELL_KEY, "gold", "predicted", "count"],
}


def write_report_csv(report: Mapping[str, Any], per_sample_frame: pd.DataFrame, directory: str | Path) -> list[Path]:
    """Write cells.csv, per_class.csv, confusion.csv, pairs.csv and samples.csv into ``directory``.

    The directory is created when missing. Returns the written paths. Long-format tables (one row
    per cell and label, per confusion square, per pair) so every file loads as a flat table.
    """
    directory = Path(directory)
    if directory.exists() and not directory.is_dir():
        raise InputError(f"cannot write CSV files into {directory}: it is a file, not a directory")
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"cannot create directory {directory}: {exc.strerror or exc}") from None
    cells, pairs = list(report.get("cells", [])), list(report.get("pairs", []))
    tables = {
        "cells.csv": pd.DataFrame(_cell_rows(cells)),
        "per_class.csv": pd.DataFrame(_per_class_rows(cells), columns=_COLUMNS["per_class"]),
        "confusion.csv": pd.DataFrame(_confusion_rows(cells), columns=_COLUMNS["confusion"]),
        "pairs.csv": pd.DataFrame(_pair_rows(pairs)),
        "samples.csv": per_sample_frame,
    }
    return [write_csv(frame, directory / name) for name, frame in tables.items()]
