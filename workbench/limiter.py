"""Adaptive concurrency for rate-limited servers.

An AIMD limit over in-flight calls: a 429 halves the limit (at most once per second) and pauses
every caller for the server's ``retry-after``; each run of ``limit`` successes adds one back, up to
the configured maximum. ``x-ratelimit-remaining-requests`` near zero also pauses until the reset.
So a sweep slows down under sustained 429s and speeds up again afterwards.
"""

from __future__ import annotations

import threading
import time

from workbench.providers.base import RateInfo


class AdaptiveLimiter:
    def __init__(self, maximum: int, clock=time.monotonic):
        self.maximum = max(1, int(maximum))
        self.limit = float(self.maximum)
        self.active = 0
        self._clock = clock
        self._cond = threading.Condition()
        self._pause_until = 0.0
        self._last_cut = -1e9
        self._successes = 0

    def acquire(self, stop: threading.Event | None = None) -> bool:
        """Wait for a slot; False when ``stop`` is set meanwhile."""
        with self._cond:
            while True:
                if stop is not None and stop.is_set():
                    return False
                wait = self._pause_until - self._clock()
                if wait <= 0 and self.active < int(self.limit):
                    self.active += 1
                    return True
                self._cond.wait(timeout=min(max(wait, 0.01), 0.25) if wait > 0 else 0.25)

    def release(self) -> None:
        with self._cond:
            self.active -= 1
            self._cond.notify()

    def success(self, rate: RateInfo | None = None) -> None:
        with self._cond:
            self._successes += 1
            if self._successes >= max(1, int(self.limit)) and self.limit < self.maximum:
                self.limit = min(self.maximum, self.limit + 1)
                self._successes = 0
                self._cond.notify_all()
            if rate and rate.remaining_requests is not None and rate.remaining_requests <= 0 and rate.reset_requests_s:
                self._pause_until = max(self._pause_until, self._clock() + rate.reset_requests_s)

    def rate_limited(self, retry_after: float | None) -> None:
        with self._cond:
            now = self._clock()
            if now - self._last_cut >= 1.0:
                self.limit = max(1.0, self.limit / 2)
                self._last_cut = now
                self._successes = 0
            if retry_after:
                self._pause_until = max(self._pause_until, now + min(retry_after, 60.0))
