"""Labeled samples: CSV (BOM fine) and JSONL, errors that name the row, stratified subsets."""

from __future__ import annotations

import pandas as pd
import pytest

from workbench.datasets import from_frame, load_samples, parse_csv, parse_jsonl, parse_samples, to_bytes_csv
from workbench.errors import InputError


def test_csv_with_bom_and_quoted_commas():
    data = '\ufefftext,label\n"a, b",pos\nc,neg\n'.encode()
    samples = parse_csv(data, "s.csv")
    assert samples.columns == ("text", "label")
    assert [(s.index, s.label, s.variables, s.row) for s in samples.samples] == [
        (0, "pos", {"text": "a, b"}, 2),
        (1, "neg", {"text": "c"}, 3),
    ]
    assert samples.variable_names == ["text"]


def test_jsonl():
    data = b'{"text": "hi", "label": "pos", "n": 3}\n\n{"text": "yo", "label": "neg", "n": 4.0}\n'
    samples = parse_samples(data, "s.jsonl")
    assert samples.columns == ("text", "label", "n")
    assert samples.samples[1].variables == {"text": "yo", "n": "4"}
    assert samples.samples[1].row == 3


def test_label_column_option():
    data = b"text,gold\nhello,pos\n"
    samples = parse_csv(data, "s.csv", label_column="gold")
    assert samples.samples[0].label == "pos"
    assert samples.samples[0].variables == {"text": "hello"}


def test_missing_label_column_message_lists_columns_and_the_option():
    with pytest.raises(InputError) as info:
        parse_csv(b"text,gold\nhello,pos\n", "s.csv")
    message = str(info.value)
    assert "s.csv" in message and "'label'" in message and "text, gold" in message and "--label-column" in message


@pytest.mark.parametrize("data", [b"", b"   \n\n", "\ufeff".encode()])
def test_empty_file(data):
    with pytest.raises(InputError, match="empty"):
        parse_csv(data, "s.csv")
    with pytest.raises(InputError, match="empty"):
        parse_jsonl(data, "s.jsonl")


def test_header_only_file():
    with pytest.raises(InputError, match="no samples"):
        parse_csv(b"text,label\n", "s.csv")


def test_unclosed_quote_names_the_row_where_it_opened():
    data = b'text,label\nok,pos\n"never closed,neg\nmore,pos\nlast,neg\n'
    with pytest.raises(InputError, match=r"s\.csv: row 3: broken CSV \(a quote opened here is never closed\)") as info:
        parse_csv(data, "s.csv")
    assert "\n" not in str(info.value)


def test_stray_quote_names_the_row():
    with pytest.raises(InputError, match=r"s\.csv: row 3: broken CSV"):
        parse_csv(b'text,label\nok,pos\n"ab"c,neg\n', "s.csv")


def test_multiline_field_row_is_where_the_record_starts():
    samples = parse_csv(b'text,label\n"two\nlines",pos\nnext,neg\n', "s.csv")
    assert [s.row for s in samples.samples] == [2, 4]
    assert samples.samples[0].variables == {"text": "two\nlines"}
    with pytest.raises(InputError, match=r"row 4: 3 fields"):
        parse_csv(b'text,label\n"two\nlines",pos\nnext,neg,x\n', "s.csv")


def test_wrong_field_count_names_the_row():
    with pytest.raises(InputError, match=r"s\.csv: row 3: 3 fields, the header has 2"):
        parse_csv(b"text,label\nok,pos\nstray,comma,neg\n", "s.csv")


def test_empty_label_names_the_row():
    with pytest.raises(InputError, match=r"empty value in label column 'label': row 3$"):
        parse_csv(b"text,label\nok,pos\nhmm,\n", "s.csv")


def test_every_empty_label_is_counted_and_the_first_named():
    rows = "".join(f"t{i},\n" for i in range(8))
    with pytest.raises(
        InputError, match=r"empty value in label column 'label': row 3, row 4, row 5, row 6, row 7 and 3 more$"
    ):
        parse_csv(f"text,label\nok,pos\n{rows}".encode(), "s.csv")


def test_non_utf8_names_the_line():
    data = "text,label\nok,pos\ncaf\xe9,neg\n".encode("latin-1")
    with pytest.raises(InputError, match=r"not UTF-8 text \(bad byte at line 3\)"):
        parse_csv(data, "s.csv")


def test_broken_jsonl_names_the_line():
    with pytest.raises(InputError, match=r"line 2, column \d+: invalid JSON"):
        parse_jsonl(b'{"text": "a", "label": "x"}\n{"text": \n', "s.jsonl")
    with pytest.raises(InputError, match=r"line 1: expected a JSON object"):
        parse_jsonl(b"[1, 2]\n", "s.jsonl")
    with pytest.raises(InputError, match=r"line 2: no 'label' field"):
        parse_jsonl(b'{"text": "a", "label": "x"}\n{"text": "b"}\n', "s.jsonl")


def test_duplicate_and_blank_header():
    with pytest.raises(InputError, match="appears twice"):
        parse_csv(b"text,text,label\na,b,c\n", "s.csv")
    with pytest.raises(InputError, match="column 2 has no name"):
        parse_csv(b"text,,label\na,b,c\n", "s.csv")


def test_missing_file_and_unknown_type(tmp_path):
    with pytest.raises(InputError, match="no such sample file"):
        load_samples(tmp_path / "nope.csv")
    with pytest.raises(InputError, match="unsupported file type"):
        parse_samples(b"x", "data.xlsx")


def test_content_hash_and_round_trip():
    a = parse_csv(b"text,label\nx,pos\ny,neg\n", "a.csv")
    b = parse_csv(to_bytes_csv(a), "b.csv")
    assert a.content_hash == b.content_hash
    assert a.content_hash != parse_csv(b"text,label\nx,pos\ny,pos\n", "a.csv").content_hash


def test_missing_cells_in_a_frame_are_empty_text_not_nan():
    frame = pd.DataFrame({"text": ["a", None, float("nan")], "n": [1.0, float("nan"), 3.0], "label": ["x", "y", "z"]})
    assert [s.variables for s in from_frame(frame).samples] == [
        {"text": "a", "n": "1"},
        {"text": "", "n": ""},
        {"text": "", "n": "3"},
    ]
    with pytest.raises(InputError, match="empty value in label column 'label': row 1"):
        from_frame(pd.DataFrame({"text": ["a"], "label": [float("nan")]}))


def test_from_frame_and_to_frame():
    frame = pd.DataFrame({"text": ["a", "b"], "label": ["x", "y"]})
    samples = from_frame(frame)
    assert [s.label for s in samples.samples] == ["x", "y"]
    assert samples.to_frame().equals(frame)


def _big_set():
    rows = ["text,label"] + [f"t{i},{lab}" for i, lab in enumerate(["a"] * 60 + ["b"] * 30 + ["c"] * 10)]
    return parse_csv(("\n".join(rows) + "\n").encode(), "big.csv")


def test_stratified_subset_keeps_proportions_and_is_seeded():
    samples = _big_set()
    sub = samples.stratified(20, seed=1)
    assert len(sub) == 20
    assert sub.label_counts() == {"a": 12, "b": 6, "c": 2}
    assert [s.index for s in sub.samples] == list(range(20))
    again = samples.stratified(20, seed=1)
    assert [s.variables for s in again.samples] == [s.variables for s in sub.samples]
    other = samples.stratified(20, seed=2)
    assert [s.variables for s in other.samples] != [s.variables for s in sub.samples]
    assert samples.stratified(500) is samples


def test_stratified_keeps_at_least_one_of_a_rare_label():
    samples = _big_set()
    sub = samples.stratified(5, seed=0)
    assert len(sub) == 5
    assert set(sub.label_counts()) == {"a", "b", "c"}
