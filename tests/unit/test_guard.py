"""The staffing guard's decision table (issue 20), through the caller's whole path with the
in-memory store: add only what someone on queue can serve, relax only what blocks, once."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any

import pytest

from skill_router.errors import MatrixError
from skill_router.escalation import Routing, plan
from skill_router.guard import (
    APPLIED_UNSTAFFED,
    NEXT_STEP,
    STAFFED,
    UNKNOWN,
    WITHHELD,
    guard_plan,
    ours,
    relax_due,
    withheld_due,
)
from skill_router.matrix import parse_matrix
from skill_router.staffing import Member, Staffing
from tests.unit.test_decisions import BILLING, CALLER, ENGLISH, LEG, QUEUE, T0, TECH, World, world

SPANISH = "5b1c2f7e-0000-4000-8000-0000000000e2"
GENERAL = "5b1c2f7e-0000-4000-8000-000000000004"
ARCHITECT = "5b1c2f7e-0000-4000-8000-000000000005"  # a skill the caller's flow requested


def matrix(when: str = "skip", min_staffed: int = 1, language: str = "", steps: str = "") -> str:
    return f"""
skill_matrix:
  - id: billing
    intent_keyword: billing
    skills: [{BILLING}]
    routing_priority: 10
    min_staffed: {min_staffed}
    when_unstaffed: {when}
{language}{steps}"""


SPANISH_RULE = f"    language: {SPANISH}\n"
LADDER = f"""    escalate:
      - after: 60
        add_skills: [{TECH}]
      - after: 120
        add_skills: [{GENERAL}]
        remove_skills: [{BILLING}]
"""


class Roster:
    """An in-memory staffing source: `get(queue_id) -> Staffing | None` (None: unknown)."""

    def __init__(self, *members: Member, known: bool = True) -> None:
        self.members = list(members)
        self.known = known
        self.reads = 0

    def get(self, queue_id: str) -> Staffing | None:
        self.reads += 1
        if not self.known:
            return None
        return Staffing(queue_id, tuple(self.members), 0.0)


def agent(name: str, *skills: str, languages: tuple[str, ...] = (), status: str = "IDLE") -> Member:
    return Member(name, status, True, {s.lower(): 3.0 for s in skills}, {x.lower(): 3.0 for x in languages})


def guarded(roster: Roster, text: str, **env: str) -> World:
    w = world(text, **env)
    w.adapters.staffing = roster
    return w


# --- the matrix contract ---------------------------------------------------------------------------


def test_min_staffed_and_when_unstaffed_default_to_one_and_skip():
    rule = parse_matrix(matrix().replace("    min_staffed: 1\n    when_unstaffed: skip\n", ""), "m.yaml").rules[0]
    assert (rule.min_staffed, rule.when_unstaffed) == (1, "skip")


@pytest.mark.parametrize(
    ("key", "value"),
    [("min_staffed", "-1"), ("min_staffed", "two"), ("min_staffed", "true"), ("when_unstaffed", "wait")],
)
def test_a_bad_guard_key_is_reported_with_file_and_line(key: str, value: str):
    text = matrix().replace(f"    {key}: {'1' if key == 'min_staffed' else 'skip'}\n", f"    {key}: {value}\n")
    with pytest.raises(MatrixError) as caught:
        parse_matrix(text, "m.yaml")
    line = text.splitlines().index(f"    {key}: {value}") + 1
    assert f"m.yaml:{line} rule 1 '{key}'" in str(caught.value)


# --- the pure decision -----------------------------------------------------------------------------


def test_a_staffed_requirement_is_left_as_the_rule_says():
    rule = parse_matrix(matrix(), "m.yaml").rules[0]
    chosen = plan(rule, waited=5, current=Routing((), 0, None), include_rule=True)
    staffing = Staffing(QUEUE, (agent("a", BILLING),), 0.0)
    result = guard_plan(rule, chosen, staffing)
    assert result.decision == STAFFED and result.plan == chosen and result.serving == 1


def test_unknown_staffing_applies_the_rule_as_before_and_says_unknown():
    rule = parse_matrix(matrix(), "m.yaml").rules[0]
    chosen = plan(rule, waited=5, current=Routing((), 0, None), include_rule=True)
    result = guard_plan(rule, chosen, None)
    assert result.decision == UNKNOWN and result.plan == chosen


def test_a_rule_with_min_staffed_zero_or_the_guard_off_is_not_guarded():
    for rule, enabled in (
        (parse_matrix(matrix(min_staffed=0), "m.yaml").rules[0], True),
        (parse_matrix(matrix(), "m.yaml").rules[0], False),
    ):
        chosen = plan(rule, waited=5, current=Routing((), 0, None), include_rule=True)
        result = guard_plan(rule, chosen, Staffing(QUEUE, (), 0.0), enabled=enabled)
        assert result.decision is None and result.plan == chosen


def test_a_priority_only_change_is_never_guarded():
    rule = parse_matrix(matrix(), "m.yaml").rules[0]
    chosen = plan(rule, waited=5, current=Routing((BILLING,), 0, None), include_rule=True)
    result = guard_plan(rule, chosen, Staffing(QUEUE, (), 0.0))
    assert result.decision is None and result.plan.change is not None and result.plan.change.priority == 10


def test_min_staffed_counts_members_on_queue_only():
    rule = parse_matrix(matrix(min_staffed=2), "m.yaml").rules[0]
    chosen = plan(rule, waited=5, current=Routing((), 0, None), include_rule=True)
    staffing = Staffing(QUEUE, (agent("a", BILLING), agent("b", BILLING, status="OFF_QUEUE")), 0.0)
    assert guard_plan(rule, chosen, staffing).decision == WITHHELD


# --- first sight through the caller's path -----------------------------------------------------------


def test_skip_withholds_only_the_unstaffed_skill_and_still_raises_the_priority():
    w = guarded(Roster(agent("a", ARCHITECT)), matrix())
    w.caller("billing", skills=[ARCHITECT])
    outcome = w.poll()
    assert outcome.outcome == "applied" and outcome.withheld == 1
    assert w.genesys.patches == [{"priority": 10}], "the skill nobody has is left off; the priority is raised"
    e = w.entry()
    assert (e["guard"], e["skills_withheld"], e["language_withheld"]) == (WITHHELD, [BILLING], "")


def test_skip_withholds_an_unstaffed_language_and_keeps_the_staffed_skill():
    w = guarded(Roster(agent("a", BILLING, languages=(ENGLISH,))), matrix(language=SPANISH_RULE))
    w.caller("billing")
    w.poll()
    assert w.genesys.patches == [{"skillIds": [BILLING], "priority": 10}]
    e = w.entry()
    assert (e["guard"], e["skills_withheld"], e["language_withheld"]) == (WITHHELD, [], SPANISH)


def test_apply_is_todays_behaviour_and_says_so():
    w = guarded(Roster(), matrix(when="apply"))
    w.caller("billing")
    w.poll()
    assert w.genesys.patches == [{"skillIds": [BILLING], "priority": 10}]
    assert w.entry()["guard"] == APPLIED_UNSTAFFED and not w.entry().get("skills_withheld")


def test_unknown_staffing_is_todays_behaviour_and_recorded_unknown():
    w = guarded(Roster(known=False), matrix())
    w.caller("billing")
    w.poll()
    assert w.genesys.patches == [{"skillIds": [BILLING], "priority": 10}]
    assert w.entry()["guard"] == UNKNOWN


def test_without_a_staffing_source_nothing_is_guarded_or_recorded():
    w = world(matrix())
    w.caller("billing")
    w.poll()
    assert w.genesys.patches == [{"skillIds": [BILLING], "priority": 10}] and "guard" not in w.entry()


def test_next_step_jumps_to_the_first_staffed_step_and_the_skipped_steps_never_fire():
    # Nobody has Billing; nobody has Billing+Tech (step 1); General (step 2, Billing removed) is staffed.
    w = guarded(Roster(agent("a", TECH), agent("b", GENERAL, TECH)), matrix(when="next_step", steps=LADDER))
    w.caller("billing")
    w.poll()
    assert w.genesys.patches == [{"skillIds": [TECH, GENERAL], "priority": 10}]
    e = w.entry()
    assert e["guard"] == NEXT_STEP and e["steps_applied"] == [60, 120] and e["steps_skipped"] == [60]
    assert w.poll(200).steps == 0 and len(w.genesys.patches) == 1, "the jumped-over steps never fire later"


def test_next_step_with_no_staffed_step_withholds_like_skip():
    w = guarded(Roster(), matrix(when="next_step", steps=LADDER))
    w.caller("billing")
    w.poll()
    assert w.genesys.patches == [{"priority": 10}] and w.entry()["guard"] == WITHHELD


def test_an_unstaffed_escalation_step_is_withheld_on_the_poll_path():
    roster = Roster(agent("a", BILLING))
    w = guarded(roster, matrix(steps=LADDER))
    w.caller("billing")
    w.poll()
    assert w.entry()["guard"] == STAFFED
    outcome = w.poll(61)
    assert outcome.steps == 1 and outcome.withheld == 1
    assert len(w.genesys.patches) == 1, "step 1 only adds Tech, which nobody on queue has: no PATCH"
    e = w.entry()
    assert e["steps_applied"] == [60] and e["skills_withheld"] == [TECH]
    assert e["step_log"][0]["guard"] == WITHHELD


# --- withheld parts applied later ------------------------------------------------------------------


def test_a_withheld_skill_is_applied_on_a_later_poll_once_someone_with_it_is_on_queue_and_only_once():
    roster = Roster(agent("a", ARCHITECT))
    w = guarded(roster, matrix())
    w.caller("billing", skills=[ARCHITECT])
    w.poll()
    assert w.poll(10).withheld_applied == 0 and len(w.genesys.patches) == 1, "still nobody: nothing sent"
    roster.members.append(agent("b", ARCHITECT, BILLING))
    outcome = w.poll(10)
    assert outcome.withheld_applied == 1
    assert w.genesys.patches[-1] == {"skillIds": [ARCHITECT, BILLING]}
    e = w.entry()
    assert e["skills_withheld"] == [] and e["withheld_applied_at"] and e["skills_after"] == [ARCHITECT, BILLING]
    assert w.poll(10).withheld_applied == 0 and len(w.genesys.patches) == 2, "never twice"


def test_withheld_parts_read_from_a_stale_copy_are_applied_once_whatever_the_handlers():
    """Attack: a second handler holding the same out-of-date entry (another container's memory,
    an event container) arrives after the first applied the withheld skill: it sends nothing."""
    roster = Roster(agent("a", ARCHITECT))
    w = guarded(roster, matrix(), EVENT_MODE="true")
    w.caller("billing", skills=[ARCHITECT])
    w.poll()
    stale = w.entry()
    roster.members.append(agent("b", ARCHITECT, BILLING))
    found = w.found(w.genesys.callers[CALLER])
    now = datetime.fromtimestamp(w.clock.now + 10, UTC)
    w.clock.now += 10
    from skill_router.first_sight import process_conversation

    first = process_conversation(found, stale, w.matrix, w.adapters, now, run_ladder=True)
    second = process_conversation(found, stale, w.matrix, w.adapters, now, run_ladder=True)
    assert (first.withheld_applied, second.withheld_applied) == (1, 0)
    assert len(w.genesys.patches) == 2


def test_a_handler_finding_the_leg_claimed_leaves_the_withheld_parts_to_the_holder():
    roster = Roster(agent("a", ARCHITECT))
    w = guarded(roster, matrix())
    w.caller("billing", skills=[ARCHITECT])
    w.poll()
    roster.members.append(agent("b", ARCHITECT, BILLING))
    assert w.store.claim_mend(CALLER, LEG, "event-container", 30)
    assert w.poll(5).withheld_applied == 0 and len(w.genesys.patches) == 1
    w.clock.now += 31 + 3
    assert w.poll().withheld_applied == 1


# --- relax only what blocks ------------------------------------------------------------------------


def test_a_requirement_skill_router_added_is_relaxed_after_the_hysteresis_once_and_theirs_is_kept():
    roster = Roster(agent("a", ARCHITECT, BILLING))
    w = guarded(roster, matrix(), UNSTAFFED_RELAX_SECONDS="60")
    w.caller("billing", skills=[ARCHITECT])
    w.poll()
    assert w.genesys.patches == [{"skillIds": [ARCHITECT, BILLING], "priority": 10}]
    roster.members = [agent("b", ARCHITECT)]  # the Billing agent logged off
    w.poll(5)
    since = w.entry()["unstaffed_since"]
    assert since == int(w.clock.now) and len(w.genesys.patches) == 1
    assert w.poll(30).relaxed == 0 and len(w.genesys.patches) == 1, "not before the hysteresis"
    outcome = w.poll(31)
    assert outcome.relaxed == 1
    assert w.genesys.patches[-1] == {"skillIds": [ARCHITECT]}, "only the rule's Billing is removed"
    e = w.entry()
    assert e["relaxed"] == [BILLING] and e["relaxed_at"] and e["skills_after"] == [ARCHITECT]
    roster.members = [agent("c")]
    assert w.poll(120).relaxed == 0 and len(w.genesys.patches) == 2, "at most once per leg"


def test_staff_back_within_the_hysteresis_resets_it():
    roster = Roster(agent("a", BILLING))
    w = guarded(roster, matrix(), UNSTAFFED_RELAX_SECONDS="60")
    w.caller("billing")
    w.poll()
    roster.members = []
    w.poll(5)
    assert w.entry()["unstaffed_since"]
    roster.members = [agent("a", BILLING)]
    w.poll(50)
    assert not w.entry().get("unstaffed_since")
    roster.members = []
    w.poll(5)
    assert w.poll(30).relaxed == 0, "the clock started again"


def test_a_requirement_someone_else_set_is_never_removed_only_reported():
    roster = Roster(agent("a", ARCHITECT, BILLING))
    w = guarded(roster, matrix(), UNSTAFFED_RELAX_SECONDS="60")
    w.caller("billing", skills=[ARCHITECT])
    w.poll()
    roster.members = [agent("b", BILLING)]  # nobody with the flow's skill is left: ours does not block
    w.poll(5)
    assert w.poll(70).relaxed == 0 and len(w.genesys.patches) == 1
    e = w.entry()
    assert e["relax_blocked_by"] == [ARCHITECT] and not e.get("relaxed")


def test_unknown_staffing_never_relaxes():
    roster = Roster(agent("a", BILLING))
    w = guarded(roster, matrix(), UNSTAFFED_RELAX_SECONDS="60")
    w.caller("billing")
    w.poll()
    roster.known = False
    assert w.poll(500).relaxed == 0 and len(w.genesys.patches) == 1


def test_two_handlers_with_the_same_stale_entry_relax_once():
    roster = Roster(agent("a", BILLING))
    w = guarded(roster, matrix(), UNSTAFFED_RELAX_SECONDS="60", EVENT_MODE="true")
    w.caller("billing")
    w.poll()
    roster.members = [agent("b")]  # on queue, without Billing
    w.poll(5)
    w.clock.now += 61
    stale = w.entry()
    found = w.found(w.genesys.callers[CALLER])
    now = datetime.fromtimestamp(w.clock.now, UTC)
    from skill_router.first_sight import process_conversation

    outcomes = [process_conversation(found, stale, w.matrix, w.adapters, now, run_ladder=True) for _ in range(2)]
    assert [o.relaxed for o in outcomes] == [1, 0] and len(w.genesys.patches) == 2


# --- the pure helpers the poll path uses ---------------------------------------------------------


def test_withheld_due_and_relax_due_say_nothing_for_a_leg_without_our_requirement():
    entry: dict[str, Any] = {"outcome": "applied", "skills_before": [], "skills_after": [], "language_after": ""}
    staffing = Staffing(QUEUE, (), 0.0)
    assert withheld_due(entry, staffing, 1, T0) is None
    assert relax_due(entry, staffing, T0, 60) is None


def test_relax_removes_an_added_language_when_only_it_blocks():
    entry = {
        "outcome": "applied",
        "skills_before": [],
        "skills_after": [BILLING],
        "language_before": "",
        "language_after": SPANISH,
        "unstaffed_since": int(T0.timestamp()) - 100,
    }
    staffing = Staffing(QUEUE, (agent("a", BILLING),), 0.0)
    repair = relax_due(entry, staffing, T0, 60)
    assert repair is not None and repair.after == Routing((BILLING,), None, "")
    assert repair.fields["relaxed"] == [f"language:{SPANISH}"]


def test_dataclass_is_frozen():
    rule = parse_matrix(matrix(), "m.yaml").rules[0]
    chosen = plan(rule, waited=5, current=Routing((), 0, None), include_rule=True)
    result = guard_plan(rule, chosen, None)
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.decision = STAFFED  # type: ignore[misc]


def test_nobody_on_queue_at_all_relaxes_nothing():
    """Relaxing helps nobody when nobody is on queue: the requirement is reported, not removed."""
    roster = Roster(agent("a", BILLING))
    w = guarded(roster, matrix(), UNSTAFFED_RELAX_SECONDS="60")
    w.caller("billing")
    w.poll()
    roster.members = []
    w.poll(5)
    assert w.poll(70).relaxed == 0 and len(w.genesys.patches) == 1


# --- the audit trail -------------------------------------------------------------------------------


def test_every_guard_decision_is_a_row_of_the_callers_story():
    from skill_router import audit

    roster = Roster(agent("a", ARCHITECT))
    w = guarded(roster, matrix(), UNSTAFFED_RELAX_SECONDS="60")
    w.caller("billing", skills=[ARCHITECT])
    w.poll()
    roster.members.append(agent("b", ARCHITECT, BILLING))
    w.poll(10)
    roster.members = [agent("c", ARCHITECT)]
    w.poll(10)
    w.poll(61)
    rows = [row for entry in audit.legs(w.store, CALLER) for row in audit.entry_rows(entry, 1)]
    events = [(r["event"], r["outcome"]) for r in rows]
    assert ("staffing guard", WITHHELD) in events
    assert ("withheld applied", "staffing guard") in events and ("relaxed", "staffing guard") in events
    text = audit.render(rows, audit.STORY_COLUMNS)
    assert "withheld what nobody on queue has" in text and "can serve it now" in text and "removed" in text


def test_matrix_explain_says_what_the_guard_would_do(tmp_path, capsys):
    from skill_router.cli.commands import main

    path = tmp_path / "m.yaml"
    path.write_text(matrix(when="next_step", min_staffed=2, steps=LADDER))
    assert main(["matrix", "explain", str(path), "--intent", "billing"]) == 0
    out = capsys.readouterr().out
    assert "staffing guard: before adding a skill or setting a language, at least 2 members on queue" in out
    assert "when_unstaffed: next_step" in out and "jumps to the first escalation step" in out
    path.write_text(matrix(min_staffed=0))
    main(["matrix", "explain", str(path), "--intent", "billing"])
    assert "staffing guard: off for this rule (min_staffed: 0)" in capsys.readouterr().out


def test_two_handlers_at_the_same_moment_apply_withheld_parts_once():
    """Attack: a poller and an event container (or two pollers) reach the same leg at once, and
    the first one's PATCH is slow: whatever the interleaving, one PATCH for the repair."""
    import threading

    from skill_router.first_sight import process_conversation

    roster = Roster(agent("a", ARCHITECT))
    w = guarded(roster, matrix(), EVENT_MODE="true")
    w.caller("billing", skills=[ARCHITECT])
    w.poll()
    roster.members.append(agent("b", ARCHITECT, BILLING))
    stale = w.entry()
    slow, entered = threading.Event(), threading.Event()
    patch = w.genesys.patch_routing

    def slow_patch(*args: Any, **kwargs: Any) -> bool:
        entered.set()
        slow.wait(5)
        return patch(*args, **kwargs)

    w.genesys.patch_routing = slow_patch  # type: ignore[method-assign]
    w.clock.now += 10
    found = w.found(w.genesys.callers[CALLER])
    now = datetime.fromtimestamp(w.clock.now, UTC)
    results: list[Any] = []

    def handle() -> None:
        results.append(process_conversation(found, stale, w.matrix, w.adapters, now, run_ladder=True))

    first = threading.Thread(target=handle)
    first.start()
    assert entered.wait(5)
    second = process_conversation(found, stale, w.matrix, w.adapters, now, run_ladder=True)
    slow.set()
    first.join(5)
    assert second.withheld_applied == 0 and results[0].withheld_applied == 1
    assert len(w.genesys.patches) == 2


def test_a_repair_is_made_on_the_routing_the_leg_has_now_and_keeps_what_others_set():
    """Review of issue 20: a relax or a withheld part applied later is built on the conversation as
    read just before the PATCH (skillIds replaces the whole list), never on the ledger's copy."""
    entry = {
        "outcome": "applied",
        "skills_before": [],
        "skills_after": [BILLING],
        "language_before": "",
        "language_after": "",
        "language_withheld": SPANISH,
    }
    staffing = Staffing(QUEUE, (agent("a", BILLING, languages=(SPANISH,)),), 0.0)
    repair = withheld_due(entry, staffing, 1, T0)
    assert repair is not None
    live = Routing((BILLING, TECH), 10, ENGLISH)  # a person added Technical and set English since
    made = repair.onto(live, entry)
    assert made.after == Routing((BILLING, TECH), 10, ENGLISH), "their skill and language are kept"
    assert made.parts == () and made.change is None
    assert made.fields["requirements_others"] == [TECH, f"language:{ENGLISH}"]
    assert ours({**entry, **made.fields, "skills_after": [BILLING, TECH]}, Routing((BILLING, TECH), 10, ENGLISH)) == [
        BILLING
    ], "what they set is never taken for ours"


def test_a_relax_counts_only_what_the_leg_still_has():
    entry = {
        "outcome": "applied",
        "skills_before": [],
        "skills_after": [BILLING, TECH],
        "language_before": "",
        "language_after": "",
        "unstaffed_since": int(T0.timestamp()) - 100,
    }
    staffing = Staffing(QUEUE, (agent("a", TECH),), 0.0)
    repair = relax_due(entry, staffing, T0, 60)
    assert repair is not None and repair.parts == (BILLING,)
    made = repair.onto(Routing((TECH,), 10, None), entry)  # a person removed Billing already
    assert made.change is None and made.parts == () and made.fields["relaxed"] == []
