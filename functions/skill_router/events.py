"""Event mode: Genesys conversation events from Amazon EventBridge, through the same rules.

Two topics of the Genesys "Amazon EventBridge Source" integration are used (both are detail
events; their bodies are the SDK's AcdStartDetailEventTopicAcdStartEvent and
AttributeDetailEventTopicAttributeUpdateEvent):
- `v2.detail.events.conversation.{id}.attributes`: participant data was set (the flow or bot
  wrote the intent). Its body carries `attributes`, but nothing about queues or skills.
- `v2.detail.events.conversation.{id}.acd.start`: the caller entered a queue. Its body carries
  `queueId`, `requestedRoutingSkillIds` and `routingPriority`, but no attributes.
Neither is what a PATCH would overwrite: an event is a snapshot from when it was sent (a skill
or a priority set after queue entry is not in it, the intent may have changed since), and
Genesys' PATCH replaces the requested skills with no version check. So an event only says *when*
to look: the conversation then goes through the poller's own code path (claim the leg, GET,
match with the caller's queue, PATCH what changes from what is there now). Both share the ledger
and the claim, so events delivered twice, two containers at once, and the poller that runs
after them, find the work done or in hand.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from skill_router.assign import BUSY, Assigner, Outcome, process_conversation, serve_live
from skill_router.genesys.client import Discovered, leg_key
from skill_router.matrix import Matrix
from skill_router.store import FINAL_OUTCOMES, parse_time

ACD_START = "acd.start"
ATTRIBUTES = "attributes"
TOPICS = {
    "v2.detail.events.conversation.{id}.acd.start": ACD_START,
    "v2.detail.events.conversation.{id}.attributes": ATTRIBUTES,
}
SOURCE_PREFIX = "aws.partner/genesys.com"
WAITING = "waiting"  # the ledger's note: queued, no intent yet


class EventRejected(ValueError):
    """The event is not one skill-router can use; it is logged and dropped, never retried."""


@dataclass(frozen=True)
class ConversationEvent:
    topic: str
    conversation_id: str
    at: datetime
    queue_id: str | None = None
    requested_skill_ids: tuple[str, ...] = ()
    routing_priority: int | None = None
    attributes: Mapping[str, str] = field(default_factory=dict)
    participant_id: str | None = None  # acd.start: the ACD participant, i.e. the queue leg


def parse_event(event: Any) -> ConversationEvent:
    """The EventBridge envelope and the topic's body, checked field by field."""
    if not isinstance(event, dict):
        raise EventRejected(f"expected an EventBridge event (a JSON object), got {type(event).__name__}")
    source = event.get("source")
    if not isinstance(source, str) or not source.startswith(SOURCE_PREFIX):
        raise EventRejected(f"'source' {source!r} is not a Genesys partner event source ({SOURCE_PREFIX}/...)")
    topic = TOPICS.get(str(event.get("detail-type")))
    if topic is None:
        raise EventRejected(f"'detail-type' {event.get('detail-type')!r} is not one of {', '.join(TOPICS)}")
    detail = event.get("detail")
    body = detail.get("eventBody") if isinstance(detail, dict) else None
    if not isinstance(body, dict):
        raise EventRejected("'detail.eventBody' is missing or not an object")
    conversation_id = body.get("conversationId")
    if not isinstance(conversation_id, str) or not conversation_id.strip():
        raise EventRejected("'detail.eventBody.conversationId' is missing")
    event_time = body.get("eventTime")
    if not isinstance(event_time, int | float) or isinstance(event_time, bool):
        raise EventRejected("'detail.eventBody.eventTime' must be epoch milliseconds")
    at = datetime.fromtimestamp(event_time / 1000, UTC)
    if topic == ACD_START:
        queue_id = body.get("queueId")
        skills = body.get("requestedRoutingSkillIds") or []
        priority = body.get("routingPriority")
        if not isinstance(queue_id, str) or not queue_id:
            raise EventRejected("'detail.eventBody.queueId' is missing from an acd.start event")
        if not isinstance(skills, list) or not all(isinstance(s, str) for s in skills):
            raise EventRejected("'detail.eventBody.requestedRoutingSkillIds' must be a list of skill ids")
        if priority is not None and (not isinstance(priority, int) or isinstance(priority, bool)):
            raise EventRejected("'detail.eventBody.routingPriority' must be an integer")
        participant = body.get("participantId")
        participant_id = (
            participant if isinstance(participant, str) and participant and "#" not in participant else None
        )
        return ConversationEvent(
            topic, conversation_id, at, queue_id, tuple(skills), priority, participant_id=participant_id
        )
    attributes = body.get("attributes")
    if not isinstance(attributes, dict):
        raise EventRejected("'detail.eventBody.attributes' is missing from an attributes event")
    clean = {str(k): str(v) for k, v in attributes.items() if isinstance(v, str | int | float)}
    return ConversationEvent(topic, conversation_id, at, attributes=clean)


def handle_event(
    event: ConversationEvent, prior: dict[str, Any] | None, matrix: Matrix, deps: Assigner, now: datetime
) -> Outcome:
    """`prior` is the conversation's own entry (event mode's notes); the queue leg's entry is
    read here once the leg is known (acd.start names it; a waiting note remembers it)."""
    cid = event.conversation_id
    deps = dataclasses.replace(deps, always_claim=True)  # the poller and other containers may be on it too
    leg = event.participant_id if event.topic == ACD_START else (prior or {}).get("waiting_leg")
    if event.topic == ACD_START and not leg:
        leg = leg_key(None, event.queue_id, event.at)
    leg_entry = deps.store.entry(cid, leg) if leg else None
    found = _discovered(event, prior, leg, leg_entry)
    if leg_entry and leg_entry.get("outcome") in FINAL_OUTCOMES:
        # Delivered twice, or the poller got there first: finish the email if owed, nothing else.
        return process_conversation(found, leg_entry, matrix, deps, now)
    if event.topic == ACD_START:
        outcome = process_conversation(found, leg_entry, matrix, deps, now)
        if outcome.outcome == "pending" and outcome.reason != BUSY:  # the intent event will finish it
            deps.store.record(cid, WAITING, queue_id=event.queue_id, waiting_leg=leg)
        return outcome
    # An attributes event: worth a GET only if some rule, for some queue, could match them.
    if not _could_match(matrix, event.attributes, deps.settings.intent_attribute):
        return Outcome(cid, "pending", final=False, reason="no rule matches these attributes (yet)")
    if leg:
        # The intent the caller was waiting for: read now, whatever the re-check schedule says.
        return process_conversation(found, leg_entry, matrix, deps, now, recheck_now=True)
    # Queued already (its acd.start came first and is not noted yet) or not yet: read to know.
    return serve_live(found, leg_entry, matrix, deps, now, too_old=False)


def _could_match(matrix: Matrix, attributes: Mapping[str, str], default_attribute: str) -> bool:
    for rule in matrix.rules:
        value = attributes.get(rule.attribute or default_attribute)
        if isinstance(value, str) and value and rule.matches(value):
            return True
    return False


def _discovered(
    event: ConversationEvent, prior: dict[str, Any] | None, leg: str | None, leg_entry: dict[str, Any] | None
) -> Discovered:
    queue_id = event.queue_id or (prior or {}).get("queue_id")
    entered = event.at if event.topic == ACD_START else None
    if entered is None and leg_entry and leg_entry.get("queue_entered"):
        entered = parse_time(str(leg_entry["queue_entered"]))
    return Discovered(
        conversation_id=event.conversation_id,
        start=event.at,
        ended=False,
        queue_id=queue_id,
        left_queue=False,
        requested_skill_ids=event.requested_skill_ids,
        participant_id=leg,
        queue_entered=entered,
    )
