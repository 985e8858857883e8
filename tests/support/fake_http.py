"""The HTTP side of the fake OpenAI server: a threading server and the request handler.

Part of the loopback server in :mod:`tests.support.fake_openai` (see its docstring for the rules).
"""

from __future__ import annotations

import json
import socket
import socketserver
import sys
import time
import traceback
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from tests.support.fake_batches import FLEX_MODELS, family
from tests.support.fake_hostile import DRIP_SECONDS, HOSTILE_FAULTS, echo_auth_error, spoil
from tests.support.fake_replies import (
    _UNSET,
    Body,
    _BadRequest,
    _digest,
    _error,
    _logprob_entries,
    _split,
    _validate_chat,
    check_model_params,
    mask_key,
)

if TYPE_CHECKING:
    from tests.support.fake_openai import FakeOpenAI

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
        self._raw = raw
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
            elif path.startswith(("/v1/files", "/v1/batches")):
                self._batches(fake, method, path, body)
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
        entries = [
            {"id": m, "object": "model", "created": 1700000000, "owned_by": "system"}
            | ({"shutdown_date": fake.shutdown_dates[m]} if m in fake.shutdown_dates else {})
            for m in fake.models
        ]
        if model_id is None:
            self._send(200, {"object": "list", "data": entries})
        elif fake.knows_model(model_id):
            self._send(200, {"id": model_id, "object": "model", "created": 1700000000, "owned_by": "system"})
        else:
            self._send(404, fake._model_not_found(model_id))

    # -- files and batches (tests/support/fake_batches.py)

    def _batches(self, fake: FakeOpenAI, method: str, path: str, body: Any) -> None:
        refused = self._auth_error(fake)
        if refused is not None:
            self._send(401, refused)
            return
        status, payload = fake.batches.route(
            method, path, None if body is _UNSET else body, self._raw, self.headers.get("Content-Type", "")
        )
        if isinstance(payload, bytes):
            self._start(status, "application/octet-stream", None, len(payload))
            self.wfile.write(payload)
        else:
            self._send(status, payload)

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
        try:
            check_model_params(body)
        except _BadRequest as exc:
            record["refused"] = str(exc)
            self._send(400, _error(str(exc), "invalid_request_error", exc.code, exc.param))
            return
        if fake.fail_rate and fake._roll() < fake.fail_rate:
            record["fault"] = f"fail_rate:{fake.fail_status}"
            self._failure(fake, int(fake.fail_status), body)
            return
        flex = body.get("service_tier") == "flex"
        if flex and family(body["model"]) not in FLEX_MODELS:
            message = f"Flex processing is not available for the model '{body['model']}'."
            self._send(400, _error(message, "invalid_request_error", "invalid_value", "service_tier"))
            return
        if flex and fake._take_flex_unavailable():
            # Flex capacity ran out: 429 resource_unavailable, no retry-after, not billed (OpenAI's Flex guide)
            record["fault"] = "resource_unavailable"
            self._send(
                429,
                _error(
                    "Resource unavailable: flex processing has no capacity for this request now; retry later "
                    "or use the default service tier.",
                    "invalid_request_error",
                    "resource_unavailable",
                ),
            )
            return
        latency = fake.latency(body) if callable(fake.latency) else fake.latency
        if latency and latency > 0:
            fake._stop.wait(float(latency))
        answer, usage, finish, tokens = fake._answer(body)
        record["answer"] = answer
        record["usage"] = usage
        fake._bill("flex" if flex else "default", body, usage, answer)
        if body.get("stream"):
            record["stream"] = True
            self._stream(fake, body, answer, usage, finish, tokens, limit_headers)
        else:
            completion = fake._completion(body, answer, usage, finish, tokens, self._request_id)
            record["logprobs"] = completion["choices"][0]["logprobs"]
            self._send(200, completion, limit_headers)

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
        include_usage = bool((body.get("stream_options") or {}).get("include_usage")) and fake.stream_usage
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
        elif fault == "cut" and isinstance(body, dict) and body.get("stream"):
            # A stream that ends early with [DONE] and no finish reason, as llama.cpp's server ends one
            # when another request arrives.
            self._start(200, "text/event-stream; charset=utf-8", None, None)
            choice = {"index": 0, "delta": {"role": "assistant", "content": "Pos"}, "finish_reason": None}
            chunk = {
                "id": "chatcmpl-cut",
                "object": "chat.completion.chunk",
                "created": int(time.time()),
                "model": body.get("model"),
                "choices": [choice],
            }
            self._chunk(b"data: " + json.dumps(chunk).encode() + b"\n\n")
            self._chunk(b"data: [DONE]\n\n")
            self.wfile.write(b"0\r\n\r\n")
        elif fault == "stall":
            self.close_connection = True
            stream = isinstance(body, dict) and bool(body.get("stream"))
            if stream:
                self._start(200, "text/event-stream; charset=utf-8", None, None)
            else:
                self._start(200, "application/json", None, 512)
                self.wfile.write(b'{"id": "chatcmpl-stalled", ')
            fake._stop.wait(float(fake.stall_seconds))
        elif fault == "drip":
            answer, usage, finish, tokens = fake._answer(body)
            data = json.dumps(fake._completion(body, answer, usage, finish, tokens, self._request_id)).encode()
            self._start(200, "application/json", None, len(data))
            for k in range(len(data)):
                self.wfile.write(data[k : k + 1])
                self.wfile.flush()
                if fake._stop.wait(DRIP_SECONDS):
                    break
        elif fault == "echo_auth":
            self._send(400, echo_auth_error(self.headers.get("Authorization", "")))
        elif fault in HOSTILE_FAULTS:
            answer, usage, finish, tokens = fake._answer(body)
            payload = fake._completion(body, answer, usage, finish, tokens, self._request_id)
            self._record["answer"], self._record["usage"] = answer, usage
            self._send(200, spoil(fault, payload))
            self._record["usage"] = payload.get("usage")
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
