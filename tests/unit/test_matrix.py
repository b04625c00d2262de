from pathlib import Path

import pytest

from skill_router.errors import MatrixError
from skill_router.matrix import parse_matrix, resolve_matrix

EXAMPLES = Path(__file__).parents[2] / "examples"
BILLING = "5b1c2f7e-0000-4000-8000-000000000001"
TECH = "5b1c2f7e-0000-4000-8000-000000000002"

SEED = f"""
skill_matrix:
  - intent_keyword: billing
    skill_id: {BILLING}
    priority: high
    supervisor_email: billing.lead@example.com
  - intent_keyword: technical
    skill_id: {TECH}
    priority: medium
    supervisor_email: tech.lead@example.com
"""


def problems_of(text: str) -> list[str]:
    with pytest.raises(MatrixError) as caught:
        parse_matrix(text, "skill_matrix.yaml")
    return caught.value.problems


def test_seed_format_loads_unchanged():
    matrix = parse_matrix(SEED, "skill_matrix.yaml", "v1")
    billing, tech = matrix.rules
    assert billing.skill_ids == (BILLING,)
    assert billing.high_priority and not tech.high_priority
    assert billing.notify == ("billing.lead@example.com",)
    assert billing.routing_priority is None  # the seed's "priority" is urgency, never a skill proficiency
    assert matrix.version == "v1"


def test_keyword_matches_case_insensitively_on_both_sides():
    # The seed lower-cased only the intent, so a keyword written "Billing" never matched.
    matrix = parse_matrix(SEED.replace("intent_keyword: billing", "intent_keyword: Billing"), "m.yaml")
    hit = matrix.match({"intent": "I have a BILLING question"}, "intent")
    assert hit is not None and hit[0].skill_ids == (BILLING,)


def test_first_matching_rule_wins():
    matrix = parse_matrix(SEED, "m.yaml")
    hit = matrix.match({"intent": "technical billing dispute"}, "intent")
    assert hit is not None and hit[0].position == 1


def test_no_intent_or_unrelated_intent_matches_nothing():
    matrix = parse_matrix(SEED, "m.yaml")
    assert matrix.match({}, "intent") is None
    assert matrix.match({"intent": "sales"}, "intent") is None
    assert matrix.match({"other": "billing"}, "intent") is None


def test_exact_and_regex_modes_and_other_attribute():
    text = f"""
skill_matrix:
  - keywords: [cancel]
    match: exact
    skills: [{BILLING}]
  - intent_keyword: "^refund (now|today)$"
    match: regex
    attribute: botIntent
    skill_id: {TECH}
"""
    matrix = parse_matrix(text, "m.yaml")
    assert matrix.match({"intent": " Cancel "}, "intent")[0].position == 1  # type: ignore[index]
    assert matrix.match({"intent": "cancel my order"}, "intent") is None
    assert matrix.match({"botIntent": "Refund today"}, "intent")[0].position == 2  # type: ignore[index]
    assert matrix.match({"intent": "refund today"}, "intent") is None


def test_every_problem_is_reported_with_line_and_field():
    text = f"""skill_matrix:
  - intent_keyword: billing
    skill_id: not-a-uuid
    priority: urgent
  - skill_id: {TECH}
    colour: blue
"""
    problems = problems_of(text)
    assert (
        "skill_matrix.yaml:3 rule 1 'skill_id': 'not-a-uuid' is not a Genesys skill id (a UUID); "
        "put names under 'skills:'" in problems
    )
    assert "skill_matrix.yaml:4 rule 1 'priority': expected one of high, medium, low or an integer" in problems
    assert any(p.startswith("skill_matrix.yaml:5 rule 2: missing 'intent_keyword'") for p in problems)
    assert any(p.startswith("skill_matrix.yaml:6 rule 2 'colour': unknown key") for p in problems)


def test_broken_yaml_names_the_line():
    problems = problems_of("skill_matrix:\n  - intent_keyword: billing\n    skill_id: [unclosed\n")
    # The file ends inside the bracket opened on line 3: the last line there is, not one past it.
    assert len(problems) == 1 and problems[0].startswith("skill_matrix.yaml:3: not valid YAML")


def test_yaml_tags_that_construct_objects_are_refused():
    problems = problems_of("skill_matrix: !!python/object/apply:os.system ['echo hi']\n")
    assert "not valid YAML" in problems[0]


def test_missing_skill_matrix_list_is_explained():
    assert "expected a mapping with a 'skill_matrix:' list" in problems_of("rules: []\n")[0]
    assert "'skill_matrix': expected a non-empty list" in problems_of("skill_matrix: []\n")[0]


def test_a_catastrophic_shape_for_a_backtracker_is_matched_by_re2():
    """(a+)+$ hangs Python's re on "aaa...!"; RE2 has no backtracking, so it loads and answers."""
    text = f"skill_matrix:\n  - intent_keyword: '(a+)+$'\n    match: regex\n    skill_id: {BILLING}\n"
    matrix = parse_matrix(text, "skill_matrix.yaml")
    assert matrix.match({"intent": "a" * 900 + "!"}, "intent") is None
    assert matrix.match({"intent": "AAAA"}, "intent") is not None  # case-insensitive, as before


def test_a_regex_re2_refuses_is_reported_with_line_and_reason():
    text = (
        f"skill_matrix:\n  - intent_keyword: billing\n    skill_id: {BILLING}\n"
        f"  - intent_keyword: '(a)\\1'\n    match: regex\n    skill_id: {BILLING}\n"
    )
    problem = problems_of(text)[0]
    assert problem.startswith("skill_matrix.yaml:4 rule 2 'intent_keyword': regex '(a)\\\\1' cannot be used: RE2")
    assert "invalid escape sequence" in problem


def test_named_routing_priorities_map_to_integers():
    text = f"""
priorities: {{high: 100, low: 1}}
skill_matrix:
  - intent_keyword: billing
    skill_id: {BILLING}
    routing_priority: high
  - intent_keyword: tech
    skill_id: {TECH}
    routing_priority: 7
"""
    first, second = parse_matrix(text, "m.yaml").rules
    assert (first.routing_priority, second.routing_priority) == (100, 7)
    assert "routing_priority" in problems_of(text.replace("routing_priority: 7", "routing_priority: urgent"))[0]


def test_shadowed_rule_is_a_warning_not_an_error():
    text = SEED.replace("intent_keyword: technical", "intent_keyword: billing dispute")
    matrix = parse_matrix(text, "m.yaml")
    assert len(matrix.rules) == 2
    assert "rule 2 can never match" in matrix.warnings[0]


def test_huge_attribute_values_are_matched_on_a_bounded_prefix():
    matrix = parse_matrix(SEED, "m.yaml")
    assert matrix.match({"intent": "x" * 100_000 + "billing"}, "intent") is None
    assert matrix.match({"intent": "billing" + "x" * 100_000}, "intent") is not None


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.yaml")), ids=lambda p: p.name)
def test_example_matrices_are_valid(path: Path):
    matrix = parse_matrix(path.read_text(), path.name)
    assert matrix.rules


def test_named_priorities_give_the_seed_names_a_routing_priority():
    text = f"""
priorities: {{high: 100, low: 1}}
skill_matrix:
  - intent_keyword: billing
    skill_id: {BILLING}
    priority: high
  - intent_keyword: fraud
    skill_id: {BILLING}
    priority: 50
  - intent_keyword: tech
    skill_id: {TECH}
    priority: medium
"""
    rules = parse_matrix(text, "m.yaml").rules
    assert [(r.routing_priority, r.high_priority) for r in rules] == [(100, True), (50, False), (None, False)]


def test_skill_names_and_user_ids_are_resolved_or_named_as_errors():
    user = "0b9c7a2e-1111-4222-8333-444455556666"
    text = f"""
skill_matrix:
  - intent_keyword: billing
    skills: [Billing, {TECH}]
    notify: [{user}, lead@example.com]
  - intent_keyword: spanish
    skills: [Spanish]
"""
    matrix = parse_matrix(text, "m.yaml")
    assert matrix.unresolved and matrix.rules[0].skill_names == ("Billing",)
    lookups: list[list[str]] = []

    def by_name(names):
        lookups.append(list(names))
        return {"Billing": BILLING}

    with pytest.raises(MatrixError) as error:
        resolve_matrix(matrix, by_name, lambda uid: "boss@example.com" if uid == user else None, strict=True)
    assert error.value.problems == ["m.yaml:7 rule 2 'skills': no routing skill named 'Spanish' in this Genesys org"]
    assert lookups == [["Billing", "Spanish"]], "one look-up for every name in the file"
    # As the function loads it: that rule fails, the other routes.
    loaded = resolve_matrix(matrix, by_name, lambda uid: "boss@example.com" if uid == user else None)
    assert [r.broken for r in loaded.rules] == [(), tuple(error.value.problems)]
    assert loaded.rules[0].skill_ids == (TECH, BILLING) and loaded.broken_rules == (loaded.rules[1],)
    resolved = resolve_matrix(
        parse_matrix(text.replace("[Spanish]", f"[{TECH}]"), "m.yaml"), by_name, lambda _: "boss@example.com"
    )
    assert resolved.rules[0].skill_ids == (TECH, BILLING) and not resolved.unresolved
    assert resolved.rules[0].notify == ("lead@example.com", "boss@example.com")
