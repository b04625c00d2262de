"""The staffing guard: add only what someone on queue can serve, relax only what blocks.

Pure decisions, no I/O (docs/design.md, "Staffing guard"). What they are given: the rule, the
plan escalation.py made, and the queue's staffing as `StaffingCache.get` read it (staffing.py;
None: not known, and the guard is off for the caller). What they return is a plan (the guarded
one) or a repair of a leg already decided, carried out by leg.py, the one path for effects.

- `guard_plan`: before a PATCH adds a skill or sets a language (a rule's first sight, an
  escalation step, both in one plan), at least `rule.min_staffed` members on queue must meet the
  caller's whole requirement after it. If not, `rule.when_unstaffed`: `skip` applies the rest
  and withholds the unstaffed parts, `next_step` jumps to the first escalation step whose result
  is staffed (the steps jumped over are recorded applied, so they never fire later; with none
  staffed it withholds like `skip`), `apply` sends it anyway. A priority is never withheld.
- `withheld_due`: withheld parts someone on queue can now serve, applied on a later poll.
- `relax_due`: a leg whose whole requirement nobody on queue meets for `hysteresis` seconds
  loses the parts skill-router added (and only those) that make it unservable; once per leg. The
  requirement skill-router wrote (a skill expression) is such a part: removed, the caller's own
  expression (`expression_before`) is back byte for byte, or none.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from skill_router.escalation import (
    Notification,
    Plan,
    Routing,
    RoutingChange,
    after_step,
    change_between,
    ledger_routing,
    next_step_after,
)
from skill_router.expression import Expr
from skill_router.matrix import Rule
from skill_router.staffing import Staffing
from skill_router.store import format_time

# The guard's decision on a plan (ledger `guard`; a step's in its `step_log` record).
STAFFED = "staffed"
WITHHELD = "withheld"
NEXT_STEP = "next_step"
APPLIED_UNSTAFFED = "applied_unstaffed"
UNKNOWN = "unknown"
# Outcomes of a rule applied on the leg: its requirement is ours to guard (a shadowed rule's skills
# too: Genesys routes by them again once someone else's expression is cleared).
ASSIGNED = ("applied", "unchanged", "shadowed")
LANGUAGE_PART = "language:"  # a part of a requirement: a skill id, or `language:<id>`
# A withheld requirement (issue 28) as a part: `expression:<skill-router's raw form>`.
EXPRESSION_PART = "expression:"


@dataclass(frozen=True)
class Guarded:
    """A plan as the guard left it. `decision` None: nothing to check (no skill added, no
    language set), or the guard is off (STAFFING_GUARD=off, no staffing source, min_staffed 0)."""

    plan: Plan
    decision: str | None
    skills_withheld: tuple[str, ...] = ()
    language_withheld: str = ""
    skipped: tuple[int, ...] = ()  # the `after` of each step jumped over (next_step)
    serving: int | None = None  # members on queue who meet the requirement the plan leaves
    expression_withheld: str = ""  # skill-router's requirement (a skill expression) nobody on queue meets

    @property
    def parts_withheld(self) -> int:
        return len(self.skills_withheld) + int(bool(self.language_withheld)) + int(bool(self.expression_withheld))

    def fields(self, prior: dict[str, Any] | None) -> dict[str, Any]:
        """What the ledger keeps of the decision: a first sight's `guard`, and the withheld parts
        (added to those withheld before on the leg)."""
        out: dict[str, Any] = {}
        if self.decision is not None and self.plan.rule_included:
            out["guard"] = self.decision
        # A step that removes a skill, or sets a language, supersedes what was withheld before it,
        # also when it adds nothing (the guard then had nothing to check: `decision` None).
        removed = {s.lower() for step in self.plan.due for s in step.remove_skill_ids}
        relanguaged = any(step.language_id is not None for step in self.plan.due)
        prior_skills = list((prior or {}).get("skills_withheld") or [])
        prior_language = (prior or {}).get("language_withheld") or ""
        earlier = [s for s in prior_skills if s.lower() not in removed]
        earlier_language = "" if relanguaged else prior_language
        if (
            self.parts_withheld
            or (self.decision is not None and self.plan.rule_included)
            or earlier != prior_skills
            or earlier_language != prior_language
        ):
            out["skills_withheld"] = _merge(earlier, self.skills_withheld)
            out["language_withheld"] = self.language_withheld or earlier_language
        if self.expression_withheld:
            out["expression_withheld"] = self.expression_withheld
        if self.skipped:
            out["steps_skipped"] = [*((prior or {}).get("steps_skipped") or []), *self.skipped]
        return out


def added_parts(before: Routing, after: Routing) -> list[str]:
    """The parts of `after` that `before` lacks: skill ids, and `language:<id>` when a language is set."""
    have = {s.lower() for s in before.skill_ids}
    parts = [s for s in after.skill_ids if s.lower() not in have]
    if after.language_id and after.language_id.lower() != (before.language_id or "").lower():
        parts.append(LANGUAGE_PART + after.language_id)
    return parts


def guard_plan(
    rule: Rule, chosen: Plan, staffing: Staffing | None, *, applied: Iterable[int] = (), enabled: bool = True
) -> Guarded:
    """The plan with the guard applied (see the module's docstring). `applied`: the steps applied
    on the leg before this plan (for `next_step`). A requirement the plan writes (a skill
    expression) is evaluated against each member on queue, from the same staffing (no Genesys call);
    nobody enough meets it: withheld (unless `when_unstaffed: apply`), the rest of the plan as below."""
    required = new_requirement(rule, chosen)
    if enabled and rule.min_staffed > 0 and required is not None:
        if staffing is None:
            return Guarded(chosen, UNKNOWN)
        serving = meeting(staffing, chosen.after, required)
        if serving >= rule.min_staffed:
            return Guarded(chosen, STAFFED, serving=serving)
        if rule.when_unstaffed == "apply":
            return Guarded(chosen, APPLIED_UNSTAFFED, serving=serving)
        after = replace(chosen.after, requirement=chosen.before.requirement)
        rest = guard_plan(
            rule, replace(chosen, after=after, change=change_between(chosen.before, after)), staffing, applied=applied
        )
        return replace(
            rest,
            decision=WITHHELD,
            expression_withheld=chosen.after.requirement or "",
            serving=rest.serving if rest.serving is not None else _serving(staffing, rest.plan.after),
        )
    parts = added_parts(chosen.before, chosen.after)
    if not enabled or rule.min_staffed <= 0 or not parts:
        return Guarded(chosen, None)
    if staffing is None:
        return Guarded(chosen, UNKNOWN)
    serving = _serving(staffing, chosen.after)
    if serving >= rule.min_staffed:
        return Guarded(chosen, STAFFED, serving=serving)
    if rule.when_unstaffed == "apply":
        return Guarded(chosen, APPLIED_UNSTAFFED, serving=serving)
    if rule.when_unstaffed == "next_step":
        jumped = _jump(rule, chosen, staffing, tuple(applied))
        if jumped is not None:
            return jumped
    return _withhold(rule, chosen, staffing, parts)


def _withhold(rule: Rule, chosen: Plan, staffing: Staffing, parts: list[str]) -> Guarded:
    """Keep each added part (in order) while the requirement stays staffed; withhold the rest."""
    base = without(chosen.after, parts, chosen.before.language_id)
    kept: list[str] = []
    for part in parts:
        if _serving(staffing, with_parts(base, [*kept, part])) >= rule.min_staffed:
            kept.append(part)
    withheld = [p for p in parts if p not in kept]
    after = without(chosen.after, withheld, chosen.before.language_id)
    guarded = replace(chosen, after=after, change=change_between(chosen.before, after))
    skills = tuple(p for p in withheld if not p.startswith(LANGUAGE_PART))
    language = next((p.removeprefix(LANGUAGE_PART) for p in withheld if p.startswith(LANGUAGE_PART)), "")
    return Guarded(guarded, WITHHELD, skills, language, serving=_serving(staffing, after))


def _jump(rule: Rule, chosen: Plan, staffing: Staffing, applied: tuple[int, ...]) -> Guarded | None:
    """The plan taken on to the first later step whose routing is staffed, or None."""
    done = max([*applied, *(s.after for s in chosen.due)], default=-1)
    routing, passed = chosen.after, []
    for step in (s for s in rule.escalate if s.after > done):
        routing = after_step(routing, step)
        if _serving(staffing, routing) < rule.min_staffed:
            passed.append(step)
            continue
        due = (*chosen.due, *passed, step)
        notes = (*chosen.notifications, *((Notification(step, step.notify),) if step.notify else ()))
        jumped = replace(
            chosen,
            due=due,
            after=routing,
            change=change_between(chosen.before, routing),
            notifications=notes,
            next_after=next_step_after(rule, 0, [*applied, *(s.after for s in due)]),
        )
        return Guarded(jumped, NEXT_STEP, skipped=tuple(s.after for s in passed), serving=_serving(staffing, routing))
    return None


# --- legs already decided (the poll path) ----------------------------------------------------------


@dataclass(frozen=True)
class Repair:
    """A change to a decided leg: `kind` is `withheld_applied` or `relaxed` (a PATCH from `before`
    to `after`), or `note` (ledger fields only: the hysteresis clock, a requirement someone else
    set that blocks). `fields`: what the ledger records with it."""

    kind: str
    before: Routing
    after: Routing
    fields: dict[str, Any] = field(default_factory=dict)
    parts: tuple[str, ...] = ()  # what was applied or relaxed

    @property
    def change(self) -> RoutingChange | None:
        return change_between(self.before, self.after) if self.kind != "note" else None

    def onto(self, live: Routing, entry: dict[str, Any]) -> Repair:
        """The repair made on the routing the leg has now (`live`, read just before the PATCH),
        not on the one our last write left: only the repair's own parts change. A skill or
        language someone else set since (a person, a flow) is kept, a language of theirs is not
        replaced by a withheld one, and what they set is recorded (`requirements_others`) so
        that it is never taken for ours and relaxed later."""
        if self.kind == "note":
            return self
        theirs = added_parts(self.before, live)
        parts = list(self.parts)
        if self.kind == "withheld_applied":
            if (live.language_id or "").lower() != (self.before.language_id or "").lower():
                parts = [p for p in parts if not p.startswith(LANGUAGE_PART)]
            if (live.theirs or "") != (self.before.theirs or ""):
                # Someone else set an expression since: theirs, never replaced by a withheld requirement.
                parts = [p for p in parts if not p.startswith(EXPRESSION_PART)]
            after = with_parts(live, parts)
        else:  # only what the leg still has is removed (and counted): a person may have removed it
            have = {s.lower() for s in live.skill_ids} | {(LANGUAGE_PART + (live.language_id or "")).lower()}
            if live.requirement:  # skill-router's expression, still as it wrote it (leg.mend)
                have.add((EXPRESSION_PART + live.requirement).lower())
            parts = [p for p in parts if p.lower() in have]
            after = without(live, parts, self.after.language_id)
        fields = dict(self.fields)
        if self.kind == "relaxed":
            fields["relaxed"] = parts
        if theirs:
            fields["requirements_others"] = _merge(list(entry.get("requirements_others") or []), theirs)
        return replace(self, before=live, after=after, fields=fields, parts=tuple(parts))


def withheld_of(entry: dict[str, Any]) -> list[str]:
    """The parts withheld on the leg and not applied since."""
    parts = list(entry.get("skills_withheld") or [])
    if entry.get("language_withheld"):
        parts.append(LANGUAGE_PART + str(entry["language_withheld"]))
    if entry.get("expression_withheld"):
        parts.append(EXPRESSION_PART + str(entry["expression_withheld"]))
    return parts


def watched(entry: dict[str, Any] | None) -> bool:
    """The poller looks at this leg every poll: it has withheld parts, or a requirement
    skill-router added that could still have to be relaxed."""
    if not entry or entry.get("outcome") not in ASSIGNED:
        return False
    if withheld_of(entry):
        return True
    routing = ledger_routing(entry)
    return routing is not None and not entry.get("relaxed_at") and bool(ours(entry, routing))


def next_look(entry: dict[str, Any] | None, now: float, hysteresis: float) -> float | None:
    """When the poller must look at this leg again for the guard (epoch seconds; None: the
    sweep's pace will do): every poll while parts are withheld (staff may come on queue), and when
    an unstaffed requirement's hysteresis runs out (`unstaffed_since` + UNSTAFFED_RELAX_SECONDS)."""
    if not watched(entry) or entry is None:
        return None
    if withheld_of(entry):
        return now
    since = float(entry.get("unstaffed_since") or 0)
    return since + hysteresis if since else None


def withheld_due(
    entry: dict[str, Any], staffing: Staffing | None, min_staffed: int, now: datetime, rule: Rule | None = None
) -> Repair | None:
    """The withheld parts someone on queue can now serve, with what the leg has: a PATCH adding
    them (None: none is, staffing is unknown, or nothing is withheld). A withheld requirement is
    evaluated with the rule's resolved form (none without the rule: it stays withheld)."""
    parts = withheld_of(entry)
    current = ledger_routing(entry)
    if not parts or staffing is None or current is None:
        return None
    kept: list[str] = []
    for part in parts:
        if _serving(staffing, with_parts(current, [*kept, part]), rule) >= max(min_staffed, 1):
            kept.append(part)
    if not kept:
        return None
    left = [p for p in parts if p not in kept]
    after = with_parts(current, kept)
    fields = {
        "expression_withheld": next(
            (p.removeprefix(EXPRESSION_PART) for p in left if p.startswith(EXPRESSION_PART)), ""
        ),
        "skills_withheld": [p for p in left if not p.startswith((LANGUAGE_PART, EXPRESSION_PART))],
        "language_withheld": next((p.removeprefix(LANGUAGE_PART) for p in left if p.startswith(LANGUAGE_PART)), ""),
        "withheld_applied_at": format_time(now),
    }
    return Repair("withheld_applied", current, after, fields, tuple(kept))


def ours(entry: dict[str, Any], routing: Routing) -> list[str]:
    """The parts of the leg's requirement skill-router added (the rule's, its steps', withheld
    parts applied later): what the caller did not have when first seen. Anything else was set by
    someone else (the flow, Architect, a person) and is never removed."""
    before = Routing(tuple(entry.get("skills_before") or ()), None, entry.get("language_before") or None)
    others = {p.lower() for p in entry.get("requirements_others") or []}
    parts = [p for p in added_parts(before, routing) if p.lower() not in others]
    if routing.requirement:  # skill-router's half of the expression (the caller's is `theirs`)
        parts.append(EXPRESSION_PART + routing.requirement)
    return parts


def relax_due(
    entry: dict[str, Any], staffing: Staffing | None, now: datetime, hysteresis: float, rule: Rule | None = None
) -> Repair | None:
    """Each poll, for a leg whose requirement skill-router set: nobody on queue meets it ->
    start the clock (`unstaffed_since`); still nobody `hysteresis` seconds on -> remove the parts
    skill-router added whose removal makes it servable (once: `relaxed`, `relaxed_at`). When only a
    requirement someone else set blocks, it is recorded (`relax_blocked_by`), never touched.
    skill-router's requirement (a skill expression, part `expression:<raw>`) is evaluated with the
    rule's resolved form; without it (no rule, the matrix changed) it is never relaxed on a guess."""
    current = ledger_routing(entry)
    if staffing is None or current is None or entry.get("relaxed_at") or entry.get("outcome") not in ASSIGNED:
        return None
    mine = ours(entry, current)
    judge = rule
    if current.requirement and (rule is None or requirement_of(rule, current.requirement) is None):
        mine = [p for p in mine if not p.startswith(EXPRESSION_PART)]
        judge = None  # the requirement is left as it is, and judged by skills and language alone
    if not mine:
        return None
    since = float(entry.get("unstaffed_since") or 0)
    if _serving(staffing, current, judge) > 0:
        return Repair("note", current, current, {"unstaffed_since": 0}) if since else None
    if not since:
        return Repair("note", current, current, {"unstaffed_since": int(now.timestamp())})
    if now.timestamp() - since < hysteresis:
        return None
    theirs = without(current, mine, entry.get("language_before") or None)
    if _serving(staffing, theirs, judge) == 0:
        blocking = added_parts(Routing(), theirs)
        if entry.get("relax_blocked_by") == blocking:
            return None
        return Repair("note", current, current, {"relax_blocked_by": blocking, "relax_blocked_at": format_time(now)})
    kept: list[str] = []
    for part in mine:
        if _serving(staffing, with_parts(theirs, [*kept, part]), judge) > 0:
            kept.append(part)
    removed = [p for p in mine if p not in kept]
    after = without(current, removed, entry.get("language_before") or "")
    return Repair("relaxed", current, after, {"relaxed": removed, "relaxed_at": format_time(now)}, tuple(removed))


# --- requirements as parts -------------------------------------------------------------------------


def without(routing: Routing, parts: Sequence[str], language_instead: str | None) -> Routing:
    """The routing without these parts; a removed language becomes `language_instead`."""
    gone = {p.lower() for p in parts}
    language = routing.language_id
    if language and (LANGUAGE_PART + language).lower() in gone:
        language = language_instead
    if routing.requirement and (EXPRESSION_PART + routing.requirement).lower() in gone:
        routing = replace(routing, requirement=None)
    # The expression (someone else's, skill-router's) is never a part: it is kept as it is.
    return replace(
        routing, skill_ids=tuple(s for s in routing.skill_ids if s.lower() not in gone), language_id=language
    )


def with_parts(routing: Routing, parts: Sequence[str]) -> Routing:
    skills = _merge(list(routing.skill_ids), [p for p in parts if not p.startswith((LANGUAGE_PART, EXPRESSION_PART))])
    language = next((p.removeprefix(LANGUAGE_PART) for p in parts if p.startswith(LANGUAGE_PART)), routing.language_id)
    requirement = next((p.removeprefix(EXPRESSION_PART) for p in parts if p.startswith(EXPRESSION_PART)), None)
    if requirement is not None:
        routing = replace(routing, requirement=requirement)
    return replace(routing, skill_ids=tuple(skills), language_id=language)


def new_requirement(rule: Rule, chosen: Plan) -> Expr | None:
    """The requirement (resolved: ids) this plan writes that the leg did not have, or None."""
    text = chosen.after.requirement
    if not text or text == chosen.before.requirement:
        return None
    return requirement_of(rule, text)


def requirement_of(rule: Rule, text: str) -> Expr | None:
    """The rule's or a step's resolved requirement whose raw form is `text`."""
    for expr in (rule.requirement, *(s.requirement for s in rule.escalate)):
        if expr is not None and expr.render() == text:
            return expr
    return None


def meeting(staffing: Staffing, routing: Routing, required: Expr) -> int:
    """Members on queue who meet the skills, the language and the requirement."""
    skills = tuple(routing.skill_ids)
    return sum(1 for m in staffing.on_queue if m.meets(skills, routing.language_id) and required.evaluate(m))


def _serving(staffing: Staffing, routing: Routing, rule: Rule | None = None) -> int:
    """Members on queue who meet the routing's skills and language, and its requirement when the
    rule gives its resolved form (withheld_due)."""
    required = requirement_of(rule, routing.requirement) if rule is not None and routing.requirement else None
    if routing.requirement and rule is not None and required is None:
        return 0  # a requirement the matrix no longer has: never applied on a guess
    if required is not None:
        return meeting(staffing, routing, required)
    return staffing.serving(routing.skill_ids, routing.language_id)


def _merge(skills: list[str], add: Iterable[str]) -> list[str]:
    merged, have = list(skills), {s.lower() for s in skills}
    for skill in add:
        if skill.lower() not in have:
            have.add(skill.lower())
            merged.append(skill)
    return merged
