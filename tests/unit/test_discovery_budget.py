"""The discovery share and the sweep's place (functions/skill_router/discovery.py), on a clock that
moves only when told to: which pages each poll reads, that every waiting caller is read within the
README's bound whatever the share, the shifts and the container turnover, and never more pages in
a minute than the share. The list is modelled as Genesys pages it: afresh on every request."""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from skill_router.deadline import Deadline
from skill_router.discovery import DiscoveryBudget, PageRequest, PollPages, SweepPlace
from skill_router.genesys.client import PAGE_SIZE, Discovered, QueryPage

T0 = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


class Queue:
    """Callers waiting, by number n (who started n seconds after T0); pages computed on request.
    `duplicated`: every caller whose number is a multiple of it is two rows for paging and one on
    the page (Genesys removes the duplicate), so pages come back short before the last."""

    def __init__(self, callers: range | list[int], duplicated: int = 0) -> None:
        self.callers = sorted(callers)
        self.duplicated = duplicated

    def answer(self, numbers: list[int]) -> None:
        gone = set(numbers)
        self.callers = [n for n in self.callers if n not in gone]

    def add(self, n: int) -> None:
        self.callers = sorted([*self.callers, n])

    def page(self, request: PageRequest) -> QueryPage:
        order = list(reversed(self.callers)) if request.newest_first else self.callers
        if self.duplicated:
            order = [row for n in order for row in ([n, n] if n % self.duplicated == 0 else [n])]
        chosen = list(dict.fromkeys(order[(request.number - 1) * PAGE_SIZE : request.number * PAGE_SIZE]))
        conversations = [Discovered(f"c{n:06d}", T0 + timedelta(seconds=n), False, "q", False, ()) for n in chosen]
        return QueryPage(conversations, total_hits=len(self.callers), size=len(conversations))


def poll(
    budget: DiscoveryBudget,
    queue: Queue,
    clock: Clock,
    seen: set[int] | None = None,
    between_pages: Callable[[], None] | None = None,
) -> list[PageRequest]:
    """One poll's reading: every caller on each page read is added to `seen`."""
    pages: PollPages = budget.plan()
    requests = []
    deadline = Deadline.fixed(60.0)
    while (request := pages.page(deadline, clock.sleep)) is not None:
        result = queue.page(request)
        pages.read(request, result)
        requests.append(request)
        if seen is not None:
            seen.update(int(c.conversation_id[1:]) for c in result.conversations)
        pages.finished(request, result)
        if between_pages:
            between_pages()
    return requests


def numbers(requests: list[PageRequest]) -> list[int]:
    return [r.number for r in requests if not r.newest_first]


def test_a_long_list_is_read_over_polls_from_where_the_last_one_stopped():
    clock = Clock()
    budget = DiscoveryBudget.of(300, 0.05, 0.10, clock)  # 28 pages a minute
    assert budget.per_minute == 28
    queue = Queue(range(5000))
    first = poll(budget, queue, clock)
    assert numbers(first) == list(range(1, 28))
    assert first[-1] == PageRequest(1, newest_first=True)  # the newest callers too, with its last page
    clock.now += 60
    second = poll(budget, queue, clock)
    # The newest page, the frontier's page again (did the list move up?), then on to the empty page.
    assert second[0].newest_first and numbers(second) == list(range(27, 52))
    assert budget.next_page == 1
    clock.now += 60
    assert numbers(poll(budget, queue, clock))[0] == 1  # a new sweep


def test_a_short_page_does_not_end_the_list():
    """Class 13: the old sweep took page 1's 97 callers as the end, and never read page 2."""
    clock = Clock()
    budget = DiscoveryBudget.of(300, 0.05, 0.10, clock)
    queue = Queue(range(1000), duplicated=10)
    assert queue.page(PageRequest(1)).size < PAGE_SIZE
    seen: set[int] = set()
    poll(budget, queue, clock, seen)
    assert seen == set(range(1000))


def test_an_idle_list_costs_one_page_a_poll():
    clock = Clock()
    budget = DiscoveryBudget.of(300, 0.05, 0.10, clock)
    for _ in range(5):
        assert len(poll(budget, Queue([]), clock)) == 1
        clock.now += 10


def test_a_short_list_costs_its_pages_and_an_empty_one():
    clock = Clock()
    budget = DiscoveryBudget.of(300, 0.05, 0.10, clock)
    queue = Queue(range(150))
    for _ in range(3):
        assert poll(budget, queue, clock) == [PageRequest(1), PageRequest(2), PageRequest(3)]
        clock.now += 10


def bound(callers: int, per_minute: int) -> int:
    """The README's bound at a 60 s interval, in polls: a sweep reads ceil((N + 1) / 100) pages
    (the last one empty) at S = max(1, P - k) a poll, k being the newest page (P >= 2) and the
    re-read page (two more left); every caller is read within two sweeps."""
    sweep_pages = math.ceil((callers + 1) / PAGE_SIZE)
    newest = 1 if per_minute >= 2 else 0
    reread = 1 if per_minute - newest >= 2 else 0
    return 2 * math.ceil(sweep_pages / max(1, per_minute - newest - reread))


@pytest.mark.parametrize(("rpm", "share"), [(20, 0.10), (200, 0.01), (300, 0.01), (300, 0.10)])
def test_every_caller_is_read_within_the_bound_at_any_share(rpm: int, share: float):
    """Class 1: at one page a minute the old sweep spent that page re-reading page 1 every poll,
    so nobody past page 1 was ever read."""
    clock = Clock()
    budget = DiscoveryBudget.of(rpm, 0.05, share, clock)
    queue = Queue(range(450))
    seen: set[int] = set()
    polls = 0
    while len(seen) < 450:
        poll(budget, queue, clock, seen)
        clock.now += 60
        polls += 1
        assert polls <= bound(450, budget.per_minute), f"{len(seen)} of 450 read after {polls} polls"


def test_callers_answered_ahead_of_the_sweep_between_polls_cannot_stall_it():
    """Class 1: at the minimum share, 100 callers ahead of the sweep's place are answered before
    every poll (the old cursor looped over the same two pages). Every caller still waiting is
    read: each page answered ahead of the sweep costs it at most one page more."""
    clock = Clock()
    budget = DiscoveryBudget.of(200, 0.05, 0.01, clock)  # one page a minute
    queue = Queue(range(2000))
    seen: set[int] = set()
    polls = 0
    while set(queue.callers) - seen:
        poll(budget, queue, clock, seen)
        clock.now += 60
        polls += 1
        # The 100 callers right behind the sweep's frontier (already read) leave.
        read_behind = [n for n in queue.callers if n in seen][-100:]
        queue.answer(read_behind)
        assert polls <= 60, f"still {len(set(queue.callers) - seen)} unread after {polls} polls"


def test_a_new_container_continues_the_sweep_from_the_recorded_place():
    """Class 1: every poll in a fresh container (the place read back from the watermark item) still
    reads a 1,100-caller list to its end; the old sweep started again at page 1 in each."""
    clock = Clock()
    queue = Queue(range(1100))
    seen: set[int] = set()
    recorded: dict[str, object] | None = None
    for _ in range(4):
        budget = DiscoveryBudget.of(60, 0.05, 0.10, clock)  # 5 pages a minute
        budget.resume(recorded)
        poll(budget, queue, clock, seen)
        recorded = budget.place.as_item()
        clock.now += 60
    assert seen == set(range(1100))


def test_a_place_that_cannot_be_read_starts_a_new_sweep():
    assert SweepPlace.from_item({"next_page": "x"}) == SweepPlace()
    assert SweepPlace.from_item({"next_page": 0}) == SweepPlace()
    assert SweepPlace.from_item(None) == SweepPlace()
    place = SweepPlace(7, ("2026-11-25T08:00:01+00:00", "c1"), 123.0)
    assert SweepPlace.from_item(place.as_item()) == place


def test_the_newest_caller_is_read_by_the_next_poll_behind_any_backlog():
    """Class 2: a caller who queues behind 5,000 others is on the very next poll's newest page."""
    clock = Clock()
    budget = DiscoveryBudget.of(300, 0.05, 0.10, clock, interval=30)
    queue = Queue(range(5000))
    poll(budget, queue, clock)
    for k in range(5):
        clock.now += 30
        queue.add(10_000 + k)
        seen: set[int] = set()
        poll(budget, queue, clock, seen)
        assert 10_000 + k in seen


def test_a_list_that_shrank_behind_the_sweep_is_stepped_back_over():
    clock = Clock()
    budget = DiscoveryBudget.of(300, 0.05, 0.10, clock)
    queue = Queue(range(5000))
    poll(budget, queue, clock)  # newest page, then pages 1-27: callers 0..2699 read
    # 250 callers at the front were answered: caller 2700 is now at position 2450, on page 25.
    queue.answer(list(range(250)))
    clock.now += 60
    seen: set[int] = set()
    second = poll(budget, queue, clock, seen)
    assert numbers(second)[:4] == [27, 26, 25, 26]  # back a page, and again while it moved, then on
    assert set(range(2700, 2750)) <= seen  # the callers who moved up past page 28


@pytest.mark.parametrize("late", [0.5, 2.0])
def test_polls_a_little_late_at_the_lowest_share_still_move_the_sweep(late: float):
    """Class 1 again, found by make bench's "polls for a full sweep" at DISCOVERY_BUDGET_SHARE=0.01
    (15 polls for 6 pages): at the default 300 requests a minute that share is 2 pages a minute,
    1 a poll at 30 s. A poll `late` seconds after the interval planned 2 (the share of 30.5 s),
    spent the one page the rolling minute had room for on the newest page, and the sweep never
    read another page. A poll plans no more pages than the rolling minute can give it."""
    clock = Clock()
    budget = DiscoveryBudget.of(300, 0.05, 0.01, clock, interval=30)
    queue = Queue(range(500))  # 6 pages, the last one empty
    seen: set[int] = set()
    polls = 0
    while len(seen) < 500:
        poll(budget, queue, clock, seen)
        clock.now += 30 + late
        polls += 1
        assert polls <= 2 * bound(500, budget.per_minute), f"{len(seen)} of 500 read after {polls} polls"
    assert polls == 5  # one sweep page a poll, as at exactly 30 s


def test_no_minute_holds_more_pages_than_the_share_at_a_10_s_cadence():
    clock = Clock()
    budget = DiscoveryBudget.of(300, 0.05, 0.10, clock)
    queue = Queue(range(20_000))
    times: list[float] = []
    for _ in range(30):
        pages = budget.plan()
        deadline = Deadline.fixed(8.0)
        while (request := pages.page(deadline, clock.sleep)) is not None:
            times.append(clock.now)
            result = queue.page(request)
            pages.read(request, result)
            pages.finished(request, result)
        clock.now += 10
    assert len(times) > 28 * 4  # it kept reading, minute after minute
    for at in times:
        assert sum(1 for t in times if at - 60 < t <= at) <= 28


def test_settings_that_leave_discovery_no_page_a_minute_are_refused_in_one_line():
    """Class 1: 20 requests a minute at a 0.01 share is 0.19 pages a minute: the bound cannot be met."""
    from skill_router.errors import ConfigurationError
    from skill_router.settings import load_settings
    from tests.unit.test_settings import BASE

    with pytest.raises(ConfigurationError) as refused:
        load_settings({**BASE, "GENESYS_REQUESTS_PER_MINUTE": "20", "DISCOVERY_BUDGET_SHARE": "0.01"})
    message = str(refused.value)
    assert "leaves discovery no query page a minute" in message and "at least 0.06" in message
    assert "\n" not in message
    assert load_settings({**BASE, "GENESYS_REQUESTS_PER_MINUTE": "20", "DISCOVERY_BUDGET_SHARE": "0.1"})


def test_the_due_page_never_takes_the_newest_page_or_the_sweeps():
    clock = Clock()
    deadline = Deadline.fixed(60.0)
    small = DiscoveryBudget.of(60, 0.05, 0.10, clock, interval=20)  # 5 a minute: 2 a poll
    assert not small.plan().due_page(deadline, clock.sleep)
    large = DiscoveryBudget.of(300, 0.05, 0.10, clock, interval=10).plan()  # 28 a minute: 5 a poll
    assert large.due_page(deadline, clock.sleep)
