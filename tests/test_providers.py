"""The OpenAI-compatible provider against the loopback server: answers, usage, and error classes."""

from __future__ import annotations

import dataclasses
import json
import threading

import pytest

from tests.conftest import TEST_KEY
from workbench.errors import (
    AuthError,
    ModelNotFoundError,
    ProviderError,
    RequestError,
    ServerUnreachableError,
    TransientError,
)
from workbench.providers import OpenAIProvider
from workbench.providers.openai_compat import _seconds, rate_info, retry_after
from workbench.tokens import count_chat, count_text

MESSAGES = [
    {"role": "system", "content": "Classify the sentiment."},
    {"role": "user", "content": "Great soup."},
]
BODY = {"model": "gpt-4.1-nano", "messages": MESSAGES, "temperature": 0}


@pytest.fixture(params=["direct", "sdk"])
def provider(request, settings):
    """Both ways a call is sent: the direct HTTP client (the default) and the SDK's (with a proxy)."""
    made = OpenAIProvider(settings, sdk_only=request.param == "sdk")
    assert (made.direct is not None) == (request.param == "direct")
    return made


@pytest.fixture(params=["direct", "sdk"])
def make(request):
    return lambda settings: OpenAIProvider(settings, sdk_only=request.param == "sdk")


def test_client_uses_our_timeout_and_no_sdk_retries(provider, settings):
    assert provider.client.max_retries == 0
    assert provider.client.timeout.read == settings.timeout
    assert provider.base_url == settings.base_url


def test_complete_returns_billed_usage(provider, fake_server):
    fake_server.cached_tokens = lambda body, prompt_tokens: 3
    completion = provider.complete(BODY)
    [(_, usage, answer)] = fake_server.billed()
    assert completion.text == answer
    assert completion.prompt_tokens == usage["prompt_tokens"] == count_chat(MESSAGES)
    assert completion.completion_tokens == usage["completion_tokens"] == count_text(answer)
    assert completion.cached_tokens == 3
    assert completion.finish_reason == "stop"
    assert completion.response_model == "gpt-4.1-nano"
    assert completion.latency_ms > 0
    assert fake_server.requests[0]["headers"]["authorization"] == f"Bearer {TEST_KEY}"


def test_reasoning_and_cache_write_tokens_are_read_from_usage(provider, fake_server):
    fake_server.cache_write_tokens = lambda body: 4
    body = {"model": "gpt-6-luna", "messages": MESSAGES, "reasoning_effort": "low"}
    completion = provider.complete(body)
    [(_, usage, answer)] = fake_server.billed()
    assert completion.reasoning_tokens == usage["completion_tokens_details"]["reasoning_tokens"] >= 16
    assert completion.completion_tokens == count_text(answer) + completion.reasoning_tokens
    assert completion.cache_write_tokens == 4
    streamed = provider.stream(body)
    assert streamed.reasoning_tokens == completion.reasoning_tokens and streamed.cache_write_tokens == 4
    fake_server.cache_write_tokens = None  # not reported: unknown, not 0
    assert provider.complete(BODY).cache_write_tokens is None
    assert provider.complete(BODY).reasoning_tokens == 0


def test_stream_returns_text_usage_and_time_to_first_token(provider, fake_server):
    pieces = []
    completion = provider.stream(BODY, on_text=pieces.append)
    [(_, usage, answer)] = fake_server.billed()
    assert completion.text == "".join(pieces) == answer
    assert completion.prompt_tokens == usage["prompt_tokens"]
    assert completion.completion_tokens == usage["completion_tokens"]
    assert completion.ttft_ms is not None and completion.ttft_ms <= completion.latency_ms


def test_logprobs_are_kept(provider, fake_server):
    completion = provider.complete({**BODY, "logprobs": True, "top_logprobs": 2})
    assert completion.logprobs_json and '"top_logprobs"' in completion.logprobs_json


def test_wrong_key_is_an_auth_error_without_the_key(make, settings, fake_server):
    wrong = "sk-wrong-key-1234567890"
    provider = make(settings.with_key(wrong))
    with pytest.raises(AuthError) as info:
        provider.complete(BODY)
    message = str(info.value)
    assert "401" in message and "OPENAI_API_KEY" in message
    assert wrong not in message and wrong[:10] not in message


def test_unknown_model_is_model_not_found(provider):
    with pytest.raises(ModelNotFoundError, match="'gpt-0-retired'"):
        provider.complete({**BODY, "model": "gpt-0-retired"})


def test_wrong_path_404_says_check_the_base_url(make, settings, fake_server):
    provider = make(dataclasses.replace(settings, base_url=fake_server.base_url.removesuffix("/v1")))
    with pytest.raises(ServerUnreachableError, match="OPENAI_BASE_URL"):
        provider.complete(BODY)


def test_bad_request_is_not_transient(provider):
    with pytest.raises(RequestError, match="400"):
        provider.complete({**BODY, "max_tokens": 0})


@pytest.mark.parametrize(
    ("fault", "kind"),
    [
        ("429", "rate_limit"),
        ("500", "server"),
        ("503", "server"),
        ("malformed", "malformed"),
        ("truncated", "malformed"),
        ("drop", "connection"),
    ],
)
def test_transient_failures_are_classified(provider, fake_server, fault, kind):
    fake_server.faults.append(fault)
    with pytest.raises(TransientError) as info:
        provider.complete(BODY)
    assert info.value.kind == kind
    assert "\n" not in str(info.value)
    if fault == "429":
        assert info.value.retry_after == pytest.approx(fake_server.retry_after)
    assert provider.complete(BODY).text  # the next call works


def test_stall_hits_the_timeout(make, settings, fake_server):
    provider = make(dataclasses.replace(settings, timeout=0.5))
    fake_server.stall_seconds = 5
    fake_server.faults.append("stall")
    with pytest.raises(TransientError) as info:
        provider.complete(BODY)
    assert info.value.kind == "timeout"


def test_dead_server_is_a_connection_error(make, settings):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    provider = make(dataclasses.replace(settings, base_url=f"http://127.0.0.1:{port}/v1"))
    with pytest.raises(TransientError, match="cannot connect") as info:
        provider.complete(BODY)
    assert info.value.kind == "connection"


def test_insufficient_quota_is_not_retried(provider, fake_server, monkeypatch):
    import openai

    response = type("R", (), {"headers": {}, "status_code": 429, "request": None})()
    exc = openai.RateLimitError.__new__(openai.RateLimitError)
    exc.status_code, exc.response = 429, response
    exc.body = {"error": {"code": "insufficient_quota", "message": "You exceeded your quota"}}
    from workbench.providers.openai_compat import classify

    error = classify(exc, "gpt-4.1-nano", "http://x/v1")
    assert type(error) is ProviderError and "quota" in str(error)


def test_list_models(provider, fake_server):
    assert "gpt-4.1-mini" in provider.list_models()


def test_retry_after_parsing():
    assert _seconds("2") == 2.0
    assert _seconds("1m30s") == 90.0
    assert _seconds("250ms") == 0.25
    assert _seconds("1.5s") == 1.5
    assert _seconds("soon") is None
    assert retry_after({"retry-after-ms": "120", "retry-after": "9"}) == 0.12
    assert retry_after({"retry-after": "3"}) == 3.0
    assert retry_after({}) is None
    info = rate_info(
        {
            "x-ratelimit-remaining-requests": "0",
            "x-ratelimit-limit-requests": "60",
            "x-ratelimit-reset-requests": "120ms",
        }
    )
    assert (info.remaining_requests, info.limit_requests, info.reset_requests_s) == (0, 60, 0.12)
    assert rate_info({}) is None


def test_a_sweep_call_imports_no_sdk(settings, fake_server):
    """The direct client answers a sweep's calls and the model list without importing the openai SDK."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from workbench.config import Settings, Secret\n"
        "from workbench.providers.openai_compat import OpenAIProvider\n"
        f"p = OpenAIProvider(Settings(api_key=Secret({TEST_KEY!r}), base_url={fake_server.base_url!r}))\n"
        f"assert p.complete({BODY!r}).text and 'gpt-4.1-mini' in p.list_models()\n"
        "print(sorted(m for m in ('openai', 'httpx', 'httpx2') if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_proxies_and_odd_urls_go_through_the_sdk(monkeypatch):
    from workbench.providers import direct

    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    assert direct.usable("https://api.openai.com/v1") and direct.usable("http://127.0.0.1:8000/v1")
    assert not direct.usable("https://example.com/v1?api-version=1")  # a query string the SDK would keep
    assert not direct.usable("https://user:pw@example.com/v1")
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.local:3128")
    assert not direct.usable("https://api.openai.com/v1")  # the SDK's httpx honours the proxy
    monkeypatch.setenv("NO_PROXY", "api.openai.com")
    assert direct.usable("https://api.openai.com/v1")


def test_organisation_and_project_headers_are_sent_like_the_sdk(monkeypatch, settings, fake_server):
    monkeypatch.setenv("OPENAI_ORG_ID", "org-123")
    monkeypatch.setenv("OPENAI_PROJECT_ID", "proj_456")
    OpenAIProvider(settings).complete(BODY)
    headers = fake_server.requests[-1]["headers"]
    assert headers["openai-organization"] == "org-123" and headers["openai-project"] == "proj_456"


def test_a_connection_the_server_closed_while_idle_is_replaced(provider, fake_server):
    """Keep-alive: the server may close an idle connection; the next call opens a new one, no error."""
    assert provider.complete(BODY).text
    fake_server.close_connections()
    import time

    time.sleep(0.1)
    assert provider.complete(BODY).text


@pytest.mark.parametrize("coding", ["gzip", "deflate", "raw-deflate"])
def test_the_direct_client_decodes_a_body_the_server_compressed_unasked(coding: str) -> None:
    """http.client asks for identity; a server (or gateway) that compresses anyway is still read, as httpx would."""
    import gzip
    import zlib
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from workbench.providers.direct import DirectClient

    answer = json.dumps({"ok": "yes"}).encode()
    packed = {
        "gzip": gzip.compress(answer),
        "deflate": zlib.compress(answer),
        "raw-deflate": _raw_deflate(answer),
    }[coding]

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(200)
            self.send_header("Content-Encoding", "gzip" if coding == "gzip" else "deflate")
            self.send_header("Content-Length", str(len(packed)))
            self.end_headers()
            self.wfile.write(packed)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        client = DirectClient(f"http://127.0.0.1:{server.server_address[1]}/v1", {}, timeout=5)
        assert client.post("/chat/completions", {"model": "m"}).json() == {"ok": "yes"}
        client.close()
    finally:
        server.shutdown()
        server.server_close()


def _raw_deflate(data: bytes) -> bytes:
    import zlib

    packer = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    return packer.compress(data) + packer.flush()
