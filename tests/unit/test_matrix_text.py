"""Text a rule is matched on, and steps discovery can never serve (issue 19, classes 10 and 11)."""

from __future__ import annotations

import pytest

from skill_router.errors import MatrixError
from skill_router.matrix import parse_matrix
from tests.unit.test_matrix import BILLING


def regex_rule(pattern: str) -> str:
    return f"skill_matrix:\n  - intent_keyword: '{pattern}'\n    match: regex\n    skill_id: {BILLING}\n"


@pytest.mark.parametrize(
    ("pattern", "intent"),
    [
        ("straße", "Straße"),
        ("straße", "STRASSE"),
        ("straße", "strasse"),
        ("^stra(ß|x)e$", "Straße"),
        ("stra.e", "Straße"),  # the value as written: one character between a and e
        ("strasse", "Straße"),
        ("STRASSE", "straße"),
        ("gross+e", "GROẞE"),
        ("ﬁle", "FILE"),
        ("^ß+$", "ßSS"),
    ],
)
def test_a_regex_matches_the_same_word_however_it_is_cased(pattern: str, intent: str):
    """The value is case-folded (ß -> ss) like a contains keyword; the pattern is folded the same
    way, and tried on the value as written, so neither side's spelling decides."""
    matrix = parse_matrix(regex_rule(pattern), "m.yaml")
    hit = matrix.match({"intent": intent}, "intent")
    assert hit is not None, (pattern, intent)
    assert matrix.rules[0].matching_keyword(intent) == pattern  # the matrix's words, as written


@pytest.mark.parametrize(("pattern", "intent"), [("straße", "strase"), ("^ß$", "sss"), ("[ß]x", "ssx")])
def test_folding_does_not_make_a_regex_match_more_than_the_word(pattern: str, intent: str):
    assert parse_matrix(regex_rule(pattern), "m.yaml").match({"intent": intent}, "intent") is None


def test_a_folded_pattern_escapes_nothing_it_should_not():
    text = regex_rule(r"^\Qß.\E$|x[ßy]z|\x{DF}")
    rule = parse_matrix(text, "m.yaml").rules[0]
    assert rule.matches("ß.") and rule.matches("SS.") and not rule.matches("ssa")
    assert rule.matches("xßz") and rule.matches("xyz")


def steps(after: str) -> str:
    return (
        f"skill_matrix:\n  - intent_keyword: billing\n    skill_id: {BILLING}\n"
        f"    escalate:\n      - after: 10m\n        routing_priority: 10\n"
        f"      - after: {after}\n        routing_priority: 20\n"
    )


def test_a_step_later_than_discovery_looks_back_is_refused_with_its_line():
    with pytest.raises(MatrixError) as caught:
        parse_matrix(steps("3d"), "m.yaml", max_wait_seconds=7 * 86400, lookback_days=1)
    (problem,) = caught.value.problems
    assert problem.startswith("m.yaml:7 rule 1 escalate step 2 'after': 72h is later than discovery")
    assert "DISCOVERY_LOOKBACK_DAYS=1" in problem and "--lookback-days" in problem
    parse_matrix(steps("3d"), "m.yaml", max_wait_seconds=7 * 86400, lookback_days=3)
    parse_matrix(steps("1d"), "m.yaml", lookback_days=1)


def test_with_no_lookback_no_step_is_sure_to_be_seen():
    with pytest.raises(MatrixError, match="DISCOVERY_LOOKBACK_DAYS=0"):
        parse_matrix(steps("20m"), "m.yaml", lookback_days=0)


def test_the_diffs_index_finds_the_rule_matrix_match_finds():
    """FirstMatch (matrix diff's linear lookup) against the one definition of matching, on many
    random matrices: contains, exact and regex rules, other attributes, queue limits, ß."""
    import random

    from skill_router.matrix.index import FirstMatch, first

    rng = random.Random(19)
    letters = ["a", "b", "ß", "ss", "A", " "]
    for _ in range(300):
        lines = ["skill_matrix:"]
        for _ in range(rng.randint(1, 8)):
            mode = rng.choice(["contains", "contains", "exact", "regex"])
            words = ["".join(rng.choice(letters) for _ in range(rng.randint(1, 3))).strip() or "a" for _ in range(2)]
            if mode == "regex":
                words = [w + rng.choice(["", "+", "$"]) for w in words]
            rule = f"  - keywords: {words!r}\n    match: {mode}\n    skill_id: {BILLING}\n"
            if rng.random() < 0.3:
                rule += "    attribute: other\n"
            if rng.random() < 0.4:
                rule += f"    queues: {rng.sample(['q1', 'q2'], rng.randint(1, 2))!r}\n"
            lines.append(rule.rstrip("\n"))
        matrix = parse_matrix("\n".join(lines) + "\n", "m.yaml")
        index = FirstMatch(matrix, "intent")
        for _ in range(10):
            value = "".join(rng.choice(letters) for _ in range(rng.randint(0, 6)))
            attribute = rng.choice(["intent", "other"])
            found = index.candidates(attribute, value)
            for queue in (None, "q1", "Q2", "q3"):
                hit = matrix.match({attribute: value}, "intent", queue)
                assert first(found, queue) is (hit[0] if hit else None), (lines, attribute, value, queue)


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("2001-02-30", "'2001-02-30' cannot be read as timestamp"),
        ("0000-01-01", "cannot be read as timestamp"),
        ("!!int abc", "cannot be read as int"),
        ("9" * 5000, "cannot be read as int"),
    ],
    ids=["a-date-that-is-no-date", "year-0", "tagged-int", "5000-digits"],
)
def test_a_scalar_python_cannot_build_is_a_problem_with_its_line(value: str, words: str):
    """Before, each of these escaped parse_matrix as a ValueError: a crash where the function loads
    the matrix, and "a bug" in the CLI."""
    with pytest.raises(MatrixError) as caught:
        parse_matrix(f"skill_matrix:\n  - intent_keyword: {value}\n    skill_id: {BILLING}\n", "m.yaml")
    (problem,) = caught.value.problems
    assert problem.startswith("m.yaml:2: not valid YAML") and words in problem and "quote it" in problem


def test_a_duration_of_thousands_of_digits_is_no_duration():
    from skill_router.durations import parse_duration

    assert parse_duration("9" * 5000 + "s") is None and parse_duration("9" * 15) == int("9" * 15)
