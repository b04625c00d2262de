"""The skill expressions a matrix file names (matrix/raw_expressions.py): `expression:` strings and
`require:` mappings of rules and escalation steps, with their lines, for `matrix validate --online`."""

from __future__ import annotations

from skill_router.matrix.raw_expressions import MAX_EXPRESSION_CHARS, expressions_in, render_require

MATRIX = """skill_matrix:
  - intent_keyword: billing
    skills: [Billing]
  - intent_keyword: espanol
    expression: 'Skill("Spanish") >= 3 | Skill("Billing") >= 1'
    escalate:
      - after: 2m
        require: {Spanish: 3, Billing: 1, language: {English: 2}}
      - after: 5m
        require: {Spanish: high}
"""


def test_require_is_rendered_in_genesys_raw_form():
    assert render_require({"Spanish": 3, "language": {"English": 2}}) == (
        'Skill("Spanish") >= 3 & LanguageSkill("English") >= 2'
    )
    assert render_require({"Spanish": 6}) is None and render_require({"Spanish": True}) is None
    assert render_require([]) is None and render_require({"language": {}}) is None


def test_every_expression_is_found_with_its_line_and_place():
    found = expressions_in(MATRIX)
    assert [(f.line, f.where) for f in found] == [
        (5, "rule 2 'expression'"),
        (8, "rule 2 escalate step 1 'require'"),
        (10, "rule 2 escalate step 2 'require'"),
    ]
    assert found[1].text == 'Skill("Spanish") >= 3 & Skill("Billing") >= 1 & LanguageSkill("English") >= 2'
    assert found[0].local_problem() is None and found[1].local_problem() is None
    assert "mapping of skill names" in (found[2].local_problem() or "")
    assert found[0].place("m.yaml") == "m.yaml:5 rule 2 'expression'"


def test_too_long_an_expression_is_a_local_problem_and_broken_yaml_has_none():
    long = " & ".join(['Skill("Spanish") >= 3'] * 200)
    (found,) = expressions_in(f"skill_matrix:\n  - intent_keyword: x\n    expression: '{long}'\n")
    assert len(long) > MAX_EXPRESSION_CHARS and "4,096" in (found.local_problem() or "")
    assert expressions_in("skill_matrix: [") == [] and expressions_in("other: 1") == []
