"""Adaptive concurrency: the AIMD limiter on its own (a fake clock), then a sweep against a
rate-limited loopback server that slows down and speeds up again.
"""

from __future__ import annotations

import threading
import time

import pytest

from tests.support.resilience import (
    MODELS,
    marker_answers,
    write_inputs,
)
from workbench import runner as runner_module
from workbench.datasets import load_samples
from workbench.limiter import AdaptiveLimiter
from workbench.promptfile import parse_prompt
from workbench.providers.base import RateInfo
from workbench.storage.results import results_frame

# --------------------------------------------------------------------------- 3. adaptive concurrency under a rate limit


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def blocked_acquire(limiter: AdaptiveLimiter, stop: threading.Event | None = None) -> tuple[threading.Thread, list]:
    got: list[bool] = []
    thread = threading.Thread(target=lambda: got.append(limiter.acquire(stop)), daemon=True)
    thread.start()
    return thread, got


def test_limiter_halves_on_429_at_most_once_a_second_and_climbs_back_to_its_maximum():
    clock = FakeClock()
    limiter = AdaptiveLimiter(16, clock=clock)
    assert limiter.limit == 16
    limiter.rate_limited(None)
    limiter.rate_limited(None)  # the same burst of 429s: one cut
    assert limiter.limit == 8
    clock.now += 1.0
    limiter.rate_limited(None)
    assert limiter.limit == 4
    for _ in range(10):
        clock.now += 1.0
        limiter.rate_limited(None)
    assert limiter.limit == 1  # never below one call in flight
    successes = 0
    while limiter.limit < 16:
        limiter.success()
        successes += 1
        assert successes < 1000
    assert successes == sum(range(1, 16))  # one more slot per `limit` successes (additive increase)
    for _ in range(100):
        limiter.success()
    assert limiter.limit == 16


def test_limiter_admits_at_most_limit_calls_at_once():
    limiter = AdaptiveLimiter(2, clock=FakeClock())
    assert limiter.acquire() and limiter.acquire()
    thread, got = blocked_acquire(limiter)
    thread.join(0.3)
    assert thread.is_alive() and got == []
    limiter.release()
    thread.join(5)
    assert got == [True]


def test_limiter_pauses_every_caller_for_retry_after_and_for_an_exhausted_ratelimit_header():
    clock = FakeClock()
    limiter = AdaptiveLimiter(4, clock=clock)
    limiter.rate_limited(2.0)
    thread, got = blocked_acquire(limiter)
    thread.join(0.3)
    assert thread.is_alive() and got == []  # the clock has not moved: still paused
    clock.now += 2.01
    thread.join(5)
    assert got == [True]
    limiter.release()

    limiter.success(RateInfo(remaining_requests=5, limit_requests=10, reset_requests_s=3.0))
    assert limiter.acquire()  # requests left: no pause
    limiter.release()
    limiter.success(RateInfo(remaining_requests=0, limit_requests=10, reset_requests_s=3.0))
    thread, got = blocked_acquire(limiter)
    thread.join(0.3)
    assert thread.is_alive() and got == []
    clock.now += 3.01
    thread.join(5)
    assert got == [True]


def test_a_waiting_caller_gives_up_when_the_run_stops():
    limiter = AdaptiveLimiter(1, clock=FakeClock())
    limiter.rate_limited(30.0)
    stop = threading.Event()
    thread, got = blocked_acquire(limiter, stop)
    stop.set()
    thread.join(5)
    assert got == [False]


class RecordingLimiter(AdaptiveLimiter):
    """The runner's limiter, recording its limit after every answer and every 429."""

    instances: list[RecordingLimiter] = []

    def __init__(self, maximum: int, clock=time.monotonic):
        super().__init__(maximum, clock)
        self.history: list[tuple[str, float]] = []
        RecordingLimiter.instances.append(self)

    def success(self, rate: RateInfo | None = None) -> None:
        super().success(rate)
        self.history.append(("ok", self.limit))

    def rate_limited(self, retry_after: float | None) -> None:
        super().rate_limited(retry_after)
        self.history.append(("429", self.limit))


RATE = 20  # requests per second the server admits


@pytest.mark.slow
def test_a_rate_limited_server_slows_the_sweep_down_and_it_speeds_up_again(wb, fake_server, tmp_path, monkeypatch):
    RecordingLimiter.instances.clear()
    monkeypatch.setattr(runner_module, "AdaptiveLimiter", RecordingLimiter)
    fake_server.rate_limit_rps = RATE
    fake_server.responder = marker_answers
    prompt, data = write_inputs(tmp_path, 13 * RATE // 4)
    plan = wb.plan([parse_prompt(prompt.read_text(), "sentiment.yaml")], load_samples(data), list(MODELS), [0.0, 0.7])
    assert len(plan.calls()) == 13 * RATE
    lifted: list[tuple[int, int]] = []  # (answers so far, limiter events so far) when the limit was lifted

    def on_progress(progress) -> None:
        if progress.new_calls >= 10 * RATE and not lifted:
            lifted.append((progress.new_calls, len(RecordingLimiter.instances[0].history)))
            fake_server.rate_limit_rps = None  # 10 x N answers under the limit; the last 3 x N without

    run = wb.start(plan, concurrency=16)
    outcome = wb.execute(run, plan, concurrency=16, on_progress=on_progress)
    [limiter] = RecordingLimiter.instances
    assert (outcome.status, outcome.errors, outcome.new_calls) == ("completed", 0, 13 * RATE)
    assert fake_server.completed == 13 * RATE
    assert lifted and lifted[0][0] >= 10 * RATE, "the sweep never got past 10 x N answers"
    refused = [r for r in fake_server.chat_requests() if r["status"] == 429]
    assert refused  # the server did push back
    frame, _ = results_frame(wb.engine, outcome.run_id)
    assert frame["error"].isna().all() and frame["predicted"].notna().all()  # no failed cell
    under_limit = [limit for _, limit in limiter.history[: lifted[0][1]]]
    assert min(under_limit) < 16  # slowed down
    low = under_limit.index(min(under_limit))
    assert max(under_limit[low:]) > min(under_limit)  # and sped up again between 429s
    after = limiter.history[lifted[0][1] :]
    assert after and after[-1][1] > min(limit for _, limit in after[:5])  # climbing once the 429s stopped
