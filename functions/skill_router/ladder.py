"""A caller's escalation ladder on the poll's path: the steps now due on a leg whose rule was applied.

`escalation.py` decides (pure); this reads what the decision needs from the leg's ledger entry
(the routing our last write left there, so a step costs one PATCH and no GET, and the steps
applied or claimed), and hands the plan to `leg.carry_out`, the one path that claims the steps,
PATCHes, records and emails. docs/design.md, "Escalation" and "Escalation in the poller".
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from skill_router.escalation import Routing, due_steps, ledger_routing, plan, waited_seconds
from skill_router.genesys.client import Discovered
from skill_router.guard import Repair, relax_due, watched, withheld_due
from skill_router.leg import Adapters, Leg, Outcome, carry_out, mend
from skill_router.matrix import Matrix
from skill_router.store.claims import STEP

# Outcomes after which the rule's ladder runs on the leg; a shadowed rule's steps still set skills
# (Genesys routes by them again once the expression is cleared), never a requirement.
ASSIGNED = ("applied", "unchanged", "shadowed")


def applied_steps(entry: dict[str, Any] | None, now: float) -> list[int]:
    """The `after` of each step applied on this leg. A step claimed by a run still within its
    claim counts as applied; a claim that lapsed unconfirmed (the run died before its PATCH
    was recorded) does not, so the step is planned again. `now` is DynamoDB's time (the store's),
    as the claim's expiry is."""
    entry = entry or {}
    # A step Genesys refused MAX_ATTEMPTS times (`steps_failed`) is done with, like one applied.
    applied = [int(a) for a in [*(entry.get("steps_applied") or []), *(entry.get("steps_failed") or [])]]
    if entry.get("step_mark") is not None and STEP.held(entry, now):
        applied.append(int(entry["step_mark"]))
    return applied


def escalate(
    found: Discovered, prior: dict[str, Any], matrix: Matrix, adapters: Adapters, now: datetime
) -> Outcome | None:
    """The leg's rule was applied earlier: apply the steps now due, if any, each through the
    staffing guard; with none due, the guard's repairs (`guard_repairs`). None when this leg has
    neither (the caller's outcome is settled as before)."""
    if prior.get("outcome") not in ASSIGNED:
        return None
    # Discovery says the caller still waits in this queue leg; a step never fires after.
    if not found.in_queue or found.left_queue:
        return None
    rule = matrix.rule(prior.get("rule_id"))
    if rule is None or not rule.escalate or rule.broken:
        return guard_repairs(found, prior, matrix, adapters, now)
    cid = found.conversation_id
    waited = waited_seconds(found.waiting_since, now)
    applied = applied_steps(prior, adapters.store.now())
    if not due_steps(rule, waited, applied):
        return guard_repairs(found, prior, matrix, adapters, now) or Outcome(cid, "done", final=True, rule_id=rule.id)
    current, live = ledger_routing(prior), None
    if current is None:
        live = adapters.genesys.get_conversation(cid)
        if live is None or not live.in_queue or (found.participant_id and live.participant_id != found.participant_id):
            return Outcome(cid, "done", final=True, rule_id=rule.id, reason="left the queue")
        current = Routing(live.skill_ids, live.priority, live.language_id, theirs=live.skill_expression)
    blocked = prior.get("outcome") == "shadowed"
    queue_id = found.queue_id or prior.get("queue_id")
    no_expression = str(queue_id or "").lower() in adapters.settings.no_expression_queue_ids
    chosen = plan(
        rule, waited=waited, current=current, applied_after=applied, shadowed_rule=blocked, no_expression=no_expression
    )
    writes_expression = chosen.change is not None and chosen.change.skill_expression is not None
    if writes_expression and live is None and not adapters.settings.dry_run:
        # A step that writes the skill expression reads it first (one GET, only then): someone else
        # (a person, a flow) may have set one since our last write, and it is never replaced or
        # cleared. Theirs now: the step writes no requirement over it (with `with_expression: and`,
        # it is ANDed into theirs), and the ledger learns it (`expression_before`, leg.carry_out).
        live = adapters.genesys.get_conversation(cid)
        if live is None or not live.in_queue or (found.participant_id and live.participant_id != found.participant_id):
            return Outcome(cid, "done", final=True, rule_id=rule.id, reason="left the queue")
        if (live.skill_expression or "") != (current.expression or ""):
            current = Routing(current.skill_ids, current.priority, current.language_id, theirs=live.skill_expression)
            blocked = blocked or (bool(live.skill_expression) and rule.with_expression != "and")
            chosen = plan(
                rule,
                waited=waited,
                current=current,
                applied_after=applied,
                shadowed_rule=blocked,
                no_expression=no_expression,
            )
    guarded = adapters.guard(rule, chosen, queue_id, tuple(applied))
    leg = Leg(cid, found.leg, found.queue_entered)
    return carry_out(adapters, leg, rule, chosen, matrix, now, prior=prior, guarded=guarded)


def guard_repairs(
    found: Discovered, prior: dict[str, Any], matrix: Matrix, adapters: Adapters, now: datetime
) -> Outcome | None:
    """The staffing guard on a decided leg, every poll while it waits (poller.py schedules it):
    withheld parts applied once someone on queue has them, else a requirement skill-router added
    relaxed once nobody could serve it for UNSTAFFED_RELAX_SECONDS (guard.py). The queue's
    staffing comes from the cache: no Genesys call unless it is older than STAFFING_CACHE_SECONDS."""
    if not adapters.guard_on or not watched(prior):
        return None
    staffing = adapters.staffing_of(found.queue_id or prior.get("queue_id"))
    if staffing is None:  # not known: nothing is applied or relaxed on a guess
        return None
    rule = matrix.rule(prior.get("rule_id"))
    min_staffed = rule.min_staffed if rule is not None else 1
    hysteresis = adapters.relax_seconds
    # The hysteresis in DynamoDB's time, like every claim: `unstaffed_since` written by a container
    # whose clock runs an hour slow (or fast) must neither skip it nor hold a relax for an hour.
    shared = now + timedelta(seconds=adapters.store.clock_offset())

    def decide(entry: dict[str, Any]) -> Repair | None:
        if rule is not None and rule.min_staffed <= 0:
            return None
        applied = withheld_due(entry, staffing, min_staffed, now, rule)
        return applied or relax_due(entry, staffing, shared, hysteresis, rule)

    return mend(adapters, Leg(found.conversation_id, found.leg, found.queue_entered), prior, decide, now)
