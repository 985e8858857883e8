"""The loopback OpenAI stand-in, exercised through the real openai SDK (whose HTTP layer is httpx2)."""

from __future__ import annotations

import http.client
import json
import queue
import signal
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import openai
import pytest

from tests.support.fake_openai import (
    DEFAULT_MODELS,
    FakeOpenAI,
    default_responder,
    label_responder,
    scripted_responder,
    start_fake,
)
from workbench.tokens import count_chat, count_text, encoding

KEY = "sk-test-0123456789abcdef"
MESSAGES = [
    {"role": "system", "content": "Classify the sentiment as positive, negative or neutral."},
    {"role": "user", "content": "The soup was cold and the waiter ignored us."},
]
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def server():
    with FakeOpenAI(api_keys={KEY}) as fake:
        yield fake


def client_for(fake: FakeOpenAI, *, key: str = KEY, timeout: float = 5) -> openai.OpenAI:
    return openai.OpenAI(api_key=key, base_url=fake.base_url, max_retries=0, timeout=timeout)


def ask(client: openai.OpenAI, **params):
    params.setdefault("model", "gpt-4.1-nano")
    params.setdefault("messages", MESSAGES)
    return client.chat.completions.create(**params)


# --------------------------------------------------------------------------- answers and usage


def test_plain_completion_usage_follows_the_tokenizer(server):
    server.cached_tokens = lambda body, prompt_tokens: prompt_tokens // 2
    response = ask(client_for(server), temperature=0)

    answer = response.choices[0].message.content
    assert answer == default_responder({"messages": MESSAGES, "temperature": 0}, 0)
    assert response.model == "gpt-4.1-nano"
    assert response.choices[0].finish_reason == "stop"
    assert response.usage.prompt_tokens == count_chat(MESSAGES)
    assert response.usage.completion_tokens == count_text(answer)
    assert response.usage.total_tokens == count_chat(MESSAGES) + count_text(answer)
    assert response.usage.prompt_tokens_details.cached_tokens == count_chat(MESSAGES) // 2

    [(body, usage, text)] = server.billed()
    assert body["messages"] == MESSAGES
    assert text == answer
    assert usage["prompt_tokens"] == response.usage.prompt_tokens
    assert (server.calls, server.completed) == (1, 1)
    record = server.requests[0]
    assert record["path"] == "/v1/chat/completions"
    assert record["status"] == 200
    assert record["headers"]["authorization"] == f"Bearer {KEY}"


def test_repeats_are_stable_at_temperature_zero_and_vary_above(server):
    client = client_for(server)
    cold = {ask(client, temperature=0).choices[0].message.content for _ in range(3)}
    warm = [ask(client, temperature=0.8).choices[0].message.content for _ in range(3)]
    assert len(cold) == 1
    assert len(set(warm)) == 3
    server.reset()
    assert [ask(client, temperature=0.8).choices[0].message.content for _ in range(3)] == warm


def test_scripted_and_label_responders(server):
    server.responder = scripted_responder({"cold": "negative", "lovely": "positive"}, default="neutral")
    client = client_for(server)
    assert ask(client).choices[0].message.content == "negative"
    lovely = [{"role": "user", "content": [{"type": "text", "text": "A lovely evening."}]}]
    assert ask(client, messages=lovely).choices[0].message.content == "positive"
    assert ask(client, messages=[{"role": "user", "content": "meh"}]).choices[0].message.content == "neutral"

    server.responder = label_responder(["positive", "negative", "neutral"])
    answers = {ask(client, temperature=1).choices[0].message.content for _ in range(8)}
    assert answers <= {"positive", "negative", "neutral"}
    assert len(answers) > 1


def test_latency_callable_receives_the_request_body(server):
    seen: list[str] = []
    server.latency = lambda body: seen.append(body["model"]) or 0.0
    ask(client_for(server), model="gpt-4.1-mini")
    assert seen == ["gpt-4.1-mini"]


def test_streaming_with_usage_matches_what_is_billed(server):
    stream = ask(client_for(server), stream=True, stream_options={"include_usage": True})
    chunks = list(stream)

    assert chunks[0].choices[0].delta.role == "assistant"
    content_chunks = [c for c in chunks if c.choices and c.choices[0].delta.content]
    assert len(content_chunks) > 1
    text = "".join(c.choices[0].delta.content for c in content_chunks)
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == ["stop"]
    assert chunks[-1].choices == []
    usage = chunks[-1].usage
    [(_, billed_usage, billed_text)] = server.billed()
    assert text == billed_text
    assert usage.prompt_tokens == count_chat(MESSAGES) == billed_usage["prompt_tokens"]
    assert usage.completion_tokens == count_text(text)


def test_streaming_without_include_usage_sends_no_usage_chunk_but_is_billed(server):
    chunks = list(ask(client_for(server), stream=True))
    assert all(chunk.choices for chunk in chunks)
    assert all(chunk.usage is None for chunk in chunks)
    assert server.completed == 1


def test_max_tokens_truncates_the_answer(server):
    client = client_for(server)
    full = default_responder({"messages": MESSAGES, "temperature": 0}, 0)
    enc = encoding()
    for limit_param in ("max_tokens", "max_completion_tokens"):
        response = ask(client, temperature=0, **{limit_param: 3})
        text = response.choices[0].message.content
        assert text == enc.decode(enc.encode(full)[:3])
        assert response.choices[0].finish_reason == "length"
        assert response.usage.completion_tokens == count_text(text)

    streamed = list(ask(client, temperature=0, max_tokens=3, stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in streamed) == enc.decode(enc.encode(full)[:3])


def test_logprobs_describe_the_answer_tokens(server):
    response = ask(client_for(server), logprobs=True, top_logprobs=2)
    content = response.choices[0].logprobs.content
    assert "".join(entry.token for entry in content) == response.choices[0].message.content
    assert all(entry.logprob < 0 and len(entry.top_logprobs) == 2 for entry in content)
    assert all(entry.top_logprobs[0].token == entry.token for entry in content)


# --------------------------------------------------------------------------- refusals


def test_wrong_key_is_401_without_echoing_the_key(server):
    wrong = "sk-wrong-secret-value-123456"
    with pytest.raises(openai.AuthenticationError) as caught:
        ask(client_for(server, key=wrong))
    assert caught.value.status_code == 401
    assert caught.value.code == "invalid_api_key"
    assert wrong not in str(caught.value)
    assert "secret" not in json.dumps(caught.value.body)
    with pytest.raises(openai.AuthenticationError):
        client_for(server, key=wrong).models.list()
    assert server.completed == 0

    server.api_keys = None
    assert ask(client_for(server, key=wrong)).choices[0].message.content


def test_unknown_model_is_404_model_not_found_and_snapshots_are_known(server):
    client = client_for(server)
    with pytest.raises(openai.NotFoundError) as caught:
        ask(client, model="gpt-9-turbo")
    assert caught.value.code == "model_not_found"
    assert "`gpt-9-turbo` does not exist" in caught.value.message

    assert ask(client, model="gpt-4.1-nano-2025-04-14").model == "gpt-4.1-nano-2025-04-14"
    server.models.remove("gpt-5-nano")
    with pytest.raises(openai.NotFoundError):
        ask(client, model="gpt-5-nano-2025-08-07")
    server.models.append("gpt-5-nano")
    assert ask(client, model="gpt-5-nano-2025-08-07").choices


def test_invalid_requests_are_400(server):
    client = client_for(server)
    with pytest.raises(openai.BadRequestError):
        ask(client, messages=[])
    with pytest.raises(openai.BadRequestError):
        ask(client, temperature=3)
    with pytest.raises(openai.BadRequestError):
        ask(client, max_tokens=0)
    with pytest.raises(openai.BadRequestError):
        ask(client, messages=[{"role": "narrator", "content": "hi"}])
    assert server.completed == 0


def _refusal(client, **body):
    with pytest.raises(openai.BadRequestError) as caught:
        ask(client, **body)
    return caught.value.body


def test_reasoning_models_refuse_what_openai_refuses_with_its_own_400_bodies(server):
    client = client_for(server)
    assert _refusal(client, model="gpt-6-luna", temperature=0) == {
        "message": "Unsupported value: 'temperature' does not support 0 with this model. "
        "Only the default (1) value is supported.",
        "type": "invalid_request_error",
        "param": "temperature",
        "code": "unsupported_value",
    }
    assert _refusal(client, model="gpt-6-sol", reasoning_effort="low", temperature=0.7)["param"] == "temperature"
    assert _refusal(client, model="gpt-5-mini", max_tokens=5) == {
        "message": "Unsupported parameter: 'max_tokens' is not supported with this model. "
        "Use 'max_completion_tokens' instead.",
        "type": "invalid_request_error",
        "param": "max_tokens",
        "code": "unsupported_parameter",
    }
    assert _refusal(client, model="gpt-5-mini", reasoning_effort="none") == {
        "message": "Unsupported value: 'reasoning_effort' does not support \"none\" with this model. "
        "Supported values are: 'minimal', 'low', 'medium', and 'high'.",
        "type": "invalid_request_error",
        "param": "reasoning_effort",
        "code": "unsupported_value",
    }
    assert _refusal(client, model="gpt-5-nano", logprobs=True)["code"] == "unsupported_parameter"
    assert _refusal(client, model="gpt-6-luna", reasoning_effort="medium", logprobs=True)["param"] == "logprobs"
    assert _refusal(client, model="gpt-6-astra", reasoning_effort="none")["param"] == "reasoning_effort"
    assert _refusal(client, model="gpt-4.1-mini", reasoning_effort="low")["param"] == "reasoning_effort"
    assert server.completed == 0
    # what they accept: GPT-6 samples at effort none; GPT-5 takes temperature 1 (its only value)
    assert ask(client, model="gpt-6-luna", reasoning_effort="none", temperature=0.7, logprobs=True).choices
    assert ask(client, model="gpt-5-mini", temperature=1, max_completion_tokens=500).choices
    assert ask(client, model="gpt-4.1-mini", temperature=0, max_tokens=5).choices


def test_reasoning_tokens_are_reported_billed_as_output_and_count_against_the_cap(server):
    client = client_for(server)
    none = ask(client, model="gpt-6-luna", reasoning_effort="none")
    assert none.usage.completion_tokens_details.reasoning_tokens == 0
    assert none.usage.completion_tokens == count_text(none.choices[0].message.content)
    low = ask(client, model="gpt-6-luna", reasoning_effort="low")
    thought = low.usage.completion_tokens_details.reasoning_tokens
    assert 16 <= thought <= 24
    assert low.usage.completion_tokens == count_text(low.choices[0].message.content) + thought
    plain = ask(client, model="gpt-4.1-mini")
    assert plain.usage.completion_tokens_details.reasoning_tokens == 0
    # a cap below the reasoning: nothing is answered, the finish reason is length
    cut = ask(client, model="gpt-5-mini", reasoning_effort="medium", max_completion_tokens=10)
    assert cut.choices[0].message.content == "" and cut.choices[0].finish_reason == "length"
    assert cut.usage.completion_tokens == cut.usage.completion_tokens_details.reasoning_tokens == 10


def test_models_list_carries_shutdown_dates_and_cache_writes_are_reported():
    with FakeOpenAI(shutdown_dates={"gpt-4.1-mini": "2027-01-14"}, cache_write_tokens=lambda body: 7) as fake:
        client = client_for(fake)
        listed = {m.id: getattr(m, "shutdown_date", None) for m in client.models.list().data}
        assert listed["gpt-4.1-mini"] == "2027-01-14" and listed["gpt-6-luna"] is None
        answer = ask(client, model="gpt-6-luna")
        assert answer.usage.prompt_tokens_details.model_dump()["cache_write_tokens"] == 7


def test_raw_http_keep_alive_bad_json_and_unknown_path(server):
    host, port = "127.0.0.1", server.port
    conn = http.client.HTTPConnection(host, port, timeout=5)
    headers = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}
    conn.request("POST", "/v1/chat/completions", body=b"{not json", headers=headers)
    bad = conn.getresponse()
    assert bad.status == 400
    assert json.loads(bad.read())["error"]["type"] == "invalid_request_error"
    conn.request("POST", "/v1/chat/completions", body=json.dumps({"model": "gpt-4.1"}), headers=headers)
    missing = conn.getresponse()
    assert missing.status == 400
    assert json.loads(missing.read())["error"]["param"] == "messages"
    conn.request("GET", "/v1/nothing-here", headers=headers)
    unknown = conn.getresponse()
    assert unknown.status == 404
    assert "Invalid URL" in json.loads(unknown.read())["error"]["message"]
    conn.close()
    # all three came over one kept-alive connection, each a complete, length-delimited response
    assert [r["status"] for r in server.requests] == [400, 400, 404]


def test_models_endpoint_lists_configured_models(server):
    client = client_for(server)
    assert [m.id for m in client.models.list().data] == list(DEFAULT_MODELS)
    assert DEFAULT_MODELS[:4] == ("gpt-4.1-nano", "gpt-4.1-mini", "gpt-4.1", "gpt-4o-mini")
    assert client.models.retrieve("gpt-4.1-mini").id == "gpt-4.1-mini"
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("davinci")
    assert server.calls == 0


# --------------------------------------------------------------------------- faults


def test_scripted_429_carries_retry_after_then_service_resumes(server):
    server.faults.append("429")
    client = client_for(server)
    with pytest.raises(openai.RateLimitError) as caught:
        ask(client)
    headers = caught.value.response.headers
    assert float(headers["retry-after"]) > 0
    assert int(headers["retry-after-ms"]) > 0
    assert headers["x-ratelimit-remaining-requests"] == "0"
    assert "x-ratelimit-reset-requests" in headers
    assert caught.value.code == "rate_limit_exceeded"
    assert ask(client).choices[0].message.content
    assert (server.calls, server.completed) == (2, 1)
    assert [r["fault"] for r in server.requests] == ["429", None]


def test_sdk_retries_through_scripted_server_errors(server):
    server.faults.extend(["503", "429"])
    client = openai.OpenAI(api_key=KEY, base_url=server.base_url, max_retries=2, timeout=5)
    assert ask(client).choices[0].message.content
    assert [r["status"] for r in server.requests] == [503, 429, 200]
    assert len(server.billed()) == 1


def test_500_and_503_raise_status_errors(server):
    server.faults.extend(["500", "503"])
    client = client_for(server)
    with pytest.raises(openai.InternalServerError) as first:
        ask(client)
    assert first.value.status_code == 500
    with pytest.raises(openai.InternalServerError) as second:
        ask(client)
    assert second.value.status_code == 503


def test_scripted_401_and_404(server):
    server.faults.extend(["401", "404"])
    client = client_for(server)
    with pytest.raises(openai.AuthenticationError):
        ask(client)
    with pytest.raises(openai.NotFoundError) as caught:
        ask(client, model="gpt-4.1")
    assert "`gpt-4.1`" in caught.value.message


def test_malformed_and_truncated_bodies(server):
    server.faults.extend(["malformed", "truncated"])
    client = client_for(server)
    # The SDK does not wrap a JSON decoding failure: callers see json.JSONDecodeError (a ValueError).
    with pytest.raises((openai.APIError, ValueError)):
        ask(client)
    truncated = ask(client)
    assert truncated.choices is None
    assert server.billed() == []
    assert [r["status"] for r in server.requests] == [200, 200]


def test_stall_hits_the_client_timeout_and_close_does_not_wait_for_it():
    fake = FakeOpenAI(faults=["stall", "stall"], stall_seconds=20)
    try:
        client = client_for(fake, timeout=0.3)
        with pytest.raises(openai.APITimeoutError):
            ask(client)
        with pytest.raises(openai.APITimeoutError):
            list(ask(client, stream=True))
    finally:
        started = time.monotonic()
        fake.close()
    assert time.monotonic() - started < 10  # generous: close() must not sit out the 20 s stall


def test_drop_closes_the_connection_without_a_response(server):
    server.faults.append("drop")
    client = client_for(server)
    with pytest.raises(openai.APIConnectionError) as caught:
        ask(client)
    assert not isinstance(caught.value, openai.APITimeoutError)
    assert server.requests[0]["status"] == 0
    assert ask(client).choices


def test_faults_can_come_from_a_queue_and_unknown_names_are_refused():
    scripted: queue.Queue[str] = queue.Queue()
    with FakeOpenAI(faults=scripted) as fake:
        scripted.put("503")
        with pytest.raises(openai.InternalServerError):
            ask(client_for(fake))
        assert ask(client_for(fake)).choices
    with pytest.raises(ValueError, match="unknown fault"):
        FakeOpenAI(faults=["explode"])


def test_fail_rate_is_seeded_and_429_failures_look_like_rate_limits():
    def statuses(seed: int) -> list[int]:
        with FakeOpenAI(fail_rate=0.5, fail_status=429, seed=seed) as fake:
            client = client_for(fake)
            for _ in range(20):
                try:
                    ask(client)
                except openai.RateLimitError as exc:
                    assert "retry-after" in exc.response.headers
                    assert "x-ratelimit-remaining-requests" in exc.response.headers
            return [r["status"] for r in fake.requests]

    first = statuses(7)
    assert first == statuses(7)
    assert 0 < first.count(429) < 20
    assert set(first) == {200, 429}


def test_rate_limit_admits_about_n_per_second():
    with FakeOpenAI(rate_limit_rps=5) as fake:
        client = client_for(fake)
        outcomes = []
        for _ in range(15):
            try:
                ask(client)
                outcomes.append(200)
            except openai.RateLimitError as exc:
                outcomes.append(429)
                assert float(exc.response.headers["retry-after"]) > 0
                assert exc.response.headers["x-ratelimit-remaining-requests"] == "0"
                assert exc.response.headers["x-ratelimit-reset-requests"].endswith(("ms", "s"))
        # a full bucket of 5, plus whatever refilled while 15 quick requests ran
        assert 5 <= outcomes.count(200) <= 10
        assert outcomes[:5] == [200] * 5
        time.sleep(0.45)  # refills at least two tokens at 5/s
        assert ask(client).choices
        assert ask(client).choices
        assert fake.completed == outcomes.count(200) + 2


# --------------------------------------------------------------------------- load and lifecycle


def test_32_threads_200_requests_all_complete_and_are_billed():
    with start_fake(latency=0.02, api_keys={KEY}) as fake:
        client = client_for(fake, timeout=10)

        def one(i: int) -> int:
            messages = [{"role": "user", "content": f"sample {i}: the delivery was late again"}]
            return ask(client, messages=messages, temperature=0).usage.total_tokens

        with ThreadPoolExecutor(max_workers=32) as pool:
            totals = list(pool.map(one, range(200)))
        assert (fake.calls, fake.completed) == (200, 200)
        billed = fake.billed()
        assert sum(usage["total_tokens"] for _, usage, _ in billed) == sum(totals)
        assert all(usage["prompt_tokens"] == count_chat(body["messages"]) for body, usage, _ in billed)


def test_close_is_idempotent_and_frees_the_port():
    fake = FakeOpenAI()
    port = fake.port
    ask(client_for(fake))
    fake.close()
    fake.close()
    with pytest.raises(openai.APIConnectionError):
        ask(openai.OpenAI(api_key="x", base_url=f"http://127.0.0.1:{port}/v1", max_retries=0, timeout=1))


def test_standalone_prints_its_base_url_and_serves():
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.support.fake_openai",
            "--port",
            "0",
            "--key",
            KEY,
            "--labels",
            "yes,no",
            "--quiet",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        base_url = proc.stdout.readline().strip()
        assert base_url.startswith("http://127.0.0.1:") and base_url.endswith("/v1")
        request = urllib.request.Request(f"{base_url}/models", headers={"Authorization": f"Bearer {KEY}"})
        with urllib.request.urlopen(request, timeout=5) as response:
            assert "gpt-4.1-nano" in [m["id"] for m in json.load(response)["data"]]
        client = openai.OpenAI(api_key=KEY, base_url=base_url, max_retries=0, timeout=5)
        assert ask(client).choices[0].message.content in {"yes", "no"}
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)
    assert proc.returncode == 0
