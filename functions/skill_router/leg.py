"""One queue leg of a caller, and every effect on it: PATCH-or-gone, the ledger write, the emails.

A leg is where a decision is recorded (`conv#<id>#leg#<acd participant>`; a transfer to another
queue is a new leg). Decisions are made elsewhere (first_sight.py, ladder.py, escalation.py),
as pure functions of what was read; this module carries one out, in the order that keeps the
promises: claim the steps, PATCH only what changes, record (the outcome, the routing left, the
emails owed) and then send each email once (emails.py).
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from skill_router.emails import AWS_ERRORS, Email, rule_email, send_all, step_email
from skill_router.errors import OutOfTime
from skill_router.escalation import Plan, Routing, step_log, with_ledger_expression
from skill_router.genesys.client import GenesysClient, LiveConversation
from skill_router.genesys.errors import GenesysError
from skill_router.guard import Guarded, Repair, guard_plan
from skill_router.ids import is_genesys_id
from skill_router.matrix import Matrix, Rule
from skill_router.notify import Notifier
from skill_router.observability import logger
from skill_router.settings import Settings
from skill_router.staffing import Staffing, StaffingCache
from skill_router.store import StateStore, format_time

CLAIM_GRACE_SECONDS = 1


@dataclass
class Adapters:
    """What a leg's effects go through. Event containers always claim a caller before serving
    it; the poller does in event mode (EVENT_MODE), as without events the lease makes it the
    only handler."""

    genesys: GenesysClient
    store: StateStore
    notifier: Notifier
    settings: Settings
    always_claim: bool = False
    # Who can serve a queue now (staffing.py): None when STAFFING_GUARD is off; its get() answers
    # None when staffing cannot be known, and the guard is then off for that caller (guard.py).
    staffing: StaffingCache | None = None

    @property
    def claims(self) -> bool:
        return self.always_claim or self.settings.event_mode

    @property
    def guard_on(self) -> bool:
        """The staffing guard runs: a staffing source, and STAFFING_GUARD is not off."""
        return self.staffing is not None and self.settings.staffing_guard != "off"

    @property
    def relax_seconds(self) -> float:
        """UNSTAFFED_RELAX_SECONDS: how long nobody must serve a requirement before it is relaxed."""
        return float(self.settings.unstaffed_relax_seconds)

    def staffing_of(self, queue_id: str | None) -> Staffing | None:
        """The queue's staffing, or None when it is not known (the guard is then off for the caller)."""
        if not self.guard_on or self.staffing is None or not queue_id:
            return None
        return self.staffing.get(queue_id)

    def guard(self, rule: Rule, plan: Plan, queue_id: str | None, applied: tuple[int, ...] = ()) -> Guarded:
        """The plan as the staffing guard leaves it; the queue's staffing is read only when the plan
        adds a skill or sets a language."""
        if not self.guard_on:
            return Guarded(plan, None)
        probe = guard_plan(rule, plan, None, applied=applied)
        if probe.decision is None:  # nothing to check: no staffing read
            return probe
        return guard_plan(rule, plan, self.staffing_of(queue_id), applied=applied)

    def claim_seconds(self) -> float:
        """A claim taken now lasts until this invocation must have ended (its timeout): a run
        killed while holding it leaves the work to the next run, not to nobody."""
        return int(self.genesys.deadline.until_timeout()) + CLAIM_GRACE_SECONDS


@dataclass(frozen=True)
class Leg:
    conversation_id: str
    leg: str | None
    queue_entered: datetime | None = None


@dataclass
class Outcome:
    conversation_id: str
    outcome: str  # a ledger outcome, or "done" (finished earlier), "pending" (look again later)
    final: bool
    rule_id: str | None = None
    reason: str | None = None
    notified: bool = False  # this run sent an email for the leg
    steps: int = 0  # escalation steps applied by this run
    email_owed: bool = False  # an email is still owed: the poller reads the leg's entry again
    withheld: int = 0  # parts of a requirement the staffing guard withheld (nobody on queue has them)
    withheld_applied: int = 0  # withheld parts applied by this run (someone with them is on queue now)
    relaxed: int = 0  # parts skill-router added that this run removed (nobody could serve them)
    out_of_time: bool = False  # the clock or the rate budget ran out: the poller reads the page again
    retry_page: bool = False  # an AWS call failed for this caller: the poller reads the page again
    stale: bool = False  # another run moved this leg's ladder on: a remembered entry is out of date
    entry: dict[str, Any] | None = None  # the leg's entry as this run left it (the poller remembers it)


def record(adapters: Adapters, leg: Leg, outcome: str, **fields: Any) -> Outcome:
    """A final outcome for the leg; "done" when another handler's stands already."""
    fields.setdefault("queue_entered", leg.queue_entered)
    if not adapters.store.record(leg.conversation_id, outcome, leg=leg.leg, **fields):
        return Outcome(leg.conversation_id, "done", final=True, reason="finished by another handler")
    return Outcome(leg.conversation_id, outcome, final=True, reason=fields.get("reason"))


def patch_or_gone(
    adapters: Adapters,
    leg: Leg,
    skill_ids: list[str] | None,
    priority: int | None,
    language_id: str | None,
    skill_expression: str | None = None,
) -> bool:
    """The PATCH; False when the conversation left this queue leg. What Genesys answers for a
    conversation no longer in queue is undocumented (400, 408 or 409 are possible), so such an
    answer re-reads the conversation to tell "gone" from a real failure."""
    try:
        if skill_expression is None:
            return adapters.genesys.patch_routing(leg.conversation_id, skill_ids, priority, language_id)
        return adapters.genesys.patch_routing(
            leg.conversation_id, skill_ids, priority, language_id, skill_expression=skill_expression
        )
    except GenesysError as exc:
        if exc.status not in (400, 408, 409):
            raise
        live = adapters.genesys.get_conversation(leg.conversation_id)
        # A leg named "queue@time" (an event without participantId) says nothing about the GET's
        # participant: only two participant ids are compared.
        moved = (
            is_genesys_id(leg.leg)
            and live is not None
            and live.participant_id is not None
            and live.participant_id.lower() != str(leg.leg).lower()
        )
        if live is None or not live.in_queue or moved:
            logger.info(
                "PATCH refused because the caller left the queue",
                extra={"conversation_id": leg.conversation_id, "status": exc.status},
            )
            return False
        raise


def carry_out(
    adapters: Adapters,
    leg: Leg,
    rule: Rule,
    plan: Plan,
    matrix: Matrix,
    now: datetime,
    *,
    prior: dict[str, Any] | None = None,
    keyword: str | None = None,
    queue_id: str | None = None,
    guarded: Guarded | None = None,
) -> Outcome:
    """The one path by which a plan changes a caller: the rule (a first sighting: `plan.rule_included`)
    and every due step in one PATCH, claimed, recorded, emailed. `guarded`: the staffing guard's
    verdict on the plan (its plan is the one sent; guard.py)."""
    if guarded is not None:
        plan = guarded.plan
    cid, dry = leg.conversation_id, adapters.settings.dry_run
    store = adapters.store
    owner = uuid.uuid4().hex
    mark, claim_seconds = (plan.due[-1].after if plan.due else 0), adapters.claim_seconds()
    if plan.due and not store.claim_steps(cid, leg.leg, mark, owner, claim_seconds, plan.applied_after):
        logger.info("another run applies these escalation steps", extra={"conversation_id": cid, "rule_id": rule.id})
        return Outcome(cid, "done", final=True, rule_id=rule.id, stale=True)
    change = plan.change
    if change is not None and not dry:
        skills = list(change.skill_ids) if change.skill_ids is not None else None
        try:
            landed = patch_or_gone(adapters, leg, skills, change.priority, change.language_id, change.skill_expression)
        except (GenesysError, OutOfTime) as exc:
            if not plan.due:
                raise
            return _steps_not_applied(adapters, leg, rule, plan, owner, exc)
        if not landed:
            if plan.rule_included:
                return record(adapters, leg, "gone", reason="left the queue before the PATCH")
            store.record_steps(cid, leg.leg, [], left_queue=True)
            return Outcome(cid, "done", final=True, rule_id=rule.id, reason="left the queue before the step")
    emails = _emails(cid, rule, plan) if adapters.notifier.enabled else []
    log = _guarded_log(step_log(rule, plan, format_time(now)), guarded)
    fields: dict[str, Any] = {
        "skills_after": list(plan.after.skill_ids),
        "priority_after": plan.after.priority,
        "language_after": plan.after.language_id or "",
        "steps_applied": [*((prior or {}).get("steps_applied") or []), *plan.applied_after],
        **(guarded.fields(prior) if guarded is not None else {}),
    }
    if plan.before.expression or plan.after.expression:
        fields["requirement_after"] = plan.after.requirement or ""
    if change is not None and change.skill_expression is not None:
        fields["expression_written"] = change.skill_expression
    if plan.expression_unsupported:  # NO_EXPRESSION_QUEUES: the requirement went in as skills and language
        fields["expression_unsupported"] = True
    outcome = "done"
    if plan.rule_included:
        outcome = "applied" if change is not None else "unchanged"
        if plan.shadow_reason is not None:
            # Someone else's expression takes priority over skills and the rule may not touch it,
            # or the expression would be longer than Genesys takes: the requirement is not written.
            outcome = "shadowed"
            fields["reason"] = plan.shadow_reason
        if plan.before.theirs:
            fields["expression_before"] = plan.before.theirs
        fields.update(
            rule_id=rule.id,
            matched_keyword=keyword,  # the matrix's keyword, never the caller's words
            matrix_version=matrix.version,
            queue_id=queue_id,
            queue_entered=leg.queue_entered,
            skills_before=list(plan.before.skill_ids),
            priority_before=plan.before.priority,
            language_before=plan.before.language_id,
            dry_run=dry or None,
            emails_owed={e.key for e in emails},
            **_decided(plan, log, now),
        )
        if change is not None:
            fields.update(
                skills_written=list(change.skill_ids) if change.skill_ids is not None else None,
                priority_written=change.priority,
                language_written=change.language_id,
            )
        if not store.record(cid, outcome, leg=leg.leg, **fields):
            # Another handler finished this leg first: its outcome (and its emails) stand.
            return Outcome(cid, "done", final=True, rule_id=rule.id, reason="finished by another handler")
        if log:
            store.record_steps(cid, leg.leg, log)
    else:
        if (plan.before.theirs or "") != ((prior or {}).get("expression_before") or ""):
            # The step read someone else's expression set since our last write (ladder.escalate).
            fields["expression_before"] = plan.before.theirs or ""
        store.record_steps(cid, leg.leg, log, owed=[e.key for e in emails], **fields)
    _log(cid, rule, plan, dry, guarded)
    entry = {**(prior or {}), **{k: v for k, v in fields.items() if v is not None}}
    for name in ("step_owner", "step_expires", "step_claim_expires", "emails_owed"):
        entry.pop(name, None)
    if plan.rule_included:
        entry["outcome"] = outcome
    delivery = send_all(store, adapters.notifier, adapters.claim_seconds(), cid, leg.leg, emails)
    return Outcome(
        cid,
        outcome,
        final=True,
        rule_id=rule.id,
        notified=delivery.sent > 0,
        steps=len(plan.due),
        email_owed=delivery.owed,
        entry=entry,
        withheld=guarded.parts_withheld if guarded is not None else 0,
    )


def _guarded_log(log: list[dict[str, Any]], guarded: Guarded | None) -> list[dict[str, Any]]:
    """Each step's audit record as the guard left it: its decision, the parts it withheld (not in
    the routing sent) and, for a step jumped over (next_step), `skipped`."""
    if guarded is None or guarded.decision is None or not log:
        return log
    out_skills = {s.lower() for s in guarded.skills_withheld}
    out = []
    for record_ in log:
        record_ = dict(record_)
        record_["guard"] = guarded.decision
        for name in ("skills_before", "skills_after"):
            record_[name] = [s for s in record_[name] if s.lower() not in out_skills]
        if guarded.language_withheld:
            for name in ("language_before", "language_after"):
                if str(record_[name]).lower() == guarded.language_withheld.lower():
                    record_[name] = guarded.plan.before.language_id or ""
        if record_["after"] in guarded.skipped:
            record_["skipped"] = True
        out.append(record_)
    return out


def mend(
    adapters: Adapters,
    leg: Leg,
    prior: dict[str, Any],
    decide: Callable[[dict[str, Any]], Repair | None],
    now: datetime,
) -> Outcome | None:
    """A decided leg's repair by the staffing guard (withheld parts applied, a requirement relaxed,
    or a note): the sibling of `carry_out`, in the same order. A note is written at once; a change
    is claimed first (the leg's `mend` claim), decided again from the entry read under the claim (so
    two handlers never apply it twice), PATCHed, recorded (`guard_log`, the routing left)."""
    cid = leg.conversation_id
    repair = decide(prior)
    if repair is None:
        return None
    if repair.kind == "note":
        adapters.store.note(cid, leg.leg, **repair.fields)
        return Outcome(cid, "done", final=True, rule_id=prior.get("rule_id"), entry={**prior, **repair.fields})
    owner = uuid.uuid4().hex
    if not adapters.store.claim_mend(cid, leg.leg, owner, adapters.claim_seconds()):
        return Outcome(cid, "done", final=True, rule_id=prior.get("rule_id"), reason=BUSY_MENDING, stale=True)
    try:
        fresh = adapters.store.entry(cid, leg.leg) or {}
        repair = decide(fresh)
        if repair is None or repair.kind == "note":  # another handler did it (or the ledger moved on)
            return Outcome(cid, "done", final=True, rule_id=fresh.get("rule_id"), stale=True)
        if not adapters.settings.dry_run:
            # One GET: the PATCH's skillIds replaces the whole list, so it is built on what the leg
            # has now (a skill a person added since our last write stays), and a caller who left
            # this leg (answered, transferred: a new leg) gets no PATCH meant for the old one.
            live = adapters.genesys.get_conversation(cid)
            if live is None or _left(leg, live, fresh.get("queue_id")):
                adapters.store.note(cid, leg.leg, left_queue=True)
                return Outcome(cid, "done", final=True, rule_id=fresh.get("rule_id"), reason="left the queue")
            # The expression's halves as the ledger knows them: a repair changes skill-router's
            # half only (a withheld requirement written), never someone else's.
            known = with_ledger_expression(Routing(live.skill_ids, live.priority, live.language_id), fresh)
            # What skill-router left on the leg is the ledger's halves composed: also when it wrote
            # nothing there itself (a new leg whose expression a transfer carried over, first_sight).
            if (live.skill_expression or "") != (known.expression or ""):
                # Someone else set the expression since our last write: it is theirs, never relaxed,
                # never replaced by a withheld requirement (Repair.onto drops that part).
                known = Routing(known.skill_ids, known.priority, known.language_id, theirs=live.skill_expression)
            repair = repair.onto(known, fresh)
        change = repair.change
        if change is not None and not adapters.settings.dry_run:
            skills = list(change.skill_ids) if change.skill_ids is not None else None
            if not patch_or_gone(adapters, leg, skills, change.priority, change.language_id, change.skill_expression):
                adapters.store.note(cid, leg.leg, left_queue=True)
                return Outcome(cid, "done", final=True, rule_id=fresh.get("rule_id"), reason="left the queue")
        fields = {
            **repair.fields,
            "skills_after": list(repair.after.skill_ids),
            "language_after": repair.after.language_id or "",
        }
        if change is not None and change.skill_expression is not None:
            fields["expression_written"] = change.skill_expression
            fields["requirement_after"] = repair.after.requirement or ""
        record_ = {
            "event": repair.kind,
            "at": format_time(now),
            "parts": list(repair.parts),
            "skills_before": list(repair.before.skill_ids),
            "skills_after": list(repair.after.skill_ids),
            "language_before": repair.before.language_id or "",
            "language_after": repair.after.language_id or "",
        }
        adapters.store.note(cid, leg.leg, guard_log=[record_], **fields)
        logger.info(
            "withheld requirement applied: someone on queue has it now"
            if repair.kind == "withheld_applied"
            else "requirement relaxed: nobody on queue could serve it",
            extra={"conversation_id": cid, "rule_id": fresh.get("rule_id"), "parts": list(repair.parts)},
        )
        entry = {**fresh, **fields}
        for name in ("step_owner", "step_expires", "step_claim_expires", "emails_owed", "guard_log", "step_log"):
            entry.pop(name, None)
        applied = len(repair.parts) if repair.kind == "withheld_applied" else 0
        relaxed = len(repair.parts) if repair.kind == "relaxed" else 0
        return Outcome(
            cid,
            "done",
            final=True,
            rule_id=fresh.get("rule_id"),
            entry=entry,
            withheld_applied=applied,
            relaxed=relaxed,
        )
    finally:
        with contextlib.suppress(*AWS_ERRORS):  # else the claim lapses with this invocation
            adapters.store.release_mend(cid, leg.leg, owner)


def _left(leg: Leg, live: LiveConversation | None, queue_id: str | None) -> bool:
    """The caller no longer waits in this leg: gone, answered, or in another leg (a transfer)."""
    if live is None or not live.in_queue:
        return True
    if is_genesys_id(leg.leg) and live.participant_id is not None:
        return live.participant_id.lower() != str(leg.leg).lower()
    return bool(queue_id) and str(live.queue_id).lower() != str(queue_id).lower()


BUSY_MENDING = "another handler is repairing this leg; the guard's repair waits for the next poll"


def _decided(plan: Plan, log: list[dict[str, Any]], now: datetime) -> dict[str, Any]:
    """The decision as the audit trail shows it, written once with the rule's outcome and never by
    a step: when, and the routing the rule itself left (before any step in the same PATCH)."""
    if log:  # the first step's "before" is the rule's "after"
        skills, priority, language = log[0]["skills_before"], log[0]["priority_before"], log[0]["language_before"]
    else:
        skills, priority, language = list(plan.after.skill_ids), plan.after.priority, plan.after.language_id or ""
    return {
        "decided_at": format_time(now),
        "skills_decided": skills,
        "priority_decided": priority,
        "language_decided": language,
    }


def _steps_not_applied(
    adapters: Adapters, leg: Leg, rule: Rule, plan: Plan, owner: str, exc: GenesysError | OutOfTime
) -> Outcome:
    """The PATCH of claimed steps did not land. Their claim is freed at once (else no poll before
    it lapsed, a minute on, would try again). Throttling or time running out costs no attempt and
    the next poll tries again; a first sight's failure is counted by `failed` (first_sight.py).
    Any other failure (Genesys refused it: a language deleted since the matrix loaded, say) counts
    one attempt on the leg's steps; at MAX_ATTEMPTS they are recorded as failed, reported and
    never sent again, and the ladder goes on with the steps after them."""
    cid, store = leg.conversation_id, adapters.store
    if plan.rule_included or isinstance(exc, OutOfTime) or exc.status == 429:
        with contextlib.suppress(*AWS_ERRORS):  # else the claim lapses with this invocation
            store.release_steps(cid, leg.leg, owner)
        raise exc
    attempts, ended = store.fail_steps(cid, leg.leg, list(plan.applied_after), owner, adapters.settings.max_attempts)
    logger.error(
        "escalation step refused" + ("; given up after MAX_ATTEMPTS" if ended else "; retried by the next poll"),
        extra={
            "conversation_id": cid,
            "rule_id": rule.id,
            "steps": list(plan.applied_after),
            "operation": exc.operation,
            "status": exc.status,
            "attempts": attempts,
            "hint": _hint(exc),
        },
    )
    return Outcome(cid, "failed" if ended else "retry", final=True, rule_id=rule.id, reason=str(exc)[:500], stale=True)


def _emails(conversation_id: str, rule: Rule, plan: Plan) -> list[Email]:
    emails = []
    for n in plan.notifications:
        if n.step is None:
            emails.append(rule_email(conversation_id, rule.id, n.recipients, plan.after.skill_ids))
        else:
            emails.append(step_email(conversation_id, rule, n.step, plan.after))
    return emails


def _log(conversation_id: str, rule: Rule, plan: Plan, dry: bool, guarded: Guarded | None = None) -> None:
    extra: dict[str, Any] = {"conversation_id": conversation_id, "rule_id": rule.id, "dry_run": dry}
    if guarded is not None and guarded.decision is not None:
        extra["guard"] = guarded.decision
        if guarded.parts_withheld:
            extra["skills_withheld"] = list(guarded.skills_withheld)
            extra["language_withheld"] = guarded.language_withheld
    if plan.rule_included:
        changed = plan.change is not None
        message = ("rule would apply (dry run)" if dry else "rule applied") if changed else "rule already satisfied"
        if not changed and guarded is not None and guarded.parts_withheld:
            message = "rule's additions withheld: nobody on queue could serve them"
        added = [s for s in plan.after.skill_ids if s not in plan.before.skill_ids]
        logger.info(message, extra={**extra, "skills_added": added, "priority": plan.after.priority})
    if plan.due:
        logger.info(
            "escalation steps would apply (dry run)" if dry else "escalation steps applied",
            extra={**extra, "steps": [s.after for s in plan.due]},
        )


def failed(adapters: Adapters, leg: Leg, prior: dict[str, Any] | None, exc: GenesysError) -> Outcome:
    """A Genesys call failed: retried by the next poll until MAX_ATTEMPTS, or at once final when
    retrying cannot help."""
    cid = leg.conversation_id
    attempts = int((prior or {}).get("attempts", 0)) + 1
    final = not exc.transient or attempts >= adapters.settings.max_attempts
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
    adapters.store.record(
        cid,
        "failed" if final else "retry",
        count_attempt=True,
        leg=leg.leg,
        queue_entered=leg.queue_entered,
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
