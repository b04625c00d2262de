"""Review: transport-12 bounds a 429 to its invocation ("the next run asks again"), and the
event handler's 429 path leaves the caller to the poller; but the per-caller path (issue 11 / ledger-12)
catches the 429 first and counts it as one of the caller's MAX_ATTEMPTS, so a few minutes of
throttling (the token's budget is shared by every container) end a caller's chances for good."""

from __future__ import annotations

from tests.attack.helpers import acd_start, send
from tests.integration.conftest import BILLING, GET, PATCH, App, queued


def test_a_throttled_minute_or_two_does_not_fail_a_caller_for_good(app: App, queue: str):
    app.set(MAX_ATTEMPTS="2")
    cid = queued(app, queue, "billing")
    app.sim.fail("GET", GET + cid, 429, count=None, retry_after=60)  # Genesys: slow down, for a while
    app.invoke()
    app.invoke()
    app.sim.faults.clear()  # the throttling is over
    app.invoke()
    assert BILLING in app.sim.routing(cid)[0], app.ledger(cid)


def test_an_event_throttled_by_genesys_leaves_the_caller_pending(app: App, queue: str):
    app.set(EVENT_MODE="true")
    cid = queued(app, queue, "billing")
    app.sim.fail("GET", GET + cid, 429, count=None, retry_after=60)
    result = send(acd_start(app, cid, queue))
    assert result["outcome"] == "pending", result


def test_a_refused_patch_for_an_event_without_participant_id_does_not_drop_a_waiting_caller(app: App, queue: str):
    app.set(EVENT_MODE="true")
    cid = queued(app, queue, "billing")
    app.sim.fail("PATCH", PATCH + cid, 409, count=1)
    result = send(acd_start(app, cid, queue, participantId=None))
    assert result["outcome"] != "gone", result  # still queued: a real failure (retried), not gone
