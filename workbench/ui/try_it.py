"""The Prompts page's "Try it": one call with a sample row or typed values, streamed, scored and priced."""

from __future__ import annotations

import streamlit as st

from workbench import budgets, tryit
from workbench import formatting as fmt
from workbench.datasets import SampleSet
from workbench.errors import BudgetError
from workbench.promptfile import PromptFile
from workbench.scoring import parse_label
from workbench.templating import check_values, missing_variables
from workbench.tokens import count_chat
from workbench.ui import chrome, services
from workbench.ui.services import Context
from workbench.ui.widgets import plain, shown_errors


def try_it(ctx: Context, prompt: PromptFile, messages: list[dict[str, str]], samples: SampleSet | None) -> None:
    """Send the draft once (members and admins) and show the answer, its label against the gold one, and its cost."""
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
    effort = None
    if info is not None and info.reasoning:  # the sweep's effort axis: one effort the model takes
        efforts = list(info.efforts)
        cheapest = "none" if "none" in efforts else (info.default_effort or efforts[0])
        effort = b.selectbox("Reasoning effort", efforts, index=efforts.index(cheapest), key="pe_try_effort")
    takes_temperature = info is None or info.takes_temperature(effort)
    temperature = c.number_input(
        "Temperature",
        0.0,
        2.0,
        0.0,
        0.1,
        key="pe_try_temperature",
        disabled=not takes_temperature,
        help=None if takes_temperature else f"{model} takes no temperature at this effort",
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
            check_values(prompt.messages, values or {})  # refused like a sweep: no paid call about nothing
            body = tryit.body_for(
                ctx.wb,
                prompt,
                model,
                values or {},
                effort=effort,
                temperature=temperature if takes_temperature else None,
            )
            pieces: list[str] = []

            def on_text(piece: str) -> None:
                pieces.append(piece)
                answer_box.text("".join(pieces))

            with st.spinner("Waking the local model…" if model in ctx.wb.local else "Calling…"):
                ctx.session_wb.provider.provider(model)  # starts a local model's server if needed
            # Stored as a response and counted in this person's spend; an identical request is not paid twice.
            tried = tryit.try_prompt(ctx.session_wb, body, paid_by=ctx.user.id, key_kind=ctx.key_kind, on_text=on_text)
            done = tried.completion
            st.session_state["pe_try_result"] = {
                "text": done.text,
                "label": parse_label(done.text, prompt.labels),
                "gold": gold,
                "model": model + (f" at effort {effort}" if effort else ""),
                "reasoning_tokens": done.reasoning_tokens,
                "latency_ms": done.latency_ms,
                "ttft_ms": done.ttft_ms,
                "prompt_tokens": done.prompt_tokens,
                "completion_tokens": done.completion_tokens,
                "estimated_prompt_tokens": count_chat(body["messages"]),
                "cost": fmt.money(tried.cost_usd) + (" (stored, not paid again)" if tried.reused else ""),
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
            f"{result['model']}; tokens and cost as billed by the server"
            + (
                f" ({result['reasoning_tokens']:,} of the completion tokens were reasoning)"
                if result.get("reasoning_tokens")
                else ""
            )
            + " "
            f"(counted locally: {result['estimated_prompt_tokens']:,} prompt tokens)."
        )
