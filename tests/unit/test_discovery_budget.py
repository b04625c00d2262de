"""The discovery share and the sweep's place (functions/skill_router/discovery.py), on a clock that
moves only when told to: which page each poll reads, and never more pages in a minute than the share."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from skill_router.deadline import Deadline
from skill_router.discovery import DiscoveryBudget, Sweep
from skill_router.genesys.client import PAGE_SIZE, Discovered, QueryPage

T0 = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def page_of(first: int, size: int = PAGE_SIZE) -> QueryPage:
    """Callers at list positions first..first+size-1, the n-th having started n seconds after T0."""
    conversations = [
        Discovered(f"c{n}", T0 + timedelta(seconds=n), False, "q", False, ()) for n in range(first, first + size)
    ]
    return QueryPage(conversations, total_hits=0, size=size)


def read(sweep: Sweep, list_start: int, length: int, clock: Clock, seen: set[str] | None = None) -> list[int]:
    """Run one poll's sweep over a list whose position 0 is the caller `list_start`."""
    pages = []
    seen = set() if seen is None else seen
    deadline = Deadline.fixed(60.0)
    while (page := sweep.page(deadline, clock.sleep)) is not None:
        first = (page - 1) * PAGE_SIZE
        size = max(0, min(PAGE_SIZE, length - first))
        result = page_of(list_start + first, size)
        sweep.read(page, result)
        pages.append(page)
        seen.update(c.conversation_id for c in result.conversations)
        sweep.finished(page, result)
        if sweep.complete:
            break
    return pages


def test_a_long_list_is_read_over_polls_continuing_one_page_back():
    clock = Clock()
    budget = DiscoveryBudget.of(300, 0.05, 0.10, clock)  # 28 pages a minute
    assert budget.per_minute == 28
    first = read(budget.plan(), 0, 5000, clock)
    assert first == list(range(1, 29))
    clock.now += 60
    second = read(budget.plan(), 0, 5000, clock)
    assert second[0] == 28 and second[-1] == 51  # one page back, then to the short page
    clock.now += 60
    assert read(budget.plan(), 0, 5000, clock)[0] == 1  # a new sweep


def test_a_list_that_moved_up_by_more_than_a_page_is_stepped_back_over():
    clock = Clock()
    budget = DiscoveryBudget.of(300, 0.05, 0.10, clock)
    read(budget.plan(), 0, 5000, clock)  # pages 1-28: callers 0..2799 read
    clock.now += 60
    # 250 callers at the front were answered: caller 2800 is now at position 2550, on page 26.
    seen: set[str] = set()
    second = read(budget.plan(), 250, 4750, clock, seen)
    assert second[:3] == [28, 27, 26]
    assert {f"c{n}" for n in range(2800, 2850)} <= seen  # the callers who moved up past page 28


def test_no_minute_holds_more_pages_than_the_share_at_a_10_s_cadence():
    clock = Clock()
    budget = DiscoveryBudget.of(300, 0.05, 0.10, clock)
    times: list[float] = []
    for _ in range(30):
        sweep = budget.plan()
        deadline = Deadline.fixed(8.0)
        while (page := sweep.page(deadline, clock.sleep)) is not None:
            times.append(clock.now)
            sweep.read(page, page_of((page - 1) * PAGE_SIZE))
            sweep.finished(page, page_of((page - 1) * PAGE_SIZE))
        clock.now += 10
    assert len(times) > 28 * 4  # it kept reading, minute after minute
    for at in times:
        assert sum(1 for t in times if at - 60 < t <= at) <= 28


def test_an_idle_list_costs_one_page_a_poll():
    clock = Clock()
    budget = DiscoveryBudget.of(300, 0.05, 0.10, clock)
    for _ in range(5):
        assert read(budget.plan(), 0, 3, clock) == [1]
        clock.now += 10
