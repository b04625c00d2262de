"""Bounded discovery (issue 15 item 3): however many callers wait, discovery's query pages spend at
most DISCOVERY_BUDGET_SHARE of the rate budget in any 60 s, and still nobody is starved.

A virtual clock drives the simulator, the rate budget, the poller and the Lambda context: it moves
only when something waits (the rate budget's pacing, the next scheduled invocation), so minutes of
polls take seconds whatever the machine's load; figures are counted from the simulator's log.
The backlog is callers who already requested the rule's skill (agents busy, nothing left to do):
they cost query pages and no GET, which is exactly what an unbounded discovery wastes.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from scripts.lambda_runner import LambdaContext
from skill_router import runtime
from skill_router.genesys.budget import RateBudget
from skill_router.handlers import poll
from tests.integration.conftest import SCHEDULED_EVENT, TECH, App

pytestmark = [pytest.mark.attack, pytest.mark.slow]

QUERY = "/api/v2/analytics/conversations/details/query"
MATRIX = f"""
skill_matrix:
  - intent_keyword: technical
    skill_id: {TECH}
"""
PER_MINUTE = 60  # a small token budget: 10 % of it is 6 query pages a minute (5 after the headroom)
BACKLOG = 1000  # 10 full pages and a short one


class VirtualClock:
    """Epoch seconds that pass only when someone sleeps (thread-safe)."""

    def __init__(self) -> None:
        self._now = time.time()
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self._now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self._now += max(seconds, 0.0)

    def sleep_until(self, moment: float) -> None:
        self.sleep(moment - self())


class VirtualContext(LambdaContext):
    def __init__(self, clock: VirtualClock, timeout: float = 55.0) -> None:
        super().__init__(timeout, 512)
        self._clock, self._ends = clock, clock() + timeout

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._ends - self._clock()) * 1000))


class Deployment:
    def __init__(self, app: App, clock: VirtualClock) -> None:
        self.app, self.clock = app, clock
        self.began = clock()
        self.invocations = 0

    def invoke(self) -> dict[str, Any]:
        """The scheduled invocation of the next virtual minute (one poll), in a warm container."""
        self.clock.sleep_until(self.began + self.invocations * 60)
        self.invocations += 1
        result: dict[str, Any] = poll.handler(SCHEDULED_EVENT, VirtualContext(self.clock))
        return result

    def queries(self) -> list[float]:
        return sorted(r.at for r in self.app.sim.requests if r.method == "POST" and r.path == QUERY)


@pytest.fixture
def backlog(app: App) -> Iterator[Deployment]:
    clock = VirtualClock()
    app.sim.clock = clock
    app.sim.add_skill("Technical", skill_id=TECH)
    app.upload_matrix(MATRIX)
    queue = app.sim.add_queue("General")
    app.set(GENESYS_REQUESTS_PER_MINUTE=str(PER_MINUTE))
    now = clock()
    for i in range(BACKLOG):
        app.sim.add_conversation(
            queue_id=queue, attributes={"intent": "technical"}, skills=(TECH,), start=now - 3000 + i
        )
    rt = runtime.current()
    # The objects production builds, on the virtual clock (as `make bench` does).
    rt.genesys.budget = RateBudget(rt.settings.requests_per_minute, clock=clock, sleep=clock.sleep)
    rt.genesys._sleep = clock.sleep
    rt.poller.clock = clock
    rt.poller.sleep = clock.sleep
    deployment = Deployment(app, clock)
    deployment.queue = queue  # type: ignore[attr-defined]
    yield deployment


def busiest_minute(times: list[float]) -> int:
    most, j = 0, 0
    for i, at in enumerate(times):
        while times[j] <= at - 60:
            j += 1
        most = max(most, i - j + 1)
    return most


def test_discovery_never_spends_more_than_its_share_of_any_minute(backlog: Deployment):
    """Old code: every poll read all 11 pages, 11 queries in a minute whose share is 6."""
    app = backlog.app
    for _ in range(4):
        backlog.invoke()
    share = int(PER_MINUTE * 0.10)
    assert busiest_minute(backlog.queries()) <= share
    # ...and the share was not idle: the backlog's sweep really read the whole list.
    assert len(backlog.queries()) >= BACKLOG // 100 + 1
    assert app.sim.count("GET", "/api/v2/conversations/") == 0


def test_a_new_caller_behind_a_large_backlog_is_served_within_a_sweep(backlog: Deployment):
    """11 pages at 5 a minute: a sweep takes three polls, so a caller who arrives behind the whole
    backlog after the first is reached within the next three, oldest callers first."""
    app = backlog.app
    backlog.invoke()  # the backlog is seen (and found to need nothing) over the first sweep
    newcomer = app.sim.add_conversation(queue_id=backlog.queue, attributes={"intent": "technical"})  # type: ignore[attr-defined]
    served_in = None
    for n in range(1, 4):
        backlog.invoke()
        if app.sim.routing(newcomer)[0] == [TECH]:
            served_in = n
            break
    assert served_in is not None, "a caller behind the backlog was not served within three polls"
    assert busiest_minute(backlog.queries()) <= int(PER_MINUTE * 0.10)


def test_a_caller_who_moves_up_a_page_while_the_sweep_pauses_is_not_skipped(backlog: Deployment):
    """The first poll stops at its share (5 pages); before the next one, 150 callers at the front
    are answered, so everyone moves up a page and a half. A sweep that resumed at page 6 by
    number, or one page back, would skip the callers who moved onto page 4; one caller among them
    needs the rule and must be served by the very next poll, not a whole sweep later."""
    app = backlog.app
    now = backlog.clock()
    # Position 520 in start order (the backlog starts at now - 3000 + i): on page 6 now, on page 4
    # after 150 callers ahead of them leave.
    target = app.sim.add_conversation(
        queue_id=backlog.queue,
        attributes={"intent": "technical"},
        start=now - 3000 + 519.5,  # type: ignore[attr-defined]
    )
    first = backlog.invoke()["polls"][0]
    assert first.get("share_spent"), first  # the share ended the first poll before the list did
    assert app.sim.routing(target)[0] != [TECH]  # not reached yet: its page comes next
    front = sorted(app.sim.conversations.values(), key=lambda c: c.start)[:150]
    for conversation in front:
        app.sim.answer(conversation.id)
    backlog.invoke()
    assert app.sim.routing(target)[0] == [TECH]
