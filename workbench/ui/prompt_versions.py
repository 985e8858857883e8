"""The Prompts page's "Save" and "Versions and diff" tabs: versions in the database, files in prompts/, diffs."""

from __future__ import annotations

import difflib
import re

import streamlit as st

from workbench import prompts as library
from workbench.errors import InputError, WorkbenchError
from workbench.promptfile import PromptFile
from workbench.storage import repository as repo
from workbench.ui import chrome
from workbench.ui.services import Context
from workbench.ui.widgets import capped_table, file_output, mine_only, plain, version_options


def owner_of(ctx: Context, name: str) -> tuple[bool, str | None, set[str]]:
    """(whether the prompt name is stored, who saved its first version, its versions' short hashes)."""
    listed = repo.list_prompt_versions(ctx.engine, name=name)
    if listed.empty:
        return False, None, set()
    first = listed.iloc[-1]["created_by"]
    return True, first if isinstance(first, str) else None, set(listed["hash"])


def save(ctx: Context, prompt: PromptFile) -> None:
    """Save as a new version (its maker's prompt names only), or write/download it as a prompt file."""
    a, b = st.columns(2)
    with a:
        st.markdown("**Save as a new version** (in the database)")
        st.text_input("Note", placeholder="what changed, e.g. stricter neutral rule", key="pe_note")

        def save_version() -> None:
            """A callback, so the version picker can be pointed at the new version before it is drawn."""
            try:
                stored, owner, hashes = owner_of(ctx, prompt.name)
                if stored and prompt.content_hash[:10] not in hashes and not ctx.user.may_change(owner):
                    maker = f"was made by {owner}" if owner else "was saved without sign-in (an example or the CLI)"
                    raise InputError(
                        f"{prompt.name} {maker}: you may save versions of your own prompts only; give it a new name "
                        "to save your own copy"
                    )
                before = set(version_options(ctx.engine))
                row = repo.save_prompt_version(
                    ctx.engine, prompt, note=st.session_state["pe_note"].strip(), created_by=ctx.user.id
                )
            except WorkbenchError as exc:
                st.session_state["pe_saved"] = ("error", str(exc))
                return
            known = row.id in before
            st.session_state["pe_saved"] = (
                "info" if known else "success",
                f"No change: this is saved version #{row.id}."
                if known
                else f"Saved {prompt.name} as version #{row.id}.",
            )
            st.session_state["sweep_prompt_ids"] = [row.id]
            st.session_state["pe_origin"] = "Saved version"
            st.session_state["pe_pick_version"] = row.id
            st.session_state["pe_source"] = ("version", row.id)

        if ctx.can("edit"):
            st.button("Save version", type="primary", key="pe_save", on_click=save_version)
        else:
            chrome.read_only(ctx, "save prompts")
        saved = st.session_state.pop("pe_saved", None)
        if saved:
            getattr(st, saved[0])(plain(saved[1]))
            if saved[0] != "error":
                st.page_link("pages/sweep.py", label="Sweep this version", icon=":material/play_circle:")
    with b:
        writes = ctx.can("edit") and not ctx.hosted
        st.markdown(
            "**Write to the prompts/ folder** (a YAML file to commit with your code)"
            if writes
            else "**Download as a prompt file** (a YAML file to commit with your code)"
        )
        file_name = st.text_input("File name (without .yaml)", value=prompt.name, key=f"pe_file_{prompt.name}")
        write = None
        if ctx.can("edit"):  # file_output offers it locally; hosted, it says why there is only the download
            write = lambda: library.save(prompt, file_name.strip(), ctx.settings.prompts_dir)  # noqa: E731
        file_output(
            prompt.to_yaml(),
            f"{re.sub(r'[^A-Za-z0-9._-]+', '-', file_name.strip()).strip('.-') or prompt.name}.yaml",
            hosted=ctx.hosted,
            key="pe",
            write=write,
            where="prompts/",
            mime="text/yaml",
            label="Download YAML",
        )


def versions(ctx: Context, prompt: PromptFile) -> None:
    """The stored versions (of this prompt, or all; mine only when signed in) and a diff of any two, or the editor."""
    listed = repo.list_prompt_versions(ctx.engine)
    if listed.empty:
        st.info("No saved versions yet: save one in the Save tab.")
    else:
        t1, t2 = st.columns(2)
        with t1:
            only_this = st.toggle(f"Only versions of {prompt.name}", value=True, key="pe_only_this")
        with t2:
            mine = mine_only(ctx.signed_in, "pe_mine", "versions")
        shown = listed[listed["name"] == prompt.name] if only_this else listed
        if mine:
            shown = shown[shown["created_by"] == ctx.user.id]
        columns = ["id", "name", "version", "note", "hash", "created_at"] + (["created_by"] if ctx.signed_in else [])
        capped_table(
            shown[columns],
            what="versions",
            column_config={
                "created_at": st.column_config.DatetimeColumn("created (UTC)", format="YYYY-MM-DD HH:mm"),
                "created_by": st.column_config.TextColumn("by"),
            },
        )
        all_versions = version_options(ctx.engine)
        options = [0, *all_versions]
        label = {0: "The editor (unsaved)", **all_versions}
        same_name = [int(i) for i in shown["id"]]
        a, b = st.columns(2)
        left = a.selectbox(
            "From",
            options,
            index=options.index(same_name[1]) if len(same_name) > 1 else 0,
            format_func=label.get,
            key=f"pe_diff_a_{prompt.name}_{len(same_name)}",
        )
        right = b.selectbox(
            "To", options, index=0, format_func=label.get, key=f"pe_diff_b_{prompt.name}_{len(same_name)}"
        )

        def text_of(vid: int) -> str:
            return prompt.to_yaml() if vid == 0 else repo.get_prompt_version(ctx.engine, vid)[0].yaml

        diff = list(
            difflib.unified_diff(
                text_of(left).splitlines(), text_of(right).splitlines(), label[left], label[right], lineterm=""
            )
        )
        if diff:
            st.code("\n".join(diff), language="diff")
        else:
            st.caption("No differences.")
