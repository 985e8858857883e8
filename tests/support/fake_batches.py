"""Files and batches of the fake OpenAI server: ``/v1/files`` and ``/v1/batches`` as OpenAI documents them.

Part of the loopback server in :mod:`tests.support.fake_openai`. What it does, after OpenAI's Batch
guide and API reference:

* ``POST /v1/files`` (multipart: ``file`` and ``purpose``) stores a file; ``GET /v1/files/{id}``
  returns its file object and ``GET /v1/files/{id}/content`` its bytes.
* ``POST /v1/batches {input_file_id, endpoint, completion_window: "24h", metadata}`` creates a batch in
  ``validating``; ``GET /v1/batches/{id}`` advances it along its timeline and returns it;
  ``GET /v1/batches`` lists them (newest first); ``POST /v1/batches/{id}/cancel`` cancels it.
* Timeline: ``validating`` (``validating_s``) -> ``failed`` (``errors.data`` with line numbers: bad
  JSON, a duplicate ``custom_id``, a wrong ``url``/``method``, more than one model, more than
  ``max_lines`` lines or ``max_bytes`` bytes) or ``in_progress`` -> lines run at ``lines_per_s``
  (None: all at once; ``hold = True`` runs none, ``pause_after = n`` stops after n lines) ->
  ``finalizing`` (``finalizing_s``) -> ``completed``. ``expire(batch_id)`` or ``expire_after`` lines
  make it ``expired``; cancel goes ``cancelling`` -> ``cancelled``. Lines never run are written to the error file with
  ``batch_expired`` / ``batch_cancelled``; lines run are in the output file either way.
* Each line is a chat completion like a synchronous call (same validation, same answers, same usage)
  answered inside the batch. 200 answers go to the output file, others (400 bad body, 404 model,
  ``line_faults``: custom_id -> status, consumed once) to the error file, both in shuffled order.
  ``request_counts`` counts completed and failed lines as they run.
* Billing: every answered line is a ledger entry of tier ``batch`` (see ``FakeOpenAI.ledger``),
  charged at half the standard price (:data:`PRICES`, OpenAI's published prices).
* ``enabled = False`` answers 404 on ``/v1/batches`` and ``/v1/files``, like a local server.
"""

from __future__ import annotations

import email.parser
import email.policy
import itertools
import json
import random
import threading
import time
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from tests.support.fake_replies import Body, _BadRequest, _error, _validate_chat

if TYPE_CHECKING:
    from tests.support.fake_openai import FakeOpenAI

# USD per 1M tokens (input, cached input, cache write, output) as OpenAI publishes them (the GPT-6
# figures as quoted with their catalog entries); flex and batch pay half. Long-context tiers are not
# modelled: no test prompt comes near 272K tokens.
PRICES: dict[str, tuple[Decimal, Decimal, Decimal, Decimal]] = {
    "gpt-4.1-nano": (Decimal("0.10"), Decimal("0.025"), Decimal("0.10"), Decimal("0.40")),
    "gpt-4.1-mini": (Decimal("0.40"), Decimal("0.10"), Decimal("0.40"), Decimal("1.60")),
    "gpt-4.1": (Decimal("2.00"), Decimal("0.50"), Decimal("2.00"), Decimal("8.00")),
    "gpt-4o-mini": (Decimal("0.15"), Decimal("0.075"), Decimal("0.15"), Decimal("0.60")),
    "gpt-6-luna": (Decimal("0.10"), Decimal("0.01"), Decimal("0.125"), Decimal("0.50")),
    "gpt-6-sol": (Decimal("2.00"), Decimal("0.20"), Decimal("2.50"), Decimal("10.00")),
    "gpt-5-mini": (Decimal("0.25"), Decimal("0.025"), Decimal("0.25"), Decimal("2.00")),
    "gpt-5-nano": (Decimal("0.05"), Decimal("0.005"), Decimal("0.05"), Decimal("0.40")),
}
# Models that offer Flex processing (OpenAI's pricing page); others answer 400 to service_tier "flex".
FLEX_MODELS = frozenset(
    {"gpt-6-luna", "gpt-6-sol", "gpt-6-astra", "gpt-5", "gpt-5-mini", "gpt-5-nano", "o3", "o4-mini"}
)
TIER_FACTOR = {"default": Decimal(1), "flex": Decimal("0.5"), "batch": Decimal("0.5")}
MAX_LINES = 50_000
MAX_BYTES = 200 * 1024 * 1024
ENDPOINTS = ("/v1/chat/completions", "/v1/responses", "/v1/embeddings", "/v1/completions")
TERMINAL = ("failed", "completed", "expired", "cancelled")


def family(model: str) -> str:
    """gpt-4.1-nano-2025-04-14 -> gpt-4.1-nano."""
    return model[:-11] if model[-11:-10] == "-" and model[-10:-6].isdigit() else model


def charge(model: str, usage: Body, tier: str) -> Decimal:
    """What the fake server bills for one answer: the published price, halved for flex and batch."""
    price_in, price_cached, price_write, price_out = PRICES[family(model)]
    details = usage.get("prompt_tokens_details") or {}
    cached = int(details.get("cached_tokens") or 0)
    written = int(details.get("cache_write_tokens") or 0)
    fresh = int(usage["prompt_tokens"]) - cached - written
    inputs = fresh * price_in + cached * price_cached + written * price_write
    total = (inputs + int(usage["completion_tokens"]) * price_out) / Decimal(10**6)
    return total * TIER_FACTOR[tier]


@dataclass
class _Batch:
    id: str
    input_file_id: str
    endpoint: str
    metadata: Body | None
    created: float
    lines: list[Body] = field(default_factory=list)
    status: str = "validating"
    model: str | None = None
    errors: list[Body] | None = None
    done: int = 0  # lines run so far
    completed: int = 0
    failed: int = 0
    outputs: list[Body] = field(default_factory=list)
    error_lines: list[Body] = field(default_factory=list)
    stamps: dict[str, float] = field(default_factory=dict)
    output_file_id: str | None = None
    error_file_id: str | None = None
    usage: dict[str, int] = field(default_factory=lambda: {"input_tokens": 0, "output_tokens": 0, "cached": 0})
    expire_now: bool = False
    ran: list[str] = field(default_factory=list)  # custom_id of the lines run, in order


class BatchDesk:
    """The files and batches one :class:`FakeOpenAI` holds; options are plain attributes."""

    def __init__(self, fake: FakeOpenAI, seed: int = 0) -> None:
        self.fake = fake
        self.enabled = True
        self.validating_s = 0.0
        self.lines_per_s: float | None = None
        self.finalizing_s = 0.0
        self.hold = False
        self.pause_after: int | None = None  # a batch runs this many lines, then waits (in_progress)
        self.expire_after: int | None = None
        self.expire_limit: int | None = None  # how many batches expire_after expires (None: every one)
        self.expired_by_limit = 0
        self.max_lines = MAX_LINES
        self.max_bytes = MAX_BYTES
        self.line_faults: dict[str, int] = {}
        self.files: dict[str, Body] = {}
        self.batches: dict[str, _Batch] = {}
        self._lock = threading.RLock()
        self._ids = itertools.count(1)
        self._random = random.Random(seed)

    # -- what tests look at

    def batch_ids(self) -> list[str]:
        with self._lock:
            return list(self.batches)

    def lines_run(self) -> list[str]:
        """custom_id of every line run (answered or failed), in the order they ran, across all batches."""
        with self._lock:
            return [cid for b in self.batches.values() for cid in b.ran]

    def expire(self, batch_id: str) -> None:
        """End a batch's 24-hour window now: what ran stays, the rest is ``batch_expired``."""
        with self._lock:
            self.batches[batch_id].expire_now = True

    # -- HTTP side

    def route(self, method: str, path: str, body: Any, raw: bytes, content_type: str) -> tuple[int, Any]:
        if not self.enabled:
            return 404, _error(f"Invalid URL ({method} {path})", "invalid_request_error")
        parts = path.strip("/").split("/")[1:]  # drop "v1"
        with self._lock:
            if parts == ["files"] and method == "POST":
                return self._upload(raw, content_type)
            if len(parts) == 2 and parts[0] == "files" and method == "GET":
                found = self.files.get(parts[1])
                return (200, found["meta"]) if found else (404, _no_such("file", parts[1]))
            if len(parts) == 3 and parts[0] == "files" and parts[2] == "content" and method == "GET":
                found = self.files.get(parts[1])
                return (200, found["content"]) if found else (404, _no_such("file", parts[1]))
            if parts == ["batches"] and method == "POST":
                return self._create(body)
            if parts == ["batches"] and method == "GET":
                for batch in self.batches.values():
                    self._advance(batch)
                data = [self._object(b) for b in reversed(self.batches.values())]
                return 200, {"object": "list", "data": data, "has_more": False,
                             "first_id": data[0]["id"] if data else None,
                             "last_id": data[-1]["id"] if data else None}  # fmt: skip
            if len(parts) == 2 and parts[0] == "batches" and method == "GET":
                batch = self.batches.get(parts[1])
                if batch is None:
                    return 404, _no_such("batch", parts[1])
                self._advance(batch)
                return 200, self._object(batch)
            if len(parts) == 3 and parts[0] == "batches" and parts[2] == "cancel" and method == "POST":
                batch = self.batches.get(parts[1])
                if batch is None:
                    return 404, _no_such("batch", parts[1])
                self._advance(batch)
                if batch.status in TERMINAL:
                    return 409, _error(f"Cannot cancel a batch with status '{batch.status}'.", "invalid_request_error")
                if batch.status != "cancelling":
                    batch.status = "cancelling"
                    batch.stamps["cancelling_at"] = time.time()
                return 200, self._object(batch)
        return 404, _error(f"Invalid URL ({method} {path})", "invalid_request_error")

    def _upload(self, raw: bytes, content_type: str) -> tuple[int, Any]:
        if "multipart/form-data" not in content_type:
            return 400, _error(
                "Expected a multipart/form-data body with 'file' and 'purpose'.", "invalid_request_error"
            )
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + raw
        )
        fields: dict[str, tuple[bytes, str | None]] = {}
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            fields[str(name)] = (part.get_payload(decode=True) or b"", part.get_filename())
        if "file" not in fields:
            return 400, _error("Missing required parameter: 'file'.", "invalid_request_error", param="file")
        purpose = fields.get("purpose", (b"", None))[0].decode()
        if purpose not in ("batch", "fine-tune", "assistants", "vision", "user_data", "evals"):
            return 400, _error(f"Invalid value for 'purpose': {purpose!r}.", "invalid_request_error", param="purpose")
        content, filename = fields["file"]
        file_id = f"file-fake{next(self._ids):08d}"
        meta = {
            "id": file_id,
            "object": "file",
            "bytes": len(content),
            "created_at": int(time.time()),
            "filename": filename or "upload",
            "purpose": purpose,
            "status": "processed",
            "expires_at": None,
            "status_details": None,
        }
        self.files[file_id] = {"meta": meta, "content": content}
        return 200, meta

    def _create(self, body: Any) -> tuple[int, Any]:
        if not isinstance(body, dict):
            return 400, _error("We could not parse the JSON body of your request.", "invalid_request_error")
        file_id = body.get("input_file_id")
        if file_id not in self.files:
            return 404, _no_such("file", str(file_id))
        if self.files[file_id]["meta"]["purpose"] != "batch":
            return 400, _error(
                "The input file must have purpose 'batch'.", "invalid_request_error", param="input_file_id"
            )
        if body.get("endpoint") not in ENDPOINTS:
            return 400, _error(f"Invalid value for 'endpoint': {body.get('endpoint')!r}.", "invalid_request_error")
        if body.get("completion_window") != "24h":
            return 400, _error(
                "Invalid value for 'completion_window': only '24h' is supported.", "invalid_request_error"
            )
        batch_id = f"batch_fake{next(self._ids):08d}"
        batch = _Batch(batch_id, file_id, body["endpoint"], body.get("metadata"), time.monotonic())
        batch.stamps["created_at"] = time.time()
        self.batches[batch_id] = batch
        return 200, self._object(batch)

    # -- the timeline

    def _expiring(self) -> bool:
        """``expire_after`` applies (to the first ``expire_limit`` batches that reach it)."""
        return self.expire_after is not None and (
            self.expire_limit is None or self.expired_by_limit < self.expire_limit
        )

    def _advance(self, batch: _Batch) -> None:
        now = time.monotonic()
        if batch.status == "validating":
            if now - batch.created < self.validating_s:
                return
            self._validate(batch)
            if batch.errors:
                batch.status = "failed"
                batch.stamps["failed_at"] = time.time()
                return
            batch.status = "in_progress"
            batch.stamps["in_progress_at"] = time.time()
            batch.stamps["_in_progress_mono"] = now
        if batch.status in ("in_progress", "cancelling"):
            if batch.status == "in_progress" and not self.hold:
                if self.lines_per_s is None:
                    target = len(batch.lines)
                else:
                    target = int((now - batch.stamps["_in_progress_mono"]) * self.lines_per_s)
                if self._expiring():
                    target = min(target, self.expire_after)
                if self.pause_after is not None:
                    target = min(target, self.pause_after)
                while batch.done < min(target, len(batch.lines)):
                    self._run_line(batch, batch.lines[batch.done])
            if batch.status == "cancelling":
                self._close(
                    batch, "cancelled", "batch_cancelled", "This request was not executed: the batch was cancelled."
                )
                return
            if batch.expire_now or (
                self._expiring() and batch.done >= self.expire_after < len(batch.lines)  # type: ignore[operator]
            ):
                self.expired_by_limit += not batch.expire_now
                self._close(
                    batch,
                    "expired",
                    "batch_expired",
                    "This request could not be executed before the completion window expired.",
                )
                return
            if batch.done < len(batch.lines):
                return
            batch.status = "finalizing"
            batch.stamps["finalizing_at"] = time.time()
            batch.stamps["_finalizing_mono"] = now
        if batch.status == "finalizing" and now - batch.stamps["_finalizing_mono"] >= self.finalizing_s:
            self._close(batch, "completed", "", "")

    def _validate(self, batch: _Batch) -> None:
        content: bytes = self.files[batch.input_file_id]["content"]
        errors: list[Body] = []
        if len(content) > self.max_bytes:
            message = f"The input file is larger than the {self.max_bytes} byte limit."
            errors.append(_line_error("file_too_large", message, None))
        lines = [line for line in content.decode("utf-8", errors="replace").splitlines() if line.strip()]
        if len(lines) > self.max_lines:
            message = f"The input file has {len(lines)} requests; a batch may have at most {self.max_lines}."
            errors.append(_line_error("too_many_requests", message, None))
        seen: set[str] = set()
        for number, text in enumerate(lines, start=1):
            try:
                line = json.loads(text)
            except ValueError:
                errors.append(_line_error("invalid_json", "This line is not valid JSON.", number))
                continue
            if not isinstance(line, dict) or not isinstance(line.get("custom_id"), str) or not line["custom_id"]:
                errors.append(_line_error("missing_required_parameter", "Missing 'custom_id'.", number, "custom_id"))
                continue
            custom_id = line["custom_id"]
            if custom_id in seen:
                message = f"The custom_id '{custom_id}' is used on more than one line."
                errors.append(_line_error("duplicate_custom_id", message, number, "custom_id"))
            seen.add(custom_id)
            if line.get("method") != "POST":
                errors.append(_line_error("invalid_value", "Only 'POST' is supported for 'method'.", number, "method"))
            if line.get("url") != batch.endpoint:
                message = f"The url '{line.get('url')}' does not match the batch's endpoint '{batch.endpoint}'."
                errors.append(_line_error("mismatched_endpoint", message, number, "url"))
            model = line["body"].get("model") if isinstance(line.get("body"), dict) else None
            if batch.model is None:
                batch.model = model
            elif model != batch.model:
                message = (
                    f"A batch may use only one model: line {number} uses '{model}', earlier lines '{batch.model}'."
                )
                errors.append(_line_error("mismatched_model", message, number, "body.model"))
            batch.lines.append(line)
        batch.errors = errors or None

    def _run_line(self, batch: _Batch, line: Body) -> None:
        fake = self.fake
        batch.done += 1
        custom_id = line["custom_id"]
        batch.ran.append(custom_id)
        request_id = f"req_fakebatch{next(self._ids):08d}"
        body = line.get("body")
        status, payload = 200, None
        fault = self.line_faults.pop(custom_id, None)
        try:
            _validate_chat(body)
        except _BadRequest as exc:
            status, payload = 400, _error(str(exc), "invalid_request_error", exc.code, exc.param)
        if status == 200 and not fake.knows_model(body["model"]):
            status, payload = 404, fake._model_not_found(body["model"])
        if status == 200 and fault is not None:
            status = fault
            payload = (
                _error("The server had an error while processing your request. Sorry about that!", "server_error")
                if fault >= 500
                else _error(f"Injected failure with status {fault}.", "invalid_request_error")
            )
        if status == 200:
            answer, usage, finish, tokens = fake._answer(body)
            payload = fake._completion(body, answer, usage, finish, tokens, request_id)
            fake._bill("batch", body, usage, answer)
            batch.usage["input_tokens"] += usage["prompt_tokens"]
            batch.usage["output_tokens"] += usage["completion_tokens"]
            batch.usage["cached"] += usage["prompt_tokens_details"]["cached_tokens"]
            batch.completed += 1
        else:
            batch.failed += 1
        record = {
            "id": f"batch_req_{request_id.removeprefix('req_')}",
            "custom_id": custom_id,
            "response": {"status_code": status, "request_id": request_id, "body": payload},
            "error": None,
        }
        (batch.outputs if status == 200 else batch.error_lines).append(record)

    def _close(self, batch: _Batch, status: str, code: str, message: str) -> None:
        for line in batch.lines[batch.done :]:
            batch.error_lines.append(
                {
                    "id": f"batch_req_fakenever{next(self._ids):08d}",
                    "custom_id": line["custom_id"],
                    "response": None,
                    "error": {"code": code, "message": message},
                }
            )
            batch.failed += 1
        batch.status = status
        batch.stamps[f"{status}_at"] = time.time()
        outputs, errors = list(batch.outputs), list(batch.error_lines)
        self._random.shuffle(outputs)  # results come in no fixed order: match them by custom_id
        self._random.shuffle(errors)
        if outputs:
            batch.output_file_id = self._result_file(batch, "output", outputs)
        if errors:
            batch.error_file_id = self._result_file(batch, "error", errors)

    def _result_file(self, batch: _Batch, kind: str, lines: list[Body]) -> str:
        content = "".join(json.dumps(line, separators=(",", ":")) + "\n" for line in lines).encode()
        file_id = f"file-fake{next(self._ids):08d}"
        self.files[file_id] = {
            "meta": {
                "id": file_id,
                "object": "file",
                "bytes": len(content),
                "created_at": int(time.time()),
                "filename": f"{batch.id}_{kind}.jsonl",
                "purpose": "batch_output",
                "status": "processed",
                "expires_at": None,
                "status_details": None,
            },
            "content": content,
        }
        return file_id

    def _object(self, batch: _Batch) -> Body:
        stamps = {
            k: (int(v) if isinstance(v, float) else None) for k, v in batch.stamps.items() if not k.startswith("_")
        }
        total = len(batch.lines) if batch.status != "validating" else 0
        return {
            "id": batch.id,
            "object": "batch",
            "endpoint": batch.endpoint,
            "model": batch.model,
            "errors": {"object": "list", "data": batch.errors} if batch.errors else None,
            "input_file_id": batch.input_file_id,
            "completion_window": "24h",
            "status": batch.status,
            "output_file_id": batch.output_file_id,
            "error_file_id": batch.error_file_id,
            "created_at": stamps.get("created_at"),
            "in_progress_at": stamps.get("in_progress_at"),
            "expires_at": (stamps.get("created_at") or 0) + 86400,
            "finalizing_at": stamps.get("finalizing_at"),
            "completed_at": stamps.get("completed_at"),
            "failed_at": stamps.get("failed_at"),
            "expired_at": stamps.get("expired_at"),
            "cancelling_at": stamps.get("cancelling_at"),
            "cancelled_at": stamps.get("cancelled_at"),
            "request_counts": {"total": total, "completed": batch.completed, "failed": batch.failed},
            "usage": {
                "input_tokens": batch.usage["input_tokens"],
                "input_tokens_details": {"cached_tokens": batch.usage["cached"]},
                "output_tokens": batch.usage["output_tokens"],
                "output_tokens_details": {"reasoning_tokens": 0},
                "total_tokens": batch.usage["input_tokens"] + batch.usage["output_tokens"],
            },
            "metadata": batch.metadata,
        }


def _line_error(code: str, message: str, line: int | None, param: str | None = None) -> Body:
    return {"code": code, "message": message, "param": param, "line": line}


def _no_such(kind: str, ident: str) -> Body:
    return _error(f"No such {kind}: '{ident}'", "invalid_request_error", param="id")
