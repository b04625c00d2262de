"""The staffing model (who on queue meets a requirement) and the cache's arithmetic: its share of
the rate budget, the reserve it leaves assignments, the period, and the per-invocation warning."""

from __future__ import annotations

import logging
import math
import threading

import pytest

from skill_router.deadline import Deadline
from skill_router.genesys.budget import RateBudget
from skill_router.genesys.errors import GenesysError
from skill_router.staffing import (
    ASSIGNMENT_RESERVE,
    MEMBERS_PERMISSION,
    STAFFING_BUDGET_SHARE,
    Member,
    Staffing,
    StaffingCache,
)

SPANISH, BILLING, FRENCH = "5b1c2f7e-0000-4000-8000-00000000000a", "5b1c2f7e-0000-4000-8000-00000000000b", "f" * 8


def member(status: str = "IDLE", joined: bool = True, skills: tuple[str, ...] = (), languages: tuple[str, ...] = ()):
    return Member("u", status, joined, {s: 3.0 for s in skills}, {x: 4.0 for x in languages})


@pytest.mark.parametrize(
    ("status", "joined", "on_queue"),
    [
        ("IDLE", True, True),
        ("INTERACTING", True, True),
        ("COMMUNICATING", True, True),
        ("NOT_RESPONDING", True, True),
        ("OFF_QUEUE", True, False),
        ("", True, False),  # Genesys did not say: not counted
        ("IDLE", False, False),  # not joined: takes no calls
    ],
)
def test_on_queue_is_joined_and_a_routing_status_other_than_off_queue(status: str, joined: bool, on_queue: bool):
    assert member(status, joined).on_queue is on_queue


def test_serving_needs_every_skill_and_the_language_and_lacking_names_each_part():
    staffing = Staffing(
        "q",
        (
            member(skills=(SPANISH, BILLING), languages=(FRENCH,)),
            member(skills=(SPANISH,), languages=(FRENCH,)),
            member(skills=(SPANISH, BILLING)),
            member("OFF_QUEUE", skills=(SPANISH, BILLING), languages=(FRENCH,)),
        ),
        0.0,
    )
    assert staffing.serving([SPANISH.upper(), BILLING], FRENCH.upper()) == 1
    assert staffing.serving([], None) == 3
    assert staffing.lacking([SPANISH, BILLING], FRENCH) == {SPANISH: 0, BILLING: 1, f"language:{FRENCH}": 1}


class Reader:
    """The members read as GenesysClient offers it, counting reads (a fake adapter)."""

    def __init__(self, per_minute: int = 300) -> None:
        self.now = 1_900_000_000.0
        self.budget = RateBudget(per_minute, clock=lambda: self.now, sleep=self.sleep)
        self.deadline = Deadline.fixed(900)
        self.reads: list[str] = []
        self.error: GenesysError | None = None

    def sleep(self, seconds: float) -> None:
        self.now += seconds

    def clock(self) -> float:
        return self.now

    def queue_members(self, queue_id: str, more: object = None) -> list[Member]:
        self.budget.acquire(self.deadline, "queue_members")
        self.reads.append(queue_id)
        if self.error is not None:
            raise self.error
        return [member(skills=(SPANISH,))]


def test_the_period_is_the_setting_and_a_read_is_fresh_until_it_ends():
    reader = Reader()
    cache = StaffingCache(reader, seconds=30, clock=reader.clock)
    first = cache.get("Q")
    reader.now += 29.9
    assert cache.get("q") is first and reader.reads == ["Q"]
    reader.now += 0.1
    assert cache.get("q") is not first and len(reader.reads) == 2


@pytest.mark.parametrize("per_minute", [10, 60, 300, 1000])
def test_staffing_spends_at_most_its_share_of_any_minute(per_minute: int):
    reader = Reader(per_minute)
    cache = StaffingCache(reader, seconds=60, clock=reader.clock)
    for i in range(per_minute * 2):
        cache.get(f"queue-{i}")
    assert len(reader.reads) == int(reader.budget.per_minute * STAFFING_BUDGET_SHARE)


def test_a_refresh_leaves_assignments_their_reserve_until_the_copy_is_two_periods_old():
    reader = Reader(300)
    cache = StaffingCache(reader, seconds=60, clock=reader.clock)
    first = cache.get("q")
    reader.now += 61
    allowed = reader.budget.per_minute
    while reader.budget.room() - 1 >= math.ceil(allowed * ASSIGNMENT_RESERVE):  # assignments spend the budget
        reader.budget.acquire(reader.deadline, "PATCH")
    assert cache.get("q") is first and reader.reads == ["q"]  # stale, the reserve kept
    assert cache.get("never-read") is not None  # nothing known yet: read within the share
    reader.now = first.read_at + 2 * 60
    assert cache.get("q") is not first and reader.reads == ["q", "never-read", "q"]  # two periods: read


def test_a_403_warns_once_per_invocation_and_other_errors_do_not_silence_the_guard(caplog: pytest.LogCaptureFixture):
    reader = Reader()
    cache = StaffingCache(reader, clock=reader.clock)
    reader.error = GenesysError("queue_members", 403, "missing.any.permissions")
    with caplog.at_level(logging.WARNING):
        assert [cache.get(q) for q in ("a", "b", "a")] == [None, None, None]
        reader.deadline = Deadline.fixed(900)  # the next invocation
        assert cache.get("c") is None
    assert sum(MEMBERS_PERMISSION in r.getMessage() for r in caplog.records) == 2
    assert reader.reads == ["a", "c"]
    reader.deadline = Deadline.fixed(900)  # the invocation after: asked again
    reader.error = GenesysError("queue_members", 503, "unavailable")
    assert cache.get("d") is None and cache.get("d") is None and reader.reads[-1] == "d"
    assert reader.reads.count("d") == 1  # not asked again at once
    reader.now += 16
    reader.error = None
    assert cache.get("d") is not None


def test_two_threads_meeting_the_403_at_once_warn_once(caplog: pytest.LogCaptureFixture):
    reader = Reader()
    cache = StaffingCache(reader, clock=reader.clock)
    both_in = threading.Barrier(2)

    def refused(queue_id: str, more: object = None) -> list[Member]:
        reader.reads.append(queue_id)
        both_in.wait(timeout=5)  # both reads are under way before either answer comes back
        raise GenesysError("queue_members", 403, "missing.any.permissions")

    reader.queue_members = refused  # type: ignore[method-assign]
    with caplog.at_level(logging.WARNING):
        threads = [threading.Thread(target=cache.get, args=(q,)) for q in ("a", "b")]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=10)
    assert sorted(reader.reads) == ["a", "b"]
    assert sum(MEMBERS_PERMISSION in r.getMessage() for r in caplog.records) == 1
