"""Bounded discovery: what the poller's analytics query pages may spend, and which pages each poll reads.

Discovery gets at most DISCOVERY_BUDGET_SHARE (default 10 %) of the rate budget in any 60 s,
however many callers wait, so assignments keep the rest (docs/design.md, "Bounded discovery").

Two readings share it. The *sweep* reads the whole list oldest caller first (conversationStart
ascending), one page after another, and may span polls: its place (the next page, and the
newest caller it has read in full, the "frontier") is kept on the watermark item in DynamoDB, so
a new container continues it instead of starting again at page 1. The *newest page* (the same
query, conversationStart descending, page 1) is read first by every poll while the sweep spans
polls, so a caller who just queued is served within one interval whatever the backlog.

Only an empty page ends the list: Genesys does not promise that only the last page is short.
Pages are numbered afresh on every request and shift up when callers ahead leave the queue, so a
sweep that resumes on a page whose first caller is newer than its frontier may have passed
callers who moved up across the boundary: it steps back a page (and keeps stepping back while
that holds) before it goes on. Each step back is paid for by callers who left ahead of it, so
a sweep ends after at most (pages in the list) + (pages answered ahead of it) + 1 reads.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from skill_router.deadline import Deadline
from skill_router.genesys.client import PAGE_SIZE, Discovered, QueryPage
from skill_router.settings import discovery_pages_per_minute

WINDOW_SECONDS = 60.0
# A poll waits this long at most for the rolling minute to free a page (a poll that starts 60 s
# after the last one finds that one's first pages still inside the minute for a few seconds).
MAX_PAGE_WAIT_SECONDS = 10.0

Key = tuple[str, str]  # a caller's place in the list: (conversationStart ISO-8601, conversation id)


def key_of(found: Discovered) -> Key:
    return (found.start.isoformat(), found.conversation_id)


@dataclass
class SweepPlace:
    """Where the sweep over the whole list stands; kept in DynamoDB between polls (`as_item`)."""

    next_page: int = 1  # the page the sweep reads next
    frontier: Key | None = None  # the newest caller (in list order) the sweep has read in full
    started: float | None = None  # when the sweep in progress read its page 1 (epoch seconds)

    def as_item(self) -> dict[str, Any]:
        item: dict[str, Any] = {"next_page": self.next_page}
        if self.frontier is not None:
            item["frontier_start"], item["frontier_id"] = self.frontier
        if self.started is not None and self.next_page > 1:  # a sweep in progress; else unused
            item["started"] = self.started
        return item

    @classmethod
    def from_item(cls, item: Mapping[str, Any] | None) -> SweepPlace:
        """The place written by an earlier poll (this container's or another's); a missing or
        unreadable one starts a new sweep at page 1."""
        if not isinstance(item, Mapping):
            return cls()
        try:
            page = int(item.get("next_page", 1))
            start, conversation = item.get("frontier_start"), item.get("frontier_id")
            frontier = (str(start), str(conversation)) if start and conversation else None
            started = float(item["started"]) if item.get("started") is not None else None
        except (TypeError, ValueError):
            return cls()
        if page < 1:
            return cls()
        return cls(page, frontier, started)


@dataclass(frozen=True)
class PageRequest:
    number: int
    newest_first: bool = False  # the newest page: conversationStart descending
    by_id: bool = False  # callers whose escalation step is due, asked for by conversation id


@dataclass
class DiscoveryBudget:
    """One per poller (and so per warm container): the share's send times and the sweep's place."""

    per_minute: int  # query pages allowed in any 60 s
    clock: Callable[[], float]
    interval: float = WINDOW_SECONDS  # POLL_INTERVAL_SECONDS: the first poll reads one interval's part
    _sent: deque[float] = field(default_factory=deque)
    place: SweepPlace = field(default_factory=SweepPlace)
    _last_poll: float | None = None

    @classmethod
    def of(
        cls,
        requests_per_minute: int,
        headroom: float,
        share: float,
        clock: Callable[[], float],
        interval: float = WINDOW_SECONDS,
    ) -> DiscoveryBudget:
        # settings refuses a share under one page a minute; max(1, …) only guards direct callers.
        pages = discovery_pages_per_minute(requests_per_minute, headroom, share)
        return cls(per_minute=max(1, pages), clock=clock, interval=min(max(interval, 1.0), WINDOW_SECONDS))

    @property
    def next_page(self) -> int:
        return self.place.next_page

    @property
    def sweep_started(self) -> float | None:
        return self.place.started

    def spent(self, now: float | None = None) -> int:
        now = self.clock() if now is None else now
        while self._sent and self._sent[0] <= now - WINDOW_SECONDS:
            self._sent.popleft()
        return len(self._sent)

    def resume(self, item: Mapping[str, Any] | None) -> None:
        """Take up the sweep where the last poll left it (read with the lease, so whichever
        container ran that poll)."""
        if item is not None:
            self.place = SweepPlace.from_item(item)

    def plan(self) -> PollPages:
        """This poll's reading: its share is the minute's, spread over the time since the last
        poll (a poll every 10 s reads about a sixth of it), and never past the rolling minute. A
        container's first poll reads one interval's part, so the next poll still has its newest
        page."""
        now = self.clock()
        last = self._last_poll
        since = self.interval if last is None else min(max(now - last, 0.0), WINDOW_SECONDS)
        self._last_poll = now
        # Never plan more pages than the rolling minute can give this poll (pages read more than
        # MAX_PAGE_WAIT_SECONDS from lapsing hold their place): a poll a little late at a share of
        # two pages a minute planned two, the newest page took the one there was room for, and
        # the sweep stood still for good (issue 19, class 1, under the schedule's own jitter).
        self.spent(now)
        held = sum(1 for sent in self._sent if sent > now - WINDOW_SECONDS + MAX_PAGE_WAIT_SECONDS)
        per_poll = max(1, min(math.ceil(self.per_minute * since / WINDOW_SECONDS), self.per_minute - held))
        return PollPages(self, per_poll)


@dataclass
class PollPages:
    """The pages one poll reads: call `page` for the next request (None: done, or the share is
    spent), `read` with what came back, `finished` once its callers were all handled."""

    budget: DiscoveryBudget
    per_poll: int
    pages_read: int = 0
    complete: bool = False  # the sweep reached the end of the list (an empty page)
    share_spent: bool = False
    newest_read: bool = False
    _last_accepted: int | None = None  # the last sweep page this poll read and moved on from
    _checking: bool = False  # the next sweep page re-reads the frontier's page (overlap)

    def __post_init__(self) -> None:
        place = self.budget.place
        # The newest page needs a page of its own and leaves at least one for the sweep; with a
        # share of one page a poll the sweep alone reads (and reaches new callers in its turn).
        self._want_newest = self.per_poll >= 2
        # A sweep that starts at page 1 may reach the end of a short list (and so the newest
        # callers) within this poll: the newest page goes with the poll's last page if it did not.
        # A sweep in progress reads it first.
        self._newest_first = self._want_newest and place.next_page > 1
        sweep_pages = self.per_poll - (1 if self._want_newest else 0)
        # Resuming mid-list, the sweep first re-reads the page its frontier was on (its callers
        # are finished: no ledger read) to see whether callers moved up past it, when it has a
        # page to spare; with one sweep page a poll it reads on by number (callers who moved up
        # past it are read by the next sweep).
        if place.next_page > 1 and place.frontier is not None and sweep_pages >= 2:
            self._checking = True
        elif place.next_page > 1:
            # The page before the place was read in full: an empty page at the place ends the list.
            self._last_accepted = place.next_page - 1

    def page(self, deadline: Deadline, sleep: Callable[[float], None]) -> PageRequest | None:
        """The page to read next, or None when this poll is done: the list's end was reached, or
        this poll's share is spent, or the minute's is and does not free up within
        MAX_PAGE_WAIT_SECONDS (and the invocation's time)."""
        if self.complete:
            return None
        b = self.budget
        left = self.per_poll - self.pages_read
        if left <= 0:
            self.share_spent = True
            return None
        if not self._wait(deadline, sleep):
            self.share_spent = True
            return None
        if self._want_newest and not self.newest_read and (self._newest_first or left == 1):
            return PageRequest(1, newest_first=True)
        number = b.place.next_page
        return PageRequest(max(1, number - 1) if self._checking else number)

    def due_page(self, deadline: Deadline, sleep: Callable[[float], None]) -> bool:
        """May this poll spend a page on the callers whose steps are due? Only when it leaves the
        newest page and a sweep page (so the sweep's bound and new callers never wait for it)."""
        return self.per_poll - self.pages_read >= 3 and self._wait(deadline, sleep)

    def _wait(self, deadline: Deadline, sleep: Callable[[float], None]) -> bool:
        b = self.budget
        while True:
            now = b.clock()
            if b.spent(now) < b.per_minute:
                return True
            wait = b._sent[0] + WINDOW_SECONDS - now + 0.001
            if wait > MAX_PAGE_WAIT_SECONDS or not deadline.allows(wait + 1.0):
                return False
            sleep(wait)

    def read(self, request: PageRequest, result: QueryPage) -> None:
        """Count the page against the share; note a sweep's start."""
        b = self.budget
        now = b.clock()
        b._sent.append(now)
        self.pages_read += 1
        if request.by_id:
            return
        if request.newest_first:
            self.newest_read = True
        elif request.number == 1 and b.place.frontier is None:
            b.place.started = now

    def finished(self, request: PageRequest, result: QueryPage) -> None:
        """Every caller on the page was handled: decide where the sweep goes next."""
        place = self.budget.place
        if request.newest_first:
            if result.size == 0:
                # Nobody waits at all: the sweep has nothing to read.
                place.started = self.budget.clock()
                self._end()
            return
        page = request.number
        if result.size == 0:
            if page == 1 or self._last_accepted == page - 1:
                # An empty page right after a page this poll read and moved on from: the end.
                self._end()
            else:
                # The list is shorter than where the sweep stood (callers ahead of it left): back
                # to the page it now ends on, which totalHits suggests (approximate: the overlap
                # check corrects a wrong guess).
                guess = math.ceil(max(result.total_hits, 0) / PAGE_SIZE)
                place.next_page = max(1, min(page, guess + 1))
                self._checking = place.frontier is not None and place.next_page > 1
            return
        keys = [key_of(c) for c in result.conversations]
        first, last = (min(keys), max(keys)) if keys else (None, None)
        moved = self._checking and page > 1 and place.frontier is not None and first is not None
        if moved and first > place.frontier and self.per_poll - self.pages_read >= 2:  # type: ignore[operator]
            # Callers ahead left while we were away: whole pages moved up past the frontier.
            # Read the page before too, while a page is left to move on with (so a list that
            # keeps moving cannot hold the sweep in place). Moved up by more than a poll can step
            # back, callers between the frontier and the page were passed over: they are still
            # waiting, and the next sweep reads them.
            place.next_page = page
            return
        self._checking = False
        if last is not None and (place.frontier is None or last > place.frontier):
            place.frontier = last
        place.next_page = page + 1
        self._last_accepted = page

    def _end(self) -> None:
        place = self.budget.place
        self.complete = True
        place.next_page, place.frontier = 1, None

    def stopped_at(self, request: PageRequest) -> None:
        """The poll ended before the page was handled in full: the sweep reads it again (a page
        re-read to check for a shift leaves the place as it was)."""
        if not request.newest_first and not self._checking:
            self.budget.place.next_page = max(1, request.number)
