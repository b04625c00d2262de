"""Review: ledger-12 added a DynamoDB write before every GET (the caller's claim) and issue 11's
cycle handles a page's callers in threads. A throttle on ONE caller's claim (botocore's retries
spent on a hot partition) escaped the poll: every other caller on the page went unserved, the
watermark was not moved, and the run failed."""

from __future__ import annotations

from skill_router import runtime
from tests.attack.helpers import throttle_dynamodb
from tests.integration.conftest import BILLING, App, queued


def test_a_throttled_claim_for_one_caller_does_not_stop_the_others(app: App, queue: str):
    app.set(EVENT_MODE="true")  # the poller of an event-mode stack claims each caller
    unlucky = queued(app, queue, "billing")
    others = [queued(app, queue, "billing") for _ in range(3)]
    client = runtime.current().store.client
    throttle_dynamodb(client, 4, lambda body: b"claim#" + unlucky.encode() in body)
    result = app.invoke()
    assert all(BILLING in app.sim.routing(cid)[0] for cid in others), result
    # The poll stops its sweep at that caller's page (bounded discovery re-reads it next poll).
    assert result["polls"][0]["pending"] == 1
    app.invoke()  # the throttle is over: the unlucky caller is served on the next poll
    assert BILLING in app.sim.routing(unlucky)[0]
