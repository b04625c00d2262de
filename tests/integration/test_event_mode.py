"""Event mode: Genesys EventBridge events through the same rules, with the poller as reconciler."""

from __future__ import annotations

import copy
import json
import time
from typing import Any

import pytest

from scripts.lambda_runner import LambdaContext
from skill_router import runtime
from skill_router.handlers import conversation_event
from tests.integration.conftest import (
    BILLING,
    ENGLISH,
    GET,
    ROOT,
    TECH,
    App,
    minutes_ago,
    patches,
    queued,
)

SAMPLES = {name: json.loads((ROOT / "events" / f"{name}.json").read_text()) for name in ("acd_start", "attributes")}


@pytest.fixture(autouse=True)
def fresh_event_runtime() -> Any:
    runtime.use(None)
    yield
    runtime.use(None)


def event(kind: str, conversation_id: str, **body: Any) -> dict[str, Any]:
    """A sample event from events/, about this conversation (as EventBridge delivers it)."""
    envelope = copy.deepcopy(SAMPLES[kind])
    now_ms = int(time.time() * 1000)
    envelope["detail"]["eventBody"].update(conversationId=conversation_id, eventTime=now_ms, **body)
    envelope["detail"]["topicName"] = f"v2.detail.events.conversation.{conversation_id}.{kind.replace('_', '.')}"
    return envelope


def acd_start(app: App, conversation_id: str, queue: str, skills: list[str] | None = None) -> dict[str, Any]:
    skills_now, priority = app.sim.routing(conversation_id)
    return event(
        "acd_start",
        conversation_id,
        queueId=queue,
        requestedRoutingSkillIds=skills_now if skills is None else skills,
        routingPriority=priority,
        participantId=app.sim.acd_participant(conversation_id),  # the queue leg
    )


def send(envelope: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = conversation_event.handler(envelope, LambdaContext(30, 256))
    return result


def test_acd_start_assigns_and_emails_and_the_same_event_again_changes_nothing(app: App, queue: str):
    conversation = queued(app, queue, "billing dispute", skills=(ENGLISH,))
    first = send(acd_start(app, conversation, queue))
    assert first["outcome"] == "applied" and first["genesys_calls"] == 2  # GET + PATCH
    assert app.sim.routing(conversation)[0] == [ENGLISH, BILLING]
    assert len(app.sent_emails()) == 1
    app.sim.clear_log()
    again = send(acd_start(app, conversation, queue, skills=[ENGLISH]))  # EventBridge is at-least-once
    assert again["outcome"] == "done" and app.sim.count(path_prefix="/api/v2/") == 0
    assert len(app.sent_emails()) == 1


def test_the_poller_after_the_events_finds_nothing_to_do(app: App, queue: str):
    conversation = queued(app, queue, "technical")
    send(acd_start(app, conversation, queue))
    app.sim.clear_log()
    report = app.invoke()["polls"][0]
    assert report["done"] == 1 and report["applied"] == 0
    assert app.sim.count("GET", GET) == 0 and patches(app) == 0


def test_an_event_lost_on_purpose_is_caught_by_the_next_poll(app: App, queue: str):
    handled = queued(app, queue, "technical", minutes=3)
    lost = queued(app, queue, "billing", minutes=2)  # its acd.start never arrives
    app.set(EVENT_MODE="true")
    send(acd_start(app, handled, queue))
    report = app.invoke()["polls"][0]
    assert (report["done"], report["applied"], report["reconciled"]) == (1, 1, 1)
    assert app.sim.routing(lost)[0] == [BILLING] and patches(app, handled) == 1


def test_intent_first_then_acd_start_reads_the_caller_before_it_writes(app: App, queue: str):
    conversation = app.sim.add_conversation(queue_id=None, attributes={}, start=minutes_ago(1))
    app.sim.set_attributes(conversation, {"intent": "technical question"})
    noted = send(event("attributes", conversation, attributes={"intent": "technical question"}))
    assert noted["outcome"] == "pending" and app.sim.count("PATCH") == 0  # in the IVR still: nothing to do
    assert "attributes" not in (app.ledger(conversation) or {}), "the caller's attributes are not stored"
    app.sim.queue_conversation(conversation, queue, skills=(ENGLISH,))
    app.sim.clear_log()
    # The event is a snapshot from queue entry; the PATCH replaces the skills, so it reads first.
    applied = send(acd_start(app, conversation, queue))
    assert applied["outcome"] == "applied" and applied["genesys_calls"] == 2
    assert app.sim.count("GET", GET) == 1 and app.sim.routing(conversation)[0] == [ENGLISH, TECH]
    assert app.ledger(conversation)["rule_id"].startswith("technical-")


def test_queued_first_then_the_intent_event_finishes_it(app: App, queue: str):
    conversation = queued(app, queue, None)
    assert send(acd_start(app, conversation, queue))["outcome"] == "pending"
    app.sim.set_attributes(conversation, {"intent": "billing"})
    assert send(event("attributes", conversation, attributes={"intent": "billing"}))["outcome"] == "applied"
    assert app.sim.routing(conversation)[0] == [BILLING]


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda e: e.update(source="aws.partner/other.com/x"), "is not the configured event source"),
        (lambda e: e.update({"detail-type": "v2.users.{id}.presence"}), "'detail-type'"),
        (lambda e: e["detail"]["eventBody"].pop("conversationId"), "conversationId' is missing"),
        (lambda e: e["detail"]["eventBody"].update(eventTime="yesterday"), "epoch milliseconds"),
        (lambda e: e["detail"].pop("eventBody"), "'detail.eventBody' is missing"),
    ],
    ids=["foreign-source", "other-topic", "no-conversation", "bad-time", "no-body"],
)
def test_a_malformed_event_is_rejected_clearly_and_not_retried(app: App, queue: str, change: Any, reason: str):
    envelope = copy.deepcopy(SAMPLES["acd_start"])
    change(envelope)
    result = send(envelope)  # returned, not raised: Lambda does not retry it
    assert result["status"] == "rejected" and reason in result["reason"]
    assert app.sim.count(path_prefix="/api/v2/") == 0
