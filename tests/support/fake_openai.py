"""A loopback OpenAI-compatible server for tests, benchmarks and manual UI runs.

The openai SDK's HTTP layer is not ``httpx`` (it is ``httpx2``), so transport-level mocks never see
its requests. This module runs a real HTTP/1.1 server on 127.0.0.1 (stdlib ``http.server`` only)
that speaks the parts of the API the workbench uses: ``POST /v1/chat/completions`` (plain and
streaming) and ``GET /v1/models``. It can also misbehave on purpose: 401/404/429/5xx, bad JSON,
a body without ``choices``, a stall mid-response, a dropped connection, random failures at a
seeded rate, and a token-bucket rate limit.

Use it as a context manager::

    with FakeOpenAI(latency=0.04, faults=["429"]) as server:
        client = openai.OpenAI(api_key="sk-test", base_url=server.base_url, max_retries=0)
        ...
        truth = server.billed()   # (body, usage, answer) of every 200 chat answer

or standalone for manual and browser testing (from the repository root)::

    python -m tests.support.fake_openai --port 8765 --latency 0.04 --fail-rate 0.1 --key sk-test

Decisions worth knowing:

* Order of checks for a chat request: scripted fault (one consumed per request, before anything
  else) -> API key -> rate limit -> body validation (400) -> model (404) -> random failure
  (``fail_rate``) -> ``latency`` -> answer. Faults, ``fail_rate`` and the rate limit apply only to
  chat completion requests; ``/v1/models`` checks the key only.
* Usage is the truth a test compares against: ``prompt_tokens = count_chat(messages)`` (the cookbook
  rule in :mod:`workbench.tokens`), ``completion_tokens = count_text(answer)`` after any
  ``max_tokens`` / ``max_completion_tokens`` truncation, ``cached_tokens = cached_tokens(body,
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
import hashlib
import itertools
import json
import math
import queue
import random
import signal
import socket
import socketserver
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from workbench.tokens import count_chat, count_text, encoding

Body = dict[str, Any]
Responder = Callable[[Body, int], str]

DEFAULT_MODELS = ("gpt-4.1-nano", "gpt-4.1-mini", "gpt-4.1", "gpt-4o-mini")
FAULTS = frozenset({"429", "500", "503", "malformed", "truncated", "stall", "drop", "401", "404"})
_ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})
_WORDS = (
    "amber", "brisk", "cedar", "delta", "ember", "fable", "gleam", "harbor",
    "ivory", "jolly", "kite", "lumen", "maple", "noble", "orbit", "pebble",
    "quill", "river", "sable", "tidal", "umber", "vivid", "willow", "xenon",
    "yarrow", "zephyr", "acorn", "bloom", "comet", "dune", "echo", "frost",
)  # fmt: skip
_UNSET = object()


# --------------------------------------------------------------------------- responders


def _temperature(body: Mapping[str, Any]) -> float:
    value = body.get("temperature")
    return 1.0 if value is None else float(value)


def _digest(body: Mapping[str, Any], call_index: int) -> bytes:
    """sha256 of messages + temperature (+ the repeat counter when temperature > 0)."""
    temperature = _temperature(body)
    basis = json.dumps(body.get("messages"), sort_keys=True, ensure_ascii=False) + f"|t={temperature!r}"
    if temperature != 0:
        basis += f"|n={call_index}"
    return hashlib.sha256(basis.encode("utf-8")).digest()


def default_responder(body: Body, call_index: int) -> str:
    """A deterministic filler answer; see the module docstring for what it depends on."""
    digest = _digest(body, call_index)
    words = " ".join(_WORDS[b % len(_WORDS)] for b in digest[4:12])
    return f"Fake answer {digest[:4].hex()}: {words}."


def last_user_text(body: Mapping[str, Any]) -> str:
    """Text of the last ``user`` message (text parts joined when the content is a list)."""
    for message in reversed(body.get("messages") or []):
        if isinstance(message, Mapping) and message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, str):
                return content
            if isinstance(content, list):
                return "".join(str(part.get("text", "")) for part in content if isinstance(part, Mapping))
            return ""
    return ""


def scripted_responder(mapping: Mapping[str, str], default: str = "") -> Responder:
    """Answer ``mapping[key]`` for the first key (in mapping order) found in the last user message.

    Useful with known gold labels: map a distinctive substring of each sample's text to the label
    the "model" should answer (right or deliberately wrong). Falls back to ``default``.
    """
    items = list(mapping.items())

    def respond(body: Body, call_index: int) -> str:
        text = last_user_text(body)
        for needle, answer in items:
            if needle in text:
                return answer
        return default

    return respond


def label_responder(labels: Iterable[str]) -> Responder:
    """Answer one of ``labels``, picked by the same hash as :func:`default_responder`.

    Stable at temperature 0, varying across repeats at temperature > 0. Handy for UI demos.
    """
    choices = list(labels)
    if not choices:
        raise ValueError("label_responder needs at least one label")

    def respond(body: Body, call_index: int) -> str:
        return choices[int.from_bytes(_digest(body, call_index)[:4], "big") % len(choices)]

    return respond


# --------------------------------------------------------------------------- helpers


def _error(message: str, type_: str, code: str | None = None, param: str | None = None) -> Body:
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


def mask_key(key: str) -> str:
    """How an error message shows a key: a short prefix and asterisks, never the key itself."""
    return f"{key[: min(3, len(key) // 2)]}****"


def _seconds_text(seconds: float) -> str:
    """Duration the way OpenAI's ``x-ratelimit-reset-*`` headers write it ("120ms", "1.5s")."""
    if seconds < 1:
        return f"{max(1, math.ceil(seconds * 1000))}ms"
    return f"{seconds:.3g}s"


class _BadRequest(Exception):
    def __init__(self, message: str, param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.param = param
        self.code = code


def _validate_chat(body: Any) -> None:
    if not isinstance(body, dict):
        raise _BadRequest(
            "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your "
            "HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON."
        )
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise _BadRequest("you must provide a model parameter", param="model")
    messages = body.get("messages")
    if messages is None:
        raise _BadRequest("Missing required parameter: 'messages'.", "messages", "missing_required_parameter")
    if not isinstance(messages, list):
        raise _BadRequest("Invalid type for 'messages': expected an array.", "messages", "invalid_type")
    if not messages:
        raise _BadRequest("Invalid 'messages': empty array. Expected an array with minimum length 1.", "messages")
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in _ROLES:
            raise _BadRequest(f"Invalid value for 'messages[{i}].role'.", f"messages[{i}].role", "invalid_value")
        content = message.get("content")
        if not (isinstance(content, str | list) or (content is None and message["role"] == "assistant")):
            raise _BadRequest(f"Invalid type for 'messages[{i}].content'.", f"messages[{i}].content", "invalid_type")
    temperature = body.get("temperature")
    if temperature is not None and (
        isinstance(temperature, bool) or not isinstance(temperature, int | float) or not 0 <= temperature <= 2
    ):
        raise _BadRequest("Invalid 'temperature': expected a number between 0 and 2.", "temperature")
    for name in ("max_tokens", "max_completion_tokens"):
        value = body.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise _BadRequest(f"Invalid '{name}': expected an integer of at least 1.", name, "integer_below_min_value")
    top = body.get("top_logprobs")
    if top is not None:
        if isinstance(top, bool) or not isinstance(top, int) or not 0 <= top <= 20:
            raise _BadRequest("Invalid 'top_logprobs': expected an integer between 0 and 20.", "top_logprobs")
        if not body.get("logprobs"):
            raise _BadRequest("'logprobs' must be true when 'top_logprobs' is set.", "top_logprobs")


def _logprob_entries(tokens: list[int], seed: bytes, top: int) -> list[Body]:
    """A plausible ``logprobs.content`` list: confident first token, milder ones after."""
    enc = encoding()
    entries = []
    for i, token in enumerate(tokens):
        raw = enc.decode_single_token_bytes(token)
        h = hashlib.blake2b(seed + i.to_bytes(4, "big"), digest_size=4).digest()
        logprob = -(h[0] / 255) * (0.05 if i == 0 else 0.9) - 1e-5
        alternatives = []
        for k in range(top):
            if k == 0:
                alternatives.append((token, raw, logprob))
                continue
            alt = (token + 7919 * k + h[1]) % enc.n_vocab
            try:
                alt_raw = enc.decode_single_token_bytes(alt)
            except KeyError:
                alt_raw = b"?"
            alternatives.append((alt, alt_raw, logprob - 1.5 * k - h[2] / 255))
        entries.append(
            {
                "token": raw.decode("utf-8", errors="replace"),
                "logprob": round(logprob, 6),
                "bytes": list(raw),
                "top_logprobs": [
                    {"token": r.decode("utf-8", errors="replace"), "logprob": round(lp, 6), "bytes": list(r)}
                    for _, r, lp in alternatives
                ],
            }
        )
    return entries


def _split(tokens: list[int], text: str, pieces: int = 4) -> list[tuple[str, list[int]]]:
    """Split an answer into stream deltas: by tokens when that decodes cleanly, else by characters."""
    if not text:
        return []
    enc = encoding()
    size = max(1, math.ceil(len(tokens) / pieces))
    groups = [tokens[i : i + size] for i in range(0, len(tokens), size)]
    decoded = [enc.decode(group) for group in groups]
    if "".join(decoded) == text:
        return list(zip(decoded, groups, strict=True))
    step = max(1, math.ceil(len(text) / pieces))
    parts = [text[i : i + step] for i in range(0, len(text), step)]
    return [(part, tokens if i == 0 else []) for i, part in enumerate(parts)]


# --------------------------------------------------------------------------- server


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # keep-alive handler threads must not make close() wait
    request_queue_size = 256
    allow_reuse_address = True
    fake: FakeOpenAI

    def server_bind(self) -> None:
        # HTTPServer.server_bind does a reverse DNS lookup (getfqdn); skip it.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = int(port)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients hanging up (timeouts, pool shutdown, dropped faults) are normal here.
        if isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server_version = "FakeOpenAI/1.0"
    sys_version = ""
    server: _Server

    # -- connection bookkeeping

    def setup(self) -> None:
        super().setup()
        self.server.fake._track(self.connection, True)

    def finish(self) -> None:
        try:
            super().finish()
        except OSError:
            pass
        finally:
            self.server.fake._track(self.connection, False)

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.fake.log:
            sys.stderr.write(f"fake-openai {self.address_string()} {format % args}\n")

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    # -- plumbing

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            self.close_connection = True
            return b""
        return self.rfile.read(length) if length > 0 else b""

    def _start(self, status: int, content_type: str, headers: Mapping[str, str] | None, length: int | None) -> None:
        self._record["status"] = status
        self._started = True
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        if length is None:
            self.send_header("Transfer-Encoding", "chunked")
            self.send_header("Cache-Control", "no-cache")
        else:
            self.send_header("Content-Length", str(length))
        self.send_header("x-request-id", self._request_id)
        self.send_header("openai-processing-ms", str(int((time.monotonic() - self._t0) * 1000)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()

    def _send(self, status: int, payload: Any, headers: Mapping[str, str] | None = None) -> None:
        data = payload if isinstance(payload, bytes) else json.dumps(payload, separators=(",", ":")).encode()
        self._start(status, "application/json", headers, len(data))
        self.wfile.write(data)

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(b"%X\r\n%s\r\n" % (len(data), data))

    # -- routing

    def _dispatch(self, method: str) -> None:
        fake = self.server.fake
        self._t0 = time.monotonic()
        self._started = False
        self._request_id = f"req_fake{next(fake._ids):010d}"
        raw = self._read_body()
        body: Any = None
        if raw:
            try:
                body = json.loads(raw)
            except ValueError:
                body = _UNSET
        path = urlsplit(self.path).path.rstrip("/") or "/"
        record: Body = {
            "method": method,
            "path": path,
            "body": None if body is _UNSET else body,
            "headers": {k.lower(): v for k, v in self.headers.items()},
            "status": None,
            "time": time.time(),
            "fault": None,
        }
        self._record = record
        fake._add_record(record)
        try:
            if method == "POST" and path == "/v1/chat/completions":
                self._chat(fake, body, record)
            elif method == "GET" and path == "/v1/models":
                self._models(fake, None)
            elif method == "GET" and path.startswith("/v1/models/"):
                self._models(fake, path.removeprefix("/v1/models/"))
            elif method == "GET" and path in ("/", "/v1"):
                self._send(200, {"object": "fake-openai", "base_url": fake.base_url, "models": list(fake.models)})
            else:
                self._send(404, _error(f"Invalid URL ({method} {path})", "invalid_request_error"))
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError, TimeoutError):
            self.close_connection = True
        except Exception as exc:  # a bug in a responder or in this server: say so loudly
            record["error"] = repr(exc)
            traceback.print_exc()
            if self._started:
                self.close_connection = True
            else:
                try:
                    self._send(500, _error(f"fake server error: {exc!r}", "server_error"))
                except OSError:
                    self.close_connection = True
        finally:
            record["elapsed"] = time.monotonic() - self._t0

    def _auth_error(self, fake: FakeOpenAI) -> Body | None:
        """The 401 payload when the key is refused, else None."""
        keys = fake.api_keys
        if keys is None:
            return None
        scheme, _, key = self.headers.get("Authorization", "").partition(" ")
        key = key.strip()
        if scheme.lower() == "bearer" and key in keys:
            return None
        if not key:
            return _error(
                "You didn't provide an API key. You need to provide your API key in an Authorization header "
                "using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
                "invalid_request_error",
            )
        return _error(f"Incorrect API key provided: {mask_key(key)}.", "invalid_request_error", "invalid_api_key")

    def _models(self, fake: FakeOpenAI, model_id: str | None) -> None:
        refused = self._auth_error(fake)
        if refused is not None:
            self._send(401, refused)
            return
        entries = [{"id": m, "object": "model", "created": 1700000000, "owned_by": "system"} for m in fake.models]
        if model_id is None:
            self._send(200, {"object": "list", "data": entries})
        elif fake.knows_model(model_id):
            self._send(200, {"id": model_id, "object": "model", "created": 1700000000, "owned_by": "system"})
        else:
            self._send(404, fake._model_not_found(model_id))

    # -- chat completions

    def _chat(self, fake: FakeOpenAI, body: Any, record: Body) -> None:
        fault = fake._next_fault()
        if fault is not None:
            record["fault"] = fault
            self._fault(fake, fault, body)
            return
        refused = self._auth_error(fake)
        if refused is not None:
            self._send(401, refused)
            return
        admitted, limit_headers = fake._admit()
        if not admitted:
            record["fault"] = "rate_limit"
            self._send(429, fake._rate_limit_error(limit_headers["retry-after"]), limit_headers)
            return
        try:
            _validate_chat(body)
        except _BadRequest as exc:
            self._send(400, _error(str(exc), "invalid_request_error", exc.code, exc.param))
            return
        if not fake.knows_model(body["model"]):
            self._send(404, fake._model_not_found(body["model"]))
            return
        if fake.fail_rate and fake._roll() < fake.fail_rate:
            record["fault"] = f"fail_rate:{fake.fail_status}"
            self._failure(fake, int(fake.fail_status), body)
            return
        latency = fake.latency(body) if callable(fake.latency) else fake.latency
        if latency and latency > 0:
            fake._stop.wait(float(latency))
        answer, usage, finish, tokens = fake._answer(body)
        record["answer"] = answer
        record["usage"] = usage
        if body.get("stream"):
            record["stream"] = True
            self._stream(fake, body, answer, usage, finish, tokens, limit_headers)
        else:
            self._send(200, fake._completion(body, answer, usage, finish, tokens, self._request_id), limit_headers)

    def _stream(
        self,
        fake: FakeOpenAI,
        body: Body,
        answer: str,
        usage: Body,
        finish: str,
        tokens: list[int],
        headers: Mapping[str, str],
    ) -> None:
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        want_logprobs = bool(body.get("logprobs"))
        top = int(body.get("top_logprobs") or 0)
        base = {
            "id": f"chatcmpl-{self._request_id.removeprefix('req_')}",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": body["model"],
            "service_tier": "default",
            "system_fingerprint": "fp_fake",
        }
        if include_usage:
            base["usage"] = None

        def event(choice: Body | None, **extra: Any) -> bytes:
            chunk = {**base, "choices": [] if choice is None else [choice], **extra}
            return b"data: " + json.dumps(chunk, separators=(",", ":")).encode() + b"\n\n"

        self._start(200, "text/event-stream; charset=utf-8", headers, None)
        role = {"role": "assistant", "content": "", "refusal": None}
        self._chunk(event({"index": 0, "delta": role, "logprobs": None, "finish_reason": None}))
        seed = _digest(body, 0)
        for piece, group in _split(tokens, answer):
            if fake.chunk_delay:
                fake._stop.wait(fake.chunk_delay)
            logprobs = (
                {"content": _logprob_entries(group, seed, top), "refusal": None} if want_logprobs and group else None
            )
            choice = {"index": 0, "delta": {"content": piece}, "logprobs": logprobs, "finish_reason": None}
            self._chunk(event(choice))
        self._chunk(event({"index": 0, "delta": {}, "logprobs": None, "finish_reason": finish}))
        if include_usage:
            self._chunk(event(None, usage=usage))
        self._chunk(b"data: [DONE]\n\n")
        self.wfile.write(b"0\r\n\r\n")

    # -- failures

    def _failure(self, fake: FakeOpenAI, status: int, body: Any) -> None:
        if status == 429:
            headers = fake._limit_headers(0, fake.retry_after)
            self._send(429, fake._rate_limit_error(headers["retry-after"]), headers)
        elif status == 401:
            key = self.headers.get("Authorization", "").partition(" ")[2].strip() or "none"
            self._send(
                401, _error(f"Incorrect API key provided: {mask_key(key)}.", "invalid_request_error", "invalid_api_key")
            )
        elif status == 404:
            model = body.get("model") if isinstance(body, dict) else None
            self._send(404, fake._model_not_found(str(model)))
        elif status == 503:
            self._send(503, _error("The engine is currently overloaded, please try again later.", "server_error"))
        elif status >= 500:
            self._send(
                status,
                _error(
                    "The server had an error while processing your request. Sorry about that!",
                    "server_error",
                ),
            )
        else:
            self._send(status, _error(f"Injected failure with status {status}.", "invalid_request_error"))

    def _fault(self, fake: FakeOpenAI, fault: str, body: Any) -> None:
        if fault in ("429", "500", "503", "401", "404"):
            self._failure(fake, int(fault), body)
        elif fault == "malformed":
            self._send(200, b'{"id": "chatcmpl-broken", "object": "chat.completion", "choices": [{"ind')
        elif fault == "truncated":
            model = body.get("model") if isinstance(body, dict) else None
            self._send(
                200,
                {
                    "id": f"chatcmpl-{self._request_id.removeprefix('req_')}",
                    "object": "chat.completion",
                    "created": int(time.time()),
                    "model": model,
                },
            )
        elif fault == "stall":
            self.close_connection = True
            stream = isinstance(body, dict) and bool(body.get("stream"))
            if stream:
                self._start(200, "text/event-stream; charset=utf-8", None, None)
            else:
                self._start(200, "application/json", None, 512)
                self.wfile.write(b'{"id": "chatcmpl-stalled", ')
            fake._stop.wait(float(fake.stall_seconds))
        elif fault == "drop":
            self._record["status"] = 0
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        else:
            sys.stderr.write(f"fake-openai: unknown scripted fault {fault!r}\n")
            self._send(500, _error(f"fake server: unknown scripted fault {fault!r}", "server_error"))


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
        fail_rate: float = 0.0,
        fail_status: int = 500,
        faults: Any = None,
        rate_limit_rps: float | None = None,
        retry_after: float = 0.05,
        stall_seconds: float = 30.0,
        chunk_delay: float = 0.0,
        seed: int = 0,
        log: bool = False,
    ) -> None:
        self.models: list[str] = list(models)
        self.api_keys: set[str] | None = None if api_keys is None else set(api_keys)
        self.latency = latency
        self.responder: Responder = responder or default_responder
        self.cached_tokens: Callable[[Body, int], int] = cached_tokens or (lambda body, prompt_tokens: 0)
        self.fail_rate = fail_rate
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
        with self._lock:
            connections = list(self._connections)
        for conn in connections:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._thread.join(timeout=5)

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
        Chat answers also carry ``answer`` and ``usage``; injected failures carry ``fault``.
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

    def reset(self) -> None:
        """Forget records and repeat counters, refill the rate-limit bucket, re-seed ``fail_rate``.

        Options and queued faults are left as they are.
        """
        with self._lock:
            self._records.clear()
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
        if limit is not None and len(tokens) > limit:
            tokens = tokens[:limit]
            answer = enc.decode(tokens)
            finish = "length"
        prompt_tokens = count_chat(body["messages"])
        completion_tokens = count_text(answer)
        cached = max(0, min(prompt_tokens, int(self.cached_tokens(body, prompt_tokens))))
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
            "prompt_tokens_details": {"cached_tokens": cached, "audio_tokens": 0},
            "completion_tokens_details": {
                "reasoning_tokens": 0,
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
            "service_tier": "default",
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
