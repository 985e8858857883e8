"""CSV export: formula-injection escaping (OWASP) and the report files."""

from __future__ import annotations

import csv
import io
import json

import pandas as pd
import pytest

from tests.test_metrics import LABELS, make_frame, paired_frame
from workbench.csvsafe import escape_cell, to_csv_bytes, write_csv, write_report_csv
from workbench.errors import InputError
from workbench.metrics import build_report, per_sample


def read(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))


@pytest.mark.parametrize("text", ["=1+1", "+cmd|' /C calc'!A0", "-2+3", "@SUM(A1)", "\t=x", "\r=x", "=HYPERLINK()"])
def test_triggers_get_a_quote(text: str) -> None:
    assert escape_cell(text) == "'" + text
    rows = read(to_csv_bytes(pd.DataFrame({"output": [text]})))
    assert rows == [["output"], ["'" + text]]


@pytest.mark.parametrize("text", ["positive", "a=b", " =x", "", "'already", "1-2"])
def test_harmless_text_is_unchanged(text: str) -> None:
    assert escape_cell(text) == text
    assert read(to_csv_bytes(pd.DataFrame({"t": [text]}))) == [["t"], [text]]


def test_numbers_stay_numbers_and_missing_stays_empty() -> None:
    frame = pd.DataFrame(
        {
            "cost": [-0.5, 1.25],
            "n": pd.array([-3, None], dtype="Int64"),
            "ok": [True, False],
            "mixed": ["-x", 7],
            "text": [None, "@me"],
        }
    )
    assert read(to_csv_bytes(frame)) == [
        ["cost", "n", "ok", "mixed", "text"],
        ["-0.5", "-3", "True", "'-x", ""],
        ["1.25", "", "False", "7", "'@me"],
    ]


def test_headers_are_escaped_and_rows_accepted(tmp_path) -> None:
    path = write_csv([{"=bad": "=1", "good": "x"}], tmp_path / "out.csv")
    assert read(path.read_bytes()) == [["'=bad", "good"], ["'=1", "x"]]


def test_write_report_csv(tmp_path) -> None:
    frame = paired_frame()
    frame.loc[0, "output"] = "=IMPORTXML(A1)"
    report = build_report(frame, {1: LABELS}, run_id=1)
    target = tmp_path / "nested" / "report"
    paths = write_report_csv(report, per_sample(frame), target)
    assert sorted(p.name for p in paths) == ["cells.csv", "confusion.csv", "pairs.csv", "per_class.csv", "samples.csv"]
    cells = pd.read_csv(target / "cells.csv")
    assert len(cells) == len(report["cells"])
    assert cells["accuracy"].tolist() == pytest.approx([c["accuracy"] for c in report["cells"]])
    assert cells["accuracy_ci95_low"].tolist() == pytest.approx([c["accuracy_ci95"][0] for c in report["cells"]])
    per_class = pd.read_csv(target / "per_class.csv")
    assert len(per_class) == len(report["cells"]) * len(LABELS)
    first = report["cells"][0]
    got = per_class[(per_class["model"] == first["model"]) & (per_class["temperature"] == first["temperature"])]
    assert got.set_index("label")["f1"].to_dict() == pytest.approx({k: v["f1"] for k, v in first["per_class"].items()})
    confusion = pd.read_csv(target / "confusion.csv")
    assert confusion["count"].sum() == sum(sum(map(sum, c["confusion"]["matrix"])) for c in report["cells"])
    pairs = pd.read_csv(target / "pairs.csv")
    assert len(pairs) == len(report["pairs"])
    assert pairs["mcnemar_p"].tolist() == pytest.approx([p["mcnemar_p"] for p in report["pairs"]])
    samples = pd.read_csv(target / "samples.csv", keep_default_na=False)
    assert len(samples) == len(frame)
    assert "'=IMPORTXML(A1)" in samples["output"].tolist()


def test_write_report_csv_into_a_file_is_an_input_error(tmp_path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    frame = make_frame(
        [{"model": "m", "temperature": 0, "sample_index": 0, "gold": "positive", "predicted": "positive"}]
    )
    report = json.loads(json.dumps(build_report(frame, {1: LABELS}, run_id=1)))
    with pytest.raises(InputError, match="is a file"):
        write_report_csv(report, per_sample(frame), blocker)
