"""Rough edges a new user hit in the app, each pinned with ``AppTest`` (the seeded app of test_ui_apptest)."""

from __future__ import annotations

import pytest

from tests.test_ui_apptest import charts, env, says, seeded, server, start, visit  # noqa: F401  (fixtures, used by name)

pytestmark = pytest.mark.usefixtures("env")


def test_a_free_text_label_column_is_warned_about_not_counted_as_labels() -> None:
    at = visit(start(), "samples")
    rows = "".join(
        f'"r{i}","note {i}: the staff were kind and the view over the harbour was lovely"\n' for i in range(30)
    )
    at.file_uploader[0].set_value(("notes.csv", ("id,label\n" + rows).encode(), "text/csv")).run()
    assert not at.exception
    assert says(at.warning, "looks like free text, not labels: 30 distinct values in 30 samples")
    assert not says(at.success, "30 samples")  # not green
    assert len(charts(at)) == 1  # no 30-bar chart for the upload (the stored set below keeps its own)


def test_one_label_spelt_two_ways_is_said_on_upload() -> None:
    at = visit(start(), "samples")
    data = b"text,label\na,Positive\nb,positive\nc,positive\nd,negative\n"
    at.file_uploader[0].set_value(("mixed.csv", data, "text/csv")).run()
    assert says(at.warning, "'Positive' (1 row) and 'positive' (2 rows) are one label written 2 ways")
