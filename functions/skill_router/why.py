"""Why is this caller still waiting? One queue leg explained in plain words (`skill-router why`).

Pure (no I/O): the CLI reads the caller now (GET conversation), the leg's ledger entry, the matrix
and the queue's staffing, and this module says, for each requirement the caller carries (skills,
language, priority, a skill expression), who set it: skill-router's rule or one of its steps
(from the ledger's `skills_before`, `skills_decided`, `step_log` and `skills_after`), or someone
else (the flow, a person, Bullseye, another integration); how many members on queue could take
the caller now and which requirement excludes the rest (`Staffing.lacking`); what the staffing
guard withheld or relaxed and why (issue 20's ledger fields); the steps applied and the next one
due. It never shows a caller's attribute values: only ids, names from the matrix or Genesys, the
matrix's own keyword, and times.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from skill_router.durations import format_duration
from skill_router.escalation import due_steps, next_step_after
from skill_router.expression import Expr, ExpressionError, parse
from skill_router.guard import requirement_of
from skill_router.matrix import Rule
from skill_router.staffing import Staffing

SOMEONE_ELSE = "someone else (the flow, a person, Bullseye)"
BEFORE_US = "someone else, before skill-router saw the caller (the flow, a person)"
ASSIGNED = ("applied", "unchanged")  # outcomes of a rule applied on the leg
GUARD_WORDS = {
    "staffed": "someone on queue could serve the whole requirement when the rule applied",
    "withheld": "it left off what nobody on queue could serve (the rule's `when_unstaffed: skip`)",
    "next_step": "nobody on queue could serve the rule's requirement: it jumped to the first staffed step",
    "applied_unstaffed": "nobody on queue could serve it, and the rule says `when_unstaffed: apply`",
    "unknown": "the queue's staffing could not be read then, so the guard was off and the rule applied as written",
}
OUTCOME_WORDS = {
    "no_match": "no rule of the matrix matches this caller: skill-router changed nothing",
    "waiting_for_intent": "the caller has no intent attribute yet: skill-router reads it again later",
    "no_intent": "no intent attribute arrived in time: skill-router changed nothing",
    "no_rule": "no rule can change this caller's routing: skill-router changed nothing",
    "not_queued": "the caller had not reached a queue in time: skill-router changed nothing",
    "too_old": "the conversation is older than the ledger keeps: skill-router changed nothing",
    "gone": "skill-router recorded that the caller had left this leg",
    "failed": "skill-router could not apply its rule",
    "retry": "a Genesys call failed: the next poll tries again",
    "shadowed": (
        "its rule matched but is shadowed: someone else's skill expression takes priority over skills, "
        "so what the rule gives has no routing effect (the rule's `with_expression: and` would AND it in)"
    ),
}


@dataclass(frozen=True)
class Caller:
    """One waiting queue leg as Genesys shows it now (GET /api/v2/conversations/{id})."""

    conversation_id: str
    queue_id: str
    participant_id: str | None
    skill_ids: tuple[str, ...]
    language_id: str | None
    priority: int | None
    entered: datetime | None  # when the caller entered this queue
    skill_expression: str | None = None
    queue_name: str | None = None


@dataclass
class Names:
    """Skill, language and queue names by id (lower case), where the CLI could learn them."""

    skills: dict[str, str] = field(default_factory=dict)
    languages: dict[str, str] = field(default_factory=dict)

    def skill(self, skill_id: str) -> str:
        name = self.skills.get(skill_id.lower())
        return f"{name} ({skill_id})" if name else skill_id

    def language(self, language_id: str) -> str:
        name = self.languages.get(language_id.lower())
        return f"{name} ({language_id})" if name else language_id

    def part(self, part: str) -> str:
        """A part of a requirement as `Staffing.lacking` names it: a skill id or `language:<id>`."""
        if part.startswith("language:"):
            return "language " + self.language(part.partition(":")[2])
        return "skill " + self.skill(part)


def _ids(values: Any) -> list[str]:
    return [str(v).lower() for v in values or () if v]


def _rule_words(entry: Mapping[str, Any]) -> str:
    keyword = entry.get("matched_keyword")
    return f"rule {entry.get('rule_id')}" + (f" (keyword {keyword!r})" if keyword else "")


def _step_words(step: Mapping[str, Any]) -> str:
    after = step.get("after")
    when = f" after {format_duration(float(after))}" if after is not None else ""
    return f"step {step.get('step')}{when} of {{rule}}, at {_clock(step.get('at'))}"


def _steps(entry: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [s for s in entry.get("step_log") or () if isinstance(s, dict)]


def skill_setters(skill_ids: Sequence[str], entry: Mapping[str, Any] | None) -> dict[str, str]:
    """Who set each skill the caller requests now (by lower-case id)."""
    found: dict[str, str] = {}
    if not entry or entry.get("outcome") not in ASSIGNED:
        return {s.lower(): SOMEONE_ELSE for s in skill_ids}
    before = set(_ids(entry.get("skills_before")))
    decided = set(_ids(entry.get("skills_decided", entry.get("skills_written"))))
    ours = set(_ids(entry.get("skills_after")))
    rule = _rule_words(entry)
    for skill in (s.lower() for s in skill_ids):
        if skill in before:
            found[skill] = BEFORE_US
        elif skill in decided:
            found[skill] = rule
        else:
            step = next(
                (
                    s
                    for s in _steps(entry)
                    if skill in _ids(s.get("skills_after")) and skill not in _ids(s.get("skills_before"))
                ),
                None,
            )
            if step is not None:
                found[skill] = _step_words(step).format(rule=rule)
            elif skill in ours and entry.get("withheld_applied_at"):
                # The guard removes an applied part from `skills_withheld` and says when (guard.py).
                found[skill] = (
                    f"{rule}, held back by the staffing guard and applied at "
                    f"{_clock(entry['withheld_applied_at'])} (someone who has it came on queue)"
                )
            elif skill in ours:
                found[skill] = f"skill-router ({rule})"
            else:
                found[skill] = SOMEONE_ELSE + ", after skill-router's last change"
    return found


def removed_since(skill_ids: Sequence[str], entry: Mapping[str, Any] | None) -> list[str]:
    """Skills skill-router left on the leg that it no longer requests (removed by someone else)."""
    if not entry or entry.get("outcome") not in ASSIGNED:
        return []
    now = {s.lower() for s in skill_ids}
    relaxed = set(_ids(entry.get("relaxed")))
    return [s for s in _ids(entry.get("skills_after")) if s not in now and s not in relaxed]


def value_setter(name: str, current: Any, entry: Mapping[str, Any] | None) -> str:
    """Who set the caller's language or priority (`name`: "language" or "priority")."""
    if not entry or entry.get("outcome") not in ASSIGNED:
        return SOMEONE_ELSE

    def same(a: Any, b: Any) -> bool:
        return str(a or "").lower() == str(b or "").lower()

    rule = _rule_words(entry)
    decided = entry.get(f"{name}_decided", entry.get(f"{name}_written"))
    if same(entry.get(f"{name}_before"), current):
        return BEFORE_US
    if decided not in (None, "") and same(decided, current):
        return rule
    for step in _steps(entry):
        if same(step.get(f"{name}_after"), current) and not same(step.get(f"{name}_before"), current):
            return _step_words(step).format(rule=rule)
    if same(entry.get(f"{name}_after"), current):
        return f"skill-router ({rule})"
    return SOMEONE_ELSE + ", after skill-router's last change"


def staffing_lines(caller: Caller, staffing: Staffing | None, problem: str | None, names: Names) -> list[str]:
    """How many members on queue could take the caller now, and what excludes the rest."""
    if staffing is None:
        return [f"staffing: not known ({problem or 'not read'})"]
    on_queue = len(staffing.on_queue)
    joined = len(staffing.members)
    serving = staffing.serving(caller.skill_ids, caller.language_id)
    lines = [
        f"staffing: {on_queue} of {joined} joined member{'s' if joined != 1 else ''} on queue now; "
        f"{serving} could take this caller"
    ]
    if on_queue == 0:
        lines.append("  nobody is on queue: every joined member is off queue (or none is joined)")
    elif serving < on_queue:
        lacking = staffing.lacking(caller.skill_ids, caller.language_id)
        parts = sorted(((n, p) for p, n in lacking.items() if n), key=lambda pair: (-pair[0], pair[1]))
        lines.append(
            "  excluded by: " + "; ".join(f"{names.part(p)}: {n} of {on_queue} on queue lack it" for n, p in parts)
        )
    if caller.skill_expression:
        lines.append(
            "  (counted on the skills and language; Genesys routes by the skill expression, not evaluated here)"
        )
    return lines


def requirement_lines(required: Expr, staffing: Staffing, withheld: bool) -> list[str]:
    """skill-router's requirement (a skill expression) in plain words, and the term that excludes
    the most members on queue: "Spanish at 3 or better: none of 7 on queue; 2 have Spanish at 2"."""
    on_queue = staffing.on_queue
    meeting = sum(1 for m in on_queue if required.evaluate(m))
    state = "withheld (nobody enough on queue meets it)" if withheld else "written as the skill expression"
    lines = [f"  requirement: {required.words()}: {state}; {meeting} of {len(on_queue)} on queue meet it"]
    terms = list(required.terms())
    if not terms or not on_queue or meeting == len(on_queue):
        return lines
    counts = [(sum(1 for m in on_queue if t.evaluate(m)), i, t) for i, t in enumerate(terms)]
    met, _, term = min(counts, key=lambda c: (c[0], c[1]))
    levels: dict[float, int] = {}
    for member in on_queue:
        have = (member.skills if term.kind == "skill" else member.languages).get(term.name.lower())
        if have is not None and not term.evaluate(member):
            levels[have] = levels.get(have, 0) + 1
    label = term.label or term.name
    near = ", ".join(
        f"{n} {'has' if n == 1 else 'have'} {label} at {level:g}" for level, n in sorted(levels.items(), reverse=True)
    )
    lines.append(
        f"  excluded most by: {term.words()}: {'none' if met == 0 else met} of {len(on_queue)} on queue"
        + (f"; {near}" if near else "")
    )
    return lines


def guard_lines(entry: Mapping[str, Any] | None, names: Names) -> list[str]:
    """What the staffing guard decided on this leg, withheld or relaxed, in plain words."""
    if not entry:
        return []
    lines = []
    guard = entry.get("guard")
    if guard:
        lines.append(f"guard: {guard}: {GUARD_WORDS.get(str(guard), 'as recorded')}")
    withheld = [names.part(s) for s in _ids(entry.get("skills_withheld"))]
    if entry.get("expression_withheld"):
        withheld.append(f"the requirement {_expression_words(str(entry['expression_withheld']))}")
    if entry.get("language_withheld"):
        withheld.append("language " + names.language(str(entry["language_withheld"])))
    applied = entry.get("withheld_applied_at")
    if withheld:
        lines.append(
            f"  withheld: {', '.join(withheld)}: nobody on queue could serve it; still withheld, skill-router "
            "adds it once someone on queue can"
            + (f" (other withheld parts were applied at {_clock(applied)})" if applied else "")
        )
    elif applied:
        lines.append(f"  withheld parts applied at {_clock(applied)}, when someone who could serve them came on queue")
    relaxed = [names.part(p) for p in (str(x) for x in entry.get("relaxed") or ())]
    if relaxed:
        lines.append(
            f"  relaxed: removed {', '.join(relaxed)} at {_clock(entry.get('relaxed_at'))}: nobody on queue could "
            "serve the requirement for UNSTAFFED_RELAX_SECONDS (once per leg)"
        )
    blocked = [names.part(str(p)) for p in entry.get("relax_blocked_by") or ()]
    if not relaxed and entry.get("unstaffed_since"):
        since = _clock(datetime.fromtimestamp(float(entry["unstaffed_since"]), UTC))
        then = "" if blocked else "; it relaxes what it added after UNSTAFFED_RELAX_SECONDS"
        lines.append(f"  unstaffed since {since}: nobody on queue meets the requirement skill-router set{then}")
    if blocked:
        lines.append(
            f"  removing what skill-router added would not help: blocked by what someone else set: "
            f"{', '.join(blocked)} (as of {_clock(entry.get('relax_blocked_at'))}; skill-router never removes "
            "it: change it in the flow or in Genesys)"
        )
    return lines


def step_lines(rule: Rule | None, entry: Mapping[str, Any] | None, caller: Caller, now: datetime) -> list[str]:
    """The rule's ladder on this leg: the steps applied (when), refused, and the next one due."""
    if not entry or entry.get("outcome") not in ASSIGNED:
        return []
    log = _steps(entry)
    lines = [
        f"step {s.get('step')} (after {format_duration(float(s.get('after') or 0))}) "
        + ("jumped over by the staffing guard" if s.get("skipped") else "applied")
        + f" at {_clock(s.get('at'))}"
        + (f" (guard: {s['guard']})" if s.get("guard") not in (None, "staffed") and not s.get("skipped") else "")
        for s in log
    ]
    failed = [int(a) for a in entry.get("steps_failed") or ()]
    if failed:
        lines.append(
            "step(s) after "
            + ", ".join(format_duration(a) for a in failed)
            + " refused by Genesys MAX_ATTEMPTS times: given up"
        )
    if rule is None:
        lines.append(f"rule {entry.get('rule_id')} is no longer in the matrix: no further steps")
        return _indent("steps:", lines)
    if not rule.escalate:
        return _indent("steps:", lines or ["the rule has no escalation steps"])
    applied = [int(a) for a in [*(entry.get("steps_applied") or ()), *failed]]
    entered = caller.entered or now
    waited = max((now - entered).total_seconds(), 0.0)
    for step in due_steps(rule, waited, applied):
        due = entered + timedelta(seconds=step.after)
        lines.append(
            f"step {step.position} (after {format_duration(step.after)}) was due at {_clock(due)}: "
            "the next poll applies it"
        )
    after = next_step_after(rule, waited, applied)
    if after is not None:
        position = next(s.position for s in rule.escalate if s.after == after)
        due = entered + timedelta(seconds=after)
        lines.append(
            f"next: step {position} (after {format_duration(after)}) due at {_clock(due)}, "
            f"in {format_duration((due - now).total_seconds())}"
        )
    elif not due_steps(rule, waited, applied):
        lines.append("no step left: the ladder is done")
    return _indent("steps:", lines)


def _indent(title: str, lines: list[str]) -> list[str]:
    return [title, *(f"  {line}" for line in lines)] if lines else []


def explain(
    caller: Caller,
    entry: Mapping[str, Any] | None,
    rule: Rule | None,
    staffing: Staffing | None,
    names: Names,
    now: datetime,
    staffing_problem: str | None = None,
    matrix_version: str | None = None,
) -> str:
    """The caller's leg on one screen."""
    waited = format_duration((now - caller.entered).total_seconds()) if caller.entered else "?"
    queue = f"{caller.queue_name} ({caller.queue_id})" if caller.queue_name else caller.queue_id
    lines = [
        f"conversation {caller.conversation_id}: waiting {waited} in queue {queue}"
        + (f" since {_clock(caller.entered)}" if caller.entered else "")
    ]
    outcome = entry.get("outcome") if entry else None
    if entry is not None and entry.get("dry_run"):
        # DRY_RUN: the ledger says what would have been done; Genesys shows only what others set.
        lines.append(
            f"skill-router: dry run ({outcome}): it changed nothing in Genesys; "
            f"`skill-router audit --conversation {caller.conversation_id} --dry-run` shows what it would do"
        )
        entry = None
    elif entry is None:
        lines.append("skill-router: nothing recorded for this leg yet (a poll reads it within POLL_INTERVAL_SECONDS)")
    elif outcome in ASSIGNED:
        decided = _clock(entry.get("decided_at") or entry.get("updated_at"))
        lines.append(f"skill-router: {_rule_words(entry)} applied at {decided}")
        version = entry.get("matrix_version")
        if version and matrix_version and str(version) != str(matrix_version):
            lines.append(f"  (matrix version {version} then; {matrix_version} now)")
    else:
        words = OUTCOME_WORDS.get(str(outcome), f"recorded {outcome}")
        reason = entry.get("reason")
        lines.append(f"skill-router: {words}" + (f" ({reason})" if reason and outcome in ("failed", "retry") else ""))
        if entry.get("hint") and outcome in ("failed", "retry"):
            lines.append(f"  what to do: {entry['hint']}")
    setters = skill_setters(caller.skill_ids, entry)
    lines.append("requires:")
    if not caller.skill_ids:
        lines.append("  no skills")
    for skill in caller.skill_ids:
        lines.append(f"  skill {names.skill(skill)}: set by {setters[skill.lower()]}")
    if caller.language_id:
        setter = value_setter("language", caller.language_id, entry)
        lines.append(f"  language {names.language(caller.language_id)}: set by {setter}")
    else:
        lines.append("  no language")
    if caller.priority is not None:
        lines.append(f"  priority {caller.priority}: set by {value_setter('priority', caller.priority, entry)}")
    if caller.skill_expression:
        lines.append(
            f"  skill expression {caller.skill_expression!r}: set by {SOMEONE_ELSE}; "
            "Genesys routes by it instead of the skills (skill-router keeps it)"
        )
    gone = removed_since(caller.skill_ids, entry)
    if gone:
        lines.append(
            "  removed since skill-router's last change: "
            + ", ".join(names.skill(s) for s in gone)
            + f" (by {SOMEONE_ELSE})"
        )
    lines += staffing_lines(caller, staffing, staffing_problem, names)
    text = (entry.get("expression_withheld") or entry.get("requirement_after")) if entry else None
    required = requirement_of(rule, str(text)) if rule is not None and text else None
    if required is not None and staffing is not None:
        lines += requirement_lines(required, staffing, withheld=bool(entry and entry.get("expression_withheld")))
    lines += guard_lines(entry, names)
    lines += step_lines(rule, entry, caller, now)
    return "\n".join(_printable(line) for line in lines)


def _expression_words(text: str) -> str:
    try:
        return parse(text).words()
    except ExpressionError:
        return repr(text)


def _clock(value: Any) -> str:
    """A time as the operator reads it: UTC to the second."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str) and value:
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return value
    else:
        return "-"
    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _printable(text: str) -> str:
    """No control character reaches the terminal (a Genesys error text, an expression)."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
