"""The Prompts page's editor: where a draft starts, its messages and settings, and its checks on a sample set."""

from __future__ import annotations

import streamlit as st
import yaml

from workbench import prompts as library
from workbench import yamlsafe
from workbench.datasets import SampleSet
from workbench.errors import InputError, WorkbenchError
from workbench.promptfile import ROLES, PromptFile, prompt_from_dict
from workbench.storage import repository as repo
from workbench.storage.history import fitting_dataset
from workbench.sweep import check_compatible
from workbench.templating import message_variables, missing_variables
from workbench.tokens import count_text
from workbench.ui import estimates, services
from workbench.ui.services import Context
from workbench.ui.widgets import dataset_for_prompt, dataset_options, plain, shown_errors, version_options

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


def choose_source(ctx: Context) -> None:
    """Where the draft starts (a saved version, a file in prompts/ or blank), loaded into the editor once chosen."""
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


def editor(ctx: Context) -> tuple[list[dict[str, str]], PromptFile | None]:
    """The name, labels, messages and params; returns the messages and the prompt (None while it is invalid)."""
    with st.container():
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
            help="Optional request parameters such as max_tokens, seed or logprobs; the sweep sets model and "
            "temperature.",
        )

    messages = [
        {"role": st.session_state[f"pe_role_{mid}"], "content": st.session_state[f"pe_content_{mid}"]}
        for mid in st.session_state["pe_messages"]
    ]
    prompt: PromptFile | None = None
    with shown_errors():
        try:  # aliases may not expand without bound (a 246-byte document can stand for 10^9 values)
            params = yamlsafe.load(st.session_state["pe_params"] or "", "params") or {}
        except InputError as exc:
            raise InputError(f"{exc} (write YAML or JSON, e.g. `max_tokens: 5`)") from None
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

    return messages, prompt


def checks(ctx: Context, messages: list[dict[str, str]], prompt: PromptFile | None) -> SampleSet | None:
    """Variables against a sample set's columns, and the cost per 1,000 items; returns the sample set chosen."""
    datasets = dataset_options(ctx.engine)
    samples = None
    with st.container():
        st.subheader("Check")
        variables = message_variables(messages)
        st.markdown("**Variables:** " + (", ".join(f"`{{{{{v}}}}}`" for v in variables) if variables else "none"))
        if not datasets:
            st.info("Upload a sample set on the Samples page to check variables and estimate costs.")
        else:
            # The newest set this draft can run on (its variables, its labels), else one named like it.
            suggested = fitting_dataset(ctx.engine, prompt, datasets) if prompt is not None else None
            suggested = suggested or dataset_for_prompt(datasets, st.session_state["pe_name"].strip())
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
                                "answer tokens assume a one-label answer plus, for reasoning models, the upper end of "
                                "the reasoning tokens assumed at that effort (the Sweep page's estimate uses what this "
                                "database has seen)."
                            )

    return samples
