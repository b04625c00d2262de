"""The rate budget: never more than the org's limit in any 60 s, and it yields to Genesys's word.

Time is virtual: the budget's sleeps advance a clock the simulator also reads, so minutes of
traffic run in seconds and the figures do not depend on the machine's speed."""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator

import pytest

from skill_router.deadline import Deadline
from skill_router.errors import OutOfTime
from skill_router.genesys.budget import RateBudget
from skill_router.genesys.client import GenesysClient
from skill_router.genesys.token import Credentials, TokenProvider
from tests.simulator import GenesysSimulator


class VirtualClock:
    def __init__(self, start: float = 1_900_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += max(seconds, 0.0)


def busiest_minute(times: list[float]) -> int:
    ordered = sorted(times)
    return max(bisect_left(ordered, t + 60.0) - i for i, t in enumerate(ordered))


def test_no_60_second_window_ever_holds_more_than_the_budget():
    clock = VirtualClock()
    budget = RateBudget(300, headroom=0.05, clock=clock, sleep=clock.sleep)
    sent = []
    for _ in range(2000):
        budget.acquire(Deadline.fixed(900))
        sent.append(clock.now)
    assert busiest_minute(sent) <= 285
    minutes = (sent[-1] - sent[0]) / 60
    assert 2000 / minutes >= 0.9 * 300, "and the budget is actually used, not wasted"


def test_a_run_working_55_s_of_every_minute_can_still_spend_the_whole_budget():
    clock = VirtualClock()
    budget = RateBudget(300, clock=clock, sleep=clock.sleep)
    sent = []
    for _minute in range(5):
        began = clock.now
        try:
            while True:
                budget.acquire(Deadline(lambda began=began: int((began + 55 - clock.now) * 1000), 0))
                sent.append(clock.now)
        except OutOfTime:
            clock.now = began + 60  # the next scheduled run
    assert busiest_minute(sent) <= 285 and len(sent) >= 0.9 * 300 * 5


def test_a_429_holds_everyone_off_for_retry_after():
    clock = VirtualClock()
    budget = RateBudget(300, clock=clock, sleep=clock.sleep)
    budget.acquire(Deadline.fixed(900))
    budget.throttled(7.0)
    before = clock.now
    budget.acquire(Deadline.fixed(900))
    assert clock.now - before >= 7.0


def test_a_full_bucket_holds_its_operations_until_its_reset_and_no_longer():
    clock = VirtualClock()
    budget = RateBudget(300, clock=clock, sleep=clock.sleep)
    # The query's bucket (another container spent it) is full for 12 s more.
    budget.observe({"inin-ratelimit-allowed": "120", "inin-ratelimit-count": "120", "inin-ratelimit-reset": "12"}, "Q")
    before = clock.now
    budget.acquire(Deadline.fixed(900), "GET")  # another bucket's operation: not held
    assert clock.now - before < 1
    budget.acquire(Deadline.fixed(900), "Q")
    assert clock.now - before >= 12, "held until the bucket's reset"
    budget.acquire(Deadline.fixed(900), "Q")
    assert budget.limit == 300 and budget.per_minute == 285, "the configured budget is never lowered"


def test_two_buckets_that_allow_the_same_number_are_two_buckets():
    """Issue 19 class 8: a bucket is what Genesys counts for a resource, not the number it allows;
    another resource's answer with the same `allowed` must not make a full bucket forgotten."""
    clock = VirtualClock()
    budget = RateBudget(300, clock=clock, sleep=clock.sleep)
    full = {"inin-ratelimit-allowed": "120", "inin-ratelimit-count": "120", "inin-ratelimit-reset": "30"}
    budget.observe(full, "POST /api/v2/analytics/conversations/details/query")
    budget.observe({**full, "inin-ratelimit-count": "3"}, "GET /api/v2/conversations/{conversationId}")
    before = clock.now
    budget.acquire(Deadline.fixed(900), "POST /api/v2/analytics/conversations/details/query")
    assert clock.now - before >= 30, "the query's full bucket holds it until its reset"


def test_a_reported_limit_lapses_at_its_reset_and_never_for_more_than_a_minute():
    clock = VirtualClock()
    budget = RateBudget(300, clock=clock, sleep=clock.sleep)
    budget.observe({"inin-ratelimit-allowed": "2", "inin-ratelimit-count": "5", "inin-ratelimit-reset": "3600"}, "Q")
    before = clock.now
    for _ in range(20):
        budget.acquire(Deadline.fixed(900), "Q")
    assert clock.now - before <= 60 + 20 * budget._interval + 1


def test_retry_after_is_bounded_by_a_minute():
    clock = VirtualClock()
    budget = RateBudget(300, clock=clock, sleep=clock.sleep)
    budget.throttled(3600.0)
    before = clock.now
    budget.acquire(Deadline.fixed(900))
    assert 59 <= clock.now - before <= 61


def test_no_room_within_the_invocation_is_out_of_time_not_a_failure():
    clock = VirtualClock()
    budget = RateBudget(60, clock=clock, sleep=clock.sleep)
    for _ in range(57):
        budget.acquire(Deadline.fixed(900))
    with pytest.raises(OutOfTime, match="rate budget"):
        budget.acquire(Deadline.fixed(0.1))


@pytest.fixture
def sim() -> Iterator[tuple[GenesysSimulator, VirtualClock]]:
    clock = VirtualClock()
    with GenesysSimulator(clock=clock) as simulator:
        simulator.add_client("c", "s")
        yield simulator, clock


def client_for(sim: GenesysSimulator, clock: VirtualClock, per_minute: int) -> GenesysClient:
    budget = RateBudget(per_minute, clock=clock, sleep=clock.sleep)
    tokens = TokenProvider(sim.base_url, lambda: Credentials("c", "s"), lambda: None, lambda _: None)
    client = GenesysClient(sim.base_url, tokens, budget=budget)
    client.begin(Deadline.fixed(900))
    return client


def test_a_backlog_through_the_simulator_meets_its_limit_with_no_429(sim: tuple[GenesysSimulator, VirtualClock]):
    simulator, clock = sim
    simulator.rate_limit_per_minute = 300
    conversation = simulator.add_conversation()
    client = client_for(simulator, clock, 300)
    for _ in range(700):
        assert client.get_conversation(conversation) is not None
    assert simulator.throttled == 0
    assert busiest_minute([r.at for r in simulator.requests if r.path.startswith("/api/v2/")]) <= 300


def test_the_budget_follows_a_lower_limit_genesys_enforces(sim: tuple[GenesysSimulator, VirtualClock]):
    simulator, clock = sim
    simulator.rate_limit_per_minute = 120  # the org's limit is lower than the configured budget
    conversation = simulator.add_conversation()
    client = client_for(simulator, clock, 300)
    for _ in range(300):
        assert client.get_conversation(conversation) is not None
    assert simulator.throttled <= 1, "paced by the count Genesys reports, not by 429s"
    assert client.budget.limit == 300, "and the configured budget itself was not lowered for good"
