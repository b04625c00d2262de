"""Staffing through the simulator over HTTP with the real SDK: GenesysClient.queue_members reads
every page of a queue's joined members, StaffingCache serves a queue's staffing for
STAFFING_CACHE_SECONDS from one read, and says None (the guard stays off) when staffing cannot be
known: the permission is missing (one warning per invocation), the budget or the time is spent."""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator

import pytest

from skill_router.deadline import Deadline
from skill_router.genesys.budget import RateBudget
from skill_router.genesys.client import GenesysClient
from skill_router.genesys.errors import GenesysError
from skill_router.genesys.token import Credentials, TokenProvider
from skill_router.staffing import ASSIGNMENT_RESERVE, MEMBERS_PERMISSION, STAFFING_BUDGET_SHARE, StaffingCache
from tests.simulator import GenesysSimulator


class Clock:
    """Epoch seconds that pass only when a test (or the budget) says so."""

    def __init__(self) -> None:
        self.now = 1_900_000_000.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += max(seconds, 0.0)


@pytest.fixture
def world() -> Iterator[tuple[GenesysSimulator, GenesysClient, Clock]]:
    clock = Clock()
    with GenesysSimulator(clock=clock) as sim:
        sim.add_client("c", "s")
        tokens = TokenProvider(sim.base_url, lambda: Credentials("c", "s"), lambda: None, lambda _: None, clock=clock)
        client = GenesysClient(sim.base_url, tokens, budget=RateBudget(300, clock=clock, sleep=clock.sleep))
        client.begin(Deadline.fixed(900))
        yield sim, client, clock


def test_every_page_past_100_members_is_read_and_only_members_on_queue_count(world):
    sim, client, clock = world
    queue = sim.add_queue("Sales")
    spanish, french = sim.add_skill("Spanish"), sim.add_language("French")
    for i in range(150):
        status = ("IDLE", "INTERACTING", "COMMUNICATING", "NOT_RESPONDING", "OFF_QUEUE")[i % 5]
        sim.add_member(queue, skills={spanish: 2} if i % 2 else {}, languages=[french], status=status)
    for _ in range(7):
        sim.add_member(queue, skills={spanish: 5}, joined=False)  # not joined: takes no calls
    members = client.queue_members(queue)
    assert len(members) == 150 and sim.member_requests(queue) == 2
    query = next(r.query for r in sim.requests if r.path.endswith("/members"))
    assert "pageSize=100" in query and "joined=true" in query and "skills%2Clanguages%2CroutingStatus" in query
    staffing = StaffingCache(client, seconds=60, clock=clock).get(queue)
    assert staffing is not None
    assert len(staffing.on_queue) == 120  # OFF_QUEUE does not count
    assert staffing.serving([spanish.upper()], french) == 60  # ids compared case-insensitively
    assert staffing.lacking([spanish], None) == {spanish: 60}
    member = next(m for m in members if m.skills)
    assert member.skills == {spanish.lower(): 2.0} and member.languages == {french.lower(): 5.0}


def test_an_inactive_skill_is_not_one_the_member_has(world):
    sim, client, clock = world
    queue = sim.add_queue("Sales")
    spanish, billing = sim.add_skill("Spanish"), sim.add_skill("Billing")
    sim.add_member(queue, skills={spanish: 4, billing: 2}, inactive=[billing])
    staffing = StaffingCache(client, seconds=60, clock=clock).get(queue)
    assert staffing is not None
    assert staffing.serving([spanish], None) == 1 and staffing.serving([billing], None) == 0


def test_a_bad_queue_id_is_never_sent_and_an_empty_queue_is_no_members(world):
    sim, client, _ = world
    queue = sim.add_queue("Sales")
    with pytest.raises(GenesysError) as refused:
        client.queue_members("../../users/me")
    assert refused.value.status == 400 and sim.member_requests() == 0
    assert client.queue_members(queue) == []


def test_repeated_gets_within_the_period_cost_one_read_then_one_refresh(world):
    sim, client, clock = world
    queue = sim.add_queue("Sales")
    spanish = sim.add_skill("Spanish")
    agent = sim.add_member(queue, skills=[spanish], status="OFF_QUEUE")
    cache = StaffingCache(client, seconds=60, clock=clock)
    first = cache.get(queue)
    assert first is not None and first.serving([spanish], None) == 0
    sim.set_member(queue, agent, status="IDLE")  # goes on queue while the caller waits
    for _ in range(1000):
        clock.now += 0.05
        assert cache.get(queue) is first  # one caller after another: the cached copy
    assert sim.member_requests(queue) == 1
    clock.now = first.read_at + 60
    fresh = cache.get(queue)
    assert fresh is not None and fresh.serving([spanish], None) == 1 and sim.member_requests(queue) == 2


def test_a_missing_permission_is_none_with_one_warning_per_invocation(world, caplog):
    sim, client, clock = world
    queues = [sim.add_queue(f"Q{i}") for i in range(3)]
    sim.deny_queue_members()
    cache = StaffingCache(client, seconds=60, clock=clock)
    with caplog.at_level(logging.WARNING):
        for _ in range(5):
            for queue in queues:
                assert cache.get(queue) is None
    warnings = [r for r in caplog.records if MEMBERS_PERMISSION in r.getMessage()]
    assert len(warnings) == 1 and "guard" in warnings[0].getMessage()
    assert sim.member_requests() == 1  # one 403 is enough for the whole invocation
    caplog.clear()
    client.begin(Deadline.fixed(900))  # the next invocation asks again, and warns again
    sim.allow_queue_members()
    assert cache.get(queues[0]) is not None
    sim.deny_queue_members()
    clock.now += 61
    with caplog.at_level(logging.WARNING):
        assert cache.get(queues[0]) is None and cache.get(queues[1]) is None
    assert len([r for r in caplog.records if MEMBERS_PERMISSION in r.getMessage()]) == 1


def test_out_of_time_or_budget_serves_the_stale_copy_else_none(world):
    sim, client, clock = world
    queue, other = sim.add_queue("Sales"), sim.add_queue("Support")
    sim.add_member(queue)
    cache = StaffingCache(client, seconds=60, clock=clock)
    first = cache.get(queue)
    assert first is not None
    clock.now += 120
    client.begin(Deadline.fixed(0.5))  # the invocation is all but over
    assert cache.get(queue) is first  # stale, but what is known
    assert cache.get(other) is None  # never read: unknown
    assert sim.member_requests() == 1


def test_a_genesys_failure_is_none_not_an_error_and_is_not_asked_again_at_once(world):
    sim, client, clock = world
    queue = sim.add_queue("Sales")
    sim.fail("GET", r"^/api/v2/routing/queues/[^/]+/members$", 500, count=None)
    client.max_attempts = 1
    cache = StaffingCache(client, seconds=60, clock=clock)
    for _ in range(50):
        assert cache.get(queue) is None
    assert sim.member_requests(queue) == 1


def test_staffing_never_takes_the_last_share_of_the_rate_budget(world):
    sim, client, clock = world
    queues = [sim.add_queue(f"Q{i}") for i in range(200)]
    for queue in queues:
        sim.add_member(queue)
    cache = StaffingCache(client, seconds=60, clock=clock)
    known = [queue for queue in queues if cache.get(queue) is not None]
    per_minute = client.budget.per_minute
    assert len(known) == int(per_minute * STAFFING_BUDGET_SHARE)  # its own share of the minute, no more
    assert sim.member_requests() == len(known)
    # A minute on, assignments have spent the budget down to its reserve: a stale copy is served
    # rather than refreshed, until it is two periods old.
    clock.now += 61
    while client.budget.room() - 1 >= math.ceil(per_minute * ASSIGNMENT_RESERVE):
        client.budget.acquire(client.deadline, "PATCH /api/v2/routing/conversations/{conversationId}")
    before = sim.member_requests()
    stale = cache.get(known[0])
    assert stale is not None and clock.now - stale.read_at > 60 and sim.member_requests() == before
    clock.now = stale.read_at + 120
    assert cache.get(known[0]) is not stale and sim.member_requests() == before + 1


def test_both_functions_share_one_cache_per_container_built_from_the_settings(app, queue: str):
    from skill_router import runtime
    from skill_router.staffing import StaffingCache as Cache

    app.set(STAFFING_CACHE_SECONDS="120", STAFFING_GUARD="on")
    app.invoke()
    rt = runtime.current()
    cache = rt.poller.adapters.staffing
    assert isinstance(cache, Cache) and cache.seconds == 120 and cache.genesys is rt.genesys
    app.sim.add_member(queue)
    staffing = cache.get(queue)
    assert staffing is not None and len(staffing.on_queue) == 1
    app.invoke()
    assert runtime.current().poller.adapters.staffing is cache  # warm: the same container's cache
    app.set(STAFFING_GUARD="off")
    app.invoke()
    assert runtime.current().poller.adapters.staffing is None  # the guard is off: nothing reads members
