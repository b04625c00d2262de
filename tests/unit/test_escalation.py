"""The escalation planner: which steps are due for a waiting caller, and the one change to send."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from skill_router.escalation import Routing, due_steps, next_step_after, plan, waited_seconds
from skill_router.matrix import Rule, parse_matrix

BILLING = "5b1c2f7e-0000-4000-8000-000000000001"
GENERAL = "5b1c2f7e-0000-4000-8000-000000000003"
FLOW = "5b1c2f7e-0000-4000-8000-000000000009"  # a skill the caller's flow requested
ENGLISH = "5b1c2f7e-0000-4000-8000-0000000000e1"
SPANISH = "5b1c2f7e-0000-4000-8000-0000000000e2"

# The contract, with ids so no Genesys look-up is needed.
LADDER = f"""
skill_matrix:
  - id: billing
    intent_keyword: billing
    skills: [{BILLING}]
    language: {ENGLISH}
    routing_priority: 10
    escalate:
      - after: 60
        add_skills: [{GENERAL}]
        remove_skills: [{BILLING}]
      - after: 5m
        routing_priority: 50
        language: none
        notify: [lead@example.com]
"""


@pytest.fixture
def rule() -> Rule:
    return parse_matrix(LADDER, "m.yaml").rules[0]


FIRST_SEEN = Routing(skill_ids=(FLOW,), priority=0, language_id=None)


def test_a_caller_first_seen_before_any_step_gets_the_rule_alone(rule: Rule):
    p = plan(rule, waited=20, current=FIRST_SEEN, include_rule=True)
    assert p.due == () and p.change is not None
    assert p.change.skill_ids == (FLOW, BILLING), "the flow's skills are kept, the rule's merged in"
    assert (p.change.priority, p.change.language_id) == (10, ENGLISH)
    assert p.next_after == 60


def test_a_caller_first_seen_after_six_minutes_gets_the_rule_and_every_due_step_in_one_change(rule: Rule):
    p = plan(rule, waited=6 * 60, current=FIRST_SEEN, include_rule=True)
    assert p.applied_after == (60, 300)
    assert p.change is not None
    # Billing added by the rule, then removed by step 1; General added; priority 50; language
    # English then cleared, which is what the caller had: not sent at all.
    assert p.change.skill_ids == (FLOW, GENERAL)
    assert p.change.priority == 50
    assert p.change.language_id is None
    assert [n.recipients for n in p.notifications] == [("lead@example.com",)]
    assert p.next_after is None


def test_steps_fire_in_order_once_each_as_the_wait_grows(rule: Rule):
    # The rule was applied when the caller was first seen; the ledger then holds the steps applied.
    routing = Routing(skill_ids=(FLOW, BILLING), priority=10, language_id=ENGLISH)
    applied: list[int] = []
    changes = []
    for waited in (30, 59, 60, 61, 120, 299, 300, 301, 3600):
        p = plan(rule, waited=waited, current=routing, applied_after=applied)
        if p.due:
            applied += p.applied_after
            routing = p.after
            changes.append((waited, p.change))
        else:
            assert p.change is None, f"nothing is sent at {waited}s when no step is due"
    assert [w for w, _ in changes] == [60, 300]
    step1, step2 = (c for _, c in changes)
    assert step1 is not None and step1.skill_ids == (FLOW, GENERAL) and step1.priority is None
    assert step2 is not None and step2.skill_ids is None, "a priority and language step sends no skillIds"
    assert (step2.priority, step2.language_id) == (50, "")
    assert applied == [60, 300]


def test_remove_skills_removes_a_skill_whoever_requested_it(rule: Rule):
    # The flow itself requested Billing (not the rule): the step still removes it.
    p = plan(rule, waited=90, current=Routing(skill_ids=(BILLING.upper(),), priority=10), applied_after=())
    assert p.change is not None and p.change.skill_ids == (GENERAL,)


def test_removing_every_skill_sends_an_empty_list_only_because_the_step_means_it():
    text = f"""
skill_matrix:
  - intent_keyword: x
    skills: [{BILLING}]
    escalate:
      - after: 2m
        remove_skills: [{BILLING}]
"""
    rule = parse_matrix(text, "m.yaml").rules[0]
    p = plan(rule, waited=120, current=Routing(skill_ids=(BILLING,), priority=0))
    assert p.change is not None and p.change.skill_ids == ()


def test_priorities_are_only_raised(rule: Rule):
    # Someone (a supervisor, a flow) already raised the caller above the step's 50.
    current = Routing(skill_ids=(GENERAL,), priority=80, language_id=ENGLISH)
    p = plan(rule, waited=300, current=current, applied_after=[60])
    assert p.change is not None and p.change.priority is None and p.after.priority == 80
    assert p.change.language_id == "", "the step's language still applies"


def test_nothing_is_sent_when_the_caller_already_has_what_the_step_sets(rule: Rule):
    current = Routing(skill_ids=(GENERAL, FLOW), priority=60, language_id="")
    p = plan(rule, waited=300, current=current, applied_after=[60])
    assert p.due and p.change is None, "the step is recorded as applied, but no PATCH is needed"
    assert [n.recipients for n in p.notifications] == [("lead@example.com",)], "its email still goes once"


def test_skill_order_and_case_do_not_make_a_change():
    text = f"""
skill_matrix:
  - intent_keyword: x
    skills: [{BILLING}, {GENERAL}]
    escalate:
      - after: 60
        add_skills: [{FLOW}]
"""
    rule = parse_matrix(text, "m.yaml").rules[0]
    p = plan(rule, waited=10, current=Routing(skill_ids=(GENERAL.upper(), BILLING), priority=0), include_rule=True)
    assert p.change is None


def test_a_step_listed_below_one_already_applied_is_never_applied_late(rule: Rule):
    # A new matrix version inserted a step at 2m; this caller already had the 5m step.
    assert due_steps(rule, 400, applied_after=[300]) == ()
    assert due_steps(rule, 400, applied_after=[60]) == (rule.escalate[1],)
    assert due_steps(rule, 400, applied_after=[]) == rule.escalate


def test_a_clock_behind_the_queue_entry_makes_nothing_due(rule: Rule):
    entered = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
    waited = waited_seconds(entered, entered - timedelta(seconds=30))
    assert waited == 0 and due_steps(rule, waited) == ()
    assert waited_seconds(entered, entered + timedelta(minutes=1, seconds=30)) == 90


def test_next_step_after_says_when_to_look_again(rule: Rule):
    assert next_step_after(rule, 0) == 60
    assert next_step_after(rule, 60, [60]) == 300
    assert next_step_after(rule, 301, [60, 300]) is None


def test_a_rule_without_a_ladder_plans_the_rule_only():
    rule = parse_matrix(f"skill_matrix:\n  - intent_keyword: x\n    skill_id: {BILLING}\n", "m.yaml").rules[0]
    p = plan(rule, waited=10_000, current=Routing(priority=0), include_rule=True)
    assert p.due == () and p.next_after is None
    assert p.change is not None and p.change.skill_ids == (BILLING,) and p.change.priority is None


def test_the_rules_own_email_is_planned_once_with_the_rule_only():
    text = f"""
skill_matrix:
  - intent_keyword: x
    skill_id: {BILLING}
    priority: high
    supervisor_email: boss@example.com
    escalate:
      - after: 60
        notify: [lead@example.com]
"""
    rule = parse_matrix(text, "m.yaml").rules[0]
    first = plan(rule, waited=90, current=Routing(priority=0), include_rule=True)
    assert [(n.step, n.recipients) for n in first.notifications] == [
        (None, ("boss@example.com",)),
        (rule.escalate[0], ("lead@example.com",)),
    ]
    later = plan(rule, waited=90, current=first.after, applied_after=[])
    assert [n.step for n in later.notifications] == [rule.escalate[0]]


def test_an_unknown_current_priority_gets_the_rule_and_step_priority_sent(rule: Rule):
    p = plan(rule, waited=300, current=Routing(skill_ids=(GENERAL,)), applied_after=[60])
    assert p.change is not None and p.change.priority == 50


def test_a_language_set_by_a_step_replaces_the_rule_language():
    text = f"""
skill_matrix:
  - intent_keyword: x
    skills: [{BILLING}]
    language: {SPANISH}
    escalate:
      - after: 10m
        language: {ENGLISH}
"""
    rule = parse_matrix(text, "m.yaml").rules[0]
    assert plan(rule, waited=5, current=Routing(), include_rule=True).after.language_id == SPANISH
    late = plan(rule, waited=601, current=Routing(language_id=SPANISH), applied_after=[])
    assert late.change is not None and late.change.language_id == ENGLISH and late.change.skill_ids is None
