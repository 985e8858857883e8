"""The workbench's use cases, shared by the CLI, the Streamlit pages and notebooks.

``Workbench.open(settings)`` builds the engine and catalog once; the provider (the SDK client) is
created on first use. Each method is one thing a user does: plan a sweep, estimate it, run or
resume it, summarise a run.
"""

from __future__ import annotations

import copy
import json
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy.engine import Engine

from workbench import formatting as fmt
from workbench.config import Settings
from workbench.datasets import SampleSet
from workbench.delivery import BATCH, FLEX, STANDARD, discounted, parse_delivery
from workbench.errors import BudgetError, InputError, WorkbenchError
from workbench.local import NO_MODEL_HELP, LocalModel, configured_names, local_models, runnable
from workbench.local.server import SERVERS, LocalServers
from workbench.pricing import Catalog, delivery_factor, usd
from workbench.promptfile import PromptFile
from workbench.providers.base import Provider
from workbench.redaction import redact_url
from workbench.runner import Outcome, Progress, Runner
from workbench.storage import describe, make_engine
from workbench.storage import repository as repo
from workbench.storage.liveness import is_live
from workbench.storage.models import Run
from workbench.suggest import did_you_mean
from workbench.sweep import Plan, build_plan, estimate

if TYPE_CHECKING:
    from workbench.providers.router import ModelRouter

# The sweep JSON contract's cell fields, plus which prompt version the cell belongs to.
SWEEP_CELL_KEYS = (
    "prompt_name",
    "prompt_version_id",
    "model",
    "reasoning_effort",
    "temperature",
    "n",
    "accuracy",
    "macro_f1",
    "unparsed",
    "errors",
    "prompt_tokens",
    "cached_tokens",
    "completion_tokens",
    "reasoning_tokens",
    "cut_off",
    "cost_usd",
    "cost_per_1k_usd",
    "latency_p50_ms",
    "latency_p95_ms",
    "consistency",
)


ESTIMATES_KEPT = 16  # plans whose estimate is remembered (see Workbench.estimate)
_ESTIMATES_LOCK = threading.Lock()
_ESTIMATES: OrderedDict[tuple[str, str, str, tuple[int, int]], tuple[Catalog, dict[str, Any], int]] = OrderedDict()

OFFERED_TTL_S = 600.0
_OFFERED: dict[str, tuple[float, list[str]]] = {}  # base URL -> (when, GET /v1/models ids)


@dataclass
class Workbench:
    settings: Settings
    engine: Engine
    catalog: Catalog
    servers: LocalServers = field(default=SERVERS, repr=False)
    _provider: Provider | None = field(default=None, repr=False)

    @classmethod
    def open(cls, settings: Settings, engine: Engine | None = None, write: bool = False) -> Workbench:
        """The workbench over ``settings``; a database this user cannot write opens read-only, unless
        ``write`` (a command that stores something), which then fails in one line naming the file."""
        catalog = Catalog.load(settings.catalog_path).with_local(configured_names(settings), "settings")
        return cls(settings, engine or make_engine(settings.database_url, write=write), catalog)

    @property
    def local(self) -> dict[str, LocalModel]:
        """The local models (see :mod:`workbench.local`), by name."""
        return local_models(self.settings, self.catalog)

    @property
    def provider(self) -> Provider:
        """Routes each call to its model's server (the SDK is imported, a local server started, on first use)."""
        if self._provider is None:
            from workbench.providers.router import ModelRouter

            self._provider = ModelRouter(self.settings, self.local, self.servers)
        return self._provider

    # --- which models ------------------------------------------------------------------------

    def default_models(self) -> tuple[list[str], str | None]:
        """The models to use when none are named, and a note when that is the local model.

        With a remote server set up (a key, or a base URL other than OpenAI's): the catalog's default
        pair (its cheap model and the next one up among models not retiring within 60 days; today
        gpt-6-luna and gpt-6-sol). Without one, the local model when it is installed. With neither,
        an error that says both ways to get a model.
        """
        if self.settings.remote_configured:
            pair = self.catalog.default_pair()
            if not pair:
                raise InputError("the price catalog names no default models that are not retiring; give --models")
            return pair, None
        local = runnable(self.local)
        if not local:
            raise InputError(NO_MODEL_HELP)
        return [local[0]], (
            f"no OPENAI_API_KEY: using the local model {local[0]} (runs on this machine, no charge); "
            "set OPENAI_API_KEY to use OpenAI's models"
        )

    def check_runnable(self, models: Sequence[str]) -> None:
        """Refuse, before any call, a model that cannot be called here, saying how to fix it."""
        local = self.local
        for model in models:
            if model in local:
                local[model].check()
            elif not self.settings.remote_configured:
                ready = runnable(local)
                hint = f" or use the local model ({', '.join(ready)})" if ready else ""
                raise InputError(
                    f"{model} needs OPENAI_API_KEY, which is not set: set it (and OPENAI_BASE_URL for a server "
                    f"other than OpenAI's){hint}"
                )

    def offered_models(self) -> list[str] | None:
        """What OPENAI_BASE_URL lists (``GET /v1/models``), cached per server for 10 minutes; None when
        it cannot be asked (no server set up) or does not answer."""
        if not self.settings.remote_configured:
            return None
        key = self.settings.base_url.rstrip("/")
        now = time.monotonic()
        cached = _OFFERED.get(key)
        if cached is not None and now - cached[0] < OFFERED_TTL_S:
            return cached[1]
        try:
            offered = list(self.provider.list_models())
        except WorkbenchError:
            return None
        _OFFERED[key] = (now, offered)
        return offered

    def model_warnings(self, models: Sequence[str]) -> list[str]:
        """A warning for each remote model the server does not list, with the closest names it does."""
        remote = [m for m in models if m not in self.local]
        offered = self.offered_models() if remote else None
        if not offered:
            return []
        listed = set(offered)
        warnings = []
        for model in remote:
            info = self.catalog.lookup(model)
            family = info.name if info is not None else model
            if model in listed or (family in listed and model != family):
                continue
            warnings.append(
                f"warning: {model} is not listed by {self.settings.base_url} (GET /v1/models)"
                f"{did_you_mean(model, offered) or did_you_mean(model, self.catalog.models)}"
            )
        return warnings

    def endpoints(self, models: Sequence[str]) -> dict[str, str]:
        local = self.local
        return {model: local[model].endpoint for model in models if model in local}

    # --- planning ----------------------------------------------------------------------------

    def plan(
        self,
        prompts: Sequence[PromptFile],
        samples: SampleSet,
        models: Sequence[str],
        temperatures: Sequence[float],
        repeats: int = 1,
        source: str | None = None,
        created_by: str | None = None,
        logprobs: bool = False,
        efforts: Sequence[str] = (),
        store: bool = True,
    ) -> Plan:
        """Validate the prompt versions and samples, store them unless ``store`` is False, and return the plan.

        Unstored (``store=False``: a sweep that may yet be refused, an estimate), the plan uses the
        ids of versions and samples already stored and provisional negative ids for the others;
        :meth:`start` stores them, so a refused sweep leaves nothing behind.
        ``logprobs`` asks the models whose catalog entry says they return logprobs for them (the
        cascade's ``logprob`` signal); it is part of the request body, so of the request key.
        ``efforts``: the reasoning efforts to compare (empty: each reasoning model at its default)."""
        from workbench.sweep import check_compatible

        for prompt in prompts:
            check_compatible(prompt, samples)
        if store:
            versions = [(repo.save_prompt_version(self.engine, p, created_by=created_by).id, p) for p in prompts]
            dataset_id = repo.save_dataset(self.engine, samples, source=source, created_by=created_by).id
        else:
            found = [(repo.find_prompt_version(self.engine, p), p) for p in prompts]
            versions = [(vid if vid is not None else -1 - i, p) for i, (vid, p) in enumerate(found)]
            dataset_id = repo.find_dataset(self.engine, samples) or -1
        plan = build_plan(
            versions,
            dataset_id,
            samples,
            list(models),
            list(temperatures),
            repeats,
            self.settings.base_url,
            self.catalog,
            self.endpoints(models),
            logprobs,
            list(efforts),
        )
        plan.source = source
        plan.notes.extend(self.model_warnings(plan.models))
        return plan

    def estimate(self, plan: Plan, delivery: str = STANDARD) -> dict[str, Any]:
        """The estimate at the ``delivery`` mode's price (standard, flex or batch), without building calls.

        Remembered for the same plan, catalog and stored answers (the Sweep page estimates its plan
        again on every rerun; a million samples take seconds to count)."""
        from workbench.plan_cost import StoredAnswer

        marker = (describe(self.engine), plan.plan_hash, delivery, repo.answers_marker(self.engine))
        with _ESTIMATES_LOCK:  # the UI's sessions share it
            hit = _ESTIMATES.get(marker)
            if hit is not None and hit[0] is plan.catalog:
                _ESTIMATES.move_to_end(marker)
                result = copy.deepcopy(hit[1])
                result["notes"] = list(plan.notes) + result["notes"][hit[2] :]
                return result
        endpoints = list(dict.fromkeys(plan.endpoint(m) for m in plan.models))
        answers = [
            StoredAnswer(key, json.loads(body), repeat)
            for key, body, repeat in repo.stored_answers(self.engine, plan.models, endpoints)
        ]
        result = estimate(plan, history=repo.reasoning_history(self.engine), delivery=delivery, answers=answers)
        with _ESTIMATES_LOCK:
            _ESTIMATES[marker] = (plan.catalog, copy.deepcopy(result), len(plan.notes))
            while len(_ESTIMATES) > ESTIMATES_KEPT:
                _ESTIMATES.popitem(last=False)
        return result

    def check_delivery(self, plan: Plan, delivery: str) -> str:
        """The checked delivery mode: flex and batch are OpenAI's, so local models take standard calls."""
        mode = parse_delivery(delivery)
        local = [model for model in plan.models if model in plan.endpoints]
        if mode != STANDARD and local:
            raise InputError(
                f"{', '.join(local)} is a local model: {mode} is OpenAI's half-price delivery; run it as standard"
            )
        if mode == FLEX:
            no_flex = [
                m for m in plan.models if (info := self.catalog.lookup(m)) is not None and info.flex_factor is None
            ]
            if no_flex:
                raise InputError(
                    f"{', '.join(no_flex)} does not offer Flex processing (OpenAI's pricing page): use batch "
                    "(--batch) for half price, or standard"
                )
        return mode

    def check_budget(self, est: dict[str, Any], max_cost_usd: float | None) -> None:
        """Refuse, before any call, a plan whose new calls may cost more than ``max_cost_usd``."""
        if max_cost_usd is None:
            return
        if est["est_new_usd"] is None:
            unknown = ", ".join(m["model"] for m in est["models"] if m["est_cost_usd"] is None)
            raise BudgetError(f"cannot enforce --max-cost: the price of {unknown} is unknown (add it to the catalog)")
        if est["est_new_usd"] > max_cost_usd:
            raise BudgetError(
                f"estimated cost {fmt.money(est['est_new_usd'])} of {est['new_calls']} new calls exceeds the budget "
                f"of {fmt.money(max_cost_usd)}; nothing was called"
            )

    # --- running -----------------------------------------------------------------------------

    def start(
        self,
        plan: Plan,
        name: str = "",
        concurrency: int = 8,
        max_cost_usd: float | None = None,
        created_by: str | None = None,
        key_kind: str | None = None,
        resume: bool = True,
        notes: list[str] | None = None,
        delivery: str = STANDARD,
    ) -> Run:
        """A run for this plan: the unfinished run of the identical plan when there is one, else a new one.

        "Identical" means the same calls: the same files and settings with a catalog that now sends a
        cell differently (a model that takes no temperature, say) plan other calls, and get a new run
        (which reuses every stored answer); ``notes`` receives the line that says so.
        """
        delivery = self.check_delivery(plan, delivery)
        if plan.unsaved:
            self.store_plan(plan, created_by)
        if resume:
            unfinished = repo.find_unfinished_run(self.engine, plan.plan_hash)
            if unfinished is not None and not is_live(unfinished) and unfinished.delivery == delivery:
                planned = {call.key for call in plan.calls()}
                if repo.run_request_keys(self.engine, unfinished.id) == planned:
                    return unfinished
                if notes is not None:
                    notes.append(
                        f"run {unfinished.id} was planned with other calls (the catalog now sends some of its cells "
                        "differently): starting a new run, which reuses every answer already stored"
                    )
        calls = plan.calls()
        items = [
            repo.NewItem(c.prompt_version_id, c.sample_idx, c.model, c.temperature, c.repeat, c.key, c.reasoning_effort)
            for c in calls
        ]
        run = Run(
            name=name or f"{', '.join(p.name for _, p in plan.prompts)} on {plan.samples.name}",
            status="pending",
            plan_hash=plan.plan_hash,
            plan_json=json.dumps(plan.describe()),
            dataset_id=plan.dataset_id,
            base_url=_run_base_url(plan),
            models_json=json.dumps(plan.models),
            temperatures_json=json.dumps(plan.temperatures),
            repeats=plan.repeats,
            concurrency=concurrency,
            max_cost_usd=max_cost_usd,
            created_by=created_by,
            key_kind=key_kind or ("server" if self.settings.api_key else "none"),
            delivery=delivery,
        )
        return repo.create_run(self.engine, run, items)

    def execute(
        self,
        run: Run,
        plan: Plan,
        concurrency: int | None = None,
        max_cost_usd: float | None = None,
        on_progress: Callable[[Progress], None] | None = None,
        cancel: threading.Event | None = None,
        stream: bool = False,
        wait: bool = True,
        leave: threading.Event | None = None,
    ) -> Outcome:
        """Execute the unanswered items of ``run`` in its delivery mode (``wait``: batch runs only)."""
        self.check_runnable(plan.models)
        if run.delivery == BATCH:
            limit = max_cost_usd if max_cost_usd is not None else run.max_cost_usd
            return self._batch_executor(plan, limit, on_progress, cancel, wait, leave).execute(run, plan)
        runner = Runner(
            self.engine,
            self.provider,
            self.catalog,
            concurrency=concurrency or run.concurrency,
            max_cost_usd=max_cost_usd if max_cost_usd is not None else run.max_cost_usd,
            max_attempts=self.settings.max_attempts,
            stream=stream,
            on_progress=on_progress,
            cancel=cancel,
            delivery=run.delivery,
            flex_backoff_s=self.settings.flex_backoff,
        )
        return runner.execute(run, plan)

    def _batch_executor(
        self,
        plan: Plan,
        max_cost_usd: float | None,
        on_progress: Callable[[Progress], None] | None,
        cancel: threading.Event | None,
        wait: bool,
        leave: threading.Event | None = None,
    ) -> Any:
        from workbench.batch import BatchExecutor

        def estimate_cost(calls: list[Any]) -> Decimal | None:
            est = estimate(plan, calls, set(), delivery=BATCH)["est_new_usd"]
            return None if est is None else Decimal(repr(est))

        return BatchExecutor(
            self.engine,
            cast("ModelRouter", self.provider).remote().client,  # batches go to OPENAI_BASE_URL's server
            self.catalog,
            self.settings.base_url,
            poll_s=self.settings.batch_poll,
            max_rounds=max(2, min(self.settings.max_attempts, 4)),
            max_cost_usd=max_cost_usd,
            wait=wait,
            on_progress=on_progress,
            cancel=cancel,
            estimate_cost=estimate_cost,
            leave=leave,
        )

    def store_plan(self, plan: Plan, created_by: str | None = None) -> None:
        """Store a plan's prompt versions and samples (each once) and give the plan their ids."""
        ids = [int(repo.save_prompt_version(self.engine, p, created_by=created_by).id or 0) for _, p in plan.prompts]
        dataset = repo.save_dataset(self.engine, plan.samples, source=plan.source, created_by=created_by)
        plan.identify(ids, int(dataset.id or 0))

    def plan_for_run(self, run: Run) -> Plan:
        """Rebuild the plan of a stored run (to resume it)."""
        plan = json.loads(run.plan_json)
        prompts = [(p["id"], repo.get_prompt_version(self.engine, p["id"])[1]) for p in plan["prompts"]]
        samples = repo.load_dataset(self.engine, run.dataset_id)
        remote = [model for model in plan["models"] if model not in plan.get("endpoints", {})]
        here = redact_url(self.settings.base_url.rstrip("/"))
        if remote and plan.get("base_url") and redact_url(plan["base_url"].rstrip("/")) != here:
            raise InputError(
                f"run {run.id} was made against {plan['base_url']}; set OPENAI_BASE_URL to that to resume it"
            )
        return build_plan(
            prompts,
            run.dataset_id,
            samples,
            plan["models"],
            plan["temperatures"],
            plan["repeats"],
            plan["base_url"],
            self.catalog,
            plan.get("endpoints"),
            bool(plan.get("logprobs")),
            plan.get("efforts"),
        )

    # --- results -----------------------------------------------------------------------------

    def summary(self, run_id: int, outcome: Outcome | None = None) -> dict[str, Any]:
        """The sweep JSON contract for a stored run (``outcome`` adds what this invocation paid)."""
        from workbench.metrics import cell_summaries
        from workbench.storage.results import results_frame

        run = repo.get_run(self.engine, run_id)
        frame, labels = results_frame(self.engine, run_id)
        cells = [{key: cell[key] for key in SWEEP_CELL_KEYS if key in cell} for cell in cell_summaries(frame, labels)]
        known = all(c["cost_usd"] is not None for c in cells)
        money = repo.run_money(self.engine, run_id)
        total = sum((Decimal(repr(c["cost_usd"])) for c in cells if c["cost_usd"] is not None), Decimal(0))
        result: dict[str, Any] = {
            "run_id": run.id,
            "name": run.name,
            "status": run.status,
            "error": run.error,
            "new_calls": outcome.new_calls if outcome else 0,
            # with an outcome: what this invocation paid; without (show): what the run paid in all
            "spent_usd": (usd(outcome.spent_usd) if outcome.spent_usd is not None else None)
            if outcome
            else money["spent_usd"],
            "reused": outcome.reused if outcome else None,
            "reused_usd": money["reused_usd"],
            "total_cost_usd": usd(total) if known else None,
            "base_url": run.base_url,
            "delivery": run.delivery,
            "saving_usd": self.saving(run),
            "repeats": run.repeats,
            "created_at": run.created_at.isoformat(timespec="seconds"),
            "cells": cells,
        }
        endpoints = json.loads(run.plan_json or "{}").get("endpoints")
        if endpoints:
            result["endpoints"] = endpoints  # where local models' calls went
        notes = cut_off_notes(cells) + billing_notes(self.engine, self.catalog, run_id)
        if notes:
            result["notes"] = notes
        if result["error"] is None:
            result.pop("error")
        return result

    def cascade(
        self,
        run_id: int,
        cheap: str,
        strong: str,
        target: float | None = None,
        tolerance: float = 0.02,
        strong_calls: int = 1,
    ) -> dict[str, Any]:
        """What a cascade of two cells of a stored run would have answered and cost (``workbench.cascade``)."""
        from workbench.cascade import cascade_report
        from workbench.storage.results import answer_probabilities, results_frame, sample_rows

        repo.get_run(self.engine, run_id)
        frame, labels = results_frame(self.engine, run_id)
        if frame.empty:
            raise InputError(f"run {run_id} has no items")
        return cascade_report(
            frame,
            labels,
            cheap,
            strong,
            probabilities=answer_probabilities(self.engine, run_id),
            run_id=run_id,
            rows=sample_rows(self.engine, run_id),
            tolerance=tolerance,
            target=target,
            strong_calls=strong_calls,
        )

    def cascade_code(self, report: dict[str, Any], fmt: str, policy: dict[str, Any] | None = None) -> str:
        """The recommended (or given) policy of a cascade report as Python or TypeScript code."""
        from workbench.export.cascade_code import render_cascade, spec_from_report
        from workbench.sweep import logprobs_supported

        run = repo.get_run(self.engine, int(report["run_id"]))
        plan = json.loads(run.plan_json)
        prompts = {p["id"]: repo.get_prompt_version(self.engine, p["id"])[1] for p in plan["prompts"]}
        asked = {m for m in plan["models"] if plan.get("logprobs") and logprobs_supported(self.catalog, m)}
        return render_cascade(spec_from_report(report, prompts, asked, policy), fmt)

    def saving(self, run: Run) -> float | None:
        """What the answers this run paid for would have cost more as standard calls (0 for standard runs)."""
        if not discounted(run.delivery):
            return 0.0
        total = Decimal(0)
        for model, paid in repo.paid_by_model(self.engine, run.id):
            factor = delivery_factor(self.catalog.lookup(model), run.delivery)
            if paid is None or not factor:
                return None
            total += Decimal(repr(paid)) / factor - Decimal(repr(paid))
        return usd(total)


def billing_notes(engine: Engine, catalog: Catalog, run_id: int) -> list[str]:
    """What a run was billed that its cells do not show, one line each (``show``, ``report``, Compare):

    answers another known model gave (billed at that model's price, see ``Runner._billed_model``),
    and attempts the server billed whose answer was refused as malformed (charged, not stored).
    """
    from workbench.storage import charges

    notes = []
    others: dict[tuple[str, str], int] = {}
    for asked, named, n in repo.answer_models(engine, run_id):
        requested, answered = catalog.lookup(asked), catalog.lookup(named)
        if answered is not None and (requested is None or answered.name != requested.name):
            others[(asked, answered.name)] = others.get((asked, answered.name), 0) + n
    for (asked, other), n in others.items():
        notes.append(
            f"{n} answer(s) came from {other} instead of {asked} (billed at {other}'s price; the server "
            "answered with another model)"
        )
    n, usd_known, unknown, estimated = charges.for_run(engine, run_id)
    if n:
        how = f"{fmt.money(usd_known)}" + (f" + {unknown} of unknown price" if unknown else "")
        est = f", {estimated} at their estimate (usage unreadable)" if estimated else ""
        notes.append(
            f"{n} paid attempt(s) came back malformed (HTTP 200, refused, retried): charged {how}{est}, "
            "counted in this run's spend and the budgets; nothing was stored for them"
        )
    return notes


def cut_off_notes(cells: Sequence[dict[str, Any]]) -> list[str]:
    """One line per cell whose answers were cut off by reasoning (empty content, finish ``length``)."""
    from workbench.metrics import cell_name

    return [
        f"{cell['cut_off']} answer(s) of {cell_name(cell)} were cut off by reasoning (empty answer, finish length): "
        "the reasoning used the whole max_completion_tokens; raise it in the prompt's params or lower the effort"
        for cell in cells
        if cell.get("cut_off")
    ]


def _run_base_url(plan: Plan) -> str:
    """The server a run is shown with: OPENAI_BASE_URL when any model goes there, else the local one(s)."""
    if any(model not in plan.endpoints for model in plan.models):
        return plan.base_url
    return ", ".join(dict.fromkeys(plan.endpoint(model) for model in plan.models))
