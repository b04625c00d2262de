"""The matrix's escalation contract: `language:` and `escalate:` parse, validate with file and
line, and resolve their names once, while every existing file keeps loading unchanged."""

from __future__ import annotations

from pathlib import Path

import pytest

from skill_router.durations import format_duration, parse_duration
from skill_router.errors import MatrixError
from skill_router.matrix import parse_matrix, resolve_matrix

EXAMPLES = Path(__file__).parents[2] / "examples"
BILLING = "5b1c2f7e-0000-4000-8000-000000000001"
GENERAL = "5b1c2f7e-0000-4000-8000-000000000003"
ENGLISH = "5b1c2f7e-0000-4000-8000-0000000000e1"
LEAD = "0b9c7a2e-1111-4222-8333-444455556666"

CONTRACT = """
skill_matrix:
  - intent_keyword: billing
    skills: [Billing]
    language: English
    routing_priority: 10
    escalate:
      - after: 60
        add_skills: [General]
        remove_skills: [Billing]
      - after: 5m
        routing_priority: 50
        language: none
        notify: [lead@example.com]
"""


def problems_of(text: str, **limits: object) -> list[str]:
    with pytest.raises(MatrixError) as caught:
        parse_matrix(text, "m.yaml", **limits)  # type: ignore[arg-type]
    return caught.value.problems


def ladder(*steps: str, rule: str = "") -> str:
    body = "".join(f"      - {step}\n" for step in steps)
    return f"skill_matrix:\n  - intent_keyword: billing\n    skill_id: {BILLING}\n{rule}    escalate:\n{body}"


def test_the_issue_contract_parses_into_a_ladder():
    rule = parse_matrix(CONTRACT, "m.yaml").rules[0]
    assert (rule.language_name, rule.language_id) == ("English", None)
    one, two = rule.escalate
    assert (one.after, one.add_skill_names, one.remove_skill_names, one.line) == (60, ("General",), ("Billing",), 8)
    assert (two.after, two.routing_priority, two.language_id, two.notify) == (300, 50, "", ("lead@example.com",))


@pytest.mark.parametrize("example", sorted(EXAMPLES.glob("*.yaml")), ids=lambda p: p.name)
def test_every_example_still_loads(example: Path):
    assert parse_matrix(example.read_bytes(), str(example)).rules


def test_a_rule_without_the_new_keys_has_no_language_and_no_ladder():
    rule = parse_matrix(f"skill_matrix:\n  - intent_keyword: x\n    skill_id: {BILLING}\n", "m.yaml").rules[0]
    assert (rule.language_id, rule.language_name, rule.escalate) == (None, None, ())


@pytest.mark.parametrize(
    ("written", "seconds"),
    [
        (90, 90),
        ("90", 90),
        ("90s", 90),
        ("2m", 120),
        (" 2M ", 120),
        ("1h", 3600),
        ("2d", 172800),
        (True, None),
        ("2w", None),
        (-5, None),
    ],
)
def test_durations_are_seconds_or_90s_2m_1h_2d(written: object, seconds: int | None):
    """One grammar for `after:`, `explain --waited` and `audit --since` (skill_router/durations.py)."""
    assert parse_duration(written) == seconds


def test_durations_are_written_back_readably():
    assert [format_duration(s) for s in (45, 60, 90, 300, 3725)] == ["45s", "1m", "1m30s", "5m", "1h2m5s"]


def test_language_by_id_or_none_needs_no_lookup():
    text = ladder("after: 60\n        language: none", rule=f"    language: {ENGLISH.upper()}\n")
    rule = parse_matrix(text, "m.yaml").rules[0]
    assert rule.language_id == ENGLISH and rule.escalate[0].language_id == ""
    assert not parse_matrix(text, "m.yaml").unresolved


def test_steps_must_be_in_increasing_after_with_the_line():
    problems = problems_of(
        ladder(f"after: 2m\n        add_skills: [{GENERAL}]", "after: 90\n        routing_priority: 9")
    )
    assert problems == [
        "m.yaml:7 rule 1 escalate step 2 'after': 1m30s is not later than step 1 (2m); list steps in increasing 'after'"
    ]


def test_a_step_beyond_max_wait_is_refused():
    text = ladder(f"after: 2h\n        add_skills: [{GENERAL}]")
    assert parse_matrix(text, "m.yaml").rules[0].escalate[0].after == 7200
    (problem,) = problems_of(text, max_wait_seconds=3600)
    assert problem.startswith("m.yaml:5 rule 1 escalate step 1 'after': 2h is beyond MAX_WAIT_SECONDS (1h)")


@pytest.mark.parametrize(
    ("step", "rule", "why"),
    [
        ("after: 60", "", "this step changes nothing;"),
        (f"after: 60\n        add_skills: [{BILLING}]", "", "already added or removed"),
        ("after: 60\n        routing_priority: 5", "    routing_priority: 10\n", "5 is not above 10"),
        (f"after: 60\n        language: {ENGLISH}", f"    language: {ENGLISH}\n", "the language is already that"),
    ],
    ids=["empty", "adds-a-skill-the-rule-has", "lowers-priority", "same-language"],
)
def test_a_step_that_changes_nothing_is_refused(step: str, rule: str, why: str):
    (problem,) = problems_of(ladder(step, rule=rule))
    assert "escalate step 1: this step changes nothing" in problem and why in problem


def test_a_step_that_lowers_priority_besides_other_changes_is_refused():
    (problem,) = problems_of(
        ladder(
            "after: 60\n        routing_priority: 50",
            f"after: 2m\n        routing_priority: 40\n        add_skills: [{GENERAL}]",
        )
    )
    assert "escalate step 2 'routing_priority': 40 is not above 50" in problem


def test_a_skill_removed_by_one_step_can_be_added_back_by_a_later_one():
    text = ladder(f"after: 60\n        remove_skills: [{BILLING}]", f"after: 2m\n        add_skills: [{BILLING}]")
    assert [s.after for s in parse_matrix(text, "m.yaml").rules[0].escalate] == [60, 120]


def test_too_many_recipients_for_the_channel_is_refused():
    recipients = ", ".join(f"lead{i}@example.com" for i in range(11))
    text = ladder(f"after: 60\n        notify: [{recipients}]")
    assert parse_matrix(text, "m.yaml", notify_channel="ses").rules[0].escalate[0].notify
    (problem,) = problems_of(text, notify_channel="genesys")
    assert "'notify': 11 recipients; one email on this NOTIFY_CHANNEL takes at most 10" in problem
    many = ", ".join(f"lead{i}@example.com" for i in range(51))
    assert "takes at most 50" in problems_of(ladder(f"after: 60\n        notify: [{many}]"))[0]


def test_every_problem_of_a_ladder_is_reported_at_once():
    text = f"""skill_matrix:
  - intent_keyword: billing
    skill_id: not-an-id
    language: 42
    escalate:
      - after: soon
        add_skills: [{GENERAL}]
        colour: red
      - add_skills: [X]
        remove_skills: [x]
      - after: 5m
        notify: [not an address]
      - just a string
"""
    problems = problems_of(text)
    for expected in (
        "m.yaml:3 rule 1 'skill_id'",
        "m.yaml:4 rule 1 'language': expected a language name, a language id, or none",
        "m.yaml:6 rule 1 escalate step 1 'after': expected a positive number of seconds",
        "m.yaml:8 rule 1 escalate step 1 'colour': unknown key",
        "m.yaml:9 rule 1 escalate step 2: missing 'after'",
        "m.yaml:10 rule 1 escalate step 2 'remove_skills': x is both added and removed by this step",
        "m.yaml:12 rule 1 escalate step 3 'notify': 'not an address' is not an email address or a Genesys user id",
        "m.yaml:5 rule 1 escalate step 4: expected a mapping with 'after'",
    ):
        assert any(p.startswith(expected) for p in problems), (expected, problems)


def test_escalate_must_be_a_list_of_steps():
    (problem,) = problems_of(f"skill_matrix:\n  - intent_keyword: x\n    skill_id: {BILLING}\n    escalate: 60\n")
    assert problem.startswith("m.yaml:4 rule 1 'escalate': expected a list of steps")


def test_names_in_rules_and_steps_are_resolved_once_each_or_named_as_errors():
    matrix = parse_matrix(CONTRACT.replace("[lead@example.com]", f"[{LEAD}]"), "m.yaml")
    assert matrix.unresolved
    skill_lookups: list[list[str]] = []
    language_lookups: list[list[str]] = []

    def skills(names):
        skill_lookups.append(list(names))
        return {"Billing": BILLING, "General": GENERAL}

    def languages(names):
        language_lookups.append(list(names))
        return {"English": ENGLISH.upper()}

    resolved = resolve_matrix(matrix, skills, lambda uid: "lead@example.com", languages)
    rule = resolved.rules[0]
    assert skill_lookups == [["Billing", "General"]] and language_lookups == [["English"]]
    assert (rule.skill_ids, rule.language_id) == ((BILLING,), ENGLISH)
    one, two = rule.escalate
    assert (one.add_skill_ids, one.remove_skill_ids) == ((GENERAL,), (BILLING,))
    assert (two.language_id, two.notify) == ("", ("lead@example.com",))
    assert not resolved.unresolved

    with pytest.raises(MatrixError) as error:
        resolve_matrix(matrix, lambda names: {"Billing": BILLING}, lambda uid: None, lambda names: {}, strict=True)
    assert error.value.problems == [
        "m.yaml:9 rule 1 escalate step 1 'add_skills': no routing skill named 'General' in this Genesys org",
        f"m.yaml:14 rule 1 escalate step 2 'notify': no Genesys user {LEAD!r}, or the user has no email",
        "m.yaml:5 rule 1 'language': no routing language named 'English' in this Genesys org",
    ]
