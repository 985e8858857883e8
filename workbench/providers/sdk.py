"""The openai SDK client the provider uses for streaming, the Batch API and set-ups the direct client
does not handle (proxies): imported only when one of those is used (the SDK takes ~0.5 s to import).

The client is configured only from settings; the SDK's own retries are off (the runner retries with
its own policy) and a transport holds the whole call, not each read, to the timeout.
"""

from __future__ import annotations

import time
from typing import Any

import openai

try:  # the HTTP library the SDK uses: httpx2 in openai 3.x, httpx before
    import httpx2 as _http
except ImportError:  # pragma: no cover
    import httpx as _http  # type: ignore[no-redef]

Response = _http.Response


def make_client(api_key: str, base_url: str, timeout: float) -> openai.OpenAI:
    return openai.OpenAI(
        api_key=api_key,
        base_url=base_url,
        timeout=openai.Timeout(timeout, connect=min(10.0, timeout)),
        max_retries=0,
        http_client=openai.DefaultHttpxClient(transport=_WholeCallDeadline(_http.HTTPTransport())),
    )


class _WholeCallDeadline(_http.BaseTransport):
    """A transport that holds a whole call, not each read, to the request's read timeout.

    httpx's timeouts are per read: a server that drips one byte every half second never trips a
    2-second timeout. Here the response body is read against a deadline of (start + read timeout),
    so ``WORKBENCH_TIMEOUT`` bounds the call; a longer per-request timeout (Flex) moves it too.
    """

    def __init__(self, inner: _http.BaseTransport):
        self.inner = inner

    def handle_request(self, request: Any) -> Any:
        timeout = (request.extensions.get("timeout") or {}).get("read")
        started = time.monotonic()
        response = self.inner.handle_request(request)
        if timeout:
            response.stream = _DeadlineStream(response.stream, started + float(timeout), request)
        return response

    def close(self) -> None:
        self.inner.close()


class _DeadlineStream(_http.SyncByteStream):
    def __init__(self, inner: Any, deadline: float, request: Any):
        self.inner, self.deadline, self.request = inner, deadline, request

    def __iter__(self) -> Any:
        for chunk in self.inner:
            if time.monotonic() > self.deadline:
                raise _http.ReadTimeout("the whole call took longer than the timeout", request=self.request)
            yield chunk

    def close(self) -> None:
        close = getattr(self.inner, "close", None)
        if close is not None:
            close()
