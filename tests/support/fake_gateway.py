"""A loopback stand-in for a LiteLLM proxy in front of an OpenAI-compatible server (tests only).

It forwards chat completions and ``/v1/models`` to an upstream :class:`FakeOpenAI` unchanged (status,
body and stream bytes: usage, cached tokens and streaming pass through, as they do through LiteLLM)
and answers, itself, what such a gateway answers itself (bodies as LiteLLM 1.x sends them):

- a key other than its master key, with no database to look virtual keys up in: ``400`` with
  ``type: no_db_connection`` ("No connected db."); with a database, ``401 auth_error``;
- a model name it does not route: ``400`` "Invalid model name passed in model=…";
- ``temperature`` for a model listed in ``no_temperature``: ``400`` ``litellm.UnsupportedParamsError``,
  unless ``drop_params`` is on, when the temperature is silently removed and the call forwarded.
"""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.support.fake_openai import FakeOpenAI


class FakeGateway:
    def __init__(
        self,
        upstream: FakeOpenAI,
        upstream_key: str,
        master_key: str,
        models: Iterable[str],
        *,
        database: bool = False,
        no_temperature: Iterable[str] = (),
        drop_params: bool = False,
    ):
        self.upstream = upstream
        self.upstream_key = upstream_key
        self.master_key = master_key
        self.models = list(models)
        self.database = database
        self.no_temperature = set(no_temperature)
        self.drop_params = drop_params
        self.refused: list[tuple[int, dict[str, Any]]] = []  # (status, request body) of what it answered itself
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def __enter__(self) -> FakeGateway:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def own_answer(self, key: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]] | None:
        """The gateway's own refusal of a chat request, or None to forward it."""
        if key != self.master_key:
            if not self.database:
                return 400, _error("No connected db.", "no_db_connection", "400")
            return 401, _error("Authentication Error, Invalid proxy server token passed.", "auth_error", "401")
        model = str(body.get("model"))
        if model not in self.models:
            message = (
                f"400: {{'error': '/chat/completions: Invalid model name passed in model={model}. "
                "Call `/v1/models` to view available models for your key.'}"
            )
            return 400, _error(message, "None", "400")
        if "temperature" in body and model in self.no_temperature:
            if self.drop_params:
                del body["temperature"]
                return None
            message = (
                f"litellm.UnsupportedParamsError: openai does not support parameters: ['temperature'], for "
                f"model={model}. To drop these, set `litellm.drop_params=True` or for proxy:\n\n"
                "`litellm_settings:\n drop_params: true`\n"
            )
            return 400, _error(message, "None", "400")
        return None


def _error(message: str, type_: str, code: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "param": None, "code": code}}


def _handler(gateway: FakeGateway) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def _key(self) -> str:
            return self.headers.get("Authorization", "").partition(" ")[2].strip()

        def _reply(self, status: int, body: bytes, content_type: str = "application/json") -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _forward(self, method: str, path: str, body: bytes | None) -> None:
            request = urllib.request.Request(
                gateway.upstream.base_url.removesuffix("/v1") + path,
                data=body,
                method=method,
                headers={"Authorization": f"Bearer {gateway.upstream_key}", "Content-Type": "application/json"},
            )
            try:
                with urllib.request.urlopen(request, timeout=30) as response:
                    status, data, kind = response.status, response.read(), response.headers.get("Content-Type")
            except urllib.error.HTTPError as exc:
                status, data, kind = exc.code, exc.read(), exc.headers.get("Content-Type")
            self._reply(status, data, kind or "application/json")

        def do_GET(self) -> None:
            if self._key() != gateway.master_key and not gateway.database:
                self._reply(400, json.dumps(_error("No connected db.", "no_db_connection", "400")).encode())
                return
            listing = {"object": "list", "data": [{"id": m, "object": "model"} for m in gateway.models]}
            self._reply(200, json.dumps(listing).encode())

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            body = json.loads(raw or b"{}")
            refused = gateway.own_answer(self._key(), body)
            if refused is not None:
                gateway.refused.append((refused[0], body))
                self._reply(refused[0], json.dumps(refused[1]).encode())
                return
            self._forward("POST", self.path, json.dumps(body).encode())

    return Handler
