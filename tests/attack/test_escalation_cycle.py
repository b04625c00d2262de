"""Attacks on "each escalation step applies at most once per queue leg, in order": two pollers
at once, clocks that disagree, a matrix edited in the middle of a caller's ladder."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from skill_router.deadline import Deadline
from skill_router.runtime import Runtime, build_runtime
from tests.integration.conftest import BILLING, PATCH, TECH, App, later
from tests.integration.test_escalation import LADDER, bodies, waiting

pytestmark = pytest.mark.slow


@pytest.fixture
def ladder(app: App, queue: str) -> None:
    app.sim.add_language("English")
    app.upload_matrix(LADDER)


def poll_at(rt: Runtime, offset: float, store_offset: float | None = None) -> dict[str, object]:
    """One poll of this runtime with its clock `offset` seconds off (the lease left out: the
    promise must hold even when two runs poll at once)."""
    rt.poller.clock = lambda: time.time() + offset
    if store_offset is not None:
        rt.store._clock = lambda: time.time() + store_offset
    deadline = Deadline.fixed(30)
    rt.genesys.begin(deadline)
    return rt.poller.poll(deadline, f"attacker-{id(rt)}", None).as_dict()


def test_two_pollers_at_once_never_apply_a_step_twice(app: App, queue: str, ladder: None):
    conversations = [waiting(app, queue, 5) for _ in range(4)]
    app.invoke()
    app.sim.clear_log()
    # Both pollers read the ledger, plan the same step and PATCH slowly, side by side; the second
    # one's clock (and its claim-expiry arithmetic) is two minutes ahead.
    app.sim.delay("PATCH", PATCH, 0.5)
    first, second = build_runtime(), build_runtime()
    with ThreadPoolExecutor(2) as pool:
        reports = list(pool.map(lambda a: poll_at(*a), [(first, 65, 0), (second, 65, 120)]))
    assert sum(int(r["escalation_steps"]) for r in reports) == len(conversations)  # type: ignore[call-overload]
    for conversation in conversations:
        assert bodies(app, conversation) == [{"skillIds": [TECH]}]
    # And again, once each has what the other wrote in its cache or not.
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(lambda a: poll_at(*a), [(first, 70, 0), (second, 70, 120)]))
    assert app.sim.count("PATCH") == len(conversations)


def test_a_clock_behind_the_queue_entry_or_stepping_back_fires_nothing_early_or_twice(
    app: App, queue: str, ladder: None
):
    conversation = waiting(app, queue, 5)
    slow = build_runtime()
    poll_at(slow, -600)  # ten minutes behind: the caller "entered the queue in the future"
    assert bodies(app, conversation) == [
        {"skillIds": [BILLING], "priority": 10, "languageId": app.ledger(conversation)["language_after"]}
    ]  # type: ignore[index]
    fast = build_runtime()
    assert poll_at(fast, 400)["escalation_steps"] == 2  # a fast clock: both steps, one PATCH
    assert bodies(app, conversation)[1:] == [{"skillIds": [TECH], "priority": 50, "languageId": ""}]
    # The correct and the slow clock now see step 2 (or both steps) as not yet due: nothing is
    # undone and nothing fires again.
    for rt, offset in ((slow, -600), (build_runtime(), 0), (fast, 400), (fast, 900)):
        poll_at(rt, offset)
    assert len(bodies(app, conversation)) == 2


def test_a_matrix_change_mid_ladder_never_applies_a_step_below_one_applied_and_keeps_the_new_ones_once(
    app: App, queue: str, ladder: None
):
    conversation = waiting(app, queue, 5)
    app.invoke()
    later(65)
    app.invoke()  # step 1 (after 60) applied
    # The operator inserts a step below it and moves step 2 from 5m to 2m.
    app.upload_matrix(
        LADDER.replace(
            "      - after: 60\n", "      - after: 30\n        routing_priority: 20\n      - after: 60\n"
        ).replace("after: 5m", "after: 2m")
    )
    app.sim.clear_log()
    later(90)
    app.invoke()
    assert app.sim.count("PATCH") == 0, "the inserted 30 s step comes too late: never applied"
    later(125)
    app.invoke()
    later(130)
    app.invoke()
    assert bodies(app, conversation) == [{"priority": 50, "languageId": ""}]
    # The rule removed from the matrix: its ladder stops.
    app.upload_matrix(LADDER.replace("after: 5m", "after: 10m").replace("id: billing", "id: other"))
    later(700)
    app.invoke()
    assert len(bodies(app, conversation)) == 1


def test_a_run_two_minutes_fast_never_takes_over_a_step_another_run_is_applying(app: App, queue: str, ladder: None):
    conversation = waiting(app, queue, 5)
    app.invoke()
    leg = app.sim.acd_participant(conversation)
    # Run A claimed step 1 and is still sending its PATCH (its claim lasts its invocation)...
    assert build_runtime().store.claim_steps(conversation, leg, 60, "run-a", 30)
    app.sim.clear_log()
    # ...when run B, its clock two minutes ahead (past A's claim), polls.
    report = poll_at(build_runtime(), 65, store_offset=120)
    assert report["escalation_steps"] == 0 and app.sim.count("PATCH") == 0


def test_a_clock_still_in_yesterday_finds_the_callers_who_queued_today(app: App, queue: str, ladder: None):
    """Genesys matches a details query's interval by UTC day. A container whose clock still reads
    yesterday (behind DynamoDB's, the shared clock) must still touch today: just after midnight a
    slow clock once missed every caller who had queued since (a test failed in CI at 00:00 UTC)."""
    conversation = waiting(app, queue, 5)
    since_midnight = time.time() % 86_400
    poll_at(build_runtime(), -(since_midnight + 60))  # the container's clock reads 23:59 yesterday
    assert len(bodies(app, conversation)) == 1
