"""A plan's estimate without building its calls: tokens counted once per prompt version x sample.

A plan's calls are prompt versions x models x (effort, temperature) cells x samples x repeats, and
the only thing that varies inside a (prompt version, cell) is the sample's prompt tokens. So each
sample's messages are rendered and counted once per prompt version, in chunks, into a histogram
(prompt tokens -> samples), and every cell's tokens and cost are that histogram times the cell's
per-call figures times the repeats: exact (cost is per call, so a long-context call is priced as
one), with no per-call object, body or request key. A million samples x 2 models x 2 temperatures
x 2 repeats is a million renderings, not eight million calls.

Answers already stored are found from the other side: the stored responses of the plan's models at
its endpoints are few next to a large plan, and each is recognised by rebuilding the key of the call
it would be (its sample found by its messages) and comparing. ``benchmarks/bench_plan_size.py``
measures the time and memory.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from workbench.chat import request_body, request_key
from workbench.delivery import STANDARD
from workbench.pricing import ModelInfo, cost, delivery_factor, usd
from workbench.templating import render_messages
from workbench.tokens import count_chat_many

if TYPE_CHECKING:
    from workbench.datasets import Sample
    from workbench.promptfile import PromptFile
    from workbench.sweep import Plan

CHUNK = 20_000  # samples rendered and counted at a time (memory stays flat for any plan size)

History = Mapping[tuple[str, str | None], float]


@dataclass(frozen=True)
class StoredAnswer:
    """A stored response that may be one of a plan's calls: its key, request body and repeat index."""

    key: str
    body: dict[str, Any]
    repeat: int


@dataclass
class _ModelTally:
    """One model's figures as the estimate contract reports them, summed exactly (Decimal)."""

    model: str
    known: bool
    calls: int = 0
    stored: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    reasoning_tokens: int = 0
    cost: Decimal = Decimal(0)
    new_cost: Decimal = Decimal(0)
    new_standard: Decimal = Decimal(0)

    def add(self, calls: int, prompt_tokens: int, completion: int, thinking: int, price: CallPrice) -> None:
        """``calls`` calls of ``prompt_tokens`` each, new (not stored)."""
        self.calls += calls
        self.prompt_tokens += prompt_tokens * calls
        self.completion_tokens += completion * calls
        self.reasoning_tokens += thinking * calls
        if price.known:
            self.cost += price.price * calls
            self.new_cost += price.price * calls
            self.new_standard += price.standard * calls

    def mark_stored(self, price: CallPrice) -> None:
        """One of the calls added is already stored: counted, not paid again."""
        self.stored += 1
        if price.known:
            self.new_cost -= price.price
            self.new_standard -= price.standard


@dataclass(frozen=True)
class CallPrice:
    price: Decimal = Decimal(0)  # at the delivery mode's price
    standard: Decimal = Decimal(0)
    known: bool = False


def call_price(info: ModelInfo | None, prompt_tokens: int, completion: int, delivery: str) -> CallPrice:
    """One call's estimated price at ``delivery`` and as a standard call (the one cost function)."""
    standard = cost(info, prompt_tokens, 0, completion)
    factor = delivery_factor(info, delivery)  # None: unknown price, or a model without that mode
    price = None if factor is None else cost(info, prompt_tokens, 0, completion, tier_factor=factor)
    if price is None or standard is None:
        return CallPrice()
    return CallPrice(price, standard, True)


@dataclass
class Tally:
    """The estimate of a plan, built call by call or cell by cell; :meth:`result` is the contract."""

    plan: Plan
    history: History | None
    delivery: str = STANDARD
    models: dict[str, _ModelTally] = field(default_factory=dict)
    bases: dict[str, None] = field(default_factory=dict)  # where each reasoning estimate comes from

    def model(self, name: str) -> _ModelTally:
        if name not in self.models:
            known = delivery_factor(self.plan.catalog.lookup(name), self.delivery) is not None
            self.models[name] = _ModelTally(name, known)
        return self.models[name]

    def completion(self, model: str, prompt: PromptFile, body: Mapping[str, Any]) -> tuple[int, int]:
        """(completion tokens, of which reasoning) estimated for a call of ``body``: never past the cap sent."""
        from workbench.sweep import estimated_completion_tokens, estimated_reasoning_tokens

        info = self.plan.catalog.lookup(model)
        thinking, basis = estimated_reasoning_tokens(info, body.get("reasoning_effort"), self.history, model)
        if basis:
            self.bases.setdefault(basis)
        answer = estimated_completion_tokens(prompt)
        sent_cap = body.get("max_completion_tokens") or body.get("max_tokens")
        if isinstance(sent_cap, int) and answer + thinking > sent_cap:
            thinking = max(0, sent_cap - answer)
        return answer + thinking, thinking

    def result(self) -> dict[str, Any]:
        models = []
        total = total_new = total_standard = Decimal(0)
        all_known = True
        for name in self.plan.models:
            m = self.models.get(name)
            if m is None:
                continue
            all_known &= m.known
            total += m.cost
            total_new += m.new_cost
            total_standard += m.new_standard
            models.append(
                {
                    "model": name,
                    "calls": m.calls,
                    "stored": m.stored,
                    "prompt_tokens": m.prompt_tokens,
                    "est_completion_tokens": m.completion_tokens,
                    "est_reasoning_tokens": m.reasoning_tokens,
                    "new_calls": m.calls - m.stored,
                    "est_cost_usd": usd(m.cost) if m.known else None,
                    "est_new_cost_usd": usd(m.new_cost) if m.known else None,
                }
            )
        return {
            "calls": sum(m["calls"] for m in models),
            "stored": sum(m["stored"] for m in models),
            "new_calls": sum(m["new_calls"] for m in models),
            "est_total_usd": usd(total) if all_known else None,
            "est_new_usd": usd(total_new) if all_known else None,
            "cost_known": all_known,
            "delivery": self.delivery,
            "est_new_usd_standard": usd(total_standard) if all_known else None,
            "models": models,
            "notes": list(self.plan.notes) + list(self.bases),
            "estimate": (
                "prompt tokens are exact (tiktoken o200k_base, cookbook rule); completion tokens (reasoning tokens "
                "included) and cost are estimates"
            ),
        }


def _messages_key(messages: Any) -> str:
    return json.dumps(messages, sort_keys=True, ensure_ascii=False)


def _token_histogram(
    prompt: PromptFile, samples: Iterable[Sample], wanted: set[str]
) -> tuple[Counter[int], list[tuple[Sample, int, str]]]:
    """(prompt tokens -> how many samples, and the samples whose messages are in ``wanted`` with their
    tokens and messages key), ``CHUNK`` samples at a time.

    Counted by the cookbook rule as :func:`workbench.tokens.count_chat` counts the rendered messages,
    but only the contents with a ``{{variable}}`` are rendered and encoded per sample: the rest of the
    count (roles, names, fixed contents, the per-message and reply tokens) is the same for every sample.
    """
    from workbench.templating import VARIABLE, render
    from workbench.tokens import encoding

    enc = encoding()
    contents = [str(m.get("content", "")) for m in prompt.messages]
    templated = [i for i, text in enumerate(contents) if VARIABLE.search(text)]
    fixed_messages = [{**m, "content": "" if i in templated else contents[i]} for i, m in enumerate(prompt.messages)]
    fixed = count_chat_many([fixed_messages])[0]  # everything but the templated contents (each "" counts 0)
    histogram: Counter[int] = Counter()
    matches: list[tuple[Sample, int, str]] = []
    lengths: dict[str, int] = {}
    for chunk in _chunks(samples, CHUNK):
        counts = []
        for sample in chunk:
            total = fixed
            for i in templated:
                text = render(contents[i], sample.variables)
                n = lengths.get(text)
                if n is None:
                    n = len(enc.encode(text, disallowed_special=()))
                    if len(lengths) < CHUNK:  # repeated texts (a column of few values) are encoded once
                        lengths[text] = n
                total += n
            counts.append(total)
        histogram.update(counts)
        if wanted:
            for sample, tokens in zip(chunk, counts, strict=True):
                key = _messages_key(render_messages(prompt.messages, sample.variables))
                if key in wanted:
                    matches.append((sample, tokens, key))
    return histogram, matches


def _chunks(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    chunk: list[Any] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def estimate_cells(
    plan: Plan, answers: Iterable[StoredAnswer] = (), history: History | None = None, delivery: str = STANDARD
) -> dict[str, Any]:
    """The estimate contract for ``plan``, cell by cell, without building its calls.

    ``answers``: stored responses that may be among the plan's calls (those of its models at its
    endpoints); each that is exactly one of them counts as stored and is left out of the new cost.
    """
    tally = Tally(plan, history, delivery)
    by_messages: dict[str, list[StoredAnswer]] = {}
    for answer in {a.key: a for a in answers}.values():  # one answer per key, as the database holds them
        if answer.repeat < plan.repeats and answer.body.get("model") in plan.models:
            by_messages.setdefault(_messages_key(answer.body.get("messages")), []).append(answer)
    samples = plan.samples.samples
    if not samples:
        return tally.result()
    for _version, prompt in plan.prompts:
        histogram, matches = _token_histogram(prompt, samples, set(by_messages))
        for model in plan.models:
            info = plan.catalog.lookup(model)
            entry = tally.model(model)
            endpoint = plan.endpoint(model)
            for effort, temperature in plan.cell_settings(model):
                extra = _logprobs(plan, model, effort)
                body = request_body(prompt, model, temperature, samples[0].variables, effort, info) | extra
                completion, thinking = tally.completion(model, prompt, body)
                for tokens, n in histogram.items():
                    price = call_price(info, tokens, completion, delivery)
                    entry.add(n * plan.repeats, tokens, completion, thinking, price)
                for sample, tokens, key in matches:
                    candidates = [a for a in by_messages[key] if a.body.get("model") == model]
                    if not candidates:
                        continue
                    sent = request_body(prompt, model, temperature, sample.variables, effort, info) | extra
                    for answer in candidates:
                        if request_key(endpoint, sent, answer.repeat) == answer.key:
                            entry.mark_stored(call_price(info, tokens, completion, delivery))
    return tally.result()


def _logprobs(plan: Plan, model: str, effort: str | None) -> dict[str, Any]:
    from workbench.sweep import LOGPROBS_PARAMS

    return dict(LOGPROBS_PARAMS) if plan.wants_logprobs(model, effort) else {}
