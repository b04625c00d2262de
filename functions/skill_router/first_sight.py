"""A caller's queue leg as a poll or an event sees it: the decision table, and first sight.

`process_conversation` decides what a sighting needs from what is known without a Genesys call
(the leg's ledger entry and what discovery saw): nothing (finished; owed emails and due
escalation steps aside), a final verdict (gone, never queued, no rule can change it), a later
look (an intent re-checked on its schedule), or a first sight: claim the caller, read it (GET),
match a rule and plan the rule with every escalation step already due (escalation.plan), and
hand the plan to `leg.carry_out`, the one path that PATCHes, records and emails.

Running it twice for the same leg never has a second effect: a finished leg costs no Genesys
call, the PATCH merges with what is there, an email is claimed before it is sent.
"""

from __future__ import annotations

import dataclasses
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from skill_router.emails import owed, send_all
from skill_router.errors import OutOfTime
from skill_router.escalation import Plan, Routing, plan, waited_seconds, with_ledger_expression
from skill_router.genesys.client import Discovered, LiveConversation
from skill_router.genesys.errors import GenesysError
from skill_router.ladder import escalate
from skill_router.leg import Adapters, Leg, Outcome, carry_out, failed, record
from skill_router.matrix import Matrix, Rule
from skill_router.observability import logger
from skill_router.settings import LEDGER_TTL_SLACK_SECONDS, Settings
from skill_router.store import FINAL_OUTCOMES, emails_owed, format_time

BUSY = "another handler is working on this caller"
WAITING_FOR_INTENT = "waiting_for_intent"  # a leg queued without an intent yet: read again on a backoff
WAITING = "waiting"  # event mode's note on the conversation: queued on `waiting_leg`, no intent yet
RECHECK_FIRST_SECONDS = 30
RECHECK_CEILING_FACTOR = 10


def process_conversation(
    found: Discovered,
    prior: dict[str, Any] | None,
    matrix: Matrix,
    adapters: Adapters,
    now: datetime,
    recheck_now: bool = False,
    run_ladder: bool = False,
) -> Outcome:
    """One queue leg of a conversation (`found.leg`). A transfer to another queue is a new leg,
    with no ledger entry yet: the rules are evaluated again for the new queue. With
    `recheck_now` (the attributes event of event mode) a caller waiting for an intent is read
    at once instead of on its re-check schedule. With `run_ladder` (the poller: no event fires at
    a step's threshold) a leg whose rule was applied gets the rule's escalation steps now due."""
    cid = found.conversation_id
    leg = Leg(cid, found.leg, found.queue_entered)
    if prior and prior.get("outcome") in FINAL_OUTCOMES:
        return _finished(found, prior, matrix, adapters, now, run_ladder)
    # Age counts from when the caller entered this queue, not from when they dialled.
    too_old = (now - found.waiting_since).total_seconds() > adapters.settings.max_pending_age_seconds
    # Discovery already tells us enough to spend no GET.
    if found.left_queue:
        return record(adapters, leg, "gone", reason="left the queue before a rule was applied")
    if not found.in_queue:
        if too_old:
            return record(adapters, leg, "not_queued", reason="never reached a queue within MAX_PENDING_AGE_SECONDS")
        return Outcome(cid, "pending", final=False, reason="not queued yet")
    if not _any_rule_can_change(matrix, found):
        return record(adapters, leg, "no_rule", queue_id=found.queue_id, reason="no rule can change this conversation")
    if (
        not recheck_now
        and prior
        and prior.get("outcome") == WAITING_FOR_INTENT
        and _recheck_not_due(float(prior.get("next_check_at") or 0), now, adapters)
        and not too_old
    ):
        return Outcome(cid, "pending", final=False, reason="waiting for intent; re-checked on its schedule")
    return serve_live(found, prior, matrix, adapters, now, too_old)


def _finished(
    found: Discovered, prior: dict[str, Any], matrix: Matrix, adapters: Adapters, now: datetime, run_ladder: bool
) -> Outcome:
    """A leg decided earlier: the emails it still owes, then (the poller) the steps now due."""
    cid = found.conversation_id
    outcome = Outcome(cid, "done", final=True, rule_id=prior.get("rule_id"))
    if emails_owed(prior):
        delivery = send_all(
            adapters.store, adapters.notifier, adapters.claim_seconds(), cid, found.leg, owed(cid, prior, matrix)
        )
        outcome.notified, outcome.email_owed = delivery.sent > 0, delivery.owed
    if not run_ladder:
        return outcome
    try:
        stepped = escalate(found, prior, matrix, adapters, now)
    except OutOfTime as exc:
        return Outcome(cid, "pending", final=False, reason=str(exc))
    except GenesysError as exc:  # a step's read, or a guard repair's GET or PATCH: the next poll plans it again
        logger.error(
            "escalation step or staffing guard repair failed; retried by the next poll",
            extra={"conversation_id": cid, "operation": exc.operation, "status": exc.status},
        )
        return Outcome(cid, "done", final=True, reason=str(exc), stale=True)
    if stepped is None:
        return outcome
    stepped.notified = stepped.notified or outcome.notified
    stepped.email_owed = stepped.email_owed or outcome.email_owed
    return stepped


def serve_live(
    found: Discovered, prior: dict[str, Any] | None, matrix: Matrix, adapters: Adapters, now: datetime, too_old: bool
) -> Outcome:
    """Claim the caller, read it as it is now (GET), match and PATCH: the one path by which poll
    and event mode change a caller, so both choose the same rule and overwrite nothing unread.
    Without a known leg (an attributes event), the GET tells the leg."""
    cid = found.conversation_id
    # One handler at a time reads and changes a caller: another poller, an event container, the
    # same event delivered twice. A handler whose `prior` predates another's finish still does no
    # harm: the GET shows the rule's skills and priority there (nothing to PATCH), and the final
    # outcome it would record over the other's is refused.
    if not adapters.claims:
        return _serve_claimed(found, prior, matrix, adapters, now, too_old)
    owner = uuid.uuid4().hex
    if not adapters.store.claim_caller(cid, owner, adapters.claim_seconds()):
        return Outcome(cid, "pending", final=False, reason=BUSY)
    outcome: Outcome | None = None
    try:
        outcome = _serve_claimed(found, prior, matrix, adapters, now, too_old)
    finally:
        # A final outcome needs no release: every later handler reads it and stops before claiming.
        if outcome is None or not outcome.final:
            adapters.store.release_caller(cid, owner)
    return outcome


def _serve_claimed(
    found: Discovered, prior: dict[str, Any] | None, matrix: Matrix, adapters: Adapters, now: datetime, too_old: bool
) -> Outcome:
    cid = found.conversation_id
    live: LiveConversation | None = None
    if found.leg is None:
        try:
            live = adapters.genesys.get_conversation(cid)
        except (GenesysError, OutOfTime) as exc:  # nothing known, nothing recorded: acd.start or the poll serves it
            return Outcome(cid, "pending", final=False, reason=str(exc))
        if live is None or not live.in_queue or not live.participant_id:
            return Outcome(cid, "pending", final=False, reason="not in a queue")
        found = dataclasses.replace(
            found, queue_id=live.queue_id, participant_id=live.participant_id, requested_skill_ids=live.skill_ids
        )
        prior = adapters.store.entry(cid, found.leg)
        if prior and prior.get("outcome") in FINAL_OUTCOMES:
            return process_conversation(found, prior, matrix, adapters, now)  # finished already
    leg = Leg(cid, found.leg, found.queue_entered)
    try:
        if live is None:
            live = adapters.genesys.get_conversation(cid)
            current = _current_leg(found, live, now)
            if current is not None:
                # The event spoke of another leg (a late acd.start for the queue the caller was
                # transferred out of) or named none: act on the leg the read shows, by its ACD
                # participant, with its own clock; nothing is recorded on the other.
                found, prior = current, adapters.store.entry(cid, current.leg)
                if prior and prior.get("outcome") in FINAL_OUTCOMES:
                    return process_conversation(found, prior, matrix, adapters, now)  # finished already
                leg = Leg(cid, found.leg, found.queue_entered)
        # DynamoDB's TTL deletes a ledger entry some time after `expires_at`, never before, and
        # every write pushes `expires_at` on: a caller younger than this still has the entry that
        # says "done" or "emailed", so no later event or poll acts on it again.
        horizon = adapters.store.ttl_seconds - LEDGER_TTL_SLACK_SECONDS
        carried = None
        if live is not None and live.skill_expression and live.earlier_legs:
            # Worth one ledger read (BatchGetItem), and only then: an expression on a leg after a
            # transfer may be the one skill-router left on an earlier leg.
            carried = carried_from(live, adapters.store.ledger((cid, p) for p in live.earlier_legs))
        decision = decide(live, found, prior, matrix, adapters.settings, horizon, now, too_old, carried)
        if isinstance(decision, Assignment):
            return carry_out(
                adapters,
                leg,
                decision.rule,
                decision.plan,
                matrix,
                now,
                keyword=decision.keyword,
                queue_id=decision.queue_id,
                guarded=adapters.guard(decision.rule, decision.plan, decision.queue_id),
            )
        if decision.outcome == WAITING_FOR_INTENT:
            adapters.store.record(
                cid, WAITING_FOR_INTENT, leg=leg.leg, queue_entered=leg.queue_entered, **decision.fields
            )
            if adapters.settings.event_mode and leg.leg and decision.fields.get("checks") == 1:
                # The intent's attributes event names no leg: this note tells it which leg to read
                # (or, with no budget left, to have the next poll read: events.py).
                adapters.store.record(cid, WAITING, queue_id=found.queue_id, waiting_leg=leg.leg)
            return Outcome(cid, "pending", final=False, reason="waiting for intent")
        # When the function decided, on its clock (the report measures the baseline from it).
        return record(adapters, leg, decision.outcome, decided_at=format_time(now), **decision.fields)
    except GenesysError as exc:
        if exc.status == 429:
            # The token's budget (shared by every container), not this caller: like OutOfTime, it
            # costs none of the caller's MAX_ATTEMPTS; the next poll or event asks again (and the
            # poller reads its page again).
            return Outcome(cid, "pending", final=False, reason=str(exc), out_of_time=True)
        return failed(adapters, leg, prior, exc)
    except OutOfTime as exc:  # the rate budget or the clock ran out before anything was changed
        return Outcome(cid, "pending", final=False, reason=str(exc), out_of_time=True)


@dataclass(frozen=True)
class Assignment:
    """A rule matched: its plan (the rule and every step already due) goes in one PATCH."""

    rule: Rule
    keyword: str | None
    queue_id: str | None
    plan: Plan


@dataclass(frozen=True)
class Verdict:
    """No rule to apply: what the ledger records for the leg."""

    outcome: str
    fields: dict[str, Any]


def decide(
    live: LiveConversation | None,
    found: Discovered,
    prior: dict[str, Any] | None,
    matrix: Matrix,
    settings: Settings,
    horizon: float,
    now: datetime,
    too_old: bool,
    carried: dict[str, Any] | None = None,
) -> Assignment | Verdict:
    """First sight of a leg: a pure function of the caller as read now (`live`), its ledger entry,
    the matrix and the time. `horizon`: the oldest caller the ledger still remembers (seconds).
    `carried`: the ledger entry of an earlier leg whose expression the transfer carried over
    (carried_from): skill-router's part of it is not someone else's."""
    if live is None or not live.in_queue:
        return Verdict("gone", {"reason": "conversation no longer exists" if live is None else "left the queue"})
    if live.started is not None and (now - live.started).total_seconds() > horizon:
        return Verdict("too_old", {"reason": "older than LEDGER_TTL_DAYS allows: its ledger entry may have expired"})
    hit = matrix.match(live.attributes, settings.intent_attribute, live.queue_id)
    if hit is None:
        read = {rule.attribute or settings.intent_attribute for rule in matrix.rules}
        if any(live.attributes.get(name) for name in read):
            return Verdict("no_match", {"matrix_version": matrix.version, "queue_id": live.queue_id})
        if too_old:
            return Verdict("no_intent", {"reason": "no intent attribute within MAX_PENDING_AGE_SECONDS"})
        # Seen before the flow or bot set the intent: read again later, on a backoff.
        checks = int((prior or {}).get("checks", 0)) + 1
        next_check_at = int(now.timestamp()) + next_check_delay(checks, settings.intent_recheck_seconds)
        return Verdict(
            WAITING_FOR_INTENT, {"queue_id": live.queue_id, "checks": checks, "next_check_at": next_check_at}
        )
    rule, value = hit
    if rule.broken:
        # First match still wins (a caller of this rule must not fall to a rule below meant for
        # others), but the rule names what Genesys no longer has: the caller is left as it is.
        return Verdict(
            "failed",
            {
                "rule_id": rule.id,
                "matrix_version": matrix.version,
                "queue_id": live.queue_id,
                "reason": f"rule '{rule.id}' cannot be applied: " + "; ".join(rule.broken)[:400],
                "hint": "a name in the rule no longer resolves in Genesys: fix the matrix and upload it again",
            },
        )
    chosen = plan(
        rule,
        waited=waited_seconds(found.waiting_since, now),
        current=_first_routing(live, carried),
        include_rule=True,
        no_expression=(live.queue_id or "").lower() in settings.no_expression_queue_ids,
    )
    return Assignment(rule, rule.matching_keyword(value), live.queue_id, chosen)


def carried_from(live: LiveConversation, earlier: dict[Any, dict[str, Any]]) -> dict[str, Any] | None:
    """The earlier leg's entry whose routing, as skill-router left it, is the expression this leg
    shows: Genesys kept the conversation's expression across the transfer, so its `theirs` is that
    leg's `expression_before`, and the rest is skill-router's own (never someone else's to shadow
    or compose with). None: the expression is not one skill-router left."""
    for entry in earlier.values():
        left = with_ledger_expression(Routing(), entry)
        if left.requirement is not None and left.expression == live.skill_expression:
            return entry
    return None


def _first_routing(live: LiveConversation, carried: dict[str, Any] | None) -> Routing:
    if carried is None:
        return Routing(live.skill_ids, live.priority, live.language_id, theirs=live.skill_expression)
    return with_ledger_expression(Routing(live.skill_ids, live.priority, live.language_id), carried)


def _current_leg(found: Discovered, live: LiveConversation | None, now: datetime) -> Discovered | None:
    """The leg the conversation read shows, when it is not the one `found` names (None: it is,
    or the read shows no queue leg). Genesys does not document which participant acd.start's
    `participantId` names, so only the read's ACD participant keys a leg."""
    if live is None or not live.in_queue or not live.participant_id:
        return None
    if str(found.leg or "").lower() == live.participant_id.lower():
        return None
    return dataclasses.replace(
        found,
        queue_id=live.queue_id,
        participant_id=live.participant_id,
        requested_skill_ids=live.skill_ids,
        # Without the leg's start in the read, its wait counts from now: a step is late, never early.
        queue_entered=live.queue_entered or now,
    )


def _recheck_not_due(next_check_at: float, now: datetime, adapters: Adapters) -> bool:
    """The re-check is not due yet. A schedule further ahead than the longest delay could put it
    was written by a container whose clock ran fast: it is due now, not in hours (the same rule as
    the absurd expiry of a claim)."""
    longest = next_check_delay(RECHECK_CEILING_FACTOR + 8, adapters.settings.intent_recheck_seconds) + 2
    return now.timestamp() < next_check_at <= now.timestamp() + longest


def next_check_delay(checks: int, first: int = RECHECK_FIRST_SECONDS) -> int:
    """Seconds until a caller still without an intent is read again, after `checks` reads: with
    the default 30 s, 30, 60, 120, 240, then every 300 s: 5 reads in the first 10 minutes."""
    return int(min(first * 2 ** max(checks - 1, 0), first * RECHECK_CEILING_FACTOR))


def _any_rule_can_change(matrix: Matrix, found: Discovered) -> bool:
    """False only when every rule for this queue is already satisfied by the requested skills."""
    have = {s.lower() for s in found.requested_skill_ids}
    for rule in matrix.rules:
        if rule.queues and (found.queue_id or "").lower() not in rule.queues:
            continue
        if rule.broken:  # its callers are recorded failed (decide), not passed over
            return True
        if rule.routing_priority is not None or rule.high_priority or not set(rule.skill_ids) <= have:
            return True
        if rule.escalate or rule.language_id is not None:  # steps to come while the caller waits
            return True
        if rule.requirement is not None:  # written as the skill expression (or recorded shadowed)
            return True
    return False
