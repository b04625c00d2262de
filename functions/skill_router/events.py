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
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from skill_router.first_sight import BUSY, WAITING, process_conversation, serve_live
from skill_router.genesys.client import Discovered, leg_key
from skill_router.ids import InvalidId, event_source_org, is_genesys_id, require_id
from skill_router.leg import Adapters, Outcome
from skill_router.matrix import PRIORITY_BOUND, Matrix
from skill_router.store import FINAL_OUTCOMES, parse_time

ACD_START = "acd.start"
ATTRIBUTES = "attributes"
TOPICS = {
    "v2.detail.events.conversation.{id}.acd.start": ACD_START,
    "v2.detail.events.conversation.{id}.attributes": ATTRIBUTES,
}
# EventBridge retries for at most MaximumEventAgeInSeconds (300, template.yaml); a day leaves room
# for a redrive from the DLQ. Older, or more than a few minutes ahead of this clock: not a live
# caller's event (the poller still reconciles whatever is waiting). _event_time's message says
# "a day" and "5 minutes": keep it in step.
MAX_EVENT_AGE = timedelta(days=1)
MAX_EVENT_AHEAD = timedelta(minutes=5)
MAX_REQUESTED_SKILLS = 100


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


def parse_event(
    event: Any, accepted_source: str, now: datetime | None = None, org_id: str | None = None
) -> ConversationEvent:
    """The EventBridge envelope and the topic's body, checked field by field: only the partner
    event source the stack was deployed for, only Genesys ids where an id goes into a URL or a
    key, only numbers within their bounds. Anything else is EventRejected (returned, not retried)."""
    if not isinstance(event, dict):
        raise EventRejected(f"expected an EventBridge event (a JSON object), got {type(event).__name__}")
    source = event.get("source")
    if not accepted_source or source != accepted_source:
        raise EventRejected(f"'source' {_short(source)} is not the configured event source {accepted_source!r}")
    if org_id and event_source_org(source) != org_id.lower():
        raise EventRejected(f"'source' {_short(source)} is not from the configured org {org_id}")
    detail_type = event.get("detail-type")
    topic = TOPICS.get(detail_type) if isinstance(detail_type, str) else None
    if topic is None:
        raise EventRejected(f"'detail-type' {_short(detail_type)} is not one of {', '.join(TOPICS)}")
    detail = event.get("detail")
    body = detail.get("eventBody") if isinstance(detail, dict) else None
    if not isinstance(body, dict):
        raise EventRejected("'detail.eventBody' is missing or not an object")
    conversation_id = _id(body, "conversationId")
    at = _event_time(body.get("eventTime"), now or datetime.now(UTC))
    if topic == ACD_START:
        queue_id = _id(body, "queueId")
        skills = body.get("requestedRoutingSkillIds")
        skills = [] if skills is None else skills  # absent or null: none requested
        priority = body.get("routingPriority")
        if (
            not isinstance(skills, list)
            or len(skills) > MAX_REQUESTED_SKILLS
            or not all(is_genesys_id(s) for s in skills)
        ):
            raise EventRejected(
                "'detail.eventBody.requestedRoutingSkillIds' must be a list of at most "
                f"{MAX_REQUESTED_SKILLS} skill ids"
            )
        if priority is not None and (
            not isinstance(priority, int) or isinstance(priority, bool) or abs(priority) > PRIORITY_BOUND
        ):
            raise EventRejected(f"'detail.eventBody.routingPriority' must be an integer within +/-{PRIORITY_BOUND:,}")
        participant = body.get("participantId")
        # It becomes part of the ledger key (the queue leg): a Genesys id or nothing.
        participant_id = str(participant).lower() if is_genesys_id(participant) else None
        requested = tuple(s.lower() for s in skills)
        return ConversationEvent(
            topic, conversation_id, at, queue_id, requested, priority, participant_id=participant_id
        )
    attributes = body.get("attributes")
    if not isinstance(attributes, dict):
        raise EventRejected("'detail.eventBody.attributes' is missing from an attributes event")
    clean = {str(k): str(v) for k, v in attributes.items() if isinstance(v, str | int | float)}
    return ConversationEvent(topic, conversation_id, at, attributes=clean)


def _id(body: dict[str, Any], name: str) -> str:
    if body.get(name) in (None, ""):
        raise EventRejected(f"'detail.eventBody.{name}' is missing")
    try:
        # Lower case: Genesys writes its ids so, and the ledger key must be one spelling.
        return require_id(body.get(name), f"'detail.eventBody.{name}'").lower()
    except InvalidId as exc:
        raise EventRejected(str(exc)) from None


def _event_time(value: Any, now: datetime) -> datetime:
    """Epoch milliseconds, finite, and within the window an EventBridge delivery can have. Compared
    as given (int against float is exact in Python): a 400-digit integer never becomes a float."""
    if not isinstance(value, int | float) or isinstance(value, bool) or not _finite(value):
        raise EventRejected("'detail.eventBody.eventTime' must be epoch milliseconds")
    earliest = (now - MAX_EVENT_AGE).timestamp() * 1000
    latest = (now + MAX_EVENT_AHEAD).timestamp() * 1000
    if not earliest <= value <= latest:
        raise EventRejected(
            f"'detail.eventBody.eventTime' {_short(value)} is more than a day old or more than 5 minutes "
            "ahead of this function's clock; the poller handles whatever is still waiting"
        )
    return datetime.fromtimestamp(value / 1000, UTC)


def _finite(value: int | float) -> bool:
    return isinstance(value, int) or math.isfinite(value)


def _short(value: Any) -> str:
    shown = repr(value)
    return shown if len(shown) <= 80 else shown[:77] + "..."


def handle_event(
    event: ConversationEvent, prior: dict[str, Any] | None, matrix: Matrix, adapters: Adapters, now: datetime
) -> Outcome:
    """`prior` is the conversation's own entry (event mode's notes); the queue leg's entry is
    read here once the leg is known (acd.start names it; a waiting note remembers it)."""
    cid = event.conversation_id
    adapters = dataclasses.replace(adapters, always_claim=True)  # the poller and other containers may be on it too
    leg = event.participant_id if event.topic == ACD_START else (prior or {}).get("waiting_leg")
    if event.topic == ACD_START and not leg:
        leg = leg_key(None, event.queue_id, event.at)
    leg_entry = adapters.store.entry(cid, leg) if leg else None
    found = _discovered(event, prior, leg, leg_entry)
    if leg_entry and leg_entry.get("outcome") in FINAL_OUTCOMES:
        # Delivered twice, or the poller got there first: finish the email if owed, nothing else.
        return process_conversation(found, leg_entry, matrix, adapters, now)
    if event.topic == ACD_START:
        outcome = process_conversation(found, leg_entry, matrix, adapters, now)
        if outcome.outcome == "pending" and outcome.reason != BUSY:  # the intent event will finish it
            adapters.store.record(cid, WAITING, queue_id=event.queue_id, waiting_leg=leg)
        return outcome
    # An attributes event: worth a GET only if some rule, for some queue, could match them.
    if not _could_match(matrix, event.attributes, adapters.settings.intent_attribute):
        return Outcome(cid, "pending", final=False, reason="no rule matches these attributes (yet)")
    if leg:
        # The intent the caller was waiting for: read now, whatever the re-check schedule says.
        outcome = process_conversation(found, leg_entry, matrix, adapters, now, recheck_now=True)
        if outcome.outcome == "pending" and outcome.out_of_time:
            # No budget or time left to read it now: the next poll reads it, not its re-check
            # schedule (up to INTENT_RECHECK_SECONDS x 10 away).
            adapters.store.recheck_soon(cid, leg)
        return outcome
    # Queued already (its acd.start came first and is not noted yet) or not yet: read to know.
    return serve_live(found, leg_entry, matrix, adapters, now, too_old=False)


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
