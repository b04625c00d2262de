"""Decisions with skill expressions (issue 28), pure: the matrix keys, what a plan writes, when a
rule is shadowed, composing with someone else's expression and restoring it exactly, the guard
evaluating a requirement against the members it was given, and `why`'s plain words."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest

from skill_router import expression
from skill_router.errors import MatrixError
from skill_router.escalation import SHADOWED_BY_THEIRS, Routing, plan, shadow_reason
from skill_router.first_sight import Assignment, carried_from, decide
from skill_router.genesys.client import Discovered, LiveConversation
from skill_router.guard import WITHHELD, guard_plan
from skill_router.matrix import Matrix, Rule, parse_matrix, resolve_matrix
from skill_router.settings import load_settings
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
    assert shadow_reason(r, current) == SHADOWED_BY_THEIRS
    chosen = plan(r, waited=0, current=current, include_rule=True)
    assert chosen.change is None or chosen.change.skill_expression is None
    assert chosen.after.expression == THEIRS


def test_with_expression_and_composes_and_require_none_restores_the_original_exactly():
    steps = "    with_expression: and\n    escalate:\n      - after: 60\n        require: none\n"
    r = rule(steps)
    current = Routing((), 0, theirs=THEIRS)
    assert shadow_reason(r, current) is None
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


def test_a_queue_that_does_not_evaluate_expressions_gets_the_skills_and_language_without_proficiency():
    r = rule(require="{Spanish: 3, Billing: 1, language: {English: 2}}")
    chosen = plan(r, waited=0, current=Routing(("flow-skill",), 0), include_rule=True, no_expression=True)
    assert chosen.expression_unsupported
    assert chosen.change is not None and chosen.change.skill_expression is None
    assert chosen.change.skill_ids == ("flow-skill", "s-es", "s-bi")
    assert chosen.change.language_id == "l-en"
    assert chosen.after.requirement is None
    # The guard counts members on the skills and the language, as for a skills rule.
    guarded = guard_plan(r, chosen, members({"s-es": 1, "s-bi": 1}))
    assert guarded.decision == WITHHELD and set(guarded.skills_withheld) == {"s-es", "s-bi"}
    assert guarded.language_withheld == "l-en" and guarded.expression_withheld == ""


def test_a_step_requirement_in_such_a_queue_adds_its_skills_without_proficiency():
    r = rule("    escalate:\n      - after: 60\n        require: {Billing: 4}\n", require="{Spanish: 3}")
    first = plan(r, waited=0, current=Routing(), include_rule=True, no_expression=True)
    second = plan(r, waited=61, current=first.after, no_expression=True)
    assert second.expression_unsupported and second.change is not None
    assert second.change.skill_ids == ("s-es", "s-bi") and second.change.skill_expression is None


def test_decide_plans_without_expressions_for_a_queue_named_in_no_expression_queues():
    queue = "0f0e0d0c-0000-4000-8000-00000000000a"
    env = {"GENESYS_CREDENTIALS_SECRET": "c", "GENESYS_TOKEN_SECRET": "t", "STATE_TABLE": "s"}
    env |= {"SKILL_MATRIX_BUCKET": "b", "NO_EXPRESSION_QUEUES": f" {queue.upper()} , "}
    settings = load_settings(env)
    assert settings.no_expression_queue_ids == frozenset({queue})
    now = datetime(2026, 1, 1, tzinfo=UTC)
    live = LiveConversation("c", {"intent": "billing"}, queue, False, (), 0)
    found = Discovered("c", now, False, queue, False, ())
    matrix = Matrix(rules=(rule(),), version="v", source="m.yaml")
    decided = decide(live, found, None, matrix, settings, 10**9, now, False)
    assert isinstance(decided, Assignment) and decided.plan.expression_unsupported
    assert decided.plan.change is not None and decided.plan.change.skill_ids == ("s-es", "s-bi")
    other = decide(dataclasses.replace(live, queue_id="elsewhere"), found, None, matrix, settings, 10**9, now, False)
    assert isinstance(other, Assignment) and not other.plan.expression_unsupported


def test_composing_past_what_genesys_takes_is_shadowed_with_the_reason_and_writes_nothing():
    r = rule("    with_expression: and\n")
    long_theirs = 'Skill("Billing") >= 1' + " " * (expression.MAX_CHARS - 30)
    current = Routing((), 0, theirs=long_theirs)
    reason = shadow_reason(r, current)
    assert reason is not None and "4,096" in reason
    chosen = plan(r, waited=0, current=current, include_rule=True)
    assert chosen.blocked and chosen.shadow_reason == reason
    assert chosen.change is None or chosen.change.skill_expression is None
    assert chosen.after.expression == long_theirs


def test_a_step_whose_requirement_would_not_fit_keeps_the_rule_s_and_applies_the_rest():
    steps = (
        "    with_expression: and\n    escalate:\n      - after: 60\n        routing_priority: 50\n"
        "        expression: '" + " | ".join(['Skill("Spanish") >= 2'] * 150) + "'\n"
    )
    r = rule(steps)
    theirs = 'Skill("Billing") >= 1' + " " * 1000
    first = plan(r, waited=0, current=Routing((), 0, theirs=theirs), include_rule=True)
    assert first.shadow_reason is None and first.change is not None
    second = plan(r, waited=61, current=first.after)
    assert second.change is not None and second.change.priority == 50
    assert second.change.skill_expression is None  # the step's requirement would exceed 4,096
    assert second.after.expression == first.after.expression


def test_a_new_leg_carrying_what_we_left_on_the_earlier_one_is_ours_not_theirs():
    env = {
        "GENESYS_CREDENTIALS_SECRET": "c",
        "GENESYS_TOKEN_SECRET": "t",
        "STATE_TABLE": "s",
        "SKILL_MATRIX_BUCKET": "b",
    }
    settings = load_settings(env)
    now = datetime(2026, 1, 1, tzinfo=UTC)
    r = rule("    with_expression: and\n")
    ours = r.requirement.render() if r.requirement else ""
    composed = f"({THEIRS}) & ({ours})"
    earlier = {("c", "p1"): {"expression_before": THEIRS, "requirement_after": ours, "expression_written": composed}}
    live = LiveConversation("c", {"intent": "billing"}, "q2", False, (), 0, skill_expression=composed)
    live = dataclasses.replace(live, earlier_legs=("p1",))
    carried = carried_from(live, earlier)
    assert carried is earlier[("c", "p1")]
    found = Discovered("c", now, False, "q2", False, ())
    matrix = Matrix(rules=(r,), version="v", source="m.yaml")
    decided = decide(live, found, None, matrix, settings, 10**9, now, False, carried)
    assert isinstance(decided, Assignment)
    assert decided.plan.shadow_reason is None and decided.plan.before.theirs == THEIRS
    assert decided.plan.change is None or decided.plan.change.skill_expression is None  # composed once
    # someone else's expression that is not what we left stays theirs
    other = dataclasses.replace(live, skill_expression=THEIRS)
    assert carried_from(other, earlier) is None


def test_the_length_bound_counts_as_genesys_may_count_an_emoji_as_two():
    assert expression.written_length('Skill("a") >= 1') == len('Skill("a") >= 1')
    assert expression.written_length("🇪🇸") == 4  # two regional indicators, each a surrogate pair
    r = rule("    with_expression: and\n")
    ours = r.requirement.render() if r.requirement else ""
    room = expression.MAX_CHARS - len(f"() & ({ours})")
    fits = "x" * room  # 4,096 exactly, composed
    assert shadow_reason(r, Routing((), 0, theirs=fits)) is None
    emoji = "x" * (room - 1) + "🙂"  # 4,096 code points, 4,097 UTF-16 units
    assert shadow_reason(r, Routing((), 0, theirs=emoji)) is not None
