"""A loopback OpenAI-compatible server for tests, benchmarks and manual UI runs.

The openai SDK's HTTP layer is not ``httpx`` (it is ``httpx2``), so transport-level mocks never see
its requests. This module runs a real HTTP/1.1 server on 127.0.0.1 (stdlib ``http.server`` only)
that speaks the parts of the API the workbench uses: ``POST /v1/chat/completions`` (plain and
streaming) and ``GET /v1/models``. It can also misbehave on purpose: 401/404/429/5xx, bad JSON,
a body without ``choices``, a stall mid-response, a dropped connection, a stream cut short with no
finish reason, random failures at a seeded rate, and a token-bucket rate limit; with
``stream_usage=False`` it sends no usage chunk in streams, like llama.cpp's server.

Use it as a context manager::

    with FakeOpenAI(latency=0.04, faults=["429"]) as server:
        client = openai.OpenAI(api_key="sk-test", base_url=server.base_url, max_retries=0)
        ...
        truth = server.billed()   # (body, usage, answer) of every 200 chat answer

or standalone for manual and browser testing (from the repository root)::

    python -m tests.support.fake_openai --port 8765 --latency 0.04 --fail-rate 0.1 --key sk-test

Decisions worth knowing:

* Order of checks for a chat request: scripted fault (one consumed per request, before anything
  else) -> API key -> rate limit -> body validation (400) -> model (404) -> what the model accepts
  (400 with OpenAI's own bodies: reasoning models refuse ``max_tokens``, efforts they do not take,
  and temperature other than 1 / top_p / logprobs unless GPT-6 at effort ``none``; other models
  refuse ``reasoning_effort`` and ``verbosity``) -> random failure
  (``fail_rate``) -> ``latency`` -> answer. Faults, ``fail_rate`` and the rate limit apply only to
  chat completion requests; ``/v1/models`` checks the key only.
* Usage is the truth a test compares against: ``prompt_tokens = count_chat(messages)`` (the cookbook
  rule in :mod:`workbench.tokens`), ``completion_tokens = count_text(answer) + reasoning_tokens``
  after any ``max_tokens`` / ``max_completion_tokens`` truncation (reasoning models "think"
  ``REASONING_BASE[effort]`` plus up to half again tokens first, counted against the cap: a cap
  below that gives empty content with finish ``length``), ``cached_tokens = cached_tokens(body,
  prompt_tokens)``. A stream is billed as soon as it starts, even if the client leaves early.
* The *default responder* answers ``"Fake answer <8 hex>: <eight words>."`` where everything is
  derived from sha256 of the JSON of ``messages`` and the temperature (missing means the API default
  1.0) and, only when the temperature is not 0, the per-identical-request counter. So at
  temperature 0 the same messages always get the same answer; at temperature > 0 each repeat of an
  identical request gets a different (but reproducible) answer. The model is not part of the hash.
* ``call_index`` passed to a responder is that per-identical-request counter: 0 for the first
  answered request with this exact body (ignoring ``stream``/``stream_options``), 1 for the next...
  It only advances on answered (200) requests, so a retried failure does not skip an answer.
"""

from __future__ import annotations

import argparse
import collections
import itertools
import json
import math
import queue
import random
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Any

from tests.support.fake_batches import BatchDesk, charge
from tests.support.fake_http import _Handler, _Server
from tests.support.fake_replies import (
    DEFAULT_MODELS,
    FAULTS,
    Body,
    Responder,
    _digest,
    _error,
    _logprob_entries,
    _seconds_text,
    default_responder,
    label_responder,
    last_user_text,
    mask_key,
    reasoning_rules,
    reasoning_tokens,
    scripted_responder,
)
from workbench.tokens import count_chat, count_text, encoding

__all__ = [
    "DEFAULT_MODELS",
    "FAULTS",
    "FakeOpenAI",
    "default_responder",
    "label_responder",
    "last_user_text",
    "main",
    "mask_key",
    "reasoning_rules",
    "scripted_responder",
    "start_fake",
]


class FakeOpenAI:
    """An OpenAI-compatible chat server on 127.0.0.1, started by the constructor.

    Every option is a plain attribute and may be changed between calls (``server.latency = 0``,
    ``server.faults.append("500")``, ``server.api_keys = {"sk-new"}``).
    """

    def __init__(
        self,
        *,
        port: int = 0,
        models: Iterable[str] = DEFAULT_MODELS,
        api_keys: Iterable[str] | None = None,
        latency: float | Callable[[Body], float] = 0.0,
        responder: Responder | None = None,
        cached_tokens: Callable[[Body, int], int] | None = None,
        cache_write_tokens: Callable[[Body], int] | None = None,
        shutdown_dates: dict[str, str] | None = None,
        fail_rate: float = 0.0,
        fail_status: int = 500,
        faults: Any = None,
        rate_limit_rps: float | None = None,
        retry_after: float = 0.05,
        stall_seconds: float = 30.0,
        chunk_delay: float = 0.0,
        stream_usage: bool = True,
        seed: int = 0,
        log: bool = False,
    ) -> None:
        self.models: list[str] = list(models)
        self.api_keys: set[str] | None = None if api_keys is None else set(api_keys)
        self.latency = latency
        self.responder: Responder = responder or default_responder
        self.cached_tokens: Callable[[Body, int], int] = cached_tokens or (lambda body, prompt_tokens: 0)
        self.cache_write_tokens = cache_write_tokens
        """Tokens written to the prompt cache per request (reported as prompt_tokens_details.cache_write_tokens)."""
        self.shutdown_dates: dict[str, str] = dict(shutdown_dates or {})
        """``shutdown_date`` of listed models in ``GET /v1/models`` (as OpenAI lists announced shutdowns)."""
        self.fail_rate = fail_rate
        self.stream_usage = stream_usage  # False: no usage chunk even when asked (llama.cpp)
        self.fail_status = fail_status
        if faults is None:
            faults = collections.deque()
        elif isinstance(faults, list | tuple):
            unknown = [f for f in faults if str(f) not in FAULTS]
            if unknown:
                raise ValueError(f"unknown fault(s) {unknown}; known: {sorted(FAULTS)}")
            if isinstance(faults, tuple):
                faults = collections.deque(faults)
        self.faults: Any = faults
        """Scripted faults consumed one per chat request: a list, deque or queue.Queue of names in FAULTS."""
        self.rate_limit_rps = rate_limit_rps
        self.retry_after = retry_after
        """Seconds advertised by ``retry-after`` on injected 429s (the rate limiter computes its own)."""
        self.stall_seconds = stall_seconds
        self.chunk_delay = chunk_delay
        """Seconds between stream content chunks (``latency`` is the wait before the first one)."""
        self.seed = seed
        self.log = log
        self.flex_unavailable = 0
        """Flex requests still to refuse with 429 ``resource_unavailable`` (no retry-after), one each."""

        self.batches = BatchDesk(self, seed)
        """The Files and Batch API (``/v1/files``, ``/v1/batches``): see :mod:`tests.support.fake_batches`."""
        self._ledger: list[tuple[str, Body, Body, str]] = []  # (tier, body, usage, answer) of every billed answer

        self._lock = threading.Lock()
        self._records: list[Body] = []
        self._counters: collections.Counter[str] = collections.Counter()
        self._random = random.Random(seed)
        self._bucket: tuple[float, float, float] | None = None  # (rps, tokens, last monotonic)
        self._ids = itertools.count(1)
        self._stop = threading.Event()
        self._connections: set[socket.socket] = set()
        self._closed = False

        encoding()  # load the tokenizer now, not inside the first timed request
        self._server = _Server(("127.0.0.1", port), _Handler)
        self._server.fake = self
        self.port: int = self._server.server_port
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"fake-openai-{self.port}",
            daemon=True,
        )
        self._thread.start()

    # -- lifecycle

    def __enter__(self) -> FakeOpenAI:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"FakeOpenAI({self.base_url!r}, calls={self.calls})"

    def close(self) -> None:
        """Stop serving, wake stalled handlers and cut open keep-alive connections. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        self._server.shutdown()
        self._server.server_close()
        self.close_connections()
        self._thread.join(timeout=5)

    def close_connections(self) -> None:
        """Cut every open keep-alive connection, as a server does with idle ones, and go on serving."""
        with self._lock:
            connections = list(self._connections)
        for conn in connections:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def serve_until_interrupted(self) -> None:
        """Block until Ctrl-C / SIGTERM (standalone use)."""
        try:
            while not self._stop.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass
        finally:
            self.close()

    # -- records

    @property
    def requests(self) -> list[Body]:
        """A snapshot of every request: {method, path, body, headers (lower-case keys), status, time, ...}.

        ``status`` is the HTTP status sent (0 for a dropped connection, None while in flight).
        Chat answers also carry ``answer`` and ``usage`` (and ``logprobs`` as sent, when not streamed);
        injected failures carry ``fault``.
        """
        with self._lock:
            return list(self._records)

    def chat_requests(self) -> list[Body]:
        """The records of chat completion requests only."""
        return [r for r in self.requests if r["path"] == "/v1/chat/completions" and r["method"] == "POST"]

    @property
    def calls(self) -> int:
        """Chat completion requests received, whatever their outcome."""
        return len(self.chat_requests())

    @property
    def completed(self) -> int:
        """Chat completion requests answered with a real 200 answer (streams included)."""
        return sum(1 for r in self.chat_requests() if r["status"] == 200 and "usage" in r)

    def billed(self) -> list[tuple[Body, Body, str]]:
        """(request body, usage dict, answer text) for every answered chat request, in arrival order."""
        return [
            (r["body"], r["usage"], r["answer"]) for r in self.chat_requests() if r["status"] == 200 and "usage" in r
        ]

    def ledger(self) -> list[tuple[str, Body, Body, str]]:
        """(tier, request body, usage, answer) of every answer billed: ``default``/``flex`` chat calls and
        ``batch`` lines, in the order they were answered."""
        with self._lock:
            return list(self._ledger)

    def charges(self, tier: str | None = None) -> Decimal:
        """USD the server billed (OpenAI's published prices; flex and batch at half), for one tier or all."""
        return sum(
            (charge(body["model"], usage, t) for t, body, usage, _ in self.ledger() if tier in (None, t)),
            Decimal(0),
        )

    def _take_flex_unavailable(self) -> bool:
        with self._lock:
            if self.flex_unavailable > 0:
                self.flex_unavailable -= 1
                return True
            return False

    def _bill(self, tier: str, body: Body, usage: Body, answer: str) -> None:
        with self._lock:
            self._ledger.append((tier, body, usage, answer))

    def reset(self) -> None:
        """Forget records and repeat counters, refill the rate-limit bucket, re-seed ``fail_rate``.

        Options and queued faults are left as they are.
        """
        with self._lock:
            self._records.clear()
            self._ledger.clear()
            self._counters.clear()
            self._bucket = None
            self._random = random.Random(self.seed)

    # -- behaviour used by the handler

    def knows_model(self, model: str) -> bool:
        """A configured id, or a dated snapshot (``-YYYY-MM-DD``) of one."""
        if model in self.models:
            return True
        family, sep, date = model[:-11], model[-11:-10], model[-10:]
        return (
            sep == "-"
            and family in self.models
            and len(date) == 10
            and date[4] == date[7] == "-"
            and date.replace("-", "").isdigit()
        )

    @staticmethod
    def _model_not_found(model: str) -> Body:
        return _error(
            f"The model `{model}` does not exist or you do not have access to it.",
            "invalid_request_error",
            "model_not_found",
        )

    def _track(self, conn: socket.socket, add: bool) -> None:
        with self._lock:
            if add:
                self._connections.add(conn)
            else:
                self._connections.discard(conn)

    def _add_record(self, record: Body) -> None:
        with self._lock:
            self._records.append(record)

    def _roll(self) -> float:
        with self._lock:
            return self._random.random()

    def _next_fault(self) -> str | None:
        faults = self.faults
        if faults is None:
            return None
        with self._lock:
            if isinstance(faults, queue.Queue):
                try:
                    fault = faults.get_nowait()
                except queue.Empty:
                    return None
            elif isinstance(faults, collections.deque):
                if not faults:
                    return None
                fault = faults.popleft()
            else:
                if not faults:
                    return None
                fault = faults.pop(0)
        return str(fault)

    def _limit_headers(self, remaining: int, wait: float) -> dict[str, str]:
        rps = self.rate_limit_rps or 60
        return {
            "retry-after": f"{max(wait, 0.001):.3g}",
            "retry-after-ms": str(max(1, math.ceil(wait * 1000))),
            "x-ratelimit-limit-requests": str(max(1, math.ceil(rps))),
            "x-ratelimit-remaining-requests": str(remaining),
            "x-ratelimit-reset-requests": _seconds_text(wait),
        }

    @staticmethod
    def _rate_limit_error(retry_after: str) -> Body:
        return _error(
            f"Rate limit reached for requests (fake server). Please try again in {retry_after}s.",
            "requests",
            "rate_limit_exceeded",
        )

    def _admit(self) -> tuple[bool, dict[str, str]]:
        """Token bucket of capacity max(1, rps), refilled at rps tokens per second."""
        rps = self.rate_limit_rps
        if not rps:
            return True, {}
        capacity = max(1.0, float(rps))
        with self._lock:
            now = time.monotonic()
            if self._bucket is None or self._bucket[0] != rps:
                tokens = capacity
            else:
                tokens = min(capacity, self._bucket[1] + (now - self._bucket[2]) * rps)
            admitted = tokens >= 1
            if admitted:
                tokens -= 1
            self._bucket = (rps, tokens, now)
        if admitted:
            return True, {
                "x-ratelimit-limit-requests": str(math.ceil(capacity)),
                "x-ratelimit-remaining-requests": str(int(tokens)),
                "x-ratelimit-reset-requests": _seconds_text((capacity - tokens) / rps),
            }
        return False, self._limit_headers(0, (1 - tokens) / rps)

    def _answer(self, body: Body) -> tuple[str, Body, str, list[int]]:
        """Answer text, usage, finish reason and the answer's tokens for a valid chat body."""
        key_body = {k: v for k, v in body.items() if k not in ("stream", "stream_options")}
        key = json.dumps(key_body, sort_keys=True, ensure_ascii=False)
        with self._lock:
            call_index = self._counters[key]
            self._counters[key] += 1
        answer = self.responder(body, call_index)
        if not isinstance(answer, str):
            raise TypeError(f"responder returned {type(answer).__name__}, expected str")
        enc = encoding()
        tokens = enc.encode(answer, disallowed_special=())
        limit = body.get("max_completion_tokens") or body.get("max_tokens")
        finish = "stop"
        thinking = reasoning_tokens(body)  # spent before the answer, counted against the same cap
        if limit is not None and thinking >= limit:
            thinking, tokens, answer, finish = limit, [], "", "length"
        elif limit is not None and thinking + len(tokens) > limit:
            tokens = tokens[: limit - thinking]
            answer = enc.decode(tokens)
            finish = "length"
        prompt_tokens = count_chat(body["messages"])
        completion_tokens = count_text(answer) + thinking
        cached = max(0, min(prompt_tokens, int(self.cached_tokens(body, prompt_tokens))))
        details: Body = {"cached_tokens": cached, "audio_tokens": 0}
        if self.cache_write_tokens is not None:
            details["cache_write_tokens"] = max(0, min(prompt_tokens - cached, int(self.cache_write_tokens(body))))
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
            "prompt_tokens_details": details,
            "completion_tokens_details": {
                "reasoning_tokens": thinking,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        }
        return answer, usage, finish, tokens

    def _completion(
        self, body: Body, answer: str, usage: Body, finish: str, tokens: list[int], request_id: str
    ) -> Body:
        logprobs = None
        if body.get("logprobs"):
            entries = _logprob_entries(tokens, _digest(body, 0), int(body.get("top_logprobs") or 0))
            logprobs = {"content": entries, "refusal": None}
        return {
            "id": f"chatcmpl-{request_id.removeprefix('req_')}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body["model"],
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": answer, "refusal": None, "annotations": []},
                    "logprobs": logprobs,
                    "finish_reason": finish,
                }
            ],
            "usage": usage,
            "service_tier": "flex" if body.get("service_tier") == "flex" else "default",
            "system_fingerprint": "fp_fake",
        }


def start_fake(**options: Any) -> FakeOpenAI:
    """Start a server with :class:`FakeOpenAI` options; the caller closes it (or uses ``with``)."""
    return FakeOpenAI(**options)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.support.fake_openai",
        description="Serve a fake OpenAI-compatible API on 127.0.0.1 for manual and browser testing.",
    )
    parser.add_argument("--port", type=int, default=8765, help="port on 127.0.0.1 (0 picks a free one)")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds before each answer")
    parser.add_argument("--fail-rate", type=float, default=0.0, help="probability of an injected failure")
    parser.add_argument("--fail-status", type=int, default=500, help="status of injected failures (429 = rate limit)")
    parser.add_argument("--rate-limit-rps", type=float, default=None, help="admit at most N requests per second")
    parser.add_argument("--key", action="append", default=None, help="accepted API key (repeatable); default: any")
    parser.add_argument("--models", default=",".join(DEFAULT_MODELS), help="comma-separated model ids")
    parser.add_argument("--labels", default=None, help="comma-separated labels to answer with instead of filler text")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quiet", action="store_true", help="do not log requests to stderr")
    args = parser.parse_args(argv)
    responder = label_responder([s.strip() for s in args.labels.split(",") if s.strip()]) if args.labels else None
    server = FakeOpenAI(
        port=args.port,
        models=[m.strip() for m in args.models.split(",") if m.strip()],
        api_keys=args.key,
        latency=args.latency,
        responder=responder,
        fail_rate=args.fail_rate,
        fail_status=args.fail_status,
        rate_limit_rps=args.rate_limit_rps,
        seed=args.seed,
        log=not args.quiet,
    )
    signal.signal(signal.SIGTERM, lambda signum, frame: server._stop.set())
    print(server.base_url, flush=True)
    print("fake-openai: serving; Ctrl-C to stop", file=sys.stderr, flush=True)
    server.serve_until_interrupted()
    return 0


if __name__ == "__main__":
    sys.exit(main())
