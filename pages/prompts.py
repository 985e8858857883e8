"""Prompts: draft and edit a prompt, check it against a sample set, try it on one item, save versions."""

from __future__ import annotations

import difflib
import re

import streamlit as st
import yaml

from workbench import budgets
from workbench import prompts as library
from workbench.chat import request_body
from workbench.errors import BudgetError, InputError, WorkbenchError
from workbench.pricing import cost, format_usd
from workbench.promptfile import ROLES, PromptFile, prompt_from_dict
from workbench.scoring import parse_label
from workbench.storage import repository as repo
from workbench.sweep import check_compatible
from workbench.templating import message_variables, missing_variables
from workbench.tokens import count_chat, count_text
from workbench.ui import chrome, estimates, services
from workbench.ui.widgets import (
    capped_table,
    dataset_for_prompt,
    dataset_options,
    file_output,
    mine_only,
    plain,
    shown_errors,
    version_options,
)

ctx = chrome.page()
st.title("Prompts")
st.caption(
    "A prompt is chat messages with {{variables}} filled from each sample's columns, and the labels the "
    "answer must name. Every saved change is a new version; sweeps record exactly which one they ran."
)

BLANK = PromptFile(
    name="my-classifier",
    labels=("yes", "no"),
    messages=(
        {"role": "system", "content": "Answer with exactly one word: yes or no."},
        {"role": "user", "content": "{{text}}"},
    ),
)


def load_into_editor(prompt: PromptFile) -> None:
    """Put a prompt into the editor's widgets (their session-state keys)."""
    state = st.session_state
    state["pe_name"] = prompt.name
    state["pe_description"] = prompt.description
    state["pe_labels"] = ", ".join(prompt.labels)
    state["pe_params"] = yaml.safe_dump(prompt.params, sort_keys=False).strip() if prompt.params else ""
    start = state.get("pe_next_id", 0)
    ids = list(range(start, start + len(prompt.messages)))
    state["pe_next_id"] = start + len(prompt.messages)
    state["pe_messages"] = ids
    for mid, message in zip(ids, prompt.messages, strict=True):
        state[f"pe_role_{mid}"] = message["role"]
        state[f"pe_content_{mid}"] = message["content"]


def add_message() -> None:
    mid = st.session_state.get("pe_next_id", 0)
    st.session_state["pe_next_id"] = mid + 1
    st.session_state[f"pe_role_{mid}"] = "user"
    st.session_state[f"pe_content_{mid}"] = ""
    st.session_state["pe_messages"] = [*st.session_state["pe_messages"], mid]


def remove_message(mid: int) -> None:
    st.session_state["pe_messages"] = [m for m in st.session_state["pe_messages"] if m != mid]


def owner_of(name: str) -> tuple[bool, str | None, set[str]]:
    """(whether the prompt name is stored, who saved its first version, its versions' short hashes)."""
    listed = repo.list_prompt_versions(ctx.engine, name=name)
    if listed.empty:
        return False, None, set()
    first = listed.iloc[-1]["created_by"]
    return True, first if isinstance(first, str) else None, set(listed["hash"])


# --- where the draft starts -------------------------------------------------------------------------------
versions = version_options(ctx.engine)
files = library.list_prompts(ctx.settings.prompts_dir)
origin = st.radio(
    "Start from",
    ["Saved version", "File in prompts/", "Blank"],
    index=0 if versions else (1 if files else 2),
    horizontal=True,
    key="pe_origin",
)
source = None
with shown_errors():
    if origin == "Saved version" and versions:
        vid = st.selectbox("Version", list(versions), format_func=versions.get, key="pe_pick_version")
        source = ("version", vid)
    elif origin == "File in prompts/" and files:
        name = st.selectbox("File", files, format_func=lambda n: f"{n}.yaml", key="pe_pick_file")
        source = ("file", name)
    elif origin == "Blank":
        source = ("blank", None)
    else:
        st.info("Nothing there yet: start from a blank prompt, or upload prompt files to prompts/.")
    if source is not None and st.session_state.get("pe_source") != source:
        if source[0] == "version":
            loaded = repo.get_prompt_version(ctx.engine, source[1])[1]
        elif source[0] == "file":
            loaded = library.load(source[1], ctx.settings.prompts_dir).file
        else:
            loaded = BLANK
        load_into_editor(loaded)
        st.session_state["pe_source"] = source
if "pe_messages" not in st.session_state:
    load_into_editor(BLANK)

# --- the editor ---------------------------------------------------------------------------------------
edit, check = st.columns([5, 4], gap="large")
with edit:
    st.subheader("Edit")
    a, b = st.columns([1, 2])
    a.text_input("Name", key="pe_name", help="Letters, digits, '.', '_' or '-'")
    b.text_input("Labels (comma-separated)", key="pe_labels", help="The answer is scored by which label it names")
    st.text_input("Description", key="pe_description")
    for number, mid in enumerate(st.session_state["pe_messages"], start=1):
        with st.container(border=True):
            r, t, x = st.columns([3, 5, 1], vertical_alignment="bottom")
            r.selectbox(f"Message {number} role", ROLES, key=f"pe_role_{mid}")
            x.button(
                ":material/delete:",
                key=f"pe_remove_{mid}",
                on_click=remove_message,
                args=(mid,),
                help=f"Remove message {number}",
            )
            content = st.text_area("Content", key=f"pe_content_{mid}", height=240 if number == 1 else 100)
            found = message_variables([{"content": content}])
            t.caption(
                f"{count_text(content):,} tokens"
                + (f" · variables: {plain(', '.join('{{' + v + '}}' for v in found))}" if found else "")
            )
    st.button("Add message", on_click=add_message, icon=":material/add:")
    st.text_area(
        "Params (YAML or JSON)",
        key="pe_params",
        height=68,
        placeholder="max_tokens: 5",
        help="Optional request parameters such as max_tokens, seed or logprobs; the sweep sets model and temperature.",
    )

messages = [
    {"role": st.session_state[f"pe_role_{mid}"], "content": st.session_state[f"pe_content_{mid}"]}
    for mid in st.session_state["pe_messages"]
]
prompt: PromptFile | None = None
with edit, shown_errors():
    try:
        params = yaml.safe_load(st.session_state["pe_params"] or "") or {}
    except yaml.YAMLError:
        raise InputError("params: not valid YAML or JSON (e.g. `max_tokens: 5`)") from None
    prompt = prompt_from_dict(
        {
            "name": st.session_state["pe_name"].strip(),
            "description": st.session_state["pe_description"],
            "labels": [x.strip() for x in st.session_state["pe_labels"].split(",") if x.strip()],
            "messages": messages,
            "params": params,
        },
        "prompt",
    )

# --- checks against a sample set -------------------------------------------------------------------------
datasets = dataset_options(ctx.engine)
samples = None
with check:
    st.subheader("Check")
    variables = message_variables(messages)
    st.markdown("**Variables:** " + (", ".join(f"`{{{{{v}}}}}`" for v in variables) if variables else "none"))
    if not datasets:
        st.info("Upload a sample set on the Samples page to check variables and estimate costs.")
    else:
        suggested = dataset_for_prompt(datasets, st.session_state["pe_name"].strip())
        ids = list(datasets)
        dataset_id = st.selectbox(
            "Sample set",
            ids,
            index=ids.index(suggested) if suggested in ids else 0,
            format_func=datasets.get,
            key=f"pe_dataset_{st.session_state['pe_name']}",
        )
        with shown_errors():
            samples = repo.load_dataset(ctx.engine, dataset_id)
        if samples is not None:
            missing = missing_variables(messages, samples.variable_names)
            for name in missing:
                st.error(
                    plain(
                        f"{{{{{name}}}}} is not a column of {samples.name} "
                        f"(columns: {', '.join(samples.variable_names) or 'none'})"
                    )
                )
            if prompt is not None and not missing:
                try:
                    check_compatible(prompt, samples)
                except WorkbenchError as exc:
                    st.warning(plain(exc))
                st.markdown("**Cost per 1,000 items** (estimate from this sample set's lengths)")
                est_models = st.multiselect(
                    "Models",
                    services.model_choices(ctx),
                    default=ctx.wb.catalog.default_pair(),
                    key="pe_est_models",
                    label_visibility="collapsed",
                )
                if est_models:
                    with shown_errors():
                        table = estimates.per_thousand(
                            prompt, samples, est_models, ctx.settings.base_url, ctx.wb.catalog
                        )
                        st.dataframe(table, hide_index=True)
                        st.caption(
                            "Tokens per item, averaged over the sample set. Prompt tokens are counted exactly; "
                            "answer tokens assume a one-label answer."
                        )

if prompt is None:
    st.stop()

try_tab, save_tab, versions_tab = st.tabs(["Try it", "Save", "Versions and diff"])

# --- try it ---------------------------------------------------------------------------------------------
with try_tab:
    values: dict[str, str] | None = None
    gold = None
    a, b, c = st.columns([3, 2, 1])
    with a:
        mode = "Type values"
        if samples is not None and not missing_variables(messages, samples.variable_names):
            mode = st.radio("Input", ["A sample row", "Type values"], horizontal=True, key="pe_try_mode")
        if mode == "A sample row":
            first = samples.variable_names[0] if samples.variable_names else None
            index = st.selectbox(
                "Sample",
                range(len(samples)),
                format_func=lambda i: (
                    f"{i + 1}. [{samples.samples[i].label}] "
                    + (samples.samples[i].variables.get(first, "")[:80] if first else "")
                ),
                key="pe_try_sample",
            )
            values = samples.samples[index].variables
            gold = samples.samples[index].label
        else:
            values = {v: st.text_area(v, key=f"pe_try_value_{v}", height=68) for v in prompt.variables}
    choices = services.model_choices(ctx)
    model = b.selectbox("Model", choices, key="pe_try_model")
    info = ctx.wb.catalog.lookup(model)
    takes_temperature = info is None or info.temperature
    temperature = c.number_input(
        "Temperature", 0.0, 2.0, 0.0, 0.1, key="pe_try_temperature", disabled=not takes_temperature
    )
    send = False
    if ctx.can("run"):
        send = st.button("Send", type="primary", icon=":material/send:", key="pe_send")
    else:
        chrome.read_only(ctx, "send prompts to a model")
    answer_box = st.empty()
    if send:
        with shown_errors():
            ctx.session_wb.check_runnable([model])
            if ctx.key_kind == "server":  # one call is not estimated, but a spent budget is not spent further
                left = budgets.remaining(ctx.engine, ctx.caps(), ctx.user.id)
                spent = [("user_left_today_usd", "your budget for today"), ("team_left_month_usd", "the team's month")]
                for field, what in spent:
                    if left[field] is not None and left[field] <= 0:
                        raise BudgetError(f"{what} is spent; nothing was called (use your own key, or ask an admin)")
            body = request_body(prompt, model, temperature if takes_temperature else None, values)
            pieces: list[str] = []

            def on_text(piece: str) -> None:
                pieces.append(piece)
                answer_box.text("".join(pieces))

            with st.spinner("Waking the local model…" if model in ctx.wb.local else "Calling…"):
                provider = ctx.session_wb.provider.provider(model)  # starts a local model's server if needed
            done = provider.stream(body, on_text=on_text)
            st.session_state["pe_try_result"] = {
                "text": done.text,
                "label": parse_label(done.text, prompt.labels),
                "gold": gold,
                "model": model,
                "latency_ms": done.latency_ms,
                "ttft_ms": done.ttft_ms,
                "prompt_tokens": done.prompt_tokens,
                "completion_tokens": done.completion_tokens,
                "estimated_prompt_tokens": count_chat(body["messages"]),
                "cost": format_usd(
                    cost(
                        info,
                        done.prompt_tokens,
                        done.cached_tokens,
                        done.completion_tokens,
                        cache_write_tokens=done.cache_write_tokens,
                    )
                ),
            }
    result = st.session_state.get("pe_try_result")
    if result:
        answer_box.text(result["text"] or "(empty answer)")
        if result["gold"] is None:
            st.info(f"Parsed label: **{plain(result['label'])}**")
        elif result["label"] == result["gold"]:
            st.success(f"Parsed label: **{plain(result['label'])}**, the gold label ✓")
        else:
            st.warning(f"Parsed label: **{plain(result['label'])}**; the gold label is **{plain(result['gold'])}** ✗")
        m = st.columns(5)
        m[0].metric("Latency", f"{result['latency_ms']:,.0f} ms")
        m[1].metric("First token", f"{result['ttft_ms']:,.0f} ms" if result["ttft_ms"] is not None else "n/a")
        m[2].metric("Prompt tokens", f"{result['prompt_tokens']:,}" if result["prompt_tokens"] is not None else "n/a")
        m[3].metric(
            "Completion tokens",
            f"{result['completion_tokens']:,}" if result["completion_tokens"] is not None else "n/a",
        )
        m[4].metric("Cost", result["cost"])
        st.caption(
            f"{result['model']}; tokens and cost as billed by the server "
            f"(counted locally: {result['estimated_prompt_tokens']:,} prompt tokens)."
        )

# --- save -------------------------------------------------------------------------------------------------
with save_tab:
    a, b = st.columns(2)
    with a:
        st.markdown("**Save as a new version** (in the database)")
        note = st.text_input("Note", placeholder="what changed, e.g. stricter neutral rule", key="pe_note")

        def save_version() -> None:
            """A callback, so the version picker can be pointed at the new version before it is drawn."""
            try:
                stored, owner, hashes = owner_of(prompt.name)
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

# --- versions and diff -----------------------------------------------------------------------------------
with versions_tab:
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
