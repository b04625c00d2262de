"""`skill-router why` in words: who set each requirement (rule, step, someone else), the staffing
counts and what excludes the rest, the guard's withheld and relaxed parts, the steps applied and
due. Pure: a ledger entry and the caller as read, no I/O."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from skill_router.matrix import Rule, Step
from skill_router.staffing import Member, Staffing
from skill_router.why import BEFORE_US, SOMEONE_ELSE, Caller, Names, explain, skill_setters, step_lines, value_setter

A, B, C = (
    "aaaaaaaa-0000-4000-8000-000000000001",
    "bbbbbbbb-0000-4000-8000-000000000002",
    "cccccccc-0000-4000-8000-000000000003",
)
SPANISH = "eeeeeeee-0000-4000-8000-0000000000e5"
NOW = datetime(2026, 12, 5, 20, 0, tzinfo=UTC)
ENTERED = NOW - timedelta(minutes=3)


def entry(**fields: object) -> dict[str, object]:
    return {
        "outcome": "applied",
        "rule_id": "billing",
        "matched_keyword": "billing",
        "decided_at": "2026-12-05T19:57:10.000000Z",
        "skills_before": [A],
        "skills_decided": [A, B],
        "skills_after": [A, B],
        "priority_before": 0,
        "priority_decided": 10,
        "priority_after": 10,
        "language_before": None,
        "language_decided": "",
        "language_after": "",
        **fields,
    }


def rule(*steps: Step) -> Rule:
    return Rule(
        id="billing",
        position=1,
        line=2,
        keywords=("billing",),
        match="contains",
        attribute=None,
        skill_ids=(B,),
        urgency=None,
        routing_priority=10,
        notify=(),
        queues=(),
        escalate=steps,
    )


def caller(skills: tuple[str, ...] = (A, B), language: str | None = None, priority: int | None = 10) -> Caller:
    return Caller("c0nv", "q", "p", skills, language, priority, ENTERED)


def test_each_skill_is_attributed_to_whoever_added_it():
    log = [{"step": 1, "after": 60, "at": "2026-12-05T19:58:10Z", "skills_before": [A, B], "skills_after": [A, B, C]}]
    setters = skill_setters(
        [A, B, C, "dddddddd-0000-4000-8000-000000000004"], entry(step_log=log, skills_after=[A, B, C])
    )
    assert setters[A] == BEFORE_US
    assert setters[B] == "rule billing (keyword 'billing')"
    assert setters[C].startswith("step 1 after 1m of rule billing")
    assert setters["dddddddd-0000-4000-8000-000000000004"] == SOMEONE_ELSE + ", after skill-router's last change"


def test_without_an_applied_rule_everything_is_someone_elses():
    assert skill_setters([A], None) == {A: SOMEONE_ELSE}
    assert skill_setters([A], {"outcome": "no_match"}) == {A: SOMEONE_ELSE}
    assert value_setter("priority", 5, {"outcome": "no_match"}) == SOMEONE_ELSE


def test_language_and_priority_name_the_rule_or_the_step():
    log = [{"step": 2, "after": 300, "at": "x", "language_before": "", "language_after": SPANISH}]
    recorded = entry(step_log=log, language_after=SPANISH)
    assert value_setter("language", SPANISH, recorded).startswith("step 2 after 5m")
    assert value_setter("priority", 10, recorded) == "rule billing (keyword 'billing')"
    assert value_setter("priority", 0, recorded) == BEFORE_US
    assert value_setter("priority", 99, recorded).startswith(SOMEONE_ELSE)


def test_staffing_names_the_part_that_excludes_members_with_counts():
    members = (
        Member("u1", "IDLE", skills={A: 5}),
        Member("u2", "IDLE", skills={A: 5, B: 3}),
        Member("u3", "OFF_QUEUE", skills={A: 5, B: 3}, languages={SPANISH: 4}),
    )
    names = Names(skills={B: "Billing"}, languages={SPANISH: "Spanish"})
    text = explain(caller(language=SPANISH), entry(), rule(), Staffing("q", members, 0), names, NOW)
    assert "staffing: 2 of 3 joined members on queue now; 0 could take this caller" in text
    assert f"excluded by: language Spanish ({SPANISH}): 2 of 2 on queue lack it; skill Billing ({B}): 1 of 2" in text


def test_the_guard_withheld_and_relaxed_parts_are_said():
    recorded = entry(
        guard="withheld",
        skills_withheld=[C],
        relaxed=[f"language:{SPANISH}"],
        relaxed_at="2026-12-05T19:59:00Z",
    )
    text = explain(caller(), recorded, rule(), None, Names(), NOW, staffing_problem="403")
    assert "guard: withheld" in text
    assert f"withheld: skill {C}: nobody on queue could serve it; still withheld" in text
    assert f"relaxed: removed language {SPANISH} at 2026-12-05 19:59:00 UTC" in text
    assert "staffing: not known (403)" in text


def test_a_withheld_skill_applied_later_is_the_rules_applied_late():
    # guard.withheld_due: the applied part leaves `skills_withheld`, `withheld_applied_at` says when.
    later = entry(
        guard="withheld", skills_withheld=[], skills_after=[A, B, C], withheld_applied_at="2026-12-05T19:59:30Z"
    )
    assert skill_setters([C], later)[C].startswith("rule billing (keyword 'billing'), held back by the staffing guard")
    text = explain(caller((A, B, C)), later, rule(), None, Names(), NOW)
    assert "withheld parts applied at 2026-12-05 19:59:30 UTC, when someone" in text


def test_a_requirement_someone_else_set_that_blocks_is_named_and_never_removed():
    blocked = entry(unstaffed_since=NOW.timestamp() - 90, relax_blocked_by=[A], relax_blocked_at="2026-12-05T19:59:50Z")
    text = explain(caller(), blocked, rule(), None, Names(skills={A: "Legal"}), NOW)
    assert "unstaffed since 2026-12-05 19:58:30 UTC" in text
    assert f"blocked by what someone else set: skill Legal ({A})" in text and "never removes it" in text


def test_a_dry_run_entry_claims_nothing_it_did_not_change():
    text = explain(caller(), entry(dry_run=True), rule(), None, Names(), NOW)
    assert "dry run (applied): it changed nothing in Genesys" in text
    assert "set by rule" not in text and "steps:" not in text


def test_steps_applied_due_and_next_with_its_time():
    steps = (
        Step(position=1, line=5, after=60),
        Step(position=2, line=7, after=120),
        Step(position=3, line=9, after=600),
    )
    log = [{"step": 1, "after": 60, "at": "2026-12-05T19:58:00Z", "guard": "staffed"}]
    lines = step_lines(rule(*steps), entry(step_log=log, steps_applied=[60]), caller(), NOW)
    assert lines[1] == "  step 1 (after 1m) applied at 2026-12-05 19:58:00 UTC"
    assert "step 2 (after 2m) was due at 2026-12-05 19:59:00 UTC: the next poll applies it" in lines[2]
    assert lines[3] == "  next: step 3 (after 10m) due at 2026-12-05 20:07:00 UTC, in 7m"
    jumped = [{"step": 1, "after": 60, "at": "2026-12-05T19:57:10Z", "skipped": True, "guard": "next_step"}]
    lines = step_lines(rule(*steps), entry(step_log=jumped, steps_applied=[60, 120]), caller(), NOW)
    assert lines[1] == "  step 1 (after 1m) jumped over by the staffing guard at 2026-12-05 19:57:10 UTC"
    assert step_lines(None, entry(), caller(), NOW)[-1] == "  rule billing is no longer in the matrix: no further steps"


def test_a_control_character_never_reaches_the_terminal():
    text = explain(caller(), entry(outcome="failed", reason="bad\x1b[2J"), None, None, Names(), NOW)
    assert "\x1b" not in text and "\\x1b[2J" in text
