"""Executes a run through OpenAI's Batch API: half price, answers within 24 hours.

The shape (OpenAI's Batch guide): a JSONL file, one line per request ``{"custom_id", "method": "POST",
"url": "/v1/chat/completions", "body"}``, uploaded with ``purpose=batch``; a batch made from it;
``request_counts`` while it runs; when it ends, an output file (answered lines) and an error file
(lines answered 4xx/5xx, and lines never run because the batch expired or was cancelled), in no fixed
order. Here:

- Only calls with no stored answer are sent, one batch per model and per 50,000 lines / 200 MB. Each
  line's ``custom_id`` is its request key, so results are matched by key, whatever their order.
- A batch is recorded in the database (``batch_jobs``: its keys) *before* its file is uploaded, and its
  file and batch ids as soon as the server gives them. A resume, the UI's Resume or a restarted app
  reattaches to the recorded batches and never sends a line that is in a live batch again; a batch
  created just before a crash (id not yet recorded) is found again by its input file.
- Answers are stored as their output file is read, priced at the batch rate by the one cost function.
- A line answered 4xx is an item error with the server's message. A transient failure (429, 5xx,
  timeout, a line an expired batch never ran) is sent again in a follow-up batch, at batch price,
  never quietly as a standard call; after ``max_rounds`` tries it is an item error.
- Cancel cancels the batches and keeps what they completed. Ctrl-C (or ``wait=False``) leaves them
  running: the run is ``interrupted`` and says how to collect it.
- A server without the Batch API (404, e.g. a local server) is a one-line error suggesting standard or flex.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy.engine import Engine

from workbench.errors import AuthError, InputError, ProviderError, WorkbenchError
from workbench.pricing import Catalog, answer_cost, delivery_factor
from workbench.runner import Outcome, Progress
from workbench.storage import batches as store
from workbench.storage import repository as repo
from workbench.storage.models import BatchJob, Run, utcnow
from workbench.sweep import Plan, PlannedCall

log = logging.getLogger("workbench.batch")

ENDPOINT = "/v1/chat/completions"
MAX_LINES = 50_000  # per batch (OpenAI's Batch guide)
MAX_BYTES = 200 * 1024 * 1024  # per input file
TERMINAL = ("completed", "expired", "cancelled", "failed")
TRANSIENT_CODES = ("batch_expired", "request_timeout")


def collect_hint(run_id: int) -> str:
    return f"collect them with `python -m workbench resume {run_id}` (or Resume on the Runs page)"


class _Leave(Exception):
    """Stop waiting and leave the batches running (``wait=False``)."""


@dataclass
class _Tally:
    new_calls: int = 0
    reused: int = 0
    errors: int = 0
    spent: Decimal = Decimal(0)
    spent_known: bool = True


class BatchExecutor:
    """Runs the unanswered items of a run as Batch API batches and collects their results."""

    def __init__(
        self,
        engine: Engine,
        client: Any,
        catalog: Catalog,
        base_url: str,
        *,
        poll_s: float = 30.0,
        max_rounds: int = 4,
        max_cost_usd: float | None = None,
        max_lines: int | None = None,
        max_bytes: int | None = None,
        wait: bool = True,
        on_progress: Callable[[Progress], None] | None = None,
        cancel: threading.Event | None = None,
        estimate_cost: Callable[[list[PlannedCall]], Decimal | None] | None = None,
        leave: threading.Event | None = None,
    ):
        self.engine = engine
        self.client = client
        self.catalog = catalog
        self.base_url = base_url.rstrip("/")
        self.poll_s = poll_s
        self.max_rounds = max(1, max_rounds)
        self.max_cost = Decimal(str(max_cost_usd)) if max_cost_usd is not None else None
        self.max_lines = max_lines or MAX_LINES
        self.max_bytes = max_bytes or MAX_BYTES
        self.wait = wait
        self.on_progress = on_progress
        self.cancel = cancel or threading.Event()
        self.estimate_cost = estimate_cost
        self.leave = leave or threading.Event()  # set: stop waiting, leave the batches running (app stopped)
        self.tally = _Tally()
        self._rounds: dict[str, int] = {}  # request key -> batches it was sent in by this executor
        self._final: set[str] = set()  # keys answered 4xx (or out of tries): not sent again by this executor
        self._fatal: str | None = None
        self._budget_hit: str | None = None
        self._cancelling = False
        self._started = 0.0
        self._total = 0

    # --- public ------------------------------------------------------------------------------

    def execute(self, run: Run, plan: Plan) -> Outcome:
        self._started = time.monotonic()
        self._total = run.total_items
        calls = {c.key: c for c in plan.calls()}
        repo.mark_running(self.engine, run.id)
        self._reuse_stored(run.id)
        try:
            self._check_api()
            self._loop(run, calls)
        except KeyboardInterrupt:
            return self._leave(run, "interrupted by the user")
        except _Leave:
            return self._leave(
                run, "the app server that waited for them stopped" if self.leave.is_set() else "submitted"
            )
        except (AuthError, InputError) as exc:
            self._fatal = str(exc)
        return self._finish(run)

    # --- the loop ----------------------------------------------------------------------------

    def _loop(self, run: Run, calls: dict[str, PlannedCall]) -> None:
        while True:
            if self.leave.is_set():
                raise _Leave  # checked before cancel: a stopping app sets both, and must not cancel batches
            if not self._cancelling and self._cancel_asked(run.id):
                self._cancel_all(run.id)
            live = store.jobs(self.engine, run.id, uncollected=True)
            for job in live:
                if job.batch_id is None:
                    self._submit(run.id, job, calls)
            if not self._cancelling and self._fatal is None and self._budget_hit is None:
                todo = self._todo(run.id, calls)
                if todo:
                    self._send(run.id, todo, calls)
                    continue
            live = store.jobs(self.engine, run.id, uncollected=True)
            if not live or self._fatal is not None:
                return
            for job in live:
                self._poll(job, calls)
            repo.update_run(self.engine, run.id, heartbeat_at=utcnow())
            self._report(run.id)
            still = store.jobs(self.engine, run.id, uncollected=True)
            if not still:
                continue  # all collected: follow-ups (if any) go out now, without waiting a poll
            if not self.wait:
                raise _Leave  # leave them running, say how to collect
            if not self._cancelling and self.cancel.wait(self.poll_s):
                continue
            if self._cancelling:
                time.sleep(min(self.poll_s, 1.0))

    def _todo(self, run_id: int, calls: dict[str, PlannedCall]) -> list[str]:
        """Keys of unanswered items that are in no live batch and may still be sent."""
        pending = repo.pending_items(self.engine, run_id)
        stored = repo.stored_keys(self.engine, (key for _, key in pending))
        if stored:
            self._reuse_stored(run_id)
        in_flight = {key for job in store.jobs(self.engine, run_id, uncollected=True) for key in store.keys_of(job)}
        keys = []
        for _, key in pending:
            if key in stored or key in in_flight or key in self._final or key not in calls:
                continue
            keys.append(key)
        return list(dict.fromkeys(keys))

    def _send(self, run_id: int, keys: list[str], calls: dict[str, PlannedCall]) -> None:
        """New batches for ``keys``: one model per batch, within the line and size limits."""
        if self.max_cost is not None and self.estimate_cost is not None:
            est = self.estimate_cost([calls[k] for k in keys])
            if est is not None and self.tally.spent + est > self.max_cost:
                self._budget_hit = (
                    f"budget of ${self.max_cost} would be passed: {len(keys)} calls estimated at ${est:.6f} "
                    f"at batch price after ${self.tally.spent:.6f} spent; nothing more was sent"
                )
                return
        by_model: dict[str, list[str]] = {}
        for key in keys:
            by_model.setdefault(calls[key].model, []).append(key)
        for model, model_keys in by_model.items():
            for chunk in self._chunks(model_keys, calls):
                for key in chunk:
                    self._rounds[key] = self._rounds.get(key, 0) + 1
                job = store.add_job(self.engine, run_id, model, chunk)  # recorded before anything is sent
                self._submit(run_id, job, calls)

    def _chunks(self, keys: list[str], calls: dict[str, PlannedCall]) -> Iterable[list[str]]:
        chunk: list[str] = []
        size = 0
        for key in keys:
            line = len(_line(key, calls[key]))
            if chunk and (len(chunk) >= self.max_lines or size + line > self.max_bytes):
                yield chunk
                chunk, size = [], 0
            chunk.append(key)
            size += line
        if chunk:
            yield chunk

    def _submit(self, run_id: int, job: BatchJob, calls: dict[str, PlannedCall]) -> None:
        """Upload the job's file and create its batch (or adopt the batch a crash left unrecorded)."""
        assert job.id is not None
        keys = store.keys_of(job)
        missing = [k for k in keys if k not in calls]
        if missing:
            store.update_job(self.engine, job.id, status="failed", collected=True, error="plan changed")
            return
        file_id = job.input_file_id
        if file_id is not None:
            found = self._find_batch(file_id)
            if found is not None:
                self._record(job, found)
                return
        else:
            data = b"".join(_line(key, calls[key]) for key in keys)
            uploaded = self._api(
                lambda: self.client.files.create(
                    file=(f"workbench-run{run_id}-batch{job.id}.jsonl", data), purpose="batch"
                )
            )
            file_id = uploaded.id
            store.update_job(self.engine, job.id, input_file_id=file_id)
        created = self._api(
            lambda: self.client.batches.create(
                input_file_id=file_id,
                endpoint=ENDPOINT,
                completion_window="24h",
                metadata={"workbench_run": str(run_id), "workbench_batch": str(job.id)},
            )
        )
        self._record(job, created)

    def _find_batch(self, file_id: str) -> Any | None:
        """The batch made from ``file_id``, if one was created before its id could be recorded."""
        page = self._api(lambda: self.client.batches.list(limit=100))
        for batch in getattr(page, "data", []) or []:
            if batch.input_file_id == file_id:
                return batch
        return None

    def _record(self, job: BatchJob, batch: Any) -> None:
        assert job.id is not None
        counts = batch.request_counts
        store.update_job(
            self.engine,
            job.id,
            batch_id=batch.id,
            status=batch.status,
            completed=counts.completed if counts else 0,
            failed=counts.failed if counts else 0,
        )

    def _poll(self, job: BatchJob, calls: dict[str, PlannedCall]) -> None:
        assert job.id is not None
        try:
            batch = self.client.batches.retrieve(job.batch_id)
        except Exception as exc:  # the batch keeps running on the server: try again at the next poll
            error = self._classify(exc)
            if isinstance(error, AuthError):
                raise error from None
            log.warning("could not poll batch %s: %s", job.batch_id, error)
            return
        self._record(job, batch)
        if batch.status in TERMINAL:
            self._collect(job, batch, calls)

    # --- results -----------------------------------------------------------------------------

    def _collect(self, job: BatchJob, batch: Any, calls: dict[str, PlannedCall]) -> None:
        """Store a finished batch's answers and errors; what was never answered is sent again later."""
        assert job.id is not None
        keys = store.keys_of(job)
        seen: set[str] = set()
        if batch.status == "failed":
            self._validation_failed(job, batch, keys)
            return
        if batch.output_file_id:
            rows = []
            for line in self._lines(batch.output_file_id):
                key = line.get("custom_id")
                response = line.get("response") or {}
                if key not in calls or response.get("status_code") != 200:
                    continue
                seen.add(key)
                rows.append((key, response.get("body")))
            self._store(job.run_id, rows, calls)
        errors: list[tuple[str, str]] = []
        if batch.error_file_id:
            for line in self._lines(batch.error_file_id):
                key = line.get("custom_id")
                if key not in calls or key in seen:
                    continue
                seen.add(key)
                final = self._line_failure(line)
                if final is not None:
                    errors.append((key, final))
        if errors:
            self._item_errors(job.run_id, errors)
        for key in keys:
            if key not in seen:
                log.debug("batch %s: no result for %s; it is sent again", job.batch_id, key[:12])
        self._out_of_tries(job.run_id, [k for k in keys if k not in self._final], calls)
        store.update_job(self.engine, job.id, status=batch.status, collected=True)

    def _line_failure(self, line: dict[str, Any]) -> str | None:
        """The item error for a line of the error file, or None when it is worth sending again."""
        response = line.get("response")
        if isinstance(response, dict) and response.get("status_code") is not None:
            status = int(response["status_code"])
            body = response.get("body") or {}
            detail = body.get("error") if isinstance(body, dict) else None
            message = str((detail or {}).get("message") or f"HTTP {status}").split("\n")[0][:300]
            if status in (408, 409, 429) or status >= 500:
                return None
            return f"{self.base_url} refused the request ({status}): {message}"
        error = line.get("error") or {}
        if error.get("code") == "batch_cancelled" and self._cancelling:
            return None  # cancelled by us: left unanswered, like a cancelled standard run
        if error.get("code") in (*TRANSIENT_CODES, "batch_cancelled"):
            return None
        return f"batch error {error.get('code')}: {error.get('message')}"

    def _out_of_tries(self, run_id: int, keys: list[str], calls: dict[str, PlannedCall]) -> None:
        """Unanswered keys that have been in ``max_rounds`` batches become item errors."""
        stored = repo.stored_keys(self.engine, keys)
        spent = [k for k in keys if k not in stored and self._rounds.get(k, 0) >= self.max_rounds]
        if spent and not self._cancelling:
            self._item_errors(run_id, [(k, f"no answer after {self.max_rounds} batches") for k in spent])

    def _validation_failed(self, job: BatchJob, batch: Any, keys: list[str]) -> None:
        """A batch the server refused as a whole: its errors, with their line numbers, on the items."""
        assert job.id is not None
        data = list(getattr(batch.errors, "data", None) or [])
        messages = [(f"line {e.line}: " if e.line else "") + f"{e.message or e.code}" for e in data] or [
            "the server refused the batch without saying why"
        ]
        summary = f"batch {batch.id} failed validation: " + "; ".join(messages[:5])
        by_line = {int(e.line): f"{e.message or e.code}" for e in data if e.line}
        errors = [
            (key, f"batch {batch.id} failed validation: line {n}: {by_line[n]}" if n in by_line else summary)
            for n, key in enumerate(keys, start=1)
        ]
        self._item_errors(job.run_id, errors)
        store.update_job(self.engine, job.id, status="failed", collected=True, error=summary[:1000])
        self._fatal = self._fatal or summary

    def _store(self, run_id: int, rows: list[tuple[str, Any]], calls: dict[str, PlannedCall]) -> None:
        from workbench.providers.openai_compat import OpenAIProvider

        answers = []
        for key, body in rows:
            call = calls[key]
            try:
                completion = OpenAIProvider._from_json(body, None, None)
            except ProviderError:
                continue  # a malformed answer is not stored: the line is sent again
            info = self.catalog.lookup(call.model)
            price = answer_cost(info, completion, delivery_factor(info, "batch"))
            answers.append((call, completion, price))
        fresh = store.store_answers(self.engine, run_id, answers, self.catalog.version)
        for call, _completion, price in answers:
            if call.key not in fresh:
                continue  # stored before (a collect cut short): already counted and paid once
            self.tally.new_calls += 1
            if price is None:
                self.tally.spent_known = False
            else:
                self.tally.spent += price

    def _item_errors(self, run_id: int, errors: list[tuple[str, str]]) -> None:
        for key, _ in errors:
            self._final.add(key)
        self.tally.errors += store.record_errors(self.engine, run_id, errors)

    def _lines(self, file_id: str) -> list[dict[str, Any]]:
        content = self._api(lambda: self.client.files.content(file_id))
        text = content.content.decode("utf-8") if hasattr(content, "content") else str(content)
        out = []
        for raw in text.splitlines():
            if raw.strip():
                try:
                    line = json.loads(raw)
                except ValueError:
                    continue
                if isinstance(line, dict):
                    out.append(line)
        return out

    # --- reuse, cancel, end ------------------------------------------------------------------

    def _reuse_stored(self, run_id: int) -> None:
        pending = repo.pending_items(self.engine, run_id)
        stored = repo.stored_keys(self.engine, (key for _, key in pending))
        pairs = [(item, stored[key]) for item, key in pending if key in stored]
        repo.attach_responses(self.engine, pairs, reused=True)
        self.tally.reused += len(pairs)

    def _cancel_asked(self, run_id: int) -> bool:
        if self.cancel.is_set():
            return True
        if repo.get_run(self.engine, run_id).cancel_requested:
            self.cancel.set()
            return True
        return False

    def _cancel_all(self, run_id: int) -> None:
        self._cancelling = True
        for job in store.jobs(self.engine, run_id, uncollected=True):
            if job.batch_id is None:
                assert job.id is not None
                store.update_job(self.engine, job.id, status="cancelled", collected=True)
                continue
            try:
                self._record(job, self.client.batches.cancel(job.batch_id))
            except Exception as exc:  # already finished: it is collected as it is
                log.info("cancel %s: %s", job.batch_id, self._classify(exc))

    def _leave(self, run: Run, why: str) -> Outcome:
        live = store.jobs(self.engine, run.id, uncollected=True)
        error = f"{why}: {len(live)} batch(es) still running on the server; {collect_hint(run.id)}"
        repo.update_run(self.engine, run.id, status="interrupted", error=error, heartbeat_at=utcnow())
        return self._outcome(run.id, "interrupted", error)

    def _finish(self, run: Run) -> Outcome:
        if self._fatal is not None:
            status, error = "failed", self._fatal
        elif self._cancelling:
            status, error = "cancelled", "cancelled by the user (answers the batches completed are kept)"
        elif self._budget_hit is not None:
            status, error = "stopped", self._budget_hit
        else:
            status, error = "completed", None
        if status == "completed" and repo.pending_items(self.engine, run.id):
            status = "stopped"
            error = f"{self.tally.errors} item(s) failed in the batches; run the same command again to retry them"
        repo.update_run(self.engine, run.id, status=status, error=error, finished_at=utcnow(), heartbeat_at=utcnow())
        self._report(run.id)
        return self._outcome(run.id, status, error)

    def _outcome(self, run_id: int, status: str, error: str | None) -> Outcome:
        return Outcome(
            run_id=run_id,
            status=status,
            error=error,
            new_calls=self.tally.new_calls,
            spent_usd=self.tally.spent if self.tally.spent_known else None,
            reused=self.tally.reused,
            errors=self.tally.errors,
        )

    def _report(self, run_id: int) -> None:
        if self.on_progress is None:
            return
        counts = repo.run_progress(self.engine, run_id)
        live = store.progress(self.engine, run_id)
        done = min(int(counts["answered"] or 0) + int(counts["errors"] or 0) + live["completed"], self._total)
        try:
            self.on_progress(
                Progress(
                    total=self._total,
                    done=done,
                    reused=self.tally.reused,
                    new_calls=self.tally.new_calls + live["completed"],
                    errors=self.tally.errors,
                    spent_usd=float(self.tally.spent),
                    elapsed_s=time.monotonic() - self._started,
                    eta_s=None,
                    concurrency=live["batches"],
                )
            )
        except Exception:
            log.exception("progress callback failed")

    # --- the server --------------------------------------------------------------------------

    def _check_api(self) -> None:
        """Refuse at once, before uploading anything, a server that has no Batch API."""
        self._api(lambda: self.client.batches.list(limit=1))

    def _api(self, call: Callable[[], Any]) -> Any:
        try:
            return call()
        except Exception as exc:
            raise self._classify(exc) from None

    def _classify(self, exc: Exception) -> WorkbenchError:
        import openai

        from workbench.providers.openai_compat import classify

        if isinstance(exc, openai.NotFoundError):
            return InputError(
                f"{self.base_url} has no Batch API (404 on /v1/batches): run this sweep as standard or flex "
                "(--service-tier flex) instead"
            )
        return classify(exc, "", self.base_url)


def _line(key: str, call: PlannedCall) -> bytes:
    """One line of a batch input file; the custom_id is the request key."""
    line = {"custom_id": key, "method": "POST", "url": ENDPOINT, "body": call.body}
    return (json.dumps(line, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")
