"""A local OpenAI-compatible server: the same protocol as OpenAI's, with fewer extras.

What such servers (llama.cpp, Ollama, vLLM) do differently, and what is done about it here:

- **No ``prompt_tokens_details``**: cached tokens are 0 (a local model has no cache discount).
- **No rate-limit headers**: the adaptive limiter simply sees no limits.
- **No usage chunk when streaming** (llama.cpp): the server the workbench starts adds one
  (:mod:`workbench.local.serve`); from another server, tokens of a streamed answer are unknown.
- **No ``json_schema`` response format** (llama-cpp-python accepts ``text`` and ``json_object``):
  for the llama.cpp server the workbench starts, ``json_schema`` is sent as llama.cpp's own
  ``{"type": "json_object", "schema": ...}``, which constrains the answer the same way.
- **One request at a time** (llama.cpp): calls take turns on the server's semaphore, so a queued
  call neither times out nor counts its wait as latency.
- **No natural end** for a small model that rambles: without ``max_tokens`` in the prompt, the
  workbench's llama.cpp server is asked for at most :data:`DEFAULT_MAX_TOKENS` tokens.

The stored request (and its reuse key) is the prompt's own body; these adjustments are how it is
delivered to this kind of server.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

from workbench.config import Secret, Settings
from workbench.errors import ModelUnavailableError, TransientError
from workbench.local import LocalModel
from workbench.providers.base import CallCancelled, Completion
from workbench.providers.openai_compat import OpenAIProvider

DEFAULT_MAX_TOKENS = 256
CRASH_WAIT_S = 2.0  # how long a failed call waits to learn whether the server process died


class LocalProvider(OpenAIProvider):
    """Calls to one local model at ``base_url`` (never with the OpenAI key)."""

    def __init__(
        self,
        model: LocalModel,
        base_url: str,
        settings: Settings,
        turn: threading.Semaphore | None = None,
        crash: Callable[[float], str | None] | None = None,
    ):
        super().__init__(replace(settings, base_url=base_url, api_key=Secret(None)))
        self.model = model
        self._turn = turn  # taken around each call when the server answers one at a time
        self._crash = crash  # why the server the workbench started died by a signal, if it did

    def adapt(self, body: dict[str, Any]) -> dict[str, Any]:
        """The body as this server understands it (see the module docstring)."""
        if not self.model.managed:
            return body
        body = copy.deepcopy(body)
        fmt = body.get("response_format")
        if isinstance(fmt, dict) and fmt.get("type") == "json_schema":
            schema = (fmt.get("json_schema") or {}).get("schema")
            body["response_format"] = {"type": "json_object", **({"schema": schema} if schema else {})}
        if body.get("max_tokens") is None and body.get("max_completion_tokens") is None:
            body["max_tokens"] = DEFAULT_MAX_TOKENS
        elif "max_completion_tokens" in body and "max_tokens" not in body:
            body["max_tokens"] = body.pop("max_completion_tokens")
        return body

    def complete(self, body: dict[str, Any], stop: threading.Event | None = None) -> Completion:
        with self._my_turn(stop), self._crash_said():
            return super().complete(self.adapt(body))

    def stream(
        self,
        body: dict[str, Any],
        on_text: Callable[[str], None] | None = None,
        stop: threading.Event | None = None,
    ) -> Completion:
        with self._my_turn(stop), self._crash_said():
            return super().stream(self.adapt(body), on_text)

    @contextmanager
    def _crash_said(self) -> Iterator[None]:
        """A call cut off because the server crashed (SIGSEGV, SIGILL) stops the model with the fix.

        Retrying would start the server again only for it to crash on the same computation.
        """
        try:
            yield
        except TransientError as exc:
            cut_off = exc.kind in ("connection", "malformed")  # what a call sees when the server dies under it
            reason = self._crash(CRASH_WAIT_S) if cut_off and self._crash is not None else None
            if reason:
                raise ModelUnavailableError(reason) from None
            raise exc from None

    @contextmanager
    def _my_turn(self, stop: threading.Event | None) -> Iterator[None]:
        """Wait for the server's turn; give up (:class:`CallCancelled`) as soon as ``stop`` is set.

        With many workers queued on one llama.cpp server, a cancelled sweep must not make each of
        them send one more call before it notices.
        """
        if self._turn is None:
            yield
            return
        while not self._turn.acquire(timeout=0.2):
            if stop is not None and stop.is_set():
                raise CallCancelled
        try:
            if stop is not None and stop.is_set():
                raise CallCancelled
            yield
        finally:
            self._turn.release()
