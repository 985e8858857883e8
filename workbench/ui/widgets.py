"""Small widgets the pages share: error display, capped tables, pickers for stored things, files out."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath, PureWindowsPath

import pandas as pd
import streamlit as st
from sqlalchemy.engine import Engine

from workbench import formatting as fmt
from workbench.errors import WorkbenchError
from workbench.storage import repository as repo

TABLE_CAP = 500
_MARKDOWN = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:])")


def plain(text: object) -> str:
    """Text from users, files, models or servers, escaped for Streamlit's markdown.

    Names, labels and answers are data: ``**``, ``[link](…)``, ``![image](…)``, ``$math$`` or
    ``:red[...]`` in them must show as typed, never be rendered (amounts like "$0.01 vs $0.02" too).
    """
    return _MARKDOWN.sub(r"\\\1", str(text))


@contextmanager
def shown_errors() -> Iterator[None]:
    """Show a :class:`WorkbenchError` as one ``st.error`` line instead of a traceback.

    The rest of the ``with`` block is skipped; the page goes on after it.
    """
    try:
        yield
    except WorkbenchError as exc:
        st.error(plain(exc), icon=":material/error:")


def capped_table(frame: pd.DataFrame, what: str = "rows", cap: int = TABLE_CAP, **kwargs) -> None:
    """A dataframe of at most ``cap`` rows, with a count when more were left out."""
    kwargs.setdefault("hide_index", True)
    st.dataframe(frame.head(cap), **kwargs)
    if len(frame) > cap:
        st.caption(f"Showing the first {cap:,} of {len(frame):,} {what}.")


def version_options(engine: Engine) -> dict[int, str]:
    """Stored prompt versions, newest first: id -> "name v3 · note (#id)"."""
    frame = repo.list_prompt_versions(engine)
    options: dict[int, str] = {}
    for row in frame.itertuples():
        note = f" · {row.note}" if row.note else ""
        options[int(row.id)] = f"{row.name} v{row.version}{note} (#{row.id})"
    return options


def dataset_options(engine: Engine) -> dict[int, str]:
    """Stored data sets, newest first: id -> "name · N rows (#id)"."""
    frame = repo.list_datasets(engine)
    return {int(r.id): f"{r.name} · {r.rows:,} rows (#{r.id})" for r in frame.itertuples()}


def dataset_for_prompt(datasets: dict[int, str], prompt_name: str) -> int | None:
    """The newest data set whose name starts with the prompt's name (the examples pair up this way)."""
    for dataset_id, label in datasets.items():
        if label.split(" · ")[0].split(".")[0] == prompt_name:
            return dataset_id
    return None


def cap_text(value: float | None) -> str:
    """A budget cap as shown: an amount, or "no cap"."""
    return "no cap" if value is None else fmt.money(value)


def run_label(row) -> str:
    return f"#{row.id} · {row.name} · {row.status}"


def file_output(
    data: str | bytes,
    file_name: str,
    *,
    hosted: bool,
    key: str,
    write: Callable[[], Path] | None = None,
    where: str = "prompts/",
    mime: str = "text/plain",
    label: str = "Download",
) -> None:
    """A file for the user: locally a "Write file" button (``write`` puts it into the checkout, under
    ``where``) and a download; hosted, only the download, because a shared instance never writes
    into its checkout. Only the written file's name is shown, never a local path.
    """
    if write is not None and not hosted:
        if st.button("Write file", key=f"{key}_write"):
            with shown_errors():
                path = write()
                st.success(f"Wrote {plain(where)}{plain(path.name)}.")
    elif write is not None:
        st.caption(
            f"This workbench is hosted: nothing is written into {plain(where)} on the server. "
            "Download the file and commit it with your code."
        )
    st.download_button(label, data, file_name=file_name, mime=mime, on_click="ignore", key=f"{key}_download")


def source_label(source: object, hosted: bool) -> str | None:
    """Where a sample set came from, for display: hosted, a path is shown as its file name only."""
    if source is None or source != source:  # None or NaN from pandas
        return None
    text = str(source)
    if hosted and ("/" in text or "\\" in text):
        return PureWindowsPath(text).name if "\\" in text else PurePosixPath(text).name
    return text


def mine_only(signed_in: bool, key: str, what: str = "things") -> bool:
    """A "Mine only" toggle when people sign in (without sign-in nobody is told apart: always False)."""
    if not signed_in:
        return False
    return st.toggle("Mine only", key=key, help=f"Only {what} you made")


def run_picker(runs: pd.DataFrame, key: str, recent: int | None = None, where=st) -> int:
    """A run selectbox that follows ``?run=ID`` (a shared link), else ``recent``, else the newest run.

    A run the person picks is written to the URL (a link to share, and Back returns to the run before).
    Only then: writing it on arrival too would add a second history entry (``/compare``, then
    ``/compare?run=N``), so Back would need two presses to leave the page.
    """
    options = {int(r.id): f"#{r.id} · {r.name} · {r.status} · {r.calls:,} calls" for r in runs.itertuples()}
    param, seen = st.query_params.get("run"), f"_{key}_param"
    if param and param != st.session_state.get(seen):
        st.session_state[seen] = param
        if param.isdigit() and int(param) in options:
            st.session_state[key] = int(param)
    if st.session_state.get(key) not in options:
        st.session_state[key] = recent if recent in options else next(iter(options))

    def picked() -> None:
        st.session_state[seen] = str(st.session_state[key])
        st.query_params["run"] = str(st.session_state[key])

    return where.selectbox("Run", list(options), format_func=options.get, key=key, on_change=picked)
