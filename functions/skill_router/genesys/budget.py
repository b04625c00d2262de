"""One rate budget for every Genesys call: spend the org's limit deliberately, not by hitting 429s.

Genesys counts a client's requests per minute. The budget keeps the send times of the last 60 s
(shared by the threads of a container, and by its warm invocations) and lets a request go only
while fewer than limit x (1 - headroom) were sent in that minute, paced so that a minute's
budget is spread over at least 20 s rather than fired in one burst. So no 60-second window ever
holds more than the budget, and a run that works 55 s of every minute can still spend all of it.
(A plain token bucket with that guarantee must keep rate x 60 + burst under the limit, and so
could spend at most 55/60 of it.)

It follows what Genesys says, and never for longer than Genesys's own minute:
- A 429 holds every thread off for Retry-After, bounded by MAX_RETRY_AFTER_SECONDS (a 60 s
  window never needs more; one absurd answer must not silence the container's warm runs).
- Every answer carries `inin-ratelimit-count`, `-allowed` and `-reset`: how many requests its
  bucket has counted, allows, and the seconds until the count resets. Genesys counts per token
  (client.credentials.token.rate.per.minute, 300 by default, developer.genesys.cloud
  /organization/organization/limits#platform-api), and every container of a deployment uses the
  same token (the token-cache secret), so the count includes the other containers' requests.
  A snapshot is kept per operation (the resource Genesys counts, e.g. `GET
  /api/v2/users/{userId}`), never per `allowed` value: two buckets may allow the same number,
  and one's answer must not make the other's full count forgotten. An operation waits while its
  bucket's count (plus what it sent since) reaches allowed x (1 - headroom), until its reset. A
  snapshot lapses at its reset: a bucket that once said "2 allowed" (a per-resource limit, or a
  lie) holds back only its own operation, and only until then. Header semantics and an example
  (`inin-ratelimit-count: 1`, `-allowed: 180`, `-reset: 61` on `GET /api/v2/users`, while a
  token's default is 300 a minute): the Python SDK's logging docs
  (MyPureCloud/platform-client-sdk-python, README "Logging"): the header describes the bucket
  of that request, which need not be the token's.
So each container is configured with the token's whole budget and the shared count paces them
all: event mode gets the whole minute when the poller is idle, with no static split.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from skill_router.deadline import Deadline
from skill_router.errors import OutOfTime

WINDOW_SECONDS = 60.0
SPREAD_SECONDS = 20.0  # a full minute's budget takes at least this long to send
MAX_RETRY_AFTER_SECONDS = 60.0  # Genesys's limits are per minute: no wait it asks for is longer


def retry_after_seconds(value: str | None) -> float | None:
    """Retry-After in seconds, within [0, MAX_RETRY_AFTER_SECONDS]; None if absent or not a
    number (Genesys sends seconds; an HTTP-date, NaN or garbage falls back to backoff)."""
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    if math.isnan(seconds):
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_SECONDS)


@dataclass
class _Bucket:
    """What Genesys last said about one rate-limit bucket."""

    allowed: int
    count: int
    resets_at: float
    sent_since: int = 0


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
        self.waited_seconds = 0.0
        self._buckets: dict[str, _Bucket] = {}  # operation -> what its last answer said of its bucket
        self._set_limit(requests_per_minute)

    def _set_limit(self, limit: int) -> None:
        self.limit = limit
        self.per_minute = max(1, math.floor(limit * (1.0 - self.headroom)))
        self._interval = SPREAD_SECONDS / self.per_minute

    def acquire(self, deadline: Deadline, operation: str = "") -> None:
        """Take one request's worth of budget, waiting as needed; OutOfTime if the wait would
        outlast the invocation (the work is then left for the next run, nothing is lost)."""
        while True:
            with self._lock:
                now = self._clock()
                while self._sent and self._sent[0] <= now - WINDOW_SECONDS:
                    self._sent.popleft()
                bucket = self._bucket(operation, now)
                if self._paused_until > now:
                    wait = self._paused_until - now
                elif len(self._sent) >= self.per_minute:
                    wait = self._sent[0] + WINDOW_SECONDS - now
                elif self._sent and now - self._sent[-1] < self._interval:
                    wait = self._sent[-1] + self._interval - now
                elif bucket is not None and bucket.count + bucket.sent_since >= self._share(bucket.allowed):
                    wait = bucket.resets_at - now  # the token's count (all containers) is at the limit
                else:
                    self._sent.append(now)
                    if bucket is not None:
                        bucket.sent_since += 1
                    return
            wait = max(wait, 0.001)  # a float clock may not move for a smaller step
            if not deadline.allows(wait):
                raise OutOfTime(f"the Genesys rate budget has no room within this invocation (next in {wait:.1f} s)")
            self.waited_seconds += wait
            self._sleep(wait)

    def room(self) -> int:
        """Requests this container may still send in the current 60 s (its budget less what it
        sent): what a caller that must leave the rest to others (staffing reads) asks first."""
        with self._lock:
            now = self._clock()
            while self._sent and self._sent[0] <= now - WINDOW_SECONDS:
                self._sent.popleft()
            return max(self.per_minute - len(self._sent), 0)

    def throttled(self, retry_after: float | None) -> None:
        """Genesys answered 429: nobody sends until Retry-After (at most a minute)."""
        pause = retry_after if retry_after is not None and retry_after > 0 else 1.0
        with self._lock:
            now = self._clock()
            self._paused_until = max(self._paused_until, now + min(pause, MAX_RETRY_AFTER_SECONDS))

    def release_hold(self) -> None:
        """Forget a 429's hold (a new invocation starts)."""
        with self._lock:
            self._paused_until = 0.0

    def observe(self, headers: Mapping[str, str] | None, operation: str = "") -> None:
        """Remember what this answer's bucket has counted and allows, until its reset."""
        if not headers:
            return
        allowed = _integer(headers.get("inin-ratelimit-allowed"))
        count = _integer(headers.get("inin-ratelimit-count"))
        if allowed is None or count is None or allowed <= 0 or count < 0:
            return  # absent or nonsense: the configured budget alone paces
        reset = _integer(headers.get("inin-ratelimit-reset"))
        seconds = WINDOW_SECONDS if reset is None else min(max(reset, 0), WINDOW_SECONDS)
        with self._lock:
            now = self._clock()
            self._buckets[operation] = _Bucket(allowed, count, now + seconds)

    def _bucket(self, operation: str, now: float) -> _Bucket | None:
        bucket = self._buckets.get(operation)
        if bucket is not None and bucket.resets_at <= now:
            del self._buckets[operation]  # Genesys's count has reset: what it said is spent
            return None
        return bucket

    def _share(self, allowed: int) -> int:
        return max(1, math.floor(allowed * (1.0 - self.headroom)))


def _integer(value: str | None) -> int | None:
    try:
        return int(str(value).strip()) if value is not None else None
    except ValueError:
        return None
