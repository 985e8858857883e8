"""Labeled samples (contract): CSV with a header row, or JSONL; gold label in ``label``.

Every other column is a template variable. Text is UTF-8 (a byte-order mark is fine). Errors name
the file, the row (1-based, counting the header as row 1 in CSV, lines in JSONL) and the column.
A sample set's identity is the hash of its content, so uploading the same data twice gives the
same set.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import sys
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench.errors import InputError
from workbench.suggest import did_you_mean

if TYPE_CHECKING:
    import pandas as pd

MAX_FIELD = 10_000_000
csv.field_size_limit(MAX_FIELD)


@dataclass(frozen=True)
class Sample:
    """One labeled item: ``index`` is its 0-based position in the set."""

    index: int
    label: str
    variables: dict[str, str]
    row: int = 0  # where it came from: CSV row (header = 1) or JSONL line; 0 when unknown


@dataclass(frozen=True)
class SampleSet:
    name: str
    label_column: str
    columns: tuple[str, ...]
    samples: tuple[Sample, ...]

    def __len__(self) -> int:
        return len(self.samples)

    @property
    def variable_names(self) -> list[str]:
        return [c for c in self.columns if c != self.label_column]

    @cached_property
    def content_hash(self) -> str:
        names = self.variable_names
        body = {
            "label_column": self.label_column,
            "columns": list(self.columns),
            "rows": [[s.label, [s.variables.get(c, "") for c in names]] for s in self.samples],
        }
        return hashlib.sha256(json.dumps(body, ensure_ascii=False).encode()).hexdigest()

    def label_counts(self) -> dict[str, int]:
        return dict(Counter(s.label for s in self.samples).most_common())

    def to_frame(self) -> pd.DataFrame:
        import pandas as pd

        rows = [{**s.variables, self.label_column: s.label} for s in self.samples]
        return pd.DataFrame(rows, columns=list(self.columns))

    def subset(self, indices: Iterable[int], name: str | None = None) -> SampleSet:
        """A new set of the given samples, renumbered from 0."""
        picked = [self.samples[i] for i in indices]
        samples = tuple(Sample(i, s.label, s.variables, s.row) for i, s in enumerate(picked))
        return SampleSet(name or self.name, self.label_column, self.columns, samples)

    def stratified(self, n: int, seed: int = 0) -> SampleSet:
        """About ``n`` samples keeping the label proportions (at least one of each label when n allows)."""
        import pandas as pd

        if n >= len(self.samples):
            return self
        frame = pd.DataFrame({"label": [s.label for s in self.samples]})
        shares = frame["label"].value_counts(normalize=True)
        quota = (shares * n).round().astype(int).clip(lower=1)
        while quota.sum() > n:
            quota[quota.idxmax()] -= 1
        while quota.sum() < n:
            quota[(shares * n - quota).idxmax()] += 1
        picked: list[int] = []
        for label, k in quota.items():
            group = frame.index[frame["label"] == label]
            picked.extend(pd.Series(group).sample(n=min(k, len(group)), random_state=seed).tolist())
        return self.subset(sorted(picked), name=f"{self.name} (stratified {n}, seed {seed})")


ROW_CAP = 5  # places named in one message; the rest are counted


def capped(places: Sequence[str], cap: int = ROW_CAP) -> str:
    """``row 3, row 7 and 4 more``: every bad place is reported, the first ``cap`` by name."""
    named = ", ".join(places[:cap])
    rest = len(places) - cap
    return f"{named} and {rest:,} more" if rest > 0 else named


def where(sample: Sample) -> str:
    """Where a sample came from, as messages name it."""
    return f"row {sample.row}" if sample.row else f"sample {sample.index + 1}"


def _text(value: Any) -> str:
    pandas = sys.modules.get("pandas")  # only a DataFrame's cells can be pd.NA, and then pandas is loaded
    if value is None or (pandas is not None and value is pandas.NA) or (isinstance(value, float) and value != value):
        return ""  # a missing cell (None, NaN from pandas, pd.NA) is empty text, never "nan"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def _build(
    name: str, label_column: str, header: Sequence[str], rows: Iterable[tuple[int, Mapping[str, Any]]], unit: str
) -> SampleSet:
    if label_column not in header:
        found = some(header) if header else "none"
        raise InputError(
            f"{name}: no label column {label_column!r}{did_you_mean(label_column, header)} (columns: {found});"
            " choose one with --label-column"
        )
    samples: list[Sample] = []
    empty: list[str] = []
    for number, row in rows:
        label = _text(row.get(label_column)).strip()
        if not label:
            empty.append(f"{unit} {number}")
            continue
        variables = {c: _text(row.get(c)) for c in header if c != label_column}
        samples.append(Sample(len(samples), label, variables, number))
    if empty:
        raise InputError(f"{name}: empty value in label column {label_column!r}: {capped(empty)}")
    if not samples:
        raise InputError(f"{name}: no samples (the file has a header but no rows)")
    return SampleSet(name, label_column, tuple(header), tuple(samples))


def some(names: Sequence[str], limit: int = 12) -> str:
    """Up to ``limit`` names, comma-separated, then how many more: an error stays one short line."""
    shown = ", ".join(str(n)[:60] for n in names[:limit])
    return shown + (f", … ({len(names) - limit:,} more)" if len(names) > limit else "")


def _utf8(data: bytes, name: str) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise InputError(f"{name}: not UTF-8 text (bad byte at line {line}); save the file as UTF-8") from None


def _decode(data: bytes, name: str) -> str:
    text = _utf8(data, name)
    if not text.strip():
        raise InputError(f"{name}: the file is empty")
    return text


def _json_lines(text: str, name: str) -> Iterator[tuple[int, Any]]:
    """(line number, parsed value) of every non-blank line; a bad line is an error naming it."""
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(f"{name}: line {number}, column {exc.colno}: invalid JSON ({exc.msg})") from None
        except RecursionError:
            raise InputError(f"{name}: line {number}: the JSON is nested too deeply") from None
        except ValueError as exc:  # an integer of more than 4,300 digits (Python's conversion limit)
            raise InputError(f"{name}: line {number}: {str(exc).split(';')[0][:120]}") from None
        yield number, value


def _is_jsonl(name: str) -> bool:
    return name.lower().endswith((".jsonl", ".ndjson", ".json"))


def file_columns(data: bytes, name: str) -> list[str]:
    """The column names of a CSV (header row) or JSONL file (keys of every record, in first-seen order)."""
    text = _utf8(data, name)
    if _is_jsonl(name):
        keys: dict[str, None] = {}
        for _, record in _json_lines(text, name):
            if isinstance(record, dict):
                keys.update(dict.fromkeys(str(k) for k in record))
        return list(keys)
    try:
        header = next(csv.reader(io.StringIO(text, newline="")), [])
    except csv.Error as exc:
        raise InputError(f"{name}: row 1: broken CSV header ({exc})") from None
    return [h.strip() for h in header]


def parse_csv(data: bytes, name: str = "samples.csv", label_column: str = "label") -> SampleSet:
    text = _decode(data, name)
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = [h.strip() for h in next(reader)]
    except csv.Error as exc:
        raise InputError(f"{name}: row 1: broken CSV header ({exc})") from None
    if not any(header):
        raise InputError(f"{name}: row 1: the header is empty")
    blank = [i + 1 for i, h in enumerate(header) if not h]
    if blank:
        raise InputError(f"{name}: row 1: column {blank[0]} has no name")
    dupes = [h for h, k in Counter(header).items() if k > 1]
    if dupes:
        raise InputError(f"{name}: row 1: column {dupes[0]!r} appears twice")

    def rows() -> Iterable[tuple[int, dict[str, str]]]:
        while True:
            start = reader.line_num + 1  # a quoted field may span lines: name the line the record starts on
            try:
                record = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                reason = "a quote opened here is never closed" if "end of data" in str(exc) else str(exc)
                raise InputError(f"{name}: row {start}: broken CSV ({reason})") from None
            if not record or all(not field.strip() for field in record):
                continue
            if len(record) != len(header):
                raise InputError(
                    f"{name}: row {start}: {len(record)} fields, the header has {len(header)}"
                    " (a stray comma or an unclosed quote?)"
                )
            yield start, dict(zip(header, record, strict=True))

    return _build(name, label_column, header, rows(), "row")


def parse_jsonl(data: bytes, name: str = "samples.jsonl", label_column: str = "label") -> SampleSet:
    text = _decode(data, name)
    records: list[tuple[int, dict[str, Any]]] = []
    header: dict[str, None] = {}
    for number, record in _json_lines(text, name):
        if not isinstance(record, dict):
            raise InputError(f"{name}: line {number}: expected a JSON object, got {type(record).__name__}")
        for key in record:
            header.setdefault(str(key), None)
        records.append((number, record))
    if not records:
        raise InputError(f"{name}: the file is empty")
    for number, record in records:
        if label_column not in record and label_column in header:
            raise InputError(f"{name}: line {number}: no {label_column!r} field")
    return _build(name, label_column, list(header), records, "line")


def parse_samples(data: bytes, name: str, label_column: str = "label") -> SampleSet:
    """Parse uploaded bytes; the format follows the file name (``.jsonl``/``.json`` or CSV)."""
    lower = name.lower()
    if _is_jsonl(lower):
        return parse_jsonl(data, name, label_column)
    if lower.endswith((".csv", ".tsv", ".txt")) or "." not in Path(lower).name:
        return parse_csv(data, name, label_column)
    raise InputError(f"{name}: unsupported file type; use .csv or .jsonl")


def load_samples(path: str | Path, label_column: str = "label") -> SampleSet:
    """Load a CSV or JSONL file of labeled samples."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise InputError(f"{path}: no such sample file") from None
    except IsADirectoryError:
        raise InputError(f"{path}: is a folder, not a sample file") from None
    return parse_samples(data, str(path), label_column)


def from_frame(frame: pd.DataFrame, label_column: str = "label", name: str = "dataframe") -> SampleSet:
    """Samples from a pandas DataFrame (for notebooks)."""
    header = [str(c) for c in frame.columns]
    records = ((i + 1, {str(k): v for k, v in row.items()}) for i, row in enumerate(frame.to_dict("records")))
    return _build(name, label_column, header, records, "row")


def to_bytes_csv(samples: SampleSet) -> bytes:
    """CSV bytes of a set (used to store hard sets and exports)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(samples.columns)
    for s in samples.samples:
        writer.writerow([s.label if c == samples.label_column else s.variables.get(c, "") for c in samples.columns])
    return out.getvalue().encode("utf-8")
