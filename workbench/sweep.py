"""Sweep plans: prompt versions x models x efforts x temperatures x samples x repeats, and estimates.

A plan is checked before anything is spent: temperatures in 0-2, efforts known, every template
variable present in the samples, every gold label one of the prompt's labels. Only cells the
catalog says the model accepts are built, so no request it would refuse is ever sent: reasoning
efforts only for reasoning models and only the efforts each takes; temperatures only where the
model takes one (GPT-6 at effort ``none``, never GPT-5, always non-reasoning models). What is
left out is said in the plan's notes. A model missing from the catalog is sent what was asked.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from workbench.chat import refused_params, request_body, request_key
from workbench.datasets import SampleSet, some
from workbench.delivery import STANDARD
from workbench.errors import InputError
from workbench.label_check import looks_like_free_text, rows_text, unknown_labels
from workbench.pricing import EFFORTS, REASONING_RANGE, Catalog, ModelInfo
from workbench.promptfile import PromptFile
from workbench.redaction import redact_url
from workbench.suggest import did_you_mean
from workbench.tokens import count_chat_many, count_text

if TYPE_CHECKING:
    from workbench.plan_cost import StoredAnswer

MAX_TEMPERATURE = 2.0
TOP_LOGPROBS = 5
LOGPROBS_PARAMS = {"logprobs": True, "top_logprobs": TOP_LOGPROBS}
"""What the logprobs opt-in adds to the request body of a model that returns logprobs (so to its request key)."""


@dataclass(frozen=True)
class PlannedCall:
    prompt_version_id: int
    sample_idx: int
    model: str
    temperature: float | None
    repeat: int
    body: dict[str, Any]
    key: str
    endpoint: str  # the server as the key and the stored answer name it (see Plan.endpoint)
    reasoning_effort: str | None = None  # as sent; None: not sent (not a reasoning model, or its default)


@dataclass
class Plan:
    prompts: list[tuple[int, PromptFile]]  # (stored version id, prompt)
    dataset_id: int
    samples: SampleSet
    models: list[str]
    temperatures: list[float]
    repeats: int
    base_url: str
    catalog: Catalog
    endpoints: dict[str, str] = field(default_factory=dict)  # local model -> its endpoint
    logprobs: bool = False  # ask models that return them for logprobs (LOGPROBS_PARAMS)
    efforts: list[str] = field(default_factory=list)  # reasoning efforts asked for (empty: each model's default)
    notes: list[str] = field(default_factory=list)
    source: str | None = None  # where the samples came from, recorded when they are stored
    _calls: list[PlannedCall] | None = field(default=None, init=False, repr=False, compare=False)

    def endpoint(self, model: str) -> str:
        """Where ``model``'s calls go: its local endpoint, else the plan's base URL."""
        return self.endpoints.get(model, self.base_url)

    def cell_settings(self, model: str) -> list[tuple[str | None, float | None]]:
        """The (effort, temperature) of each of ``model``'s cells: only what the catalog says it accepts."""
        return cell_settings(self.catalog.lookup(model), self.efforts, self.temperatures)

    def cell_temperatures(self, model: str) -> list[float | None]:
        return list(dict.fromkeys(t for _, t in self.cell_settings(model)))

    def wants_logprobs(self, model: str, effort: str | None = None) -> bool:
        """Whether ``model``'s calls (at ``effort``) carry the logprobs opt-in: asked for, and the catalog says
        it returns them."""
        return self.logprobs and logprobs_supported(self.catalog, model, effort)

    @property
    def size(self) -> int:
        """How many calls :meth:`calls` holds, counted without building them."""
        cells = sum(len(self.cell_settings(model)) for model in self.models)
        return len(self.prompts) * cells * len(self.samples.samples) * self.repeats

    def calls(self) -> list[PlannedCall]:
        """Every call of the plan, in a stable order (built once: start and execute share it).

        Only a plan that may run builds them (:meth:`check_size`); an estimate never needs them."""
        if self._calls is None:
            self.check_size()
            self._calls = self._build_calls()
        return self._calls

    def size_refusal(self) -> str:
        """Why a plan of more than ``MAX_PLAN_CALLS`` calls cannot run, in one line."""
        cells = self.size // max(1, len(self.prompts) * len(self.samples.samples) * self.repeats)
        return (
            f"this plan has {self.size:,} calls ({len(self.prompts)} prompt(s) x {len(self.samples.samples):,} "
            f"samples x {cells:,} model/temperature cells x {self.repeats:,} repeats); a run holds at most "
            f"{MAX_PLAN_CALLS:,}: use fewer samples, cells or repeats"
        )

    def check_size(self) -> None:
        """Refuse, before any call (or its request key) is built, a plan bigger than a run may hold."""
        if self.size > MAX_PLAN_CALLS:
            raise InputError(self.size_refusal())

    def _build_calls(self) -> list[PlannedCall]:
        out: list[PlannedCall] = []
        for version_id, prompt in self.prompts:
            for model in self.models:
                endpoint = self.endpoint(model)
                info = self.catalog.lookup(model)
                for effort, temperature in self.cell_settings(model):
                    extra = LOGPROBS_PARAMS if self.wants_logprobs(model, effort) else {}
                    for sample in self.samples.samples:
                        body = request_body(prompt, model, temperature, sample.variables, effort, info)
                        body.update(extra)
                        sent = body.get("reasoning_effort")
                        for repeat in range(self.repeats):
                            key = request_key(endpoint, body, repeat)
                            out.append(
                                PlannedCall(
                                    version_id, sample.index, model, temperature, repeat, body, key, endpoint, sent
                                )
                            )
        return out

    @property
    def unsaved(self) -> bool:
        """Whether a prompt version or the data set is not stored yet (provisional negative ids): planned
        and estimated without storing anything, stored when a run starts (:meth:`identify`)."""
        return self.dataset_id < 0 or any(vid < 0 for vid, _ in self.prompts)

    def identify(self, version_ids: list[int], dataset_id: int) -> None:
        """Give the plan its stored identities (the prompt versions' ids in order, the data set's id)."""
        renamed = {old: new for (old, _), new in zip(self.prompts, version_ids, strict=True)}
        self.prompts = [(new, prompt) for (_, prompt), new in zip(self.prompts, version_ids, strict=True)]
        self.dataset_id = dataset_id
        if self._calls is not None and any(old != new for old, new in renamed.items()):
            self._calls = [replace(c, prompt_version_id=renamed[c.prompt_version_id]) for c in self._calls]

    def describe(self) -> dict[str, Any]:
        """The plan as stored with a run (and hashed to recognise an identical re-run)."""
        described = {
            "prompts": [{"id": vid, "name": p.name, "hash": p.content_hash} for vid, p in self.prompts],
            "dataset_id": self.dataset_id,
            "dataset_hash": self.samples.content_hash,
            "models": self.models,
            "temperatures": self.temperatures,
            "repeats": self.repeats,
            "base_url": self.base_url,
        }
        if self.efforts:  # only then: plans without efforts keep the hash they always had
            described["efforts"] = self.efforts
        used = {model: self.endpoints[model] for model in self.models if model in self.endpoints}
        if used:  # only then: plans without local models keep the hash they always had
            described["endpoints"] = used
        if self.logprobs:  # likewise: a plan without the opt-in hashes as before
            described["logprobs"] = True
        return described

    @property
    def plan_hash(self) -> str:
        return hashlib.sha256(json.dumps(self.describe(), sort_keys=True).encode()).hexdigest()


def logprobs_supported(catalog: Catalog, model: str, effort: str | None = None) -> bool:
    """The catalog says ``model`` returns logprobs at ``effort`` (None: none sent); a model it does not know is
    not asked."""
    info = catalog.lookup(model)
    return info is not None and info.takes_logprobs(effort)


def cell_settings(
    info: ModelInfo | None, efforts: list[str], temperatures: list[float]
) -> list[tuple[str | None, float | None]]:
    """(effort, temperature) pairs a model accepts, from the efforts and temperatures asked for.

    A model missing from the catalog, or one that does not reason, gets every temperature and no
    effort. A reasoning model gets the asked efforts it takes (its default, not sent, when none
    were asked or it takes none of them) and, at each, the temperatures if it takes a temperature
    there, else one cell without.
    """
    if info is None or not info.reasoning:
        takes = info is None or info.takes_temperature(None)
        return [(None, t) for t in temperatures] if takes else [(None, None)]
    chosen: list[str | None] = [e for e in efforts if e in info.efforts] or [None]
    out: list[tuple[str | None, float | None]] = []
    for effort in chosen:
        if info.takes_temperature(effort):
            out += [(effort, t) for t in temperatures]
        else:
            out.append((effort, None))
    return out


def effort_notes(model: str, info: ModelInfo | None, efforts: list[str], temperatures: list[float]) -> list[str]:
    """What the planner left out for ``model`` and why, one line each."""
    if info is None:
        return []
    if not info.reasoning:
        return []
    notes = []
    left_out = [e for e in efforts if e not in info.efforts]
    kept = [e for e in efforts if e in info.efforts]
    if left_out:
        also = f"; it runs at its default effort ({info.default_effort})" if not kept else ""
        notes.append(
            f"{model} does not take effort {', '.join(left_out)} (it takes {', '.join(info.efforts)}): left out{also}"
        )
    levels: list[str | None] = list(kept) or [None]
    without = [e or f"default ({info.default_effort})" for e in levels if not info.takes_temperature(e)]
    if without and temperatures and (len(temperatures) > 1 or temperatures != [1.0]):
        where = "any effort" if info.temperature_rule == "never" else "effort none only"
        notes.append(
            f"{model} takes temperature at {where}: effort {', '.join(without)} runs once without a temperature"
        )
    return notes


OPENAI_HOST = "api.openai.com"


def lifecycle_notes(models: list[str], catalog: Catalog, base_url: str, local: set[str]) -> list[str]:
    """Warnings for models shutting down within 60 days; on OpenAI's own URL a shut-down model is refused.

    Other servers (gateways, proxies, Azure) may still serve a model OpenAI shut down, so there it is
    tried, and a "model not found" stops its cells with the same words (see the runner).
    """
    notes = []
    on_openai = urlsplit(base_url).hostname == OPENAI_HOST
    for model in models:
        info = catalog.lookup(model)
        if info is None or model in local or not info.shutdown:
            continue
        if info.retired():
            if on_openai:
                raise InputError(f"{model} is retired: it {info.lifecycle_text()}; choose another model")
            notes.append(f"warning: {model} {info.lifecycle_text()} at OpenAI; it is tried on {base_url}")
        elif info.retiring():
            notes.append(f"warning: {model} {info.lifecycle_text()} (in {info.days_left()} days)")
    return notes


def parse_efforts(text: str | None) -> list[str]:
    """``"none,low"`` -> ``["none", "low"]``; an unknown effort is an error naming the known ones."""
    efforts = [e.strip().lower() for e in str(text or "").split(",") if e.strip()]
    for effort in efforts:
        if effort not in EFFORTS:
            raise InputError(f"effort {effort!r} is not a reasoning effort (known: {', '.join(EFFORTS)})")
    return list(dict.fromkeys(efforts))


def check_efforts(efforts: list[str], models: list[str], catalog: Catalog) -> list[str]:
    """Refuse an effort no chosen model takes, naming what each chosen model takes; notes otherwise."""
    efforts = parse_efforts(",".join(efforts))
    if not efforts:
        return []
    infos = {m: catalog.lookup(m) for m in models}
    reasoning = {m: i for m, i in infos.items() if i is not None and i.reasoning}
    if not reasoning:
        return [f"--efforts {','.join(efforts)} ignored: none of the chosen models reasons (efforts do not apply)"]
    for effort in efforts:
        if not any(effort in info.efforts for info in reasoning.values()):
            takes = "; ".join(f"{m} takes {', '.join(i.efforts)}" for m, i in reasoning.items())
            raise InputError(f"no chosen model takes effort {effort!r}: {takes}")
    return []


def check_temperatures(values: list[float]) -> list[float]:
    """Distinct temperatures in 0-2; ``-0`` is 0 (one request key for one request), the error shows the value given."""
    if not values:
        raise InputError("give at least one temperature")
    for t in values:
        if not 0 <= t <= MAX_TEMPERATURE:
            raise InputError(f"temperature {repr(float(t)).removesuffix('.0')} is outside 0-2")  # 2.0000001, not 2
    return list(dict.fromkeys(float(t) + 0.0 for t in values))  # -0.0 + 0.0 == +0.0


def parse_temperatures(text: str) -> list[float]:
    values = []
    for part in str(text).split(","):
        part = part.strip()
        if not part:
            continue
        try:
            values.append(float(part))
        except ValueError:
            raise InputError(f"temperature {part!r} is not a number") from None
    return check_temperatures(values)


MAX_PLAN_CALLS = 1_000_000  # what one run may hold: its calls, items and request keys fit in memory

MODEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/@+\-]{0,199}$")


def check_model_name(model: str, where: str = "model") -> str:
    """A model id as servers name them (``gpt-4.1-nano``, ``ft:gpt-4o:org::id``, ``meta-llama/Llama-3``);
    never a path (``../../etc/passwd``), control characters or 200+ characters."""
    if not isinstance(model, str) or not MODEL_NAME.match(model) or ".." in model.split("/"):
        raise InputError(f"{where}: {str(model)[:80]!r} is not a model name")
    return model


def parse_models(text: str) -> list[str]:
    models = [check_model_name(m.strip()) for m in str(text).split(",") if m.strip()]
    if not models:
        raise InputError("give at least one model")
    return list(dict.fromkeys(models))


def check_compatible(prompt: PromptFile, samples: SampleSet) -> None:
    """Variables present, gold labels known; errors name the row."""
    missing = [v for v in prompt.variables if v not in samples.variable_names]
    if missing and missing[0] == samples.label_column:
        raise InputError(
            f"prompt {prompt.name!r} uses {{{{{missing[0]}}}}}, the gold label column of {samples.name}:"
            " the model must not see the answer"
        )
    if missing:
        have = some(samples.variable_names) or "none"
        raise InputError(
            f"prompt {prompt.name!r} uses {{{{{missing[0]}}}}} but {samples.name} has no column {missing[0]!r}"
            f" (variables: {have})"
        )
    unknown = unknown_labels(samples, prompt.labels)
    if unknown:
        free = looks_like_free_text(samples)
        if free:
            raise InputError(f"{samples.name}: {free}")
        raise InputError(
            f"{samples.name}: {len(unknown):,} gold label(s) are not among the prompt's labels"
            f" ({', '.join(prompt.labels)}): {rows_text(unknown)}"
        )


def build_plan(
    prompts: list[tuple[int, PromptFile]],
    dataset_id: int,
    samples: SampleSet,
    models: list[str],
    temperatures: list[float],
    repeats: int,
    base_url: str,
    catalog: Catalog,
    endpoints: dict[str, str] | None = None,
    logprobs: bool = False,
    efforts: list[str] | None = None,
) -> Plan:
    """A checked plan; ``endpoints`` names where local models' calls go (others go to ``base_url``);
    ``logprobs`` asks the models that return them for logprobs (a note names the others); ``efforts``
    are the reasoning efforts to compare (empty: each reasoning model at its default)."""
    if not prompts:
        raise InputError("give at least one prompt")
    if repeats < 1:
        raise InputError("--repeats must be at least 1")
    for _, prompt in prompts:
        check_compatible(prompt, samples)
    plan = Plan(
        prompts,
        dataset_id,
        samples,
        parse_models(",".join(models)),
        check_temperatures(temperatures),
        repeats,
        redact_url(base_url.rstrip("/")),  # stored in every response and run: never with credentials
        catalog,
        {model: redact_url(endpoint) for model, endpoint in (endpoints or {}).items()},
        bool(logprobs),
    )
    plan.notes.extend(lifecycle_notes(plan.models, catalog, plan.base_url, set(plan.endpoints)))
    plan.notes.extend(check_efforts(list(efforts or []), plan.models, catalog))
    plan.efforts = parse_efforts(",".join(efforts or []))
    if plan.size > MAX_PLAN_CALLS:  # estimated without building its calls; refused before running (check_size)
        plan.notes.append(plan.size_refusal())
    for model in plan.models:
        if plan.logprobs and not any(plan.wants_logprobs(model, e) for e, _ in plan.cell_settings(model)):
            plan.notes.append(f"{model} does not return logprobs (per the catalog): its calls are sent without them")
        info = catalog.lookup(model)
        if info is None:
            plan.notes.append(
                f"{model}: not in the price catalog, so its cost is unknown{did_you_mean(model, catalog.models)} "
                "(add it in a file named by WORKBENCH_CATALOG)"
            )
        elif info.local:
            plan.notes.append(
                f"{model}: local model, no charge; its token counts here use OpenAI's tokenizer (o200k_base), "
                "not its own"
            )
        elif info.reasoning:
            plan.notes.extend(effort_notes(model, info, plan.efforts, plan.temperatures))
        elif not info.temperature and len(plan.temperatures) > 1:
            plan.notes.append(f"{model} does not accept temperature: one cell without it")
        if info is not None:
            for _, prompt in prompts:
                for effort in {e for e, _ in plan.cell_settings(model)}:
                    dropped = refused_params(prompt.params, info, effort)
                    if dropped:
                        at = f" at effort {effort}" if effort else ""
                        plan.notes.append(
                            f"{model} refuses {', '.join(dropped)}{at}: prompt {prompt.name!r} is sent without them"
                        )
                if "max_tokens" in prompt.params and info.max_tokens_param == "max_completion_tokens":
                    plan.notes.append(max_tokens_note(model, info, prompt, {e for e, _ in plan.cell_settings(model)}))
    plan.notes = list(dict.fromkeys(plan.notes))
    return plan


def max_tokens_note(model: str, info: ModelInfo, prompt: PromptFile, efforts: set[str | None]) -> str:
    """What a reasoning model is sent for a prompt's ``max_tokens`` (see :func:`chat.request_body`)."""
    cap = prompt.params["max_tokens"]
    rooms = sorted(
        (info.reasoning_room(e), e or info.default_effort or "default") for e in efforts if info.reasoning_room(e)
    )
    text = (
        f"{model} takes max_completion_tokens, not max_tokens: prompt {prompt.name!r}'s max_tokens {cap} is the "
        "answer's budget"
    )
    if not rooms:
        return text + ", sent as max_completion_tokens"
    room_text = ", ".join(f"+{room:,} at effort {effort}" for room, effort in rooms)
    return (
        f"{text}; reasoning counts against the same cap, so it is sent with room to reason ({room_text}); "
        "set max_completion_tokens in the prompt's params to choose the cap yourself"
    )


def estimated_completion_tokens(prompt: PromptFile) -> int:
    """A classifier answers with one label: the longest label's tokens plus one, within max_tokens."""
    longest = max(count_text(label) for label in prompt.labels) + 1
    cap = prompt.params.get("max_tokens") or prompt.params.get("max_completion_tokens")
    return min(longest, int(cap)) if cap else longest


def estimated_reasoning_tokens(
    info: ModelInfo | None, effort: str | None, history: Mapping[tuple[str, str | None], float] | None, model: str
) -> tuple[int, str | None]:
    """(reasoning tokens per call to price, where that figure comes from) for one cell.

    From the mean this database has stored for the model at that effort when it has one, else the
    upper end of a stated range; (0, None) for models that do not reason.
    """
    if info is None or not info.reasoning:
        return 0, None
    level = effort or info.default_effort or "medium"
    seen = (history or {}).get((model, effort))
    if seen is not None:
        mean = round(seen)
        return mean, f"{model} at effort {level}: ~{mean:,} reasoning tokens per call, the mean stored here"
    low, high = REASONING_RANGE.get(level, (0, 32_000))
    if high == 0:
        return 0, None
    return high, (
        f"{model} at effort {level}: no answers stored yet, reasoning assumed {low:,}-{high:,} tokens per call "
        "(the upper end is priced: an estimate)"
    )


def estimate(
    plan: Plan,
    calls: list[PlannedCall] | None = None,
    stored: set[str] | None = None,
    history: dict[tuple[str, str | None], float] | None = None,
    delivery: str = STANDARD,
    answers: Iterable[StoredAnswer] = (),
) -> dict[str, Any]:
    """The estimate contract: calls, est_total_usd and per-model prompt/completion tokens and cost.

    Prompt tokens are exact (tiktoken, cookbook rule) for every call; completion tokens are an
    estimate, and so are reasoning tokens (see :func:`estimated_reasoning_tokens`; ``history`` maps
    (model, effort sent) to the mean reasoning tokens this database has stored). Costs are at the
    ``delivery`` mode's price (the catalog's batch or flex factor); ``est_new_usd_standard`` is what the
    new calls would cost as standard calls.

    Without ``calls`` the whole plan is estimated cell by cell without building a call
    (:func:`workbench.plan_cost.estimate_cells`; ``answers`` are the stored responses that may be
    among its calls). With ``calls``, just those, call by call; ``stored`` keys are already paid for:
    they are counted in ``stored`` and excluded from ``est_new_usd``.
    """
    from workbench.plan_cost import Tally, call_price, estimate_cells

    if calls is None:
        return estimate_cells(plan, answers, history, delivery)
    stored = stored or set()
    # Repeats and models share messages: count each distinct message list once.
    message_keys = [json.dumps(c.body["messages"], sort_keys=True) for c in calls]
    unique = dict(zip(message_keys, (c.body["messages"] for c in calls), strict=True))
    counts = dict(zip(unique, count_chat_many(unique.values()), strict=True))
    prompts = dict(plan.prompts)
    tally = Tally(plan, history, delivery)
    for call, message_key in zip(calls, message_keys, strict=True):
        completion, thinking = tally.completion(call.model, prompts[call.prompt_version_id], call.body)
        price = call_price(plan.catalog.lookup(call.model), counts[message_key], completion, delivery)
        entry = tally.model(call.model)
        entry.add(1, counts[message_key], completion, thinking, price)
        if call.key in stored:
            entry.mark_stored(price)
    return tally.result()
