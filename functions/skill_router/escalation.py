"""Escalation while the caller waits: which steps of a rule's ladder are due, and the one change to send.

Pure logic, no I/O: the cycle passes what it knows (the matched rule, when this queue leg began,
the steps the ledger says were applied on this leg, the caller's routing now) and gets back the
steps to record and at most one routing change, so a caller first seen with several steps due
gets the rule and all of them in a single PATCH.

The rules of the contract (README "Escalation while the caller waits"):
- `after` counts from the start of the caller's current queue leg; each step applies at most once
  per leg, in order. A step is identified by its `after` (unique within a rule), and a step
  listed below one already applied is never applied late: it could undo what the later one did.
- `remove_skills` removes a skill from the requested skills whoever put it there (the flow, the
  rule, an earlier step); `add_skills` merges. Skill ids are compared case-insensitively.
- Priorities are only ever raised. `language: none` clears the language (`languageId: ""`).
- Only what changes is sent: `skill_ids` only when the set of requested skills changes (then the
  whole new list, since Genesys' `skillIds` replaces it), `priority` only when raised,
  `language_id` only when different.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from skill_router import expression
from skill_router.matrix import Rule, Step


@dataclass(frozen=True)
class Routing:
    """A waiting caller's routing requirements (GET conversation, discovery, or the ledger)."""

    skill_ids: tuple[str, ...] = ()
    priority: int | None = None  # None: not known; any priority the rule or a step sets is sent
    language_id: str | None = None  # None or "": no language requirement
    # The skill expression (issue 28): `theirs` is someone else's (the flow's, a person's), kept
    # byte for byte; `requirement` is skill-router's (a rule's or step's require/expression, in
    # Genesys' raw form). The conversation's expression is made of the two (`expression`).
    theirs: str | None = None
    requirement: str | None = None

    @property
    def expression(self) -> str | None:
        """The conversation's skillExpression: theirs, ours, or theirs ANDed with ours, parenthesised."""
        if self.theirs and self.requirement:
            return expression.compose(self.theirs, self.requirement)
        return self.theirs or self.requirement or None


@dataclass(frozen=True)
class RoutingChange:
    """The fields of one PATCH /api/v2/routing/conversations/{id}; None means "leave it"."""

    skill_ids: tuple[str, ...] | None = None
    priority: int | None = None
    language_id: str | None = None  # "" clears the language requirement
    skill_expression: str | None = None  # "" clears the expression (only ever one skill-router wrote)

    @property
    def empty(self) -> bool:
        return (
            self.skill_ids is None
            and self.priority is None
            and self.language_id is None
            and self.skill_expression is None
        )


@dataclass(frozen=True)
class Notification:
    """Who is emailed, once, because the rule (step None) or a step fired."""

    step: Step | None
    recipients: tuple[str, ...]


@dataclass(frozen=True)
class Plan:
    rule_included: bool  # the rule's own assignment is part of this change
    due: tuple[Step, ...]  # steps to record as applied on this leg, in order
    before: Routing
    after: Routing  # the routing once `change` is applied (for the ledger and the audit trail)
    change: RoutingChange | None  # None: nothing to send (the caller's routing already says it)
    notifications: tuple[Notification, ...]
    next_after: int | None  # seconds of waiting at which the next step falls due; None: no more
    blocked: bool = False  # the rule is shadowed by someone else's expression: no requirement is written
    # Why the rule, on its first sighting, is recorded shadowed (None: it is not): someone else's
    # expression takes priority, or composing with it would exceed what Genesys takes.
    shadow_reason: str | None = None
    # The queue does not evaluate skill expressions (NO_EXPRESSION_QUEUES) and the plan has a
    # requirement: its skills and language are applied without the proficiency, no expression written.
    expression_unsupported: bool = False

    @property
    def applied_after(self) -> tuple[int, ...]:
        """The `after` of each due step: what the ledger keeps for this leg."""
        return tuple(step.after for step in self.due)


def with_ledger_expression(routing: Routing, entry: dict[str, Any]) -> Routing:
    """`routing` with the skill expression's halves as a leg's ledger entry keeps them: theirs
    (`expression_before`, byte for byte) and skill-router's (`requirement_after`)."""
    return replace(
        routing,
        theirs=entry.get("expression_before") or None,
        requirement=entry.get("requirement_after") or None,
    )


def ledger_routing(entry: dict[str, Any] | None) -> Routing | None:
    """The routing skill-router's last write left on this leg, or None when the ledger does not
    say (an entry written before ladders existed: the caller is read once)."""
    if not entry or "skills_after" not in entry or "language_after" not in entry:
        return None
    routing = Routing(
        tuple(entry.get("skills_after") or ()), entry.get("priority_after"), entry.get("language_after") or None
    )
    return with_ledger_expression(routing, entry)


def waited_seconds(entered_queue: datetime, now: datetime) -> float:
    """How long the caller has waited in this queue leg; never negative (a skewed clock)."""
    return max((now - entered_queue).total_seconds(), 0.0)


def due_steps(rule: Rule, waited: float, applied_after: Iterable[int] = ()) -> tuple[Step, ...]:
    """Steps due after `waited` seconds that were not applied on this leg, in order. Cheap: the
    cycle can call it for every waiting caller with a matched rule and skip those with none."""
    done = max(applied_after, default=-1)
    return tuple(step for step in rule.escalate if done < step.after <= waited)


def next_step_after(rule: Rule, waited: float, applied_after: Iterable[int] = ()) -> int | None:
    """The `after` of the first step not yet due (for scheduling the next look at this caller)."""
    done = max(applied_after, default=-1)
    return next((s.after for s in rule.escalate if s.after > max(waited, done)), None)


def plan(
    rule: Rule,
    *,
    waited: float,
    current: Routing,
    applied_after: Iterable[int] = (),
    include_rule: bool = False,
    shadowed_rule: bool = False,
    no_expression: bool = False,
) -> Plan:
    """What to do for a caller who has waited `waited` seconds in this queue leg.

    include_rule: the rule itself has not been applied on this leg yet (a caller first seen, or
    a new leg after a transfer): its skills, priority, language and email go in the same change.
    shadowed_rule: the rule was recorded shadowed on this leg (its steps write no requirement either).
    no_expression: the caller's queue does not evaluate skill expressions (NO_EXPRESSION_QUEUES): a
    requirement is applied as its skills and language, without proficiency (`expression_unsupported`).
    """
    applied = tuple(applied_after)
    due = due_steps(rule, waited, applied)
    unsupported = no_expression and (
        (include_rule and rule.requirement is not None) or any(s.requirement is not None for s in due)
    )
    reason = shadow_reason(rule, current, unsupported) if include_rule else None
    blocked = shadowed_rule or reason is not None
    after = after_rule(current, rule, unsupported, blocked) if include_rule else current
    notifications: list[Notification] = []
    if include_rule and rule.high_priority and rule.notify:
        notifications.append(Notification(None, rule.notify))
    for step in due:
        after = after_step(after, step, blocked, unsupported)
        if step.notify:
            notifications.append(Notification(step, step.notify))
    return Plan(
        rule_included=include_rule,
        due=due,
        before=current,
        after=after,
        change=change_between(current, after),
        notifications=tuple(notifications),
        next_after=next_step_after(rule, waited, [*applied, *(s.after for s in due)]),
        blocked=blocked,
        shadow_reason=reason,
        expression_unsupported=unsupported,
    )


def change_between(current: Routing, after: Routing) -> RoutingChange | None:
    """The one PATCH that takes a caller from `current` to `after`: only what changes; None: nothing."""
    priority, language = after.priority, after.language_id
    change = RoutingChange(
        skill_ids=after.skill_ids if _folded(after.skill_ids) != _folded(current.skill_ids) else None,
        priority=priority if priority is not None and priority != current.priority else None,
        language_id=language if (language or "") != (current.language_id or "") else None,
        skill_expression=(after.expression or "") if (after.expression or "") != (current.expression or "") else None,
    )
    return None if change.empty else change


SHADOWED_BY_THEIRS = (
    "someone else's skill expression takes priority over skills: the rule's requirement has no "
    "routing effect (with_expression: and would AND it in)"
)


def shadow_reason(rule: Rule, before: Routing, no_expression: bool = False) -> str | None:
    """Why the rule, first applied to a caller routed as `before`, writes no requirement (None: it
    does). Someone else's skill expression takes priority over skills (Genesys' event models), and
    the rule neither may touch it (no `with_expression: and`) nor has anything but skills, a
    language or a requirement to give; or the expression it would write is longer than Genesys
    takes (composed with a long one of theirs), and Genesys would refuse the whole PATCH."""
    if before.theirs and rule.with_expression != "and":
        if rule.requirement is not None or bool(rule.skill_ids) or rule.language_id is not None:
            return SHADOWED_BY_THEIRS
        return None
    if rule.requirement is not None and not no_expression:
        return too_long(before.theirs, rule.requirement.render())
    return None


def too_long(theirs: str | None, requirement: str) -> str | None:
    """Why `requirement` (composed with `theirs`) cannot be written: longer than Genesys takes."""
    length = expression.written_length(Routing(theirs=theirs, requirement=requirement).expression or "")
    if length <= expression.MAX_CHARS:
        return None
    whose = "composed with someone else's, " if theirs else ""
    return (
        f"the skill expression would be {length:,} characters, {whose}more than the "
        f"{expression.MAX_CHARS:,} Genesys takes: the requirement is not written"
    )


def step_log(rule: Rule, chosen: Plan, at: str) -> list[dict[str, Any]]:
    """One audit record per due step of a plan: which step, when (`at`), the routing before and after it."""
    log = []
    unsupported = chosen.expression_unsupported
    blocked = chosen.blocked
    routing = after_rule(chosen.before, rule, unsupported, blocked) if chosen.rule_included else chosen.before
    for step in chosen.due:
        after = after_step(routing, step, blocked, unsupported)
        skipped = _step_too_long(routing, step, blocked, unsupported)
        log.append(
            {
                "step": step.position,
                "after": step.after,
                "at": at,
                "skills_before": list(routing.skill_ids),
                "skills_after": list(after.skill_ids),
                "priority_before": routing.priority,
                "priority_after": after.priority,
                "language_before": routing.language_id or "",
                "language_after": after.language_id or "",
                **(
                    {"expression_before": routing.expression or "", "expression_after": after.expression or ""}
                    if (routing.expression or after.expression)
                    else {}
                ),
                **({"requirement_skipped": skipped} if skipped else {}),
            }
        )
        routing = after
    return log


def after_rule(routing: Routing, rule: Rule, no_expression: bool = False, blocked: bool = False) -> Routing:
    """The routing once the rule itself is applied (skills merged, priority raised, its language,
    its requirement: never over someone else's expression unless the rule ANDs it in, never when
    `blocked` (shadow_reason)). With `no_expression` the requirement is applied as its skills and
    language, without proficiency."""
    requirement, skills, language = routing.requirement, list(rule.skill_ids), rule.language_id
    if rule.requirement is not None and no_expression:
        terms, term_language = expression.skills_and_language(rule.requirement)
        skills, language = [*skills, *terms], language if language is not None else term_language
    elif rule.requirement is not None and not blocked and (not routing.theirs or rule.with_expression == "and"):
        requirement = rule.requirement.render()
    elif routing.requirement is not None:
        # Only a new leg starts with a requirement: skill-router's, from an earlier leg, carried over
        # by a transfer (first_sight.carried_from). This leg's rule writes none (it has none, or may
        # not over theirs): ours is taken out, theirs is back byte for byte, or no expression at all.
        requirement = None
    return Routing(
        tuple(_merge(list(routing.skill_ids), skills)),
        _raise(routing.priority, rule.routing_priority),
        language if language is not None else routing.language_id,
        routing.theirs,
        requirement,
    )


def after_step(routing: Routing, step: Step, blocked: bool = False, no_expression: bool = False) -> Routing:
    """The routing once one escalation step is applied. `blocked`: the rule was shadowed by someone
    else's expression, and its steps' requirements are not written either. `no_expression`: the
    queue does not evaluate expressions; a step's requirement adds its skills and sets its language."""
    requirement, add, language = routing.requirement, list(step.add_skill_ids), step.language_id
    if step.drops_requirement:
        requirement = None  # theirs, byte for byte, or no expression at all
    elif step.requirement is not None and no_expression:
        terms, term_language = expression.skills_and_language(step.requirement)
        add, language = [*add, *terms], language if language is not None else term_language
    elif step.requirement is not None and not blocked and not _step_too_long(routing, step, blocked, no_expression):
        requirement = step.requirement.render()
    return Routing(
        tuple(_remove(_merge(list(routing.skill_ids), add), step.remove_skill_ids)),
        _raise(routing.priority, step.routing_priority),
        language if language is not None else routing.language_id,
        routing.theirs,
        requirement,
    )


def _step_too_long(routing: Routing, step: Step, blocked: bool, no_expression: bool) -> str | None:
    """Why a step's requirement is not written although the rule's was: composed with someone
    else's expression it would be longer than Genesys takes (the step's other changes still apply)."""
    if step.requirement is None or step.drops_requirement or blocked or no_expression:
        return None
    return too_long(routing.theirs, step.requirement.render())


def _merge(skills: list[str], add: Iterable[str]) -> list[str]:
    merged = list(skills)
    have = {s.lower() for s in skills}
    for skill in add:
        if skill.lower() not in have:
            have.add(skill.lower())
            merged.append(skill)
    return merged


def _remove(skills: list[str], remove: Iterable[str]) -> list[str]:
    gone = {s.lower() for s in remove}
    return [s for s in skills if s.lower() not in gone]


def _raise(priority: int | None, to: int | None) -> int | None:
    if to is None:
        return priority
    return to if priority is None else max(priority, to)


def _folded(skills: Iterable[str]) -> frozenset[str]:
    return frozenset(s.lower() for s in skills)
