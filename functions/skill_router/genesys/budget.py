"""One rate budget for every Genesys call: spend the org's limit deliberately, not by hitting 429s.

Genesys counts a client's requests per minute. The budget keeps the send times of the last 60 s
(shared by the threads of a container, and by its warm invocations) and lets a request go only
while fewer than limit x (1 - headroom) were sent in that minute, paced so that a minute's
budget is spread over at least 20 s rather than fired in one burst. So no 60-second window ever
holds more than the budget, and a run that works 55 s of every minute can still spend all of it.
(A plain token bucket with that guarantee must keep rate x 60 + burst under the limit, and so
could spend at most 55/60 of it.)

It follows what Genesys says: a 429 holds every thread off for Retry-After, and a lower
`inin-ratelimit-allowed` than configured lowers the budget.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping

from skill_router.deadline import Deadline
from skill_router.errors import OutOfTime

WINDOW_SECONDS = 60.0
SPREAD_SECONDS = 20.0  # a full minute's budget takes at least this long to send


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
        self._sent: deque[float] = deque()
        self._paused_until = 0.0
        self.configured_limit = requests_per_minute
        self.waited_seconds = 0.0
        self._set_limit(requests_per_minute)

    def _set_limit(self, limit: int) -> None:
        self.limit = limit
        self.per_minute = max(1, math.floor(limit * (1.0 - self.headroom)))
        self._interval = SPREAD_SECONDS / self.per_minute

    def acquire(self, deadline: Deadline) -> None:
        """Take one request's worth of budget, waiting as needed; OutOfTime if the wait would
        outlast the invocation (the work is then left for the next run, nothing is lost)."""
        while True:
            with self._lock:
                now = self._clock()
                while self._sent and self._sent[0] <= now - WINDOW_SECONDS:
                    self._sent.popleft()
                if self._paused_until > now:
                    wait = self._paused_until - now
                elif len(self._sent) >= self.per_minute:
                    wait = self._sent[0] + WINDOW_SECONDS - now
                elif self._sent and now - self._sent[-1] < self._interval:
                    wait = self._sent[-1] + self._interval - now
                else:
                    self._sent.append(now)
                    return
            wait = max(wait, 0.001)  # a float clock may not move for a smaller step
            if not deadline.allows(wait):
                raise OutOfTime(f"the Genesys rate budget has no room within this invocation (next in {wait:.1f} s)")
            self.waited_seconds += wait
            self._sleep(wait)

    def throttled(self, retry_after: float | None) -> None:
        """Genesys answered 429: nobody sends until Retry-After."""
        with self._lock:
            now = self._clock()
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
                self._set_limit(reported)
