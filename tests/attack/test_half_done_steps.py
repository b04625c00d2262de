"""Issue 19, class 7: a step that fails half-way. Its email claim refused by DynamoDB, its PATCH
throttled past its retries, an intent event deferred for lack of budget: each is done by the next
poll, never lost and never left waiting for a claim or a re-check schedule."""

from __future__ import annotations

from skill_router import runtime
from tests.attack.helpers import event, send, throttle_dynamodb
from tests.integration.conftest import BILLING, GET, PATCH, App, later, minutes_ago

LEAD = "lead@example.com"
LADDER = f"""
skill_matrix:
  - id: billing
    intent_keyword: billing
    skills: [{BILLING}]
    escalate:
      - after: 60
        routing_priority: 20
        notify: [{LEAD}]
"""


def bodies(app: App, conversation: str) -> list[dict[str, object]]:
    return [r.body for r in app.sim.requests if r.method == "PATCH" and r.path == PATCH + conversation]


def step_emails(app: App) -> list[dict[str, object]]:
    return [m for m in app.sent_emails() if "escalated" in str(m.get("subject", ""))]


def served(app: App, queue: str) -> str:
    app.upload_matrix(LADDER)
    conversation = app.sim.add_conversation(queue_id=queue, attributes={"intent": "billing"}, start=minutes_ago(0.1))
    app.invoke()
    assert bodies(app, conversation) == [{"skillIds": [BILLING]}]
    return conversation


def test_a_step_whose_email_claim_dynamodb_refuses_still_sends_its_email(app: App, queue: str):
    conversation = served(app, queue)
    later(90)
    app.invoke()  # builds the store's client: the throttle is put on it next
    store = runtime.current().store
    assert step_emails(app) != []  # the control: the step and its email went out
    # The same again on a second caller, with every email claim refused past botocore's retries.
    second = app.sim.add_conversation(queue_id=queue, attributes={"intent": "billing"}, start=minutes_ago(0.1))
    later(0)
    app.invoke()
    sent_before = len(step_emails(app))
    # Every email claim of this poll refused past botocore's retries (a poll may see a caller on more
    # than one page: the due page, the sweep's), then DynamoDB recovers.
    throttled = throttle_dynamodb(store.client, 10**6, lambda body: b"email#" in body)
    later(90)
    app.invoke()
    throttled["left"] = 0
    assert throttled["throttled"] > 0 and app.sim.routing(second)[1] == 20
    assert len(step_emails(app)) == sent_before, "the throttle did not stop the send: the attack proves nothing"
    later(100)
    app.invoke()
    assert len(step_emails(app)) == sent_before + 1, "the step's email was never sent"
    later(110)
    app.invoke()
    assert len(step_emails(app)) == sent_before + 1, "the step's email was sent twice"
    assert app.sim.routing(conversation)[1] == 20


def test_a_step_patch_throttled_past_its_retries_is_retried_by_the_next_poll(app: App, queue: str):
    app.set(MAX_ATTEMPTS="2")
    conversation = served(app, queue)
    # Every PATCH of this poll throttled past the client's retries (a poll may see a caller on more
    # than one page), then Genesys has room again.
    app.sim.fail("PATCH", PATCH + conversation, 429, count=None, retry_after=0)
    later(90)
    app.invoke()
    app.sim.faults.clear()
    assert app.sim.routing(conversation)[1] == 0 and len(bodies(app, conversation)) >= 3
    later(91)
    app.invoke()  # the next poll, within the first one's invocation time
    assert app.sim.routing(conversation)[1] == 20, "the throttled step's claim kept the next poll from retrying it"


def test_an_intent_event_deferred_for_lack_of_budget_is_served_by_the_next_poll(app: App, queue: str):
    app.set(EVENT_MODE="true", MAX_ATTEMPTS="2")
    app.upload_matrix(LADDER)
    conversation = app.sim.add_conversation(queue_id=queue, attributes={}, start=minutes_ago(1))
    app.invoke()  # queued without an intent yet: read again on its re-check schedule (30 s, then more)
    assert app.ledger(conversation)["outcome"] == "waiting_for_intent"
    app.sim.set_attributes(conversation, {"intent": "billing"})
    app.sim.fail("GET", GET + conversation, 429, count=2, retry_after=0)  # the token's budget is spent
    deferred = send(event("attributes", conversation, attributes={"intent": "billing"}))
    assert deferred["outcome"] == "pending" and bodies(app, conversation) == []
    later(5)
    app.invoke()  # the next poll, seconds later
    assert app.sim.routing(conversation)[0] == [BILLING], "the deferred intent waited for its re-check"
