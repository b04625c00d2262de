"""Escalation on the poll's path: apply a matched rule's due steps to one waiting caller.

`escalation.py` decides (pure); this applies: it reads the caller's routing from the ledger (the
routing this leg was left with by our last write) so a step costs one PATCH and no GET, claims the
steps with a conditional write before the PATCH (two pollers never both apply a step), records
each step in the leg's audit trail, and emails a step's recipients once (claim per conversation,
rule and step). docs/design.md, "Escalation" and "Escalation in the cycle".
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from skill_router.escalation import Routing, due_steps, next_step_after, plan, waited_seconds
from skill_router.genesys.client import Discovered
from skill_router.matrix import Matrix, Rule
from skill_router.observability import logger
from skill_router.store import LONGEST_HOLD_SECONDS, SKEW_MARGIN_SECONDS, format_time

ASSIGNED = ("applied", "unchanged")  # outcomes after which the rule's ladder runs on the leg


def ledger_routing(entry: dict[str, Any] | None) -> Routing | None:
    """The routing our last write left on this leg, or None when the ledger does not say."""
    if not entry or "skills_after" not in entry:
        return None
    priority = entry.get("priority_after")
    if priority is None:
        priority = entry.get("priority_written", entry.get("priority_before"))
    return Routing(
        skill_ids=tuple(entry.get("skills_after") or ()),
        priority=priority,
        language_id=entry.get("language_after") or None,
    )


def applied_steps(entry: dict[str, Any] | None, now: float) -> list[int]:
    """The `after` of each step applied on this leg. A step claimed by a run still within its
    claim counts as applied; a claim that lapsed unconfirmed (the run died before its PATCH
    was recorded) does not, so the step is planned again. `now` is DynamoDB's time (the store's),
    as the claim's expiry is."""
    entry = entry or {}
    applied = [int(a) for a in entry.get("steps_applied") or []]
    mark, until = entry.get("step_mark"), entry.get("step_claim_expires")
    held = (
        until is not None
        and now - SKEW_MARGIN_SECONDS <= float(until) <= now + LONGEST_HOLD_SECONDS + SKEW_MARGIN_SECONDS
    )
    if mark is not None and held:
        applied.append(int(mark))
    return applied


def escalate(found: Discovered, prior: dict[str, Any], matrix: Matrix, deps: Any, now: datetime) -> Any:
    """The leg's rule was applied earlier: apply the steps now due, if any. None when this leg has
    no ladder to run (the caller's outcome is settled as before)."""
    from skill_router.assign import Outcome, _Leg

    if prior.get("outcome") not in ASSIGNED:
        return None
    rule = matrix.rule(prior.get("rule_id"))
    if rule is None or not rule.escalate:
        return None
    cid = found.conversation_id
    # Discovery says the caller still waits in this queue leg; a step never fires after.
    if not found.in_queue or found.left_queue:
        return None
    waited = waited_seconds(found.waiting_since, now)
    applied = applied_steps(prior, deps.store.now())
    if not due_steps(rule, waited, applied):
        left = next_step_after(rule, waited, applied) is not None
        return Outcome(cid, "done", final=True, rule_id=rule.id, details={"steps_left": left})
    where = _Leg(cid, found.leg, found.queue_entered)
    current = ledger_routing(prior)
    if current is None:  # an entry without the routing we left (older records): read it once
        live = deps.genesys.get_conversation(cid)
        if live is None or not live.in_queue or (found.participant_id and live.participant_id != found.participant_id):
            return Outcome(cid, "done", final=True, rule_id=rule.id, reason="left the queue")
        current = Routing(live.skill_ids, live.priority, live.language_id)
    return apply_plan(where, rule, waited, current, applied, matrix, deps, now, include_rule=False, prior=prior)


def apply_plan(
    where: Any,
    rule: Rule,
    waited: float,
    current: Routing,
    applied: list[int],
    matrix: Matrix,
    deps: Any,
    now: datetime,
    *,
    include_rule: bool,
    keyword: str | None = None,
    queue_id: str | None = None,
    prior: dict[str, Any] | None = None,
) -> Any:
    """The rule (when `include_rule`) and every due step in one PATCH, claimed, recorded, emailed."""
    from skill_router.assign import Outcome, _patch, _record

    cid = where.conversation_id
    p = plan(rule, waited=waited, current=current, applied_after=applied, include_rule=include_rule)
    dry = deps.settings.dry_run
    claim_seconds = int(deps.genesys.deadline.until_timeout()) + 1
    if p.due and not deps.store.claim_steps(cid, where.leg, p.due[-1].after, claim_seconds):
        logger.info("another run applies these escalation steps", extra={"conversation_id": cid, "rule_id": rule.id})
        return Outcome(cid, "done", final=True, rule_id=rule.id, details={"steps_left": True, "stale": True})
    change = p.change
    if change is not None and not dry:
        sent = _patch(
            deps,
            where,
            list(change.skill_ids) if change.skill_ids is not None else None,
            change.priority,
            language_id=change.language_id,
        )
        if not sent:
            if include_rule:
                return _record(deps, where, "gone", reason="left the queue before the PATCH")
            deps.store.record_steps(cid, where.leg, [], left_queue=True)
            return Outcome(cid, "done", final=True, rule_id=rule.id, reason="left the queue before the step")
    log = _step_log(rule, waited, current, applied, include_rule, now)
    fields: dict[str, Any] = {
        "skills_after": list(p.after.skill_ids),
        "priority_after": p.after.priority,
        "language_after": p.after.language_id if p.after.language_id is not None else "",
        "steps_applied": [*[a for a in (prior or {}).get("steps_applied") or []], *p.applied_after],
        "step_next_after": p.next_after,
    }
    outcome = "done"
    if include_rule:
        outcome = "applied" if change is not None else "unchanged"
        fields.update(
            rule_id=rule.id,
            matched_keyword=keyword,
            matrix_version=matrix.version,
            queue_id=queue_id,
            queue_entered=where.queue_entered,
            skills_before=list(current.skill_ids),
            priority_before=current.priority,
            language_before=current.language_id,
            dry_run=dry or None,
        )
        if change is not None:
            fields.update(
                skills_written=list(change.skill_ids) if change.skill_ids is not None else None,
                priority_written=change.priority,
                language_written=change.language_id,
            )
        rule_email = next((n for n in p.notifications if n.step is None), None)
        if rule_email is not None and deps.notifier.enabled:  # owed until sent (retried by later polls)
            fields.update(notify_pending=True, notify_to=list(rule_email.recipients))
        deps.store.record(cid, outcome, leg=where.leg, **fields)
        if log:
            deps.store.record_steps(cid, where.leg, log)
    else:
        deps.store.record_steps(cid, where.leg, log, **fields)
    if p.due:
        logger.info(
            "escalation steps would apply (dry run)" if dry else "escalation steps applied",
            extra={"conversation_id": cid, "rule_id": rule.id, "steps": [s.after for s in p.due], "dry_run": dry},
        )
    entry = {**(prior or {}), **{k: v for k, v in fields.items() if v is not None}}
    entry.pop("step_claim_expires", None)
    if include_rule:
        entry["outcome"] = outcome
    result = Outcome(
        cid,
        outcome,
        final=True,
        rule_id=rule.id,
        skills_before=current.skill_ids,
        skills_after=p.after.skill_ids,
        details={"steps": len(p.due), "steps_left": p.next_after is not None, "entry": entry},
    )
    for n in p.notifications:
        if n.step is None:
            from skill_router.assign import _notify

            if deps.notifier.enabled:
                sent_rule = _notify(
                    where, list(n.recipients), {"rule_id": rule.id, "skills_written": list(p.after.skill_ids)}, deps
                )
                result.notified = result.notified or sent_rule
                result.details["email_owed"] = not sent_rule
            continue
        result.notified = (
            _notify_step(where, rule, n.step.after, n.step.position, list(n.recipients), p, deps) or result.notified
        )
    return result


def _step_log(
    rule: Rule, waited: float, current: Routing, applied: list[int], include_rule: bool, now: datetime
) -> list[dict[str, Any]]:
    """One audit record per due step: which step, when, the routing before and after it."""
    log = []
    routing, done = current, list(applied)
    if include_rule:
        routing = plan(rule, waited=-1, current=routing, applied_after=done, include_rule=True).after
    for step in due_steps(rule, waited, applied):
        after = plan(rule, waited=step.after, current=routing, applied_after=done).after
        log.append(
            {
                "step": step.position,
                "after": step.after,
                "at": format_time(now),
                "skills_before": list(routing.skill_ids),
                "skills_after": list(after.skill_ids),
                "priority_before": routing.priority,
                "priority_after": after.priority,
                "language_before": routing.language_id or "",
                "language_after": after.language_id or "",
            }
        )
        routing, done = after, [*done, step.after]
    return log


def _notify_step(where: Any, rule: Rule, after: int, position: int, recipients: list[str], p: Any, deps: Any) -> bool:
    """One email per conversation, rule and step (`"<rule id>@<after>s"`), claimed through the
    store's email claims: per recipient when the channel sends one recipient per call."""
    if not recipients or not deps.notifier.enabled:
        return False
    cid = where.conversation_id
    key = f"{rule.id}@{after}s"
    claim_seconds = int(deps.genesys.deadline.until_timeout()) + 1
    subject = f"skill-router: caller escalated by rule '{rule.id}' (step {position}) in conversation {cid}"
    text = (
        f"A caller has waited {after} s in queue and rule '{rule.id}' escalated them (step {position}).\n"
        f"Conversation: {cid}\n"
        f"Requested skills now: {', '.join(p.after.skill_ids) or 'none'}\n"
        f"Priority now: {p.after.priority if p.after.priority is not None else 'unchanged'}\n"
        "This email is sent once per conversation, rule and step."
    )
    one_each = bool(getattr(deps.notifier, "one_recipient_per_send", False))
    sent_any = False
    for to in [[r] for r in recipients] if one_each else [recipients]:
        recipient = to[0] if one_each else None
        if not deps.store.claim_notification(cid, key, claim_seconds, recipient):
            continue
        try:
            deps.notifier.send(to, subject, text)
        except Exception as exc:
            deps.store.finish_notification(cid, key, sent=False, recipient=recipient)
            logger.error(
                "escalation email failed",
                extra={"conversation_id": cid, "rule_id": rule.id, "reason": f"{type(exc).__name__}: {exc}"[:300]},
            )
            continue
        deps.store.finish_notification(cid, key, sent=True, recipient=recipient, settle=False)
        sent_any = True
    if sent_any:
        logger.info("escalation email sent", extra={"conversation_id": cid, "rule_id": rule.id, "step": position})
    return sent_any
