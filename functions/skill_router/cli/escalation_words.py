"""How `skill-router matrix explain` and `diff` put a rule's escalation ladder into words.

Names the function would resolve through Genesys (skills, languages, user ids) are shown as
written, so the CLI needs no Genesys connection.
"""

from __future__ import annotations

from dataclasses import replace

from skill_router import escalation
from skill_router.durations import format_duration
from skill_router.matrix import Rule, Step

# What `explain --waited` assumes about the caller before the rule: what a flow that requests
# nothing leaves (Genesys' default priority is 0).
BLANK = escalation.Routing(skill_ids=(), priority=0, language_id=None)


def _language(language_id: str | None) -> str:
    return "cleared (none)" if language_id == "" else str(language_id)


def _as_written(rule: Rule) -> Rule:
    """The rule with names in place of ids, so the pure logic can run on it unresolved."""
    steps = tuple(
        replace(
            step,
            add_skill_ids=(*step.add_skill_ids, *step.add_skill_names),
            remove_skill_ids=(*step.remove_skill_ids, *step.remove_skill_names),
            language_id=step.language_name if step.language_name is not None else step.language_id,
            notify=(*step.notify, *(f"user {u}" for u in step.notify_users)),
        )
        for step in rule.escalate
    )
    return replace(
        rule,
        skill_ids=(*rule.skill_ids, *rule.skill_names),
        language_id=rule.language_name if rule.language_name is not None else rule.language_id,
        notify=(*rule.notify, *(f"user {u}" for u in rule.notify_users)),
        escalate=steps,
    )


def step_text(step: Step) -> str:
    parts = []
    if step.add_skill_ids:
        parts.append(f"add {', '.join(step.add_skill_ids)}")
    if step.remove_skill_ids:
        parts.append(f"remove {', '.join(step.remove_skill_ids)}")
    if step.routing_priority is not None:
        parts.append(f"raise routing priority to {step.routing_priority}")
    if step.language_id is not None:
        parts.append(f"language {_language(step.language_id)}")
    if step.requirement is not None:
        parts.append(f"require instead: {step.requirement.words()}")
    if step.drops_requirement:
        parts.append("drop the rule's requirement (someone else's expression stays, word for word)")
    if step.notify:
        parts.append(f"email {', '.join(step.notify)} once")
    return "; ".join(parts)


def describe_rule(rule: Rule) -> list[str]:
    """The rule's language and its ladder, for `explain`."""
    shown = _as_written(rule)
    lines = [
        f"  language: {_language(shown.language_id)}" if shown.language_id is not None else "  language: unchanged"
    ]
    if not shown.escalate:
        lines.append("  escalation: none")
        return lines
    lines.append("  escalation while the caller waits in this queue (counted from when they entered it):")
    for step in shown.escalate:
        lines.append(
            f"    step {step.position} (line {step.line}) after {format_duration(step.after)}: {step_text(step)}"
        )
    return lines


def describe_wait(rule: Rule, waited: int) -> list[str]:
    """What a caller first seen after waiting `waited` seconds gets: the rule and every due step
    in one change, and when the next step falls due."""
    shown = _as_written(rule)
    plan = escalation.plan(shown, waited=waited, current=BLANK, include_rule=True)
    lines = [
        f"a caller first seen after waiting {format_duration(waited)} (no skills, priority 0, no language before):"
    ]
    due = ", ".join(f"step {s.position} ({format_duration(s.after)})" for s in plan.due)
    lines.append(f"  due: the rule{' and ' + due if due else ''}")
    change = plan.change
    if change is None:
        lines.append("  nothing to send: the caller's routing already says it")
    else:
        fields = []
        if change.skill_ids is not None:
            fields.append(f"skills {', '.join(change.skill_ids) or '(none: every skill removed)'}")
        if change.priority is not None:
            fields.append(f"priority {change.priority}")
        if change.language_id is not None:
            fields.append(f"language {_language(change.language_id)}")
        lines.append(f"  one PATCH: {'; '.join(fields)}")
    for note in plan.notifications:
        who = "the rule" if note.step is None else f"step {note.step.position}"
        lines.append(f"  email (once, for {who}): {', '.join(note.recipients)}")
    if plan.next_after is not None:
        step = next(s for s in shown.escalate if s.after == plan.next_after)
        lines.append(
            f"  next: step {step.position} at {format_duration(step.after)} "
            f"(in {format_duration(step.after - waited)}): {step_text(step)}"
        )
    elif shown.escalate:
        lines.append("  next: nothing; every step has fired")
    return lines


def summary(rule: Rule) -> str:
    """A one-line tail for `diff`: the language and the ladder, so a changed step is a change."""
    shown = _as_written(rule)
    text = f"; language {_language(shown.language_id)}" if shown.language_id is not None else ""
    if shown.escalate:
        text += "; escalate " + " | ".join(f"{format_duration(s.after)}: {step_text(s)}" for s in shown.escalate)
    return text
