"""One rate budget for every Genesys call: spend the org's limit deliberately, not by hitting 429s.

A token bucket, shared by the threads of a container. Its rate and burst are chosen so that no
60-second window ever holds more than the budget (rate x 60 + burst <= limit x (1 - headroom)),
even across back-to-back invocations. It adapts to what Genesys says: a 429 pauses every thread
for Retry-After, and a lower `inin-ratelimit-allowed` than configured lowers the rate.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping

from skill_router.deadline import Deadline
from skill_router.errors import OutOfTime

BURST = 5


class RateBudget:
    def __init__(
        self,
        requests_per_minute: int,
        headroom: float = 0.05,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.headroom = headroom
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._tokens = float(BURST)
        self._updated = clock()
        self._paused_until = 0.0
        self.configured_limit = requests_per_minute
        self.limit = requests_per_minute
        self.waited_seconds = 0.0
        self._set_rate(requests_per_minute)

    def _set_rate(self, limit: int) -> None:
        self.limit = limit
        usable = max(limit * (1.0 - self.headroom), BURST + 1.0)
        self.burst = min(float(BURST), usable / 10)
        self.per_second = (usable - self.burst) / 60.0

    @property
    def per_minute(self) -> float:
        return self.per_second * 60.0 + self.burst

    def acquire(self, deadline: Deadline) -> None:
        """Take one request's worth of budget, waiting as needed; OutOfTime if the wait would
        outlast the invocation (the work is then left for the next run, nothing is lost)."""
        while True:
            with self._lock:
                now = self._clock()
                self._refill(now)
                wait = max(self._paused_until - now, 0.0)
                if not wait and self._tokens >= 1.0 - 1e-6:
                    self._tokens = max(self._tokens - 1.0, 0.0)
                    return
                if not wait:
                    # At least 1 ms: a float clock may not move for a smaller step.
                    wait = max((1.0 - self._tokens) / self.per_second, 0.001)
            if not deadline.allows(wait):
                raise OutOfTime(f"the Genesys rate budget has no room within this invocation (next in {wait:.1f} s)")
            self.waited_seconds += wait
            self._sleep(wait)

    def throttled(self, retry_after: float | None) -> None:
        """Genesys answered 429: nobody sends until Retry-After, and the bucket starts empty."""
        with self._lock:
            now = self._clock()
            self._tokens = 0.0
            self._updated = now
            self._paused_until = max(self._paused_until, now + (retry_after if retry_after else 1.0))

    def observe(self, headers: Mapping[str, str] | None) -> None:
        """Follow the limit Genesys reports for this client, when it is lower than configured."""
        if not headers:
            return
        allowed = headers.get("inin-ratelimit-allowed")
        try:
            reported = int(allowed) if allowed is not None else None
        except ValueError:
            return
        if reported and reported < self.limit:
            with self._lock:
                self._set_rate(reported)
                self._tokens = min(self._tokens, self.burst)

    def _refill(self, now: float) -> None:
        if now > self._updated:
            self._tokens = min(self.burst, self._tokens + (now - self._updated) * self.per_second)
            self._updated = now
