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
GENERAL = "9a1b2c3d-0000-4000-8000-00000000aaaa"
VIP = "9a1b2c3d-0000-4000-8000-00000000bbbb"
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
        self.queue = ""
        self.oldest = 0.0  # when the oldest caller of the backlog started

    def invoke(self, cold: bool = False) -> dict[str, Any]:
        """The scheduled invocation of the next virtual minute (one poll), in a warm container
        (`cold`: a new one, as after a deploy or when Lambda recycles it)."""
        self.clock.sleep_until(self.began + self.invocations * 60)
        self.invocations += 1
        if cold:
            runtime.use(None)
            on_virtual_clock(self.clock)
        result: dict[str, Any] = poll.handler(SCHEDULED_EVENT, VirtualContext(self.clock))
        return result

    def queries(self) -> list[float]:
        return sorted(r.at for r in self.app.sim.requests if r.method == "POST" and r.path == QUERY)


def on_virtual_clock(clock: VirtualClock) -> None:
    """The objects production builds, on the virtual clock (as `make bench` does)."""
    rt = runtime.current()
    rt.genesys.budget = RateBudget(rt.settings.requests_per_minute, clock=clock, sleep=clock.sleep)
    rt.genesys._sleep = clock.sleep
    rt.poller.clock = clock
    rt.poller.sleep = clock.sleep


def deploy(
    app: App, callers: int = BACKLOG, per_minute: int = PER_MINUTE, matrix: str = MATRIX, **env: str
) -> Deployment:
    """`callers` waiting who already requested the rule's skill (nothing left to do: they cost
    query pages and no GET), one second apart, the oldest 3,000 s ago (or earlier, so that all
    of them have started)."""
    clock = VirtualClock()
    app.sim.clock = clock
    app.sim.add_skill("Technical", skill_id=TECH)
    queue = app.sim.add_queue("General", queue_id=GENERAL) if GENERAL not in app.sim.queues else GENERAL
    app.upload_matrix(matrix)
    app.set(GENESYS_REQUESTS_PER_MINUTE=str(per_minute), **env)
    oldest = clock() - max(3000, callers + 100)
    for i in range(callers):
        app.sim.add_conversation(queue_id=queue, attributes={"intent": "technical"}, skills=(TECH,), start=oldest + i)
    on_virtual_clock(clock)
    deployment = Deployment(app, clock)
    deployment.queue, deployment.oldest = queue, oldest
    return deployment


def needs_the_rule(backlog: Deployment, position: float) -> str:
    """A caller who needs the rule, placed at `position` in the backlog's start order."""
    start = backlog.oldest + position
    return backlog.app.sim.add_conversation(queue_id=backlog.queue, attributes={"intent": "technical"}, start=start)


def served(backlog: Deployment, conversation_id: str) -> bool:
    return backlog.app.sim.routing(conversation_id)[0] == [TECH]


@pytest.fixture
def backlog(app: App) -> Iterator[Deployment]:
    yield deploy(app)


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
    newcomer = app.sim.add_conversation(queue_id=backlog.queue, attributes={"intent": "technical"})
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
        start=now - 3000 + 519.5,
    )
    first = backlog.invoke()["polls"][0]
    assert first.get("share_spent"), first  # the share ended the first poll before the list did
    assert app.sim.routing(target)[0] != [TECH]  # not reached yet: its page comes next
    front = sorted(app.sim.conversations.values(), key=lambda c: c.start)[:150]
    for conversation in front:
        app.sim.answer(conversation.id)
    backlog.invoke()
    assert app.sim.routing(target)[0] == [TECH]


# --- issue 19: the sweep reaches everyone, the newest caller at once --------------------------------


@pytest.mark.parametrize(("per_minute", "share"), [(20, "0.1"), (200, "0.01")])
def test_one_query_page_a_minute_still_reaches_the_end_of_the_list(app: App, per_minute: int, share: str):
    """Class 1. Discovery's share is one page a minute: the old sweep spent it re-reading page 1
    ("one page back") at every poll, so nobody past page 1 was ever served. The README's bound
    for 450 waiting at one page a poll: 2 x 5 pages (four full and an empty one) = 10 polls."""
    backlog = deploy(app, callers=450, per_minute=per_minute, DISCOVERY_BUDGET_SHARE=share)
    target = needs_the_rule(backlog, 420.5)  # page 5
    for _ in range(10):
        backlog.invoke()
        if served(backlog, target):
            break
    assert served(backlog, target), f"not served in {backlog.invocations} polls at one page a minute"
    assert busiest_minute(backlog.queries()) <= 1


def test_a_new_container_every_minute_still_reads_the_whole_list(app: App):
    """Class 1. Every scheduled run lands in a new container (a deploy each minute, or Lambda
    recycling it): the old sweep started again at page 1 in each and read its 5 pages, so a
    caller on page 7 was never reached. The place kept on the watermark item carries it on."""
    backlog = deploy(app)
    target = needs_the_rule(backlog, 650.5)  # page 7 of 11
    for _ in range(4):
        backlog.invoke(cold=True)
        if served(backlog, target):
            break
    assert served(backlog, target), "a new container each minute never reached page 7"


def test_a_short_page_is_not_the_end_of_the_list(app: App):
    """Class 13. Genesys removes duplicates from a page, so pages before the last come back short:
    the old sweep took page 1's 90 callers for the whole list, and never read page 2."""
    backlog = deploy(app, callers=300)
    app.sim.duplicate_rows_every = 10
    target = needs_the_rule(backlog, 280.5)  # page 3 or 4 of the rows
    backlog.invoke()
    assert served(backlog, target)


def test_a_caller_not_yet_in_analytics_is_served_by_the_next_poll(app: App):
    """Class 13. Analytics shows a caller some time after they queue (simulator:
    analytics_lag_seconds): the poll right after they queue does not see them, even one who
    dialled minutes ago and sat in the IVR; the next poll serves them. One who left the queue in
    the lag still shows as waiting: read, found gone, nothing written to Genesys."""
    backlog = deploy(app, callers=0)
    app.sim.analytics_lag_seconds = 20.0
    now = backlog.clock()
    caller = app.sim.add_conversation(
        queue_id=backlog.queue, attributes={"intent": "technical"}, start=now - 300, queued_at=now
    )
    left = app.sim.add_conversation(
        queue_id=backlog.queue, attributes={"intent": "technical"}, start=now - 400, queued_at=now - 200
    )
    app.sim.answer(left)
    report = backlog.invoke()["polls"][0]
    assert not served(backlog, caller)
    assert report["seen"] == 1 and report["gone"] == 1  # the one who left, still in analytics
    assert app.sim.count("PATCH", "/api/v2/routing/conversations/") == 0
    backlog.invoke()
    assert served(backlog, caller)


def test_a_new_caller_behind_a_sweep_of_three_polls_is_served_by_the_next_poll(backlog: Deployment):
    """Class 2. The sweep over 1,000 waiting callers at 5 query pages a minute spans three polls
    (as 5,000 do at the defaults' 28 over two): the old sweep read them oldest first, so a caller
    who queued behind them waited for the whole sweep (120 s measured at 5,000). The newest page
    is read first by every poll while a sweep spans polls."""
    app = backlog.app
    backlog.invoke()
    for _ in range(3):
        newcomer = app.sim.add_conversation(queue_id=backlog.queue, attributes={"intent": "technical"})
        backlog.invoke()
        assert served(backlog, newcomer), "a new caller behind the backlog waited past the next poll"
    assert busiest_minute(backlog.queries()) <= int(PER_MINUTE * 0.10)


LADDER = f"""
skill_matrix:
  - intent_keyword: technical
    skill_id: {TECH}
    queues: [{GENERAL}]
  - intent_keyword: technical
    skill_id: {TECH}
    queues: [{VIP}]
    routing_priority: 10
    escalate:
      - after: 2m
        routing_priority: 50
"""


def test_a_due_step_fires_within_one_interval_wherever_the_sweep_is(app: App):
    """Class 2. A caller in the middle of a 1,000-caller list (by conversationStart: they dialled
    long ago and queued 50 s before the first poll) is first read by the second poll at t=60 s;
    their 2-minute step falls due at t=70 s. The old poller applied it only when the sweep came
    round to them again (t=240 s, 170 s late; at 5,000 waiting and the defaults, 60 s late was
    measured); the poller now remembers when each leg's next step is due and looks those callers
    up by id, so the poll at t=120 s fires it (50 s late: within one 60 s interval)."""
    backlog = deploy(app, matrix=LADDER)
    app.sim.add_queue("VIP", queue_id=VIP)
    deep = app.sim.add_conversation(
        queue_id=VIP, attributes={"intent": "technical"}, start=backlog.oldest + 520.5, queued_at=backlog.began - 50
    )
    backlog.invoke()  # t=0: pages 1-4 (and the newest page): not the deep caller
    assert app.sim.routing(deep)[1] == 0
    backlog.invoke()  # t=60: pages 5-7, the deep caller's rule applied (waited 110 s)
    assert app.sim.routing(deep) == ([TECH], 10)
    backlog.invoke()  # t=120: the step fell due at t=70
    assert app.sim.routing(deep)[1] == 50, "the 2-minute step waited for the sweep to come round"
    assert busiest_minute(backlog.queries()) <= int(PER_MINUTE * 0.10)
