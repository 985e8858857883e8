"""Executes a run: bounded adaptive concurrency, retries, budget stop, cancel, progress, persistence.

Design:
- N worker threads pull planned calls from one iterator and share one provider (one SDK client).
- Each answer goes on a queue; one writer thread commits whatever is queued in one short
  transaction (usually a handful of rows), so every response is in the database within
  milliseconds of arriving and no transaction is ever held across a network call.
- Transient failures (429, 5xx, timeouts, dropped connections, malformed bodies) are retried with
  exponential backoff and full jitter, honouring ``retry-after``. A 401 stops the run at once; a
  "model not found" stops that model's calls at once; a server that stays unreachable stops the run
  once the first calls have exhausted their retries. What still fails is recorded on its item,
  never cached as a response.
"""

from __future__ import annotations

import collections
import json
import logging
import queue
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from workbench import formatting as fmt
from workbench.delivery import FLEX, STANDARD
from workbench.errors import (
    AuthError,
    CellRequestError,
    ModelNotFoundError,
    ModelUnavailableError,
    ProviderError,
    ServerUnreachableError,
    TransientError,
)
from workbench.limiter import AdaptiveLimiter
from workbench.pricing import Catalog, ModelInfo, answer_cost, cost, delivery_factor
from workbench.processes import new_owner
from workbench.promptfile import PromptFile
from workbench.providers.base import CallCancelled, Completion, Provider
from workbench.redaction import redact
from workbench.storage import answers, charges, claims
from workbench.storage import repository as repo
from workbench.storage.answers import Answer, Failure
from workbench.storage.models import Run, utcnow
from workbench.sweep import Plan, PlannedCall, estimated_completion_tokens
from workbench.tokens import count_chat

log = logging.getLogger("workbench.runner")

BACKOFF_BASE_S = 0.5
BACKOFF_CAP_S = 20.0
CONNECTION_ATTEMPTS = 5  # a dead server is declared dead after this many tries of one call
HEARTBEAT_S = 2.0
PLAN_CHANGED = (
    "no longer in this run's plan (the catalog now sends its cell differently); run the same sweep again for a "
    "new run that reuses every stored answer"
)


@dataclass(frozen=True)
class Progress:
    total: int
    done: int
    reused: int
    new_calls: int
    errors: int
    spent_usd: float
    elapsed_s: float
    eta_s: float | None
    concurrency: int


@dataclass(frozen=True)
class Outcome:
    run_id: int
    status: str  # completed | failed | stopped | cancelled
    error: str | None
    new_calls: int
    spent_usd: Decimal | None  # None when a model's price is unknown
    reused: int
    errors: int
    other_model: int = 0  # answers whose server named another catalog model (billed at its price)
    refused_paid: int = 0  # attempts billed (HTTP 200) whose answer was refused as malformed: charged, not stored


class _Fatal(Exception):
    def __init__(self, error: ProviderError):
        super().__init__(str(error))
        self.error = error


class Runner:
    def __init__(
        self,
        engine: Engine,
        provider: Provider,
        catalog: Catalog,
        *,
        concurrency: int = 8,
        max_cost_usd: float | None = None,
        max_attempts: int = 8,
        stream: bool = False,
        on_progress: Callable[[Progress], None] | None = None,
        cancel: threading.Event | None = None,
        sleep: Callable[[float], None] | None = None,
        delivery: str = STANDARD,
        flex_backoff_s: float = 30.0,
    ):
        self.engine = engine
        self.provider = provider
        self.catalog = catalog
        self.concurrency = max(1, int(concurrency))
        self.max_cost = Decimal(str(max_cost_usd)) if max_cost_usd is not None else None
        self.max_attempts = max(1, int(max_attempts))
        self.stream = stream
        self.on_progress = on_progress
        self.cancel = cancel or threading.Event()
        self.delivery = delivery  # standard | flex: flex calls carry service_tier and cost the flex rate
        self.flex_backoff_s = flex_backoff_s
        self.limiter = AdaptiveLimiter(self.concurrency)
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._schedule_lock = threading.Lock()
        self.owner = new_owner()
        self._payer: tuple[str | None, str | None] = (None, None)
        self._run_id: int | None = None
        self._refused_paid = 0  # attempts paid for (HTTP 200) whose answer was refused as malformed
        self._prompts: dict[int, PromptFile] = {}
        self._spent_guessed = Decimal(0)  # answers without usage, at their estimate (for budgets only)
        self._other_model = 0
        self._queue: queue.Queue[Answer | Failure | None] = queue.Queue()  # None: no more records
        self._stored: dict[int, threading.Event] = {}  # item id -> set once its answer is committed
        self._writer_done: threading.Event | None = None  # set once the writer has stopped
        self._fatal: ProviderError | None = None
        self._stopped_models: dict[str, str] = {}
        self._stopped_cells: dict[tuple[Any, ...], str] = {}  # cell -> the refusal all its calls would get
        self._plan_changed = 0  # pending items whose call the plan no longer makes
        self._budget_hit = False
        self._spent = Decimal(0)
        self._spent_known = True
        self._new_calls = 0
        self._errors = 0
        self._first_error: str | None = None
        self._store_error: str | None = None  # why answers could not be committed: stops the paying
        self._unstored: list[Answer | Failure] = []  # paid answers (and failures) not yet committed
        self._done = 0
        self._reused = 0
        self._total = 0
        self._started = 0.0
        self._last_progress = 0.0

    # --- public ------------------------------------------------------------------------------

    def execute(self, run: Run, plan: Plan) -> Outcome:
        """Run every item of ``run`` that has no response yet."""
        self._started = time.monotonic()
        self._payer = (run.created_by, run.key_kind)  # kept on each answer: spend outlives the run
        self._run_id = run.id
        self._prompts = dict(plan.prompts)
        calls = {c.key: c for c in plan.calls()}
        pending = repo.pending_items(self.engine, run.id)
        self._total = run.total_items
        self._done = self._total - len(pending)
        repo.mark_running(self.engine, run.id)

        stored = repo.stored_keys(self.engine, (key for _, key in pending))
        reuse = [(item, stored[key]) for item, key in pending if key in stored]
        repo.attach_responses(self.engine, reuse, reused=True)
        self._reused = len(reuse)
        self._done += len(reuse)
        todo: list[tuple[int, PlannedCall]] = [
            (item, calls[key]) for item, key in pending if key not in stored and key in calls
        ]
        # Items the plan no longer makes (the catalog now sends their cell differently): say so on
        # each, never guess a request for them.
        gone = [(item, key) for item, key in pending if key not in stored and key not in calls]
        if gone:
            self._plan_changed = len(gone)
            for item, key in gone:
                self._queue.put(Failure(item, PLAN_CHANGED, 0, key))
        self._report(force=True)

        # Each thread says when it is done with an Event: a Ctrl-C that interrupts Thread.join()
        # can leave the thread looking finished while it still holds an answer (CPython 3.11).
        writer_done = threading.Event()
        writer = threading.Thread(
            target=self._write_loop, args=(run.id, writer_done), name="workbench-writer", daemon=True
        )
        self._writer_done = writer_done
        writer.start()
        work = _Work(self, todo)
        finished = [threading.Event() for _ in range(min(self.concurrency, len(todo)))]
        for i, done in enumerate(finished):
            threading.Thread(
                target=self._work_loop, args=(work, run.id, done), name=f"workbench-call-{i}", daemon=True
            ).start()
        try:
            for done in finished:  # woken the moment each worker ends (no polling sleep at the end of a run)
                while not done.wait(0.1):
                    if self.cancel.is_set():
                        self._stop.set()
        except KeyboardInterrupt:
            self.cancel.set()
            self._stop.set()
        return self._wind_up(run, finished, writer_done)

    def _wind_up(self, run: Run, finished: list[threading.Event], writer_done: threading.Event) -> Outcome:
        """Wait for the calls in flight and store their answers, even through more Ctrl-Cs: they are paid for."""
        ended = False
        while True:
            try:
                for done in finished:
                    while not done.wait(0.05):  # a timeout, so a Ctrl-C is handled on every platform
                        pass
                if not ended:
                    self._queue.put(None)  # no more records
                    ended = True
                while not writer_done.wait(0.05):
                    pass
                return self._finish(run)
            except KeyboardInterrupt:
                self.cancel.set()
                self._stop.set()
                in_flight = sum(not done.is_set() for done in finished)
                log.warning(
                    "stopping: waiting for %d call(s) in flight so their answers (already paid for) are stored",
                    in_flight,
                )

    # --- workers -----------------------------------------------------------------------------

    def _next(self, work: _Work) -> tuple[int, PlannedCall] | None:
        with self._schedule_lock:
            while True:
                if self._stop.is_set() or self.cancel.is_set():
                    return None
                with self._lock:
                    if self.max_cost is not None and self._spent + self._spent_guessed >= self.max_cost:
                        self._budget_hit = True
                        self._stop.set()
                        return None
                item = work.next()
                if item is None:
                    return None
                if item[1].model in self._stopped_models:
                    self._queue.put(Failure(item[0], self._stopped_models[item[1].model], 0, item[1].key))
                    continue
                refused = self._stopped_cells.get(_cell(item[1]))
                if refused is not None:
                    self._queue.put(Failure(item[0], refused, 0, item[1].key))
                    continue
                return item

    def _work_loop(self, work: _Work, run_id: int, finished: threading.Event) -> None:
        try:
            self._work(work, run_id)
        except (SQLAlchemyError, OSError) as exc:  # claiming calls needs the database too: stop paying
            with self._lock:
                self._store_error = self._store_error or _one_line(exc)
            self._stop.set()
        except Exception as exc:  # a bug must stop the run, not leave a worker dead and the rest paying
            log.exception("a sweep worker failed")
            with self._lock:
                if self._fatal is None:
                    self._fatal = ProviderError(f"a sweep worker failed ({type(exc).__name__}: {exc})")
            self._stop.set()
        finally:
            finished.set()

    def _work(self, work: _Work, run_id: int) -> None:
        while (item := self._next(work)) is not None:
            item_id, call = item
            try:
                completion, attempts = self._call_with_retries(call)
            except _Fatal as fatal:
                self._on_fatal(fatal.error, call, item_id)
                continue
            except ProviderError as exc:
                with self._lock:
                    if isinstance(exc, CellRequestError):
                        self._stopped_cells.setdefault(_cell(call), str(exc))
                    else:
                        self._first_error = self._first_error or str(exc)
                self._queue.put(Failure(item_id, str(exc), getattr(exc, "attempts", 0), call.key))
                continue
            if completion is None:
                stopped = self._stopped_models.get(call.model)
                if stopped is not None:  # its model was stopped while this call waited: say why on the item
                    self._queue.put(Failure(item_id, stopped, 0, call.key))
                continue  # stopped while waiting
            info = self._billed_model(call, completion)
            # No usage reported: unknown, never 0 (unless the model is free).
            price = answer_cost(info, completion, delivery_factor(info, self.delivery))
            # Without usage the cost is unknown, yet it was paid: a budget counts it at its estimate.
            guess = self._estimate(call) if price is None and completion.prompt_tokens is None else None
            with self._lock:
                self._new_calls += 1
                if price is None:
                    self._spent_known = False
                    self._spent_guessed += guess or 0
                else:
                    self._spent += price
            stored = threading.Event()
            with self._lock:
                self._stored[item_id] = stored
            self._queue.put(Answer(item_id, call, completion, price, attempts))
            if not self._wait_stored(stored):
                return

    def _billed_model(self, call: PlannedCall, completion: Completion) -> ModelInfo | None:
        """The price an answer is billed at: the answering model's when the server names another
        model the catalog knows (a nano request answered by gpt-4.1 costs gpt-4.1's price), else the
        requested one's. Dated snapshots of the requested model are the requested model."""
        requested = self.catalog.lookup(call.model)
        answered = self.catalog.lookup(completion.response_model) if completion.response_model else None
        if answered is None or (requested is not None and answered.name == requested.name):
            return requested
        with self._lock:
            self._other_model += 1
        log.warning("%s was asked for, %s answered: billed at %s's price", call.model, answered.name, answered.name)
        return answered

    def _charge_refused(self, call: PlannedCall, exc: TransientError) -> None:
        """Count and record an attempt the server billed (HTTP 200) whose answer was refused as malformed.

        From the usage it reported when that could be read, else at the call's estimate; counted in
        this run's spend (and so in ``--max-cost``) and recorded for the run's cost and the budgets.
        """
        prompt, cached, completion = exc.paid or (None, None, None)
        info = self.catalog.lookup(call.model)
        estimated = prompt is None
        if estimated:
            price = self._estimate(call)
            if price is not None:
                price *= delivery_factor(info, self.delivery) or 1
        else:
            factor = delivery_factor(info, self.delivery)
            price = cost(info, prompt, cached, completion, tier_factor=factor)
        with self._lock:
            self._refused_paid += 1
            if price is None:
                self._spent_known = False
            elif estimated:
                self._spent_guessed += price
            else:
                self._spent += price
        try:
            charges.record(
                self.engine,
                run_id=self._run_id,
                request_key=call.key,
                model=call.model,
                base_url=call.endpoint,
                reason=str(exc),
                usage=(prompt, cached, completion),
                cost_usd=price,
                estimated=estimated,
                paid_by=self._payer[0],
                key_kind=self._payer[1],
            )
        except Exception as failure:  # the database refuses: stop paying, as for an answer
            with self._lock:
                self._store_error = self._store_error or _one_line(failure)
            self._stop.set()

    def _estimate(self, call: PlannedCall) -> Decimal | None:
        """What one call is estimated to cost (its prompt's tokens, a label's worth of answer)."""
        prompt = self._prompts.get(call.prompt_version_id)
        if prompt is None:
            return None
        completion = estimated_completion_tokens(prompt)
        return cost(self.catalog.lookup(call.model), count_chat(call.body["messages"]), 0, completion)

    def _wait_stored(self, stored: threading.Event) -> bool:
        """Wait until the writer has committed this answer before paying for another call.

        So each worker holds at most one paid answer that is not yet in the database, and a crash at
        any instant makes a resume pay twice for at most ``concurrency`` calls (those in flight).
        False when answers cannot be stored (the database refused them, or the writer is gone): the
        run stops paying at once, since every further answer would be paid for and lost.
        """
        while not stored.wait(0.5):
            if self._store_error is not None or self._writer_done is None or self._writer_done.is_set():
                self._stop.set()
                return False  # the database refused answers, or the writer stopped: stop paying
        return True

    def _call_with_retries(self, call: PlannedCall) -> tuple[Completion | None, int]:
        attempt = 0
        while True:
            if self._stop.is_set() or self.cancel.is_set() or call.model in self._stopped_models:
                return None, attempt
            if not self.limiter.acquire(self._stop):
                return None, attempt
            attempt += 1
            body = {**call.body, "service_tier": "flex"} if self.delivery == FLEX else call.body  # not in the key
            try:
                if self.stream:
                    completion = self.provider.stream(body, stop=self._stop)
                else:
                    completion = self.provider.complete(body, stop=self._stop)
                self.limiter.success(completion.rate)
                return completion, attempt
            except CallCancelled:
                return None, attempt - 1  # stopped while queued for a local server: nothing was sent
            except TransientError as exc:
                if exc.paid is not None:  # a 200 with an answer that cannot be stored: paid all the same
                    self._charge_refused(call, exc)
                if exc.kind == "rate_limit":
                    self.limiter.rate_limited(exc.retry_after)
                limit = CONNECTION_ATTEMPTS if exc.kind == "connection" else self.max_attempts
                if attempt >= limit:
                    if exc.kind == "connection":
                        raise _Fatal(
                            ServerUnreachableError(f"{exc} after {attempt} tries; is the server running?")
                        ) from None
                    failure = ProviderError(f"{exc} (gave up after {attempt} tries)")
                    failure.attempts = attempt  # type: ignore[attr-defined]
                    raise failure from None
                delay = self._backoff(attempt, exc.retry_after)
                if exc.kind == "unavailable":  # flex capacity: wait long (doubling), never a standard call
                    delay = min(self.flex_backoff_s * 2 ** (attempt - 1), 20 * self.flex_backoff_s) + delay * 0.1
                log.debug("retrying %s in %.2fs: %s", call.model, delay, exc)
            except (AuthError, ModelNotFoundError, ServerUnreachableError) as exc:
                raise _Fatal(exc) from None
            finally:
                self.limiter.release()
            if self._stop.wait(delay) or self.cancel.is_set():
                return None, attempt

    @staticmethod
    def _backoff(attempt: int, retry_after: float | None) -> float:
        """Full-jitter exponential backoff; a server's retry-after is a floor, not a suggestion."""
        jitter = random.uniform(0, min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2 ** (attempt - 1)))
        if retry_after is not None:
            return min(60.0, retry_after) + jitter * 0.1
        return jitter

    def _on_fatal(self, error: ProviderError, call: PlannedCall, item_id: int) -> None:
        if isinstance(error, ModelNotFoundError):
            info = self.catalog.lookup(call.model)
            if info is not None and info.retired() and not isinstance(error, ModelUnavailableError):
                error = ModelNotFoundError(
                    f"{call.model} is retired (shut down on {info.shutdown}"
                    + (f"; OpenAI suggests {info.replacement}" if info.replacement else "")
                    + f"): {error}"
                )
            with self._lock:
                self._stopped_models.setdefault(call.model, str(error))
            self._queue.put(Failure(item_id, str(error), 1, call.key))
            return
        with self._lock:
            if self._fatal is None:
                self._fatal = error
        self._stop.set()

    # --- writer ------------------------------------------------------------------------------

    def _write_loop(self, run_id: int, finished: threading.Event) -> None:
        try:
            self._write(run_id)
        finally:
            finished.set()

    def _write(self, run_id: int) -> None:
        last_beat = time.monotonic()
        ending = False
        while not ending:
            batch: list[Answer | Failure | None] = []
            try:
                batch.append(self._queue.get(timeout=HEARTBEAT_S / 2))
            except queue.Empty:
                pass
            while len(batch) < 500:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            ending = any(record is None for record in batch)
            records = self._unstored + [record for record in batch if record is not None]
            self._unstored = []
            beat = time.monotonic() - last_beat >= HEARTBEAT_S
            if records or beat:
                try:
                    self._commit(run_id, records, beat)
                except Exception as exc:  # full disk, read-only or vanished database: stop paying, keep them
                    self._unstored = records
                    with self._lock:
                        self._store_error = self._store_error or _one_line(exc)
                    self._stop.set()
                    if not ending:
                        time.sleep(1.0)  # retry what is held (space may come back) until the workers end
                if beat:
                    last_beat = time.monotonic()
            self._report(force=ending)

    def _commit(self, run_id: int, records: list[Answer | Failure], beat: bool) -> None:
        oks = [r for r in records if isinstance(r, Answer)]
        errors = [r for r in records if isinstance(r, Failure)]
        for attempt in range(5):
            try:
                cancel = answers.commit(
                    self.engine,
                    run_id,
                    oks,
                    errors,
                    owner=self.owner,
                    price_version=self.catalog.version,
                    beat=beat,
                    paid_by=self._payer[0],
                    key_kind=self._payer[1],
                )
                if cancel:
                    self.cancel.set()
                    self._stop.set()
                break
            except Exception as exc:
                if attempt == 4 or _permanent(exc):
                    log.warning("could not store %d answers: %s", len(records), _one_line(exc))
                    raise
                time.sleep(0.2 * (attempt + 1))
        with self._lock:
            self._done += len(oks) + len(errors)
            self._errors += len(errors)
            for answer in oks:
                stored = self._stored.pop(answer.item_id, None)
                if stored is not None:
                    stored.set()

    # --- progress and the end ----------------------------------------------------------------

    def _report(self, force: bool = False) -> None:
        if self.on_progress is None:
            return
        now = time.monotonic()
        if not force and now - self._last_progress < 0.1:
            return
        self._last_progress = now
        with self._lock:
            elapsed = now - self._started
            fresh = self._done - self._reused
            remaining = self._total - self._done
            rate = fresh / elapsed if elapsed > 0 and fresh > 0 else None
            progress = Progress(
                total=self._total,
                done=self._done,
                reused=self._reused,
                new_calls=self._new_calls,
                errors=self._errors,
                spent_usd=float(self._spent),
                elapsed_s=elapsed,
                eta_s=(remaining / rate) if rate else None,
                concurrency=int(self.limiter.limit),
            )
        try:
            self.on_progress(progress)
        except Exception:
            log.exception("progress callback failed")

    def _finish(self, run: Run) -> Outcome:
        if self._store_error is not None:
            return self._finish_unstored(run)
        claims.release_all(self.engine, self.owner)
        if self._fatal is not None:
            status, error = "failed", str(self._fatal)
        elif self.cancel.is_set():
            status, error = "cancelled", "cancelled by the user"
        elif self._budget_hit:
            guessed = (
                f" + {fmt.money(self._spent_guessed)} estimated: answers without usage" if self._spent_guessed else ""
            )
            status, error = (
                "stopped",
                f"budget of {fmt.money(self.max_cost)} reached (spent {fmt.money(self._spent)}{guessed})",
            )
        elif self._stopped_models or self._stopped_cells:
            reasons = [*self._stopped_models.values(), *self._stopped_cells.values()]
            status, error = "failed", "; ".join(dict.fromkeys(reasons))
        else:
            status, error = "completed", None
        if status == "completed" and self._plan_changed:
            status, error = "stopped", f"{self._plan_changed} item(s): {PLAN_CHANGED}"
        elif status == "completed" and repo.pending_items(self.engine, run.id):
            status, error = "stopped", "some items have no answer yet"
            if self._first_error:
                error = f"{self._errors} call(s) failed ({self._first_error}); run the same command again to retry them"
        error = redact(error) if error else error  # a server may echo the request's Authorization header
        repo.update_run(self.engine, run.id, status=status, error=error, finished_at=utcnow(), heartbeat_at=utcnow())
        return self._outcome(run.id, status, error)

    def _finish_unstored(self, run: Run) -> Outcome:
        """The database refused answers: say so in one line, and record it when the database still lets us."""
        lost = sum(1 for record in self._unstored if isinstance(record, Answer))
        error = (
            f"could not store answers in the database ({self._store_error}); stopped paying"
            + (f": {lost} paid answer(s) could not be stored" if lost else "")
            + "; free space (or make the database writable) and run the same command again"
        )
        try:
            claims.release_all(self.engine, self.owner)
            repo.update_run(
                self.engine, run.id, status="failed", error=error, finished_at=utcnow(), heartbeat_at=utcnow()
            )
        except Exception:
            log.warning("could not record the failure of run %s either", run.id)
        return self._outcome(run.id, "failed", error)

    def _outcome(self, run_id: int, status: str, error: str | None) -> Outcome:
        return Outcome(
            run_id=run_id,
            status=status,
            error=error,
            new_calls=self._new_calls,
            spent_usd=self._spent if self._spent_known else None,
            reused=self._reused,
            errors=self._errors,
            other_model=self._other_model,
            refused_paid=self._refused_paid,
        )


def _one_line(exc: BaseException) -> str:
    """A database error as one short line (the driver's message, without the SQL and parameters)."""
    inner = getattr(exc, "orig", None) or exc
    text = " ".join(str(inner).split("\n")[0].split())
    return redact(text[:200] or type(inner).__name__)


def _permanent(exc: BaseException) -> bool:
    """Errors that retrying within a second cannot fix (full disk, read-only file, bad data)."""
    text = str(getattr(exc, "orig", None) or exc).lower()
    return any(word in text for word in ("full", "readonly", "read-only", "read only", "nul", "0x00", "encode"))


def _cell(call: PlannedCall) -> tuple[Any, ...]:
    """The cell a call belongs to: its prompt version and every request field but the messages."""
    fields = {name: value for name, value in call.body.items() if name != "messages"}
    return (call.prompt_version_id, call.endpoint, json.dumps(fields, sort_keys=True, default=str))


class _Work:
    """Hands out the calls this runner holds a lease on, claiming them in small batches.

    A call another live runner is making is deferred; once that runner stores the answer it is
    reused here, and if that runner gives up or dies the call is claimed again.
    """

    CHUNK = 64
    POLL_S = 0.25

    def __init__(self, runner: Runner, todo: list[tuple[int, PlannedCall]]):
        self.runner = runner
        self.todo = collections.deque(todo)
        self.ready: collections.deque[tuple[int, PlannedCall]] = collections.deque()
        self.deferred: list[tuple[int, PlannedCall]] = []

    def next(self) -> tuple[int, PlannedCall] | None:
        while True:
            if self.ready:
                return self.ready.popleft()
            if self.todo:
                chunk = [self.todo.popleft() for _ in range(min(self.CHUNK, len(self.todo)))]
                self._claim(chunk)
                continue
            if not self.deferred or self.runner._stop.is_set() or self.runner.cancel.is_set():
                return None
            self._settle_deferred()

    def _claim(self, chunk: list[tuple[int, PlannedCall]]) -> None:
        engine = self.runner.engine
        held = claims.claim(engine, [call.key for _, call in chunk], self.runner.owner)
        # Another runner may have answered these since this run was planned: reuse, don't pay again.
        stored = repo.stored_keys(engine, (call.key for _, call in chunk if call.key in held))
        if stored:
            self._reuse([(item, stored[call.key]) for item, call in chunk if call.key in stored])
            claims.release_keys(engine, stored, self.runner.owner)
        for entry in chunk:
            if entry[1].key in stored:
                continue
            (self.ready if entry[1].key in held else self.deferred).append(entry)

    def _reuse(self, pairs: list[tuple[int, int]]) -> None:
        repo.attach_responses(self.runner.engine, pairs, reused=True)
        with self.runner._lock:
            self.runner._reused += len(pairs)
            self.runner._done += len(pairs)

    def _settle_deferred(self) -> None:
        stored = repo.stored_keys(self.runner.engine, (call.key for _, call in self.deferred))
        if stored:
            self._reuse([(item, stored[call.key]) for item, call in self.deferred if call.key in stored])
        waiting = [(item, call) for item, call in self.deferred if call.key not in stored]
        self.deferred = []
        if waiting:
            self._claim(waiting)
        if not self.ready and self.deferred:
            time.sleep(self.POLL_S)
