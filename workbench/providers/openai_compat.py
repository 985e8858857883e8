"""OpenAI-compatible chat completions through the official SDK.

The SDK is configured only from settings (which come from ``OPENAI_API_KEY`` / ``OPENAI_BASE_URL``
or explicit values), so OpenAI, Azure's v1 endpoint, vLLM, Ollama and llama.cpp all work. The
SDK's own retries are off: the runner retries with its own policy (more attempts, jitter,
``retry-after``, adaptive concurrency). Every failure becomes one of our error classes with a
one-line message that never contains the key.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from workbench.config import Settings
from workbench.errors import (
    AuthError,
    CellRequestError,
    ModelNotFoundError,
    ProviderError,
    RequestError,
    ServerUnreachableError,
    TransientError,
)
from workbench.providers import direct
from workbench.providers.base import Completion, RateInfo, readable_usage

if TYPE_CHECKING:
    import openai

NO_KEY = "no-key-set"  # local servers (Ollama, vLLM) accept any key; OpenAI answers 401
_DURATION = re.compile(r"(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m(?!s))?(?:(\d+(?:\.\d+)?)s)?(?:(\d+(?:\.\d+)?)ms)?$")


def _seconds(value: str | None) -> float | None:
    """Parse ``retry-after`` style values: "2", "0.5", "1m30s", "250ms"."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    match = _DURATION.match(value)
    if not match or not any(match.groups()):
        return None
    h, m, s, ms = (float(g) if g else 0.0 for g in match.groups())
    return h * 3600 + m * 60 + s + ms / 1000


def retry_after(headers: Any) -> float | None:
    if headers is None:
        return None
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return float(ms) / 1000
        except ValueError:
            pass
    return _seconds(headers.get("retry-after"))


def rate_info(headers: Any) -> RateInfo | None:
    if headers is None or headers.get("x-ratelimit-remaining-requests") is None:
        return None

    def as_int(name: str) -> int | None:
        try:
            return int(float(headers.get(name)))
        except (TypeError, ValueError):
            return None

    return RateInfo(
        remaining_requests=as_int("x-ratelimit-remaining-requests"),
        limit_requests=as_int("x-ratelimit-limit-requests"),
        reset_requests_s=_seconds(headers.get("x-ratelimit-reset-requests")),
    )


def _detail(body: Any) -> dict[str, Any]:
    """The error object of an error body (``{"error": {...}}`` or the object itself); {} when it is not one."""
    detail = body.get("error", body) if isinstance(body, dict) else {}
    return detail if isinstance(detail, dict) else {}


def _error_type(body: Any) -> str:
    return str(_detail(body).get("type") or "")


def _error_code(body: Any) -> tuple[str, str]:
    detail = _detail(body)
    return str(detail.get("code") or ""), str(detail.get("message") or "")


def _server_words(body: Any) -> str:
    """The server's own explanation, on one line and short: its error message, else its error type or code."""
    detail = body.get("error", body) if isinstance(body, dict) else {}
    if isinstance(detail, dict):
        words = detail.get("message") or detail.get("type") or detail.get("code") or ""
    else:
        words = detail
    return " ".join(str(words or "").split())[:300]


def _error_param(body: Any) -> str:
    param = _detail(body).get("param")
    return str(param) if param not in (None, "", "None") else ""


# 400s that every call of a cell gets: OpenAI's (code, or in a gateway's wrapped message) and LiteLLM's own.
_CELL_CODES = {"unsupported_parameter", "unsupported_value"}
_CELL_WORDS = re.compile(
    r"unsupported ?param|unsupported value|does not support param|doesn'?t support|"
    r"not supported (?:with|by|for) this model|deprecated for this model|drop_params",
    re.IGNORECASE,
)
_UNKNOWN_MODEL_WORDS = re.compile(r"invalid model name|unknown model|no such model|model \S+ does not exist", re.I)
_NO_DB_WORDS = re.compile(r"no_db_connection|no connected db", re.IGNORECASE)
_BODY_PARAMS = re.compile(r"'(\w+)'|\[\s*'(\w+)'")


def _cell_advice(param: str, words: str) -> str:
    """What to change so the cell's calls are accepted."""
    named = param or next((a or b for a, b in _BODY_PARAMS.findall(words)), "")
    if named == "temperature" or (not named and "temperature" in words.lower()):
        return (
            "this model takes no temperature here: sweep reasoning efforts instead of temperatures, or mark the "
            "model `temperature: false` in a catalog file (WORKBENCH_CATALOG) so its cells are sent without one"
        )
    if named:
        return f"remove {named!r} from the prompt's params (or choose another model), then run again"
    return "change the prompt's params or the model, then run again"


def classify(exc: Exception, model: str, base_url: str) -> ProviderError:
    """Turn an SDK exception into our error classes (messages never include the key)."""
    import openai

    if isinstance(exc, openai.APITimeoutError):
        return TransientError(f"timed out waiting for {base_url}", kind="timeout")
    if isinstance(exc, openai.APIConnectionError):
        return TransientError(f"cannot connect to {base_url}", kind="connection")
    if isinstance(exc, openai.APIStatusError):
        return classify_status(exc.status_code, exc.body, getattr(exc.response, "headers", None), model, base_url)
    if isinstance(exc, (json.JSONDecodeError, openai.APIResponseValidationError, ValueError, KeyError, TypeError)):
        return TransientError(f"{base_url} sent a malformed response", kind="malformed")
    return TransientError(f"unexpected failure talking to {base_url}: {type(exc).__name__}", kind="server")


def classify_parse(exc: Exception, base_url: str) -> ProviderError:
    """An answer body that could not be read (bad JSON, missing fields) as our error class."""
    if isinstance(exc, (ValueError, KeyError, TypeError)):  # json.JSONDecodeError is a ValueError
        return TransientError(f"{base_url} sent a malformed response", kind="malformed")
    return classify(exc, "", base_url)


def classify_status(status: int, body: Any, headers: Any, model: str, base_url: str) -> ProviderError:
    """An HTTP error status (with the server's error body and headers) as one of our error classes."""
    code, message = _error_code(body)
    words = _server_words(body)
    said = f": {words}" if words else ""
    if status in (401, 403):
        return AuthError(f"the server at {base_url} rejected the API key ({status}{said}); check OPENAI_API_KEY")
    if status == 400 and (
        _NO_DB_WORDS.search(code) or _NO_DB_WORDS.search(words) or _error_type(body) == "no_db_connection"
    ):
        return AuthError(
            f"the server at {base_url} refused the API key (400 no_db_connection{said}): a LiteLLM gateway "
            "without its database accepts only its master key; check OPENAI_API_KEY"
        )
    if status == 404 or (status == 400 and _UNKNOWN_MODEL_WORDS.search(words)):
        if status == 400 or code == "model_not_found" or "model" in message.lower():
            return ModelNotFoundError(
                f"model {model!r} is not available on {base_url} ({status}{said}); retired, misspelt or no "
                "access: check the name against the models the server offers"
            )
        return ServerUnreachableError(
            f"{base_url} answered 404 for /chat/completions; is OPENAI_BASE_URL right (it usually ends in /v1)?"
        )
    if status == 429:
        if code == "resource_unavailable":
            # Flex processing has no capacity now (no retry-after; not billed): retry with a long backoff
            return TransientError(f"{base_url} has no flex capacity now (429 resource_unavailable)", kind="unavailable")
        if code == "insufficient_quota":
            return ProviderError(f"the account behind the key has no quota left on {base_url} (429 insufficient_quota)")
        return TransientError(f"rate limited by {base_url} (429)", retry_after(headers), kind="rate_limit")
    if status == 500 and "validation error" in message.lower():
        # llama-cpp-python answers a request it cannot parse with 500, not 400: retrying is useless
        short = message.split("\n")[0][:200]
        return RequestError(f"{base_url} refused the request for {model!r} ({status}): {short}")
    if status in (408, 409) or status >= 500:
        return TransientError(f"{base_url} failed with {status}", retry_after(headers), kind="server")
    if status in (400, 422) and (code in _CELL_CODES or _CELL_WORDS.search(words)):
        return CellRequestError(
            f"{base_url} refused the request for {model!r} ({status}{said}); every call of this cell would get "
            f"the same answer, so the cell stopped after the first: {_cell_advice(_error_param(body), words)}"
        )
    short = message.split("\n")[0][:200] if message else f"HTTP {status}"
    return RequestError(f"{base_url} refused the request for {model!r} ({status}): {short}")


class OpenAIProvider:
    """One shared provider per process; thread-safe.

    Non-streamed calls (a sweep's) and the model list go through :mod:`workbench.providers.direct`
    (plain HTTP/1.1, no SDK import) when it can reach the server; streaming, and every call when it
    cannot (a proxy is configured), go through the openai SDK client, created on first use.
    """

    def __init__(self, settings: Settings, client: openai.OpenAI | None = None, *, sdk_only: bool = False):
        self.base_url = settings.base_url.rstrip("/")
        self.has_key = bool(settings.api_key)
        self.flex_timeout = settings.flex_timeout
        self.timeout = settings.timeout
        self._api_key = settings.api_key.get() or NO_KEY
        self._client = client
        self._client_lock = threading.Lock()
        self.direct: direct.DirectClient | None = None
        if client is None and not sdk_only and direct.usable(self.base_url):
            self.direct = direct.DirectClient(self.base_url, direct.request_headers(self._api_key), settings.timeout)

    @property
    def client(self) -> openai.OpenAI:
        """The SDK client (imported and made on first use)."""
        if self._client is None:
            with self._client_lock:
                if self._client is None:
                    from workbench.providers.sdk import make_client

                    self._client = make_client(self._api_key, self.base_url, self.timeout)
        return self._client

    def complete(self, body: dict[str, Any], stop: threading.Event | None = None) -> Completion:
        """One attempt at a non-streamed completion (``stop`` matters only to servers that queue calls).

        The body is sent exactly as planned and the JSON answer normalised here: neither the SDK's
        typed request transformation nor its response models run (that per-call work was most of
        the CPU of a sweep). Through the direct client when it reaches the server, else the SDK
        client's own ``post`` (its auth, base URL, headers, timeouts and error classes).
        """
        model = str(body.get("model"))
        timeout = self.flex_timeout if body.get("service_tier") == "flex" else None
        start = time.perf_counter()
        if self.direct is None:
            return self._complete_sdk(body, model, timeout, start)
        try:
            reply = self.direct.post("/chat/completions", body, timeout)
        except direct.CallTimeout:
            raise TransientError(f"timed out waiting for {self.base_url}", kind="timeout") from None
        except direct.CallBroken:
            raise TransientError(f"cannot connect to {self.base_url}", kind="connection") from None
        if reply.status >= 300:
            raise classify_status(reply.status, _error_body(reply.body), reply.headers, model, self.base_url)
        return self._billed(reply.json, (time.perf_counter() - start) * 1000, reply.headers, model)

    def _complete_sdk(self, body: dict[str, Any], model: str, timeout: float | None, start: float) -> Completion:
        from workbench.providers.sdk import Response

        try:
            options: Any = {"timeout": timeout} if timeout else {}
            response = self.client.post("/chat/completions", body=body, cast_to=Response, options=options)
        except Exception as exc:
            raise classify(exc, model, self.base_url) from None
        return self._billed(response.json, (time.perf_counter() - start) * 1000, response.headers, model)

    def _billed(self, read_json: Callable[[], Any], latency: float, headers: Any, model: str) -> Completion:
        """A 200's answer: the call is billed, whatever its body holds (a malformed one carries its charge)."""
        data: Any = None
        try:
            data = read_json()
            return self._from_json(data, latency, rate_info(headers))
        except TransientError as exc:
            exc.paid = readable_usage(data.get("usage") if isinstance(data, dict) else None)
            raise
        except Exception as exc:
            error = classify_parse(exc, self.base_url)
            if isinstance(error, TransientError) and error.kind == "malformed":
                error.paid = (None, None, None)
            raise error from None

    def stream(
        self,
        body: dict[str, Any],
        on_text: Callable[[str], None] | None = None,
        stop: threading.Event | None = None,
    ) -> Completion:
        """A streamed completion; ``on_text`` receives each piece as it arrives."""
        model = str(body.get("model"))
        start = time.perf_counter()
        first: float | None = None
        pieces: list[str] = []
        tokens: list[Any] = []  # logprobs.content entries, when the body asked for logprobs
        usage = None
        finish = None
        response_model = None
        try:
            stream = self.client.chat.completions.create(**body, stream=True, stream_options={"include_usage": True})
            for chunk in stream:
                response_model = getattr(chunk, "model", None) or response_model
                if getattr(chunk, "usage", None):
                    usage = chunk.usage
                for choice in chunk.choices or []:
                    delta = getattr(choice.delta, "content", None) if choice.delta else None
                    if delta:
                        if first is None:
                            first = time.perf_counter()
                        pieces.append(delta)
                        if on_text:
                            on_text(delta)
                    finish = choice.finish_reason or finish
                    content = getattr(getattr(choice, "logprobs", None), "content", None)
                    if content:
                        tokens.extend(e.model_dump() if hasattr(e, "model_dump") else e for e in content)
        except Exception as exc:
            raise classify(exc, model, self.base_url) from None
        if finish is None:
            # Every complete answer ends with a finish reason. A stream without one was cut short
            # (llama.cpp's server ends a stream early when another request arrives): retry, never store.
            raise TransientError(f"{self.base_url} ended the stream before the answer was finished", kind="malformed")
        end = time.perf_counter()
        cached = reasoning = written = None
        as_dict: dict[str, Any] = {}
        if usage is not None:
            as_dict = usage.model_dump() if hasattr(usage, "model_dump") else {}
            cached, reasoning, written = usage_details(as_dict)
        try:
            return Completion(
                text="".join(pieces),
                finish_reason=finish,
                prompt_tokens=getattr(usage, "prompt_tokens", None),
                cached_tokens=cached,
                completion_tokens=getattr(usage, "completion_tokens", None),
                latency_ms=(end - start) * 1000,
                ttft_ms=(first - start) * 1000 if first else None,
                response_model=response_model,
                reasoning_tokens=reasoning,
                cache_write_tokens=written,
                logprobs_json=json.dumps({"content": tokens}) if tokens else None,
            )
        except TransientError as exc:  # a finished stream was billed, whatever its fields hold
            exc.paid = readable_usage(as_dict)
            raise

    def list_models(self) -> list[str]:
        """Model ids the server offers (``/v1/models``)."""
        if self.direct is not None:
            try:
                reply = self.direct.get("/models")
            except direct.CallTimeout:
                raise TransientError(f"timed out waiting for {self.base_url}", kind="timeout") from None
            except direct.CallBroken:
                raise TransientError(f"cannot connect to {self.base_url}", kind="connection") from None
            if reply.status >= 300:
                raise classify_status(reply.status, _error_body(reply.body), reply.headers, "", self.base_url)
            try:
                listed = reply.json()["data"]
                return sorted(str(entry["id"]) for entry in listed)
            except (ValueError, KeyError, TypeError):
                raise TransientError(f"{self.base_url} sent a malformed response", kind="malformed") from None
        try:
            return sorted(m.id for m in self.client.models.list())
        except Exception as exc:
            raise classify(exc, "", self.base_url) from None

    @staticmethod
    def _from_json(data: Any, latency_ms: float, rate: RateInfo | None) -> Completion:
        """A chat-completion JSON object -> :class:`Completion`; anything else is a malformed answer."""
        choices = data.get("choices") if isinstance(data, dict) else None
        if not choices or not isinstance(choices, list) or not isinstance(choices[0], dict):
            raise TransientError("the server sent a response without choices", kind="malformed")
        choice = choices[0]
        message = choice.get("message") or {}
        text = message.get("content") if isinstance(message, dict) else None
        usage = data.get("usage") if isinstance(data.get("usage"), dict) else None
        cached, reasoning, written = usage_details(usage)
        logprobs = choice.get("logprobs")

        # Raw values: the Completion checks each one (a hostile server may send NaN, 10^30, objects).
        return Completion(
            text="" if text is None else text,
            finish_reason=choice.get("finish_reason"),
            prompt_tokens=_count(usage.get("prompt_tokens")) if usage else None,
            cached_tokens=cached,
            completion_tokens=_count(usage.get("completion_tokens")) if usage else None,
            reasoning_tokens=reasoning,
            cache_write_tokens=written,
            latency_ms=latency_ms,
            ttft_ms=None,
            response_model=data.get("model"),
            logprobs_json=json.dumps(logprobs) if logprobs else None,
            rate=rate,
        )


def _error_body(raw: bytes) -> Any:
    """An error response's body as the SDK hands it to its errors: the JSON's ``error`` object, else the text."""
    text = raw.decode("utf-8", "replace").strip()
    try:
        body = json.loads(text)
    except ValueError:
        return text
    return body.get("error", body) if isinstance(body, dict) else body


def _count(value: Any) -> Any:
    """A usage figure as the server sent it: :class:`Completion` checks it (NaN, 10^30, -1 are refused)."""
    return value


def usage_details(usage: Any) -> tuple[int | None, int | None, int | None]:
    """(cached, reasoning, cache-write) tokens of a usage object; None for each when there is no usage.

    Reasoning tokens are ``completion_tokens_details.reasoning_tokens`` (billed as output, already
    counted in ``completion_tokens``); tokens written to the prompt cache are read from
    ``prompt_tokens_details.cache_write_tokens`` (or ``cache_creation_tokens``) where a server
    reports them, and are None (not reported) otherwise.
    """
    if not isinstance(usage, dict):
        return None, None, None
    prompt = usage.get("prompt_tokens_details")
    prompt = prompt if isinstance(prompt, dict) else {}
    completion = usage.get("completion_tokens_details")
    completion = completion if isinstance(completion, dict) else {}
    written = _count(prompt.get("cache_write_tokens"))
    if written is None:
        written = _count(prompt.get("cache_creation_tokens"))
    return _count(prompt.get("cached_tokens")) or 0, _count(completion.get("reasoning_tokens")) or 0, written


def make_provider(settings: Settings) -> OpenAIProvider:
    return OpenAIProvider(settings)
