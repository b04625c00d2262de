"""One conversation: match -> merge -> PATCH -> record -> notify.

A plain function over adapters, shared by the poller (and, later, event mode). Everything it
decides is written to the ledger, so running it twice for the same conversation never has a
second effect: a finished conversation costs no Genesys call, the PATCH sends the union of
what is there and what the rule adds (idempotent), and the email is claimed before it is sent.
"""

from __future__ import annotations

import dataclasses
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from skill_router.errors import OutOfTime
from skill_router.genesys.client import Discovered, GenesysClient, LiveConversation
from skill_router.genesys.errors import GenesysError
from skill_router.ids import is_genesys_id
from skill_router.matrix import Matrix, Rule
from skill_router.notify import Notifier
from skill_router.observability import logger
from skill_router.settings import LEDGER_TTL_SLACK_SECONDS, Settings
from skill_router.store import FINAL_OUTCOMES, StateStore, recipient_notified

CLAIM_GRACE_SECONDS = 1
BUSY = "another handler is working on this caller"
WAITING_FOR_INTENT = "waiting_for_intent"  # a leg queued without an intent yet: read again on a backoff
RECHECK_FIRST_SECONDS = 30
RECHECK_CEILING_FACTOR = 10


@dataclass
class Assigner:
    genesys: GenesysClient
    store: StateStore
    notifier: Notifier
    settings: Settings
    # Claim each caller before serving it. Event containers always do; the poller does in event
    # mode (EVENT_MODE, set by the template), as without events the lease makes it the only handler.
    always_claim: bool = False

    @property
    def claims(self) -> bool:
        return self.always_claim or self.settings.event_mode


@dataclass
class Outcome:
    conversation_id: str
    outcome: str  # ledger outcome, or "done" (finished earlier), "pending" (look again later)
    final: bool
    rule_id: str | None = None
    skills_before: tuple[str, ...] = ()
    skills_after: tuple[str, ...] = ()
    notified: bool = False
    reason: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


def process_conversation(
    found: Discovered,
    prior: dict[str, Any] | None,
    matrix: Matrix,
    deps: Assigner,
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
    leg = _Leg(cid, found.leg, found.queue_entered)
    if prior and prior.get("outcome") in FINAL_OUTCOMES:
        outcome = Outcome(cid, "done", final=True, rule_id=prior.get("rule_id"))
        if prior.get("notify_pending"):
            outcome.notified = _notify(leg, prior.get("notify_to") or [], prior, deps)
        stepped = _escalate(found, prior, matrix, deps, now) if run_ladder else None
        if stepped is not None:
            stepped.notified = stepped.notified or outcome.notified
            return stepped
        return outcome
    # Age counts from when the caller entered this queue, not from when they dialled.
    age = (now - found.waiting_since).total_seconds()
    too_old = age > deps.settings.max_pending_age_seconds

    # Discovery already tells us enough to spend no GET.
    if found.left_queue:
        return _record(deps, leg, "gone", reason="left the queue before a rule was applied")
    if not found.in_queue:
        if too_old:
            return _record(deps, leg, "not_queued", reason="never reached a queue within MAX_PENDING_AGE_SECONDS")
        return Outcome(cid, "pending", final=False, reason="not queued yet")
    if not _any_rule_can_change(matrix, found):
        return _record(deps, leg, "no_rule", queue_id=found.queue_id, reason="no rule can change this conversation")
    if (
        not recheck_now
        and prior
        and prior.get("outcome") == WAITING_FOR_INTENT
        and _recheck_not_due(float(prior.get("next_check_at") or 0), now, deps)
        and not too_old
    ):
        return Outcome(cid, "pending", final=False, reason="waiting for intent; re-checked on its schedule")
    return serve_live(found, prior, matrix, deps, now, too_old)


def serve_live(
    found: Discovered, prior: dict[str, Any] | None, matrix: Matrix, deps: Assigner, now: datetime, too_old: bool
) -> Outcome:
    """Claim the caller, read it as it is now (GET), match and PATCH: the one path by which poll
    and event mode change a caller, so both choose the same rule and overwrite nothing unread.
    Without a known leg (an attributes event), the GET tells the leg."""
    cid = found.conversation_id
    claim_seconds = int(deps.genesys.deadline.until_timeout()) + CLAIM_GRACE_SECONDS
    # One handler at a time reads and changes a caller: another poller, an event container, the
    # same event delivered twice. A handler whose `prior` predates another's finish still does no
    # harm: the GET shows the rule's skills and priority there (nothing to PATCH), and the final
    # outcome it would record over the other's is refused.
    if not deps.claims:
        return _serve_claimed(found, prior, matrix, deps, now, too_old)
    owner = uuid.uuid4().hex
    if not deps.store.claim_conversation(cid, owner, claim_seconds):
        return Outcome(cid, "pending", final=False, reason=BUSY)
    outcome: Outcome | None = None
    try:
        outcome = _serve_claimed(found, prior, matrix, deps, now, too_old)
    finally:
        # A final outcome needs no release: every later handler reads it and stops before claiming.
        if outcome is None or not outcome.final:
            deps.store.release_conversation(cid, owner)
    return outcome


def _serve_claimed(
    found: Discovered, prior: dict[str, Any] | None, matrix: Matrix, deps: Assigner, now: datetime, too_old: bool
) -> Outcome:
    cid = found.conversation_id
    live: LiveConversation | None = None
    if found.leg is None:
        try:
            live = deps.genesys.get_conversation(cid)
        except (GenesysError, OutOfTime) as exc:  # nothing known, nothing recorded: acd.start or the poll serves it
            return Outcome(cid, "pending", final=False, reason=str(exc))
        if live is None or not live.in_queue or not live.participant_id:
            return Outcome(cid, "pending", final=False, reason="not in a queue")
        found = dataclasses.replace(
            found, queue_id=live.queue_id, participant_id=live.participant_id, requested_skill_ids=live.skill_ids
        )
        prior = deps.store.entry(cid, found.leg)
        if prior and prior.get("outcome") in FINAL_OUTCOMES:
            return process_conversation(found, prior, matrix, deps, now)  # finished already
    leg = _Leg(cid, found.leg, found.queue_entered)
    try:
        if live is None:
            live = deps.genesys.get_conversation(cid)
        if live is None or not live.in_queue:
            why = "conversation no longer exists" if live is None else "left the queue"
            return _record(deps, leg, "gone", reason=why)
        if live.started is not None and (now - live.started).total_seconds() > _horizon(deps):
            reason = "older than LEDGER_TTL_DAYS allows: its ledger entry may have expired"
            return _record(deps, leg, "too_old", reason=reason)
        return _assign(live, found, leg, prior, matrix, deps, too_old, now)
    except GenesysError as exc:
        if exc.status == 429:
            # The token's budget (shared by every container), not this caller: like OutOfTime, it
            # costs none of the caller's MAX_ATTEMPTS; the next poll or event asks again (and the
            # poller reads its page again: `out_of_time`).
            return Outcome(cid, "pending", final=False, reason=str(exc), details={"out_of_time": True})
        return _failed(deps, leg, prior, exc)
    except OutOfTime as exc:  # the rate budget or the clock ran out before anything was changed
        return Outcome(cid, "pending", final=False, reason=str(exc), details={"out_of_time": True})


def _escalate(
    found: Discovered, prior: dict[str, Any], matrix: Matrix, deps: Assigner, now: datetime
) -> Outcome | None:
    """The rule's escalation steps due on this leg (ladder.py); None when it has no ladder to run."""
    from skill_router import ladder

    try:
        result: Outcome | None = ladder.escalate(found, prior, matrix, deps, now)
        return result
    except OutOfTime as exc:
        return Outcome(found.conversation_id, "pending", final=False, reason=str(exc))
    except GenesysError as exc:  # the claim expires and the steps are planned again
        logger.error(
            "escalation step failed; retried once its claim expires",
            extra={"conversation_id": found.conversation_id, "operation": exc.operation, "status": exc.status},
        )
        return Outcome(found.conversation_id, "done", final=True, reason=str(exc), details={"steps_left": True})


def _horizon(deps: Assigner) -> float:
    # DynamoDB's TTL deletes a ledger entry some time after `expires_at`, never before, and every
    # write pushes `expires_at` on: a caller younger than this still has the entry that says
    # "done" or "emailed", so no later event or poll acts on it again.
    return deps.store.ttl_seconds - LEDGER_TTL_SLACK_SECONDS


def _recheck_not_due(next_check_at: float, now: datetime, deps: Assigner) -> bool:
    """The re-check is not due yet. A schedule further ahead than the longest delay could put it
    was written by a container whose clock ran fast: it is due now, not in hours (the same rule as
    the store's `:absurd` expiries for leases and claims)."""
    longest = next_check_delay(RECHECK_CEILING_FACTOR + 8, deps.settings.intent_recheck_seconds) + 2
    return now.timestamp() < next_check_at <= now.timestamp() + longest


def next_check_delay(checks: int, first: int = RECHECK_FIRST_SECONDS) -> int:
    """Seconds until a caller still without an intent is read again, after `checks` reads: with
    the default 30 s, 30, 60, 120, 240, then every 300 s: 5 reads in the first 10 minutes."""
    return int(min(first * 2 ** max(checks - 1, 0), first * RECHECK_CEILING_FACTOR))


@dataclass(frozen=True)
class _Leg:
    """Where a decision is recorded: one conversation's queue leg."""

    conversation_id: str
    leg: str | None
    queue_entered: datetime | None = None


def _assign(
    live: LiveConversation,
    found: Discovered,
    leg: _Leg,
    prior: dict[str, Any] | None,
    matrix: Matrix,
    deps: Assigner,
    too_old: bool,
    now: datetime,
) -> Outcome:
    cid = live.conversation_id
    default_attribute = deps.settings.intent_attribute
    hit = matrix.match(live.attributes, default_attribute, live.queue_id)
    if hit is None:
        read = {rule.attribute or default_attribute for rule in matrix.rules}
        if any(live.attributes.get(name) for name in read):
            return _record(deps, leg, "no_match", matrix_version=matrix.version, queue_id=live.queue_id)
        if too_old:
            return _record(deps, leg, "no_intent", reason="no intent attribute within MAX_PENDING_AGE_SECONDS")
        # Seen before the flow or bot set the intent: read again later, on a backoff.
        checks = int((prior or {}).get("checks", 0)) + 1
        deps.store.record(
            cid,
            WAITING_FOR_INTENT,
            leg=leg.leg,
            queue_id=live.queue_id,
            queue_entered=leg.queue_entered,
            checks=checks,
            next_check_at=int(now.timestamp()) + next_check_delay(checks, deps.settings.intent_recheck_seconds),
        )
        return Outcome(cid, "pending", final=False, reason="waiting for intent")
    rule, value = hit
    keyword = rule.matching_keyword(value)
    if rule.escalate or rule.language_id is not None:
        # The rule and every step already due, in one PATCH (ladder.py).
        from skill_router import escalation, ladder

        return ladder.apply_plan(
            leg,
            rule,
            escalation.waited_seconds(found.waiting_since, now),
            escalation.Routing(live.skill_ids, live.priority, live.language_id),
            [],
            matrix,
            deps,
            now,
            include_rule=True,
            keyword=keyword,
            queue_id=live.queue_id,
        )
    return apply_rule(
        cid,
        rule,
        live.queue_id,
        live.skill_ids,
        live.priority,
        matrix,
        deps,
        keyword,
        leg=leg.leg,
        queue_entered=leg.queue_entered,
    )


def apply_rule(
    cid: str,
    rule: Rule,
    queue_id: str | None,
    before: tuple[str, ...],
    current_priority: int | None,
    matrix: Matrix,
    deps: Assigner,
    keyword: str | None = None,
    leg: str | None = None,
    queue_entered: datetime | None = None,
) -> Outcome:
    """Merge the rule's skills into `before` (the conversation's requested skills now), raise its
    priority if the rule says so, PATCH only what that changes, record, notify once."""
    where = _Leg(cid, leg, queue_entered)
    have = {s.lower() for s in before}
    after = before + tuple(s for s in rule.skill_ids if s.lower() not in have)
    priority = rule.routing_priority
    if priority is not None and current_priority is not None and current_priority >= priority:
        priority = None  # only ever raise a caller's priority
    # skillIds replaces the whole requirement set ([] clears it): sent only when it changes.
    skills_to_send = list(after) if after != before else None
    fields: dict[str, Any] = {
        "rule_id": rule.id,
        "matched_keyword": keyword,  # the matrix's keyword, never the caller's words
        "matrix_version": matrix.version,
        "queue_id": queue_id,
        "queue_entered": queue_entered,
        "skills_before": list(before),
        "priority_before": current_priority,
        "skills_after": list(after),
        "dry_run": deps.settings.dry_run or None,
    }
    if skills_to_send is None and priority is None:
        outcome = "unchanged"
    else:
        if not deps.settings.dry_run and not _patch(deps, where, skills_to_send, priority):
            return _record(deps, where, "gone", reason="left the queue before the PATCH")
        outcome = "applied"
        fields.update(skills_written=skills_to_send, priority_written=priority)
    notify_to = list(rule.notify) if rule.high_priority and deps.notifier.enabled else []
    if notify_to:
        fields.update(notify_pending=True, notify_to=notify_to)
    result = _record(deps, where, outcome, **fields)
    result.rule_id, result.skills_before, result.skills_after = rule.id, before, after
    logger.info(
        ("rule would apply (dry run)" if deps.settings.dry_run else "rule applied")
        if outcome == "applied"
        else "rule already satisfied",
        extra={
            "conversation_id": cid,
            "rule_id": rule.id,
            "skills_added": [s for s in after if s not in before],
            "priority": priority,
            "dry_run": deps.settings.dry_run,
        },
    )
    if notify_to and result.outcome != "done":  # "done": another handler finished it, and emails
        result.notified = _notify(where, notify_to, {"rule_id": rule.id, "skills_written": list(after)}, deps)
        result.details["email_owed"] = not result.notified
    return result


def _patch(
    deps: Assigner, where: _Leg, skill_ids: list[str] | None, priority: int | None, language_id: str | None = None
) -> bool:
    """The PATCH; False when the conversation left this queue leg. What Genesys answers for a
    conversation no longer in queue is undocumented (400, 408 or 409 are possible), so such an
    answer re-reads the conversation to tell "gone" from a real failure."""
    try:
        return deps.genesys.patch_routing(where.conversation_id, skill_ids, priority, language_id)
    except GenesysError as exc:
        if exc.status not in (400, 408, 409):
            raise
        live = deps.genesys.get_conversation(where.conversation_id)
        # A leg named "queue@time" (an event without participantId) says nothing about the GET's
        # participant: only two participant ids are compared.
        moved = (
            is_genesys_id(where.leg)
            and live is not None
            and live.participant_id is not None
            and live.participant_id.lower() != str(where.leg).lower()
        )
        if live is None or not live.in_queue or moved:
            logger.info(
                "PATCH refused because the caller left the queue",
                extra={"conversation_id": where.conversation_id, "status": exc.status},
            )
            return False
        raise


def _any_rule_can_change(matrix: Matrix, found: Discovered) -> bool:
    """False only when every rule for this queue is already satisfied by the requested skills."""
    have = {s.lower() for s in found.requested_skill_ids}
    for rule in matrix.rules:
        if rule.queues and (found.queue_id or "").lower() not in rule.queues:
            continue
        if rule.routing_priority is not None or rule.high_priority or not set(rule.skill_ids) <= have:
            return True
        if rule.escalate or rule.language_id is not None:  # steps to come while the caller waits
            return True
    return False


def _notify(where: _Leg, recipients: list[str], entry: dict[str, Any], deps: Assigner) -> bool:
    if not recipients or not deps.notifier.enabled:
        return False
    cid, rule_id = where.conversation_id, entry.get("rule_id")
    # The claim lasts until this invocation must have ended (its timeout), so a run killed between
    # claim and send leaves the email to the next run a minute later, not to nobody.
    claim_seconds = int(deps.genesys.deadline.until_timeout()) + CLAIM_GRACE_SECONDS
    subject = f"skill-router: high-priority rule '{rule_id}' matched conversation {cid}"
    text = (
        f"A caller matched the high-priority rule '{rule_id}'.\n"
        f"Conversation: {cid}\n"
        f"Requested skills now: {', '.join(entry.get('skills_written') or []) or 'unchanged'}\n"
        "This email is sent once per conversation and rule."
    )
    if not deps.notifier.one_recipient_per_send:
        if _send_claimed(where, rule_id, None, recipients, subject, text, claim_seconds, deps):
            return True
        _settle_if_sent(where, rule_id, deps, lambda email: bool(email.get("notified_at")))
        return False
    # A channel that sends one recipient per call is claimed per recipient: a failure or a crash
    # after the first send repeats nobody already sent.
    for r in recipients:
        _send_claimed(where, rule_id, r, [r], subject, text, claim_seconds, deps)
    if _settle_if_sent(where, rule_id, deps, lambda email: all(recipient_notified(email, r) for r in recipients)):
        _finish(deps, where, rule_id, True, None)
        return True  # notified only once every recipient is out (the poller then stops looking)
    return False


def _settle_if_sent(where: _Leg, rule_id: str | None, deps: Assigner, done: Any) -> bool:
    """True when the email for this conversation and rule is out (sent by any run, for any leg)."""
    try:
        email = deps.store.notification(where.conversation_id, rule_id) or {}
        if email.get("notified_at"):  # sent for an earlier leg, or by another run: this leg owes nothing
            deps.store.settle_notification(where.conversation_id, where.leg, None)
            return False
    except (ClientError, BotoCoreError):
        return False
    return bool(done(email))


def _send_claimed(
    where: _Leg,
    rule_id: str | None,
    recipient: str | None,
    to: list[str],
    subject: str,
    text: str,
    claim_seconds: int,
    deps: Assigner,
) -> bool:
    cid = where.conversation_id
    try:
        if not deps.store.claim_notification(cid, rule_id, claim_seconds, recipient):
            return False
    except (ClientError, BotoCoreError) as exc:  # DynamoDB refused the claim: the email waits, it is not lost
        logger.warning(
            "email claim not written; the email is tried on the next poll",
            extra={"conversation_id": cid, "reason": type(exc).__name__},
        )
        return False
    try:
        deps.notifier.send(to, subject, text)
    except Exception as exc:
        _finish(deps, where, rule_id, False, recipient)
        logger.error(
            "supervisor email failed; it is retried on the next poll",
            extra={"conversation_id": cid, "reason": f"{type(exc).__name__}: {exc}"[:300]},
        )
        return False
    _finish(deps, where, rule_id, True, recipient)
    logger.info("supervisor notified", extra={"conversation_id": cid, "rule_id": rule_id, "recipients": len(to)})
    return True


def _finish(deps: Assigner, where: _Leg, rule_id: str | None, sent: bool, recipient: str | None) -> None:
    try:
        deps.store.finish_notification(where.conversation_id, rule_id, sent=sent, leg=where.leg, recipient=recipient)
    except (ClientError, BotoCoreError) as exc:
        # Sent, but the mark could not be written even after retrying: the claim still holds it
        # until this invocation's end; after that the next run may send it again (README).
        logger.error(
            "email sent but not recorded" if sent else "email claim not freed; it lapses with this invocation",
            extra={"conversation_id": where.conversation_id, "reason": type(exc).__name__},
        )


def _failed(deps: Assigner, where: _Leg, prior: dict[str, Any] | None, exc: GenesysError) -> Outcome:
    cid = where.conversation_id
    attempts = int((prior or {}).get("attempts", 0)) + 1
    final = not exc.transient or attempts >= deps.settings.max_attempts
    hint = _hint(exc)
    logger.error(
        "conversation failed" + ("" if final else "; retried on the next poll"),
        extra={
            "conversation_id": cid,
            "operation": exc.operation,
            "status": exc.status,
            "attempts": attempts,
            "hint": hint,
        },
    )
    deps.store.record(
        cid,
        "failed" if final else "retry",
        count_attempt=True,
        leg=where.leg,
        queue_entered=where.queue_entered,
        reason=f"{exc}"[:500],
        hint=hint,
    )
    return Outcome(cid, "failed" if final else "retry", final=final, reason=str(exc))


def _hint(exc: GenesysError) -> str | None:
    return {
        400: "Genesys rejected the request: check the rule's skill ids exist in this org",
        401: "the token is rejected even after a refresh: check the OAuth client is active in this region",
        403: "the OAuth client's role lacks a permission: see README 'Genesys OAuth client'",
        404: "not found",
        429: "rate limited: lower the cadence or raise the org's limit",
    }.get(exc.status)


def _record(deps: Assigner, where: _Leg, outcome: str, **fields: Any) -> Outcome:
    fields.setdefault("queue_entered", where.queue_entered)
    if not deps.store.record(where.conversation_id, outcome, leg=where.leg, **fields):
        # Another handler finished this leg first; its outcome stands.
        return Outcome(where.conversation_id, "done", final=True, reason="finished by another handler")
    return Outcome(where.conversation_id, outcome, final=True, reason=fields.get("reason"))
