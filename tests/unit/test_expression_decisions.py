"""Decisions with skill expressions (issue 28), pure: the matrix keys, what a plan writes, when a
rule is shadowed, composing with someone else's expression and restoring it exactly, the guard
evaluating a requirement against the members it was given, and `why`'s plain words."""

from __future__ import annotations

import pytest

from skill_router.errors import MatrixError
from skill_router.escalation import Routing, plan, shadowed
from skill_router.guard import WITHHELD, guard_plan
from skill_router.matrix import Rule, parse_matrix, resolve_matrix
from skill_router.staffing import Member, Staffing
from skill_router.why import requirement_lines

THEIRS = 'Skill("iPhone") >= 5 & LanguageSkill("English") >= 2'
IDS = {"Spanish": "S-ES", "Billing": "S-BI"}


def rule(extra: str = "", require: str = "{Spanish: 3, Billing: 1}") -> Rule:
    text = f"skill_matrix:\n  - id: r\n    intent_keyword: billing\n    require: {require}\n{extra}"
    matrix = parse_matrix(text, "m.yaml")
    resolved = resolve_matrix(
        matrix,
        lambda names: {n: IDS[n] for n in names if n in IDS},
        lambda user: None,
        lambda names: {"English": "L-EN"},
    )
    return resolved.rules[0]


def test_require_becomes_an_expression_with_names_written_and_ids_for_evaluating():
    r = rule()
    assert r.requirement is not None and not r.skill_ids
    assert r.requirement.render() == 'Skill("Spanish") >= 3 & Skill("Billing") >= 1'
    assert [t.name for t in r.requirement.terms()] == ["s-es", "s-bi"]


def test_a_plan_writes_the_expression_and_no_skill_ids():
    chosen = plan(rule(), waited=0, current=Routing(("flow-skill",), 0), include_rule=True)
    assert chosen.change is not None
    assert chosen.change.skill_ids is None
    assert chosen.change.skill_expression == 'Skill("Spanish") >= 3 & Skill("Billing") >= 1'


def test_someone_else_s_expression_shadows_the_rule_and_is_never_written_over():
    r = rule()
    current = Routing((), 0, theirs=THEIRS)
    assert shadowed(r, current)
    chosen = plan(r, waited=0, current=current, include_rule=True)
    assert chosen.change is None or chosen.change.skill_expression is None
    assert chosen.after.expression == THEIRS


def test_with_expression_and_composes_and_require_none_restores_the_original_exactly():
    steps = "    with_expression: and\n    escalate:\n      - after: 60\n        require: none\n"
    r = rule(steps)
    current = Routing((), 0, theirs=THEIRS)
    assert not shadowed(r, current)
    first = plan(r, waited=0, current=current, include_rule=True)
    assert first.change is not None
    composed = f'({THEIRS}) & (Skill("Spanish") >= 3 & Skill("Billing") >= 1)'
    assert first.change.skill_expression == composed
    second = plan(r, waited=61, current=first.after)
    assert second.change is not None and second.change.skill_expression == THEIRS


def test_dropping_our_only_expression_clears_it():
    r = rule("    escalate:\n      - after: 60\n        require: none\n")
    first = plan(r, waited=0, current=Routing(), include_rule=True)
    second = plan(r, waited=61, current=first.after)
    assert second.change is not None and second.change.skill_expression == ""


def test_a_step_requirement_replaces_the_rule_s():
    r = rule("    escalate:\n      - after: 60\n        require: {Spanish: 1}\n")
    first = plan(r, waited=0, current=Routing(), include_rule=True)
    second = plan(r, waited=61, current=first.after)
    assert second.change is not None and second.change.skill_expression == 'Skill("Spanish") >= 1'


def members(*skills: dict[str, float]) -> Staffing:
    return Staffing("q", tuple(Member(f"u{i}", "IDLE", skills=s) for i, s in enumerate(skills)), 0.0)


def test_the_guard_withholds_a_requirement_nobody_on_queue_meets_and_keeps_the_priority():
    r = rule("    routing_priority: 10\n")
    chosen = plan(r, waited=0, current=Routing((), 0), include_rule=True)
    staffing = members({"s-bi": 2}, {"s-es": 2, "s-bi": 4})
    guarded = guard_plan(r, chosen, staffing)
    assert guarded.decision == WITHHELD and guarded.expression_withheld
    assert guarded.plan.change is not None and guarded.plan.change.skill_expression is None
    assert guarded.plan.change.priority == 10
    staffed = guard_plan(r, chosen, members({"s-es": 3, "s-bi": 1}))
    assert staffed.decision == "staffed" and staffed.plan.change is not None
    assert staffed.plan.change.skill_expression


def test_why_names_the_term_that_excludes_the_most():
    r = rule()
    assert r.requirement is not None
    staffing = members(*([{"s-bi": 2}] * 5), {"s-es": 2, "s-bi": 4}, {"s-es": 2, "s-bi": 4})
    lines = requirement_lines(r.requirement, staffing, withheld=True)
    assert "Spanish at 3 or better: none of 7 on queue; 2 have Spanish at 2" in lines[-1]


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        ("    require: {Spanish: 7}\n", "proficiency from 0 to 5"),
        ("    require: [Spanish]\n", "expected skill names"),
        ("    skills: [Billing]\n    require: {Spanish: 1}\n", "not both"),
        ("    skills: [Billing]\n    with_expression: and\n", "only a rule with 'require'"),
        ("    skills: [Billing]\n    with_expression: or\n", "expected 'and'"),
        ("    expression: 'Skill(\"A\") >= 1 &'\n", "'expression': the expression ends"),
    ],
)
def test_matrix_keys_are_validated_with_file_and_line(extra: str, words: str):
    text = f"skill_matrix:\n  - id: r\n    intent_keyword: billing\n{extra}"
    with pytest.raises(MatrixError) as raised:
        parse_matrix(text, "m.yaml")
    assert any(words in p and p.startswith("m.yaml:") for p in raised.value.problems), raised.value.problems
