"""Bounded discovery: what the poller's analytics query pages may spend, and where each poll reads.

Discovery gets at most DISCOVERY_BUDGET_SHARE (default 10 %) of the rate budget in any 60 s,
however many callers wait, so assignments keep the rest (docs/design.md, "Bounded discovery").
A poll that runs out of its share (or of time) before the end of the list remembers where it
stopped, and the next poll continues from there: one sweep over the whole list may take several
polls, oldest caller first, and every sweep reaches the end before the next starts at page 1.

Pages are numbered afresh on every request and shift up when callers ahead leave the queue, so a
page number alone would skip the callers who moved up across it. The next poll therefore starts
one page back (the last page it read in full, whose callers are finished and cost no ledger
read), and keeps stepping back while the first caller on the page it read started after the
newest caller it had read in full (the "anchor"): the list shifted by a page or more.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from skill_router.deadline import Deadline
from skill_router.genesys.client import PAGE_SIZE, QueryPage

WINDOW_SECONDS = 60.0
# A poll waits this long at most for the rolling minute to free a page (a poll that starts 60 s
# after the last one finds that one's first pages still inside the minute for a few seconds).
MAX_WAIT_SECONDS = 10.0


@dataclass
class DiscoveryBudget:
    """One per poller (and so per warm container): the share's send times and the sweep's place."""

    per_minute: int  # query pages allowed in any 60 s
    clock: Callable[[], float]
    _sent: deque[float] = field(default_factory=deque)
    next_page: int = 1  # where the next poll starts reading
    anchor: datetime | None = None  # start of the newest caller on the last page read in full
    sweep_started: float | None = None  # when the sweep in progress read its page 1
    _last_poll: float | None = None

    @classmethod
    def of(cls, requests_per_minute: int, headroom: float, share: float, clock: Callable[[], float]) -> DiscoveryBudget:
        budget = math.floor(requests_per_minute * (1.0 - headroom))
        return cls(per_minute=max(1, math.floor(budget * share)), clock=clock)

    def spent(self, now: float | None = None) -> int:
        now = self.clock() if now is None else now
        while self._sent and self._sent[0] <= now - WINDOW_SECONDS:
            self._sent.popleft()
        return len(self._sent)

    def plan(self) -> Sweep:
        """This poll's reading: its share is the minute's, spread over the time since the last
        poll (a poll every 10 s reads about a sixth of it), and never past the rolling minute."""
        now = self.clock()
        since = WINDOW_SECONDS if self._last_poll is None else min(max(now - self._last_poll, 0.0), WINDOW_SECONDS)
        self._last_poll = now
        per_poll = max(2, math.ceil(self.per_minute * since / WINDOW_SECONDS))
        return Sweep(self, per_poll)


@dataclass
class Sweep:
    """The pages one poll reads: call `page` for the next page number (None: the share is spent),
    `read` with what came back, `finished` once its callers were all handled."""

    budget: DiscoveryBudget
    per_poll: int
    pages_read: int = 0
    complete: bool = False  # the list's end (a short page) was reached
    share_spent: bool = False
    _page: int = 0
    _furthest: int = 0  # the furthest page read this poll
    _stepping_back: bool = False

    def __post_init__(self) -> None:
        b = self.budget
        start = b.next_page
        # One page back: its callers are finished (no ledger read) and it holds whoever moved up.
        if start > 1 and self.per_poll >= 2 and b.anchor is not None:
            start -= 1
            self._stepping_back = True
        self._page = start
        self._furthest = start - 1

    def page(self, deadline: Deadline, sleep: Callable[[float], None]) -> int | None:
        """The page to read next, or None when this poll's share is spent, or the minute's is and
        does not free up within MAX_WAIT_SECONDS (and the invocation's time)."""
        b = self.budget
        while True:
            if self.pages_read >= self.per_poll:
                self.share_spent = True
                return None
            now = b.clock()
            if b.spent(now) < b.per_minute:
                return self._page
            wait = b._sent[0] + WINDOW_SECONDS - now + 0.001
            if wait > MAX_WAIT_SECONDS or not deadline.allows(wait + 1.0):
                self.share_spent = True
                return None
            sleep(wait)

    def read(self, page: int, result: QueryPage) -> None:
        """Count the page against the share; note a sweep's start."""
        b = self.budget
        now = b.clock()
        b._sent.append(now)
        self.pages_read += 1
        if page == 1:
            b.sweep_started = now

    def finished(self, page: int, result: QueryPage) -> None:
        """Every caller on `page` was handled: move on (back, if the list shifted past us)."""
        b = self.budget
        first = result.conversations[0].start if result.conversations else None
        last = result.conversations[-1].start if result.conversations else None
        shifted = self._stepping_back and page > 1 and first is not None and b.anchor is not None and first > b.anchor
        self._furthest = max(self._furthest, page)
        if shifted:
            self._page = page - 1  # whole pages moved up while we were away: read the one before too
            return
        self._stepping_back = False
        if result.size < PAGE_SIZE:
            # The end of the list: the next sweep starts at page 1 (new callers, re-checks, any
            # caller who slipped past us while pages shifted).
            self.complete = True
            b.next_page, b.anchor = 1, None
            return
        if page == self._furthest and last is not None:
            b.anchor = last if b.anchor is None or page == 1 else max(b.anchor, last)
        self._page = self._furthest + 1
        b.next_page = self._page

    def stopped_at(self, page: int) -> None:
        """The poll ended before `page` was handled in full: the next poll reads it again."""
        self.budget.next_page = max(1, page)
