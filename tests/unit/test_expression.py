"""expression.py: the grammar skill-router supports, parsed by hand, bounded, with positions."""

from __future__ import annotations

import time

import pytest

from skill_router import expression
from skill_router.expression import ExpressionError, parse
from skill_router.staffing import Member

SDK_EXAMPLE = 'Skill("iPhone") >= 5 & LanguageSkill("English") >= 2'  # SDK model SkillExpressionData


def member(skills: dict[str, float] | None = None, languages: dict[str, float] | None = None) -> Member:
    return Member("u", "IDLE", skills=skills or {}, languages=languages or {})


def test_the_sdk_example_parses_and_renders_as_written():
    expr = parse(SDK_EXAMPLE)
    assert expr.render() == SDK_EXAMPLE
    assert [(t.kind, t.name, t.op, t.level) for t in expr.terms()] == [
        ("skill", "iPhone", ">=", 5),
        ("language", "English", ">=", 2),
    ]


@pytest.mark.parametrize(
    ("text", "rendered"),
    [
        ('Skill("A")>=1|Skill("B")>=2&Skill("C")=3', 'Skill("A") >= 1 | Skill("B") >= 2 & Skill("C") = 3'),
        (
            '(Skill("A") >= 1 | Skill("B") >= 2) & Skill("C") != 3',
            '(Skill("A") >= 1 | Skill("B") >= 2) & Skill("C") != 3',
        ),
        ('!Skill("A") < 2', '!(Skill("A") < 2)'),
        ('  ((Skill("A") > 0))  ', 'Skill("A") > 0'),
        ('Skill("Billing & Refunds") <= 4', 'Skill("Billing & Refunds") <= 4'),
    ],
)
def test_operators_precedence_and_rendering(text: str, rendered: str):
    assert parse(text).render() == rendered
    assert parse(rendered).render() == rendered  # stable


def test_evaluate_against_a_member_by_lower_case_id():
    expr = parse('Skill("S1") >= 3 & LanguageSkill("L1") >= 2').resolved(lambda kind, name: name.upper())
    assert expr.evaluate(member({"s1": 3}, {"l1": 5}))
    assert not expr.evaluate(member({"s1": 2}, {"l1": 5}))
    assert not expr.evaluate(member({"s1": 5}))
    assert parse('!(Skill("s1") >= 1)').evaluate(member())
    assert parse('Skill("s1") >= 4 | Skill("s2") = 1').evaluate(member({"s2": 1}))


@pytest.mark.parametrize(
    ("text", "position", "words"),
    [
        ('(Skill("A") >= 1', 0, "never closed"),
        ('Skill("A") >= 1)', 15, "unexpected"),
        (")", 0, "without '('"),
        ('Skil("A") >= 1', 0, "unknown function 'Skil'"),
        ('Skill("A") >= 1 & Agent("x") = 1', 18, "unknown function 'Agent'"),
        ("Skill(A) >= 1", 6, "double quotes"),
        ("Skill('A') >= 1", 6, "double quotes"),
        ('Skill("A) >= 1', 6, "unclosed quote"),
        ('Skill("A\\"B") >= 1', 8, "backslash"),
        ('Skill("") >= 1', 6, "empty name"),
        ('Skill("A") >= 6', 14, "above 5"),
        ('Skill("A") >= 2.5', 14, "whole number"),
        ('Skill("A") => 2', 12, "whole number"),
        ('Skill("A") 2', 11, "comparison"),
        ('Skill("A") >= 1 &', 17, "ends"),
        ('Skill("A") >= 1 and Skill("B") >= 1', 16, "unexpected"),
        ("", 0, "empty"),
    ],
)
def test_errors_name_the_position(text: str, position: int, words: str):
    with pytest.raises(ExpressionError) as raised:
        parse(text)
    assert raised.value.position == position, raised.value
    assert words in raised.value.message


def test_deep_nesting_is_refused_quickly():
    for text in ("(" * 10_000 + 'Skill("A") >= 1' + ")" * 10_000, "!" * 4_000):
        started = time.monotonic()
        with pytest.raises(ExpressionError) as raised:
            parse(text)
        assert "deep" in raised.value.message or "longer" in raised.value.message
        assert time.monotonic() - started < 0.5
    ok = "(" * 15 + 'Skill("A") >= 1' + ")" * 15
    assert parse(ok).render() == 'Skill("A") >= 1'
    with pytest.raises(ExpressionError, match="deep"):
        parse("(" * 16 + 'Skill("A") >= 1' + ")" * 16)


def test_length_is_bounded_at_4096():
    five_thousand = " & ".join(['Skill("Spanish") >= 3'] * 250)
    assert len(five_thousand) > 5_000
    started = time.monotonic()
    with pytest.raises(ExpressionError) as raised:
        parse(five_thousand)
    assert raised.value.position == expression.MAX_CHARS and "4,096" in raised.value.message
    assert time.monotonic() - started < 0.5
    fits = " & ".join(['Skill("Spanish") >= 3'] * 150)
    assert len(fits) <= 4_096 and len(list(parse(fits).terms())) == 150


@pytest.mark.parametrize("value", [None, 3, ["Skill"], b'Skill("A") >= 1'])
def test_only_strings(value: object):
    with pytest.raises(ExpressionError):
        parse(value)


def test_requirement_and_compose():
    expr = expression.from_requirement({"Spanish": 3, "Billing": 1}, {"English": 2})
    assert expr.render() == 'Skill("Spanish") >= 3 & Skill("Billing") >= 1 & LanguageSkill("English") >= 2'
    assert expr.words() == "Spanish at 3 or better, and Billing at 1 or better, and English at 2 or better"
    theirs = 'Skill("iPhone")>=5 | Skill("X")>=1'
    assert expression.compose(theirs, expr.render()) == f"({theirs}) & ({expr.render()})"
    assert parse(expression.compose(theirs, expr.render())).render()  # still in the grammar
