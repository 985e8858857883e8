"""Starting, resuming and reading runs for someone: the one door the CLI, the pages and notebooks use.

Everything a caller must show before any money is spent is decided here, once:

- **who may run**: viewers may not (``RefusedError``, before anything is stored);
- **whose run**: a run is resumed by its maker or an admin; re-running it makes a run of the actor's;
- **which key pays**: a run paid with its maker's own key resumes only with an own key (the server's
  key must not pay for it unasked); new runs record the actor's key kind;
- **budgets**: the caller's limit (``--max-cost``, the Budget field, the run's own limit on resume),
  the per-run cap, and on the server's key the person's day and the team's month
  (:mod:`workbench.budgets`); the tightest goes to the runner so spending also stops mid-run;
- **which models can be called here** (a key, a local model that can start);
- **liveness**: a live run (:func:`workbench.storage.liveness.is_live`) is never started twice.

A refusal is one line, the same whether it stops a sweep or a resume, and nothing was called.
``prepare_*`` returns a :class:`Prepared` (the plan, the estimate, the cap, and the refusal when money
or models stop it, so a screen can still show the estimate); :func:`launch` refuses again if so, then
starts the run with an executor: :class:`Inline` (the CLI, notebooks) or the UI's ``JobManager``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from workbench import budgets
from workbench.access import User, key_kind, load_secrets_file
from workbench.datasets import SampleSet
from workbench.errors import BudgetError, RefusedError, WorkbenchError
from workbench.promptfile import PromptFile
from workbench.storage import repository as repo
from workbench.storage.liveness import is_live
from workbench.storage.models import Run, utcnow

if TYPE_CHECKING:
    import pandas as pd

    from workbench.runner import Outcome, Progress
    from workbench.service import Workbench
    from workbench.sweep import Plan

T = TypeVar("T", covariant=True)

LOCAL_ADMIN = User(None, "admin", local=True)


@dataclass(frozen=True)
class Actor:
    """Who asks: the person (role, id), which key pays their calls, and the budgets in force."""

    user: User
    key_kind: str  # "server", "user" (their own key, this session only) or "none"
    caps: budgets.Budgets = field(default_factory=budgets.Budgets)

    @property
    def id(self) -> str | None:
        """What runs record as ``created_by`` (None without sign-in)."""
        return self.user.id


def local_actor(wb: Workbench) -> Actor:
    """The CLI's and a notebook's actor: the local admin paying with ``OPENAI_API_KEY``.

    The caps are the team's: secrets (``.streamlit/secrets.toml``) or ``WORKBENCH_BUDGET_*``, with
    an admin's overrides from the database laid over them, exactly as the app applies them.
    """
    caps = budgets.effective(wb.engine, budgets.Budgets.from_config(load_secrets_file()))
    return Actor(LOCAL_ADMIN, key_kind(wb.settings.api_key), caps)


@dataclass
class Prepared:
    """A sweep, resume or re-run ready to launch: its plan, estimate and cap, or why it may not start.

    The estimate (tokens counted with tiktoken, which takes a moment to load) is made when a budget
    needs it or a caller reads :attr:`estimate`; a sweep with nothing to check and nothing to show
    starts without it.
    """

    plan: Plan
    estimator: Callable[[], dict[str, Any]] = field(repr=False)
    actor: Actor
    cap: float | None = None  # what the runner may spend: the tightest of every limit and cap
    refusal: WorkbenchError | None = None  # why it may not start (a budget, a model that cannot run)
    target: Run | None = None  # resume: the run to continue; otherwise a run is started at launch
    name: str = ""
    concurrency: int = 8
    max_cost_usd: float | None = None  # the caller's own limit, recorded on a new run
    continue_unfinished: bool = True  # a sweep continues its unfinished identical run when it may
    notes: list[str] = field(default_factory=list)  # said at launch (a new run instead of a changed one)
    delivery: str = "standard"  # standard | flex | batch (workbench/delivery.py): priced in the estimate
    _estimate: dict[str, Any] | None = field(default=None, repr=False)

    @property
    def estimate(self) -> dict[str, Any]:
        """Calls, stored answers, new calls, tokens and estimated cost per model (``Workbench.estimate``)."""
        if self._estimate is None:
            self._estimate = self.estimator()
        return self._estimate

    @property
    def ok(self) -> bool:
        return self.refusal is None

    def check(self) -> None:
        """Raise the refusal, if any (the CLI's way of saying it)."""
        if self.refusal is not None:
            raise self.refusal


class Executor(Protocol, Generic[T]):
    """Executes a started run: inline (returns the ``Outcome``) or in the background (returns a job)."""

    def __call__(self, wb: Workbench, run: Run, plan: Plan, concurrency: int, max_cost_usd: float | None) -> T: ...


@dataclass
class Inline:
    """Execute in this thread (the CLI, notebooks): returns the run's ``Outcome``."""

    on_progress: Callable[[Progress], None] | None = None
    stream: bool = False
    cancel: threading.Event | None = None
    wait: bool = True  # a batch run: False submits its batches and returns (the run is left interrupted)

    def __call__(self, wb: Workbench, run: Run, plan: Plan, concurrency: int, max_cost_usd: float | None) -> Outcome:
        return wb.execute(
            run,
            plan,
            concurrency=concurrency,
            max_cost_usd=max_cost_usd,
            on_progress=self.on_progress,
            cancel=self.cancel,
            stream=self.stream,
            wait=self.wait,
        )


@dataclass(frozen=True)
class Launched(Generic[T]):
    run: Run
    continued: bool  # an earlier run was continued (only its items without an answer are called)
    result: T  # what the executor returned


# --- refusals --------------------------------------------------------------------------------


def role_refusal(actor: Actor) -> RefusedError | None:
    """Viewers may look, not spend."""
    if actor.user.can("run"):
        return None
    return RefusedError(
        f"{actor.user.label} may only view this workbench (role: {actor.user.role or 'none'}); "
        "ask an admin for the member role to run sweeps"
    )


def require_role(actor: Actor) -> None:
    refused = role_refusal(actor)
    if refused is not None:
        raise refused


def resume_refusal(actor: Actor, run: Run) -> RefusedError | None:
    """Why ``actor`` may not resume ``run`` now (role, ownership, paying key, liveness), or None."""
    refused = role_refusal(actor)
    if refused is not None:
        return refused
    if not actor.user.may_change(run.created_by):
        return RefusedError(
            f"run {run.id} was started by {run.created_by or 'someone without sign-in'}; only its maker or an "
            "admin can resume it (re-running it makes a run of yours)"
        )
    if run.key_kind == "user" and actor.key_kind != "user":
        return RefusedError(
            f"run {run.id} was paid with its maker's own API key; resume it with your own key or re-run it; "
            "nothing was called"
        )
    if is_live(run):
        return RefusedError(
            f"run {run.id} is being executed by {run.worker or 'another session'}; wait for it or cancel it first"
        )
    return None


def _money_and_models(
    wb: Workbench, actor: Actor, prepared: Prepared, max_cost_usd: float | None, payer: str | None
) -> None:
    """Set the runner's cap on ``prepared``, or the first reason not to start: a model that cannot run, a budget.

    Without a limit or a cap there is nothing to check against, so the estimate is not made here.
    """
    try:
        wb.check_runnable(prepared.plan.models)
        if max_cost_usd is None and not actor.caps.any:
            return
        est = prepared.estimate
        wb.check_budget(est, max_cost_usd)
        prepared.cap = budgets.check_estimate(wb.engine, actor.caps, payer, est, max_cost_usd, key_kind=actor.key_kind)
    except WorkbenchError as exc:
        prepared.refusal = exc


def may_continue(wb: Workbench, actor: Actor, plan: Plan) -> bool:
    """Whether a sweep of ``plan`` may continue its unfinished identical run: only the actor's own, paid alike."""
    unfinished = repo.find_unfinished_run(wb.engine, plan.plan_hash)
    if unfinished is None:
        return True
    own = unfinished.created_by == actor.id
    return own and not (unfinished.key_kind == "user" and actor.key_kind != "user")


# --- use cases -------------------------------------------------------------------------------


def prepare_sweep(
    wb: Workbench,
    actor: Actor,
    prompts: Sequence[PromptFile],
    samples: SampleSet,
    models: Sequence[str],
    temperatures: Sequence[float],
    repeats: int = 1,
    *,
    source: str | None = None,
    max_cost_usd: float | None = None,
    name: str = "",
    concurrency: int = 8,
    new_run: bool = False,
    logprobs: bool = False,
    efforts: Sequence[str] = (),
    delivery: str = "standard",
) -> Prepared:
    """Plan and estimate a sweep for ``actor`` and decide whether it may start (nothing is called).

    ``logprobs``: ask the models that return them for logprobs (the cascade's logprob signal).
    ``efforts``: reasoning efforts to compare (empty: each reasoning model at its default). The
    estimate, and so every budget check, is at the ``delivery`` mode's price (flex and batch: half)."""
    require_role(actor)
    plan = wb.plan(
        prompts,
        samples,
        models,
        temperatures,
        repeats,
        source=source,
        created_by=actor.id,
        logprobs=logprobs,
        efforts=efforts,
        store=False,  # stored at launch: a refused sweep (or an estimate) leaves nothing behind
    )
    delivery = wb.check_delivery(plan, delivery)
    prepared = Prepared(
        plan,
        partial(wb.estimate, plan, delivery),
        actor,
        name=name,
        concurrency=concurrency,
        max_cost_usd=max_cost_usd,
        continue_unfinished=not new_run and may_continue(wb, actor, plan),
        delivery=delivery,
    )
    _money_and_models(wb, actor, prepared, max_cost_usd, actor.id)
    if prepared.refusal is None:  # the budget first (it says what the plan would cost), then the size
        try:
            plan.check_size()
        except WorkbenchError as exc:
            prepared.refusal = exc
    return prepared


def prepare_resume(
    wb: Workbench, actor: Actor, run_id: int, *, max_cost_usd: float | None = None, concurrency: int | None = None
) -> Prepared:
    """Resume ``run_id`` with the same checks as a sweep; its spend counts for its maker.

    ``max_cost_usd`` replaces the run's own limit when given. Role, ownership, paying key and
    liveness are refused at once (``RefusedError``); budgets and models are in ``refusal``.
    """
    run = repo.get_run(wb.engine, run_id)
    refused = resume_refusal(actor, run)
    if refused is not None:
        raise refused
    plan = wb.plan_for_run(run)
    limit = max_cost_usd if max_cost_usd is not None else run.max_cost_usd
    prepared = Prepared(
        plan,
        partial(wb.estimate, plan, run.delivery),
        actor,
        target=run,
        name=run.name,
        concurrency=concurrency or run.concurrency,
        max_cost_usd=limit,
        delivery=run.delivery,
    )
    _money_and_models(wb, actor, prepared, limit, run.created_by)
    return prepared


def prepare_rerun(wb: Workbench, actor: Actor, run_id: int) -> Prepared:
    """The plan of ``run_id`` as a new run of ``actor``'s (stored answers reused for free)."""
    require_role(actor)
    run = repo.get_run(wb.engine, run_id)
    plan = wb.plan_for_run(run)
    prepared = Prepared(
        plan,
        partial(wb.estimate, plan, run.delivery),
        actor,
        name=f"{run.name} (re-run)",
        concurrency=run.concurrency,
        max_cost_usd=run.max_cost_usd,
        continue_unfinished=False,
        delivery=run.delivery,
    )
    _money_and_models(wb, actor, prepared, run.max_cost_usd, actor.id)
    return prepared


def launch(
    wb: Workbench,
    prepared: Prepared,
    execute: Executor[T],
    on_start: Callable[[Run, bool], None] | None = None,
) -> Launched[T]:
    """Start (or continue) the prepared run and hand it to ``execute``; refuses first if it must.

    ``on_start(run, continued)`` is told which run it is before any call (to say "resuming run 7").
    """
    prepared.check()
    if prepared.target is not None:
        run, continued = prepared.target, True
    else:
        run = wb.start(
            prepared.plan,
            name=prepared.name,
            concurrency=prepared.concurrency,
            max_cost_usd=prepared.max_cost_usd,
            created_by=prepared.actor.id,
            key_kind=prepared.actor.key_kind,
            resume=prepared.continue_unfinished,
            notes=prepared.notes,
            delivery=prepared.delivery,
        )
        continued = run.status != "pending"
    run_id = int(run.id or 0)  # a stored run always has its id
    # The estimate (tokens counted with tiktoken, ~0.5 s to load) only when a cap holds it.
    held = budgets.holds_estimate(prepared.actor.caps, prepared.actor.key_kind)
    try:  # the budgets again, one launch at a time, holding this run's estimate while it is live
        cap = budgets.reserve(
            wb.engine,
            prepared.actor.caps,
            run.created_by,
            run_id,
            prepared.estimate.get("est_new_usd") if held else None,
            prepared.max_cost_usd,
            key_kind=prepared.actor.key_kind,
        )
    except BudgetError as exc:
        if not continued:
            repo.update_run(wb.engine, run_id, status="stopped", error=str(exc), finished_at=utcnow())
        raise
    if on_start is not None:
        on_start(run, continued)
    result = execute(wb, run, prepared.plan, prepared.concurrency, cap)
    return Launched(run, continued, result)


def list_runs(wb: Workbench, created_by: str | None = None, limit: int | None = None) -> pd.DataFrame:
    """Runs newest first with their progress and cost."""
    return repo.list_runs(wb.engine, created_by=created_by, limit=limit)


def report(wb: Workbench, run_id: int, outcome: Outcome | None = None) -> dict[str, Any]:
    """The sweep JSON contract for a stored run (``outcome`` adds what this invocation paid)."""
    return wb.summary(run_id, outcome)
