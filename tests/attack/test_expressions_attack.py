"""Adversarial review of issue 28 (proficiency and skill expressions): a transfer carrying our
expression to a new leg, compose-step-relax byte for byte, two handlers composing at once, the
parser on hostile input (the matrix's and someone else's expression read from Genesys), and the
guard evaluating `!` and `|` against members."""

from __future__ import annotations

import time
from types import SimpleNamespace
from typing import Any

import pytest

from skill_router import expression, runtime
from skill_router.errors import MatrixError
from tests.attack.helpers import EVENT_HANDLER, acd_start, results, spawn
from tests.integration.conftest import BILLING, ENGLISH, GET, PATCH, App, minutes_ago, staff

SPANISH = "5b1c2f7e-0000-4000-8000-0000000000a5"
ARCHITECT = 'Skill("iPhone") >= 5 & LanguageSkill("English") >= 2'
OURS = 'Skill("Spanish") >= 3 & Skill("Billing") >= 1'
MATRIX = """
skill_matrix:
  - id: spanish
    intent_keyword: billing
    require: {{Spanish: 3, Billing: 1}}
    routing_priority: 10
{extra}"""
AND = "    with_expression: and\n"


def waiting(app: App, queue: str, minutes: float = 0.1) -> str:
    return app.sim.add_conversation(
        queue_id=queue, attributes={"intent": "billing"}, skills=(ENGLISH,), start=minutes_ago(minutes)
    )


def bodies(app: App, conversation: str) -> list[dict[str, object]]:
    return [r.body for r in app.sim.requests if r.method == "PATCH" and r.path == PATCH + conversation]


@pytest.fixture
def spanish(app: App, queue: str) -> str:
    app.sim.add_skill("Spanish", skill_id=SPANISH)
    return queue


# --- (1) a transfer: Genesys keeps our expression on the new leg ------------------------------


def _transferred_with_our_expression(app: App, queue: str) -> tuple[str, dict[str, Any]]:
    """The caller's first leg gets our expression; a transfer to another queue opens a second leg
    on which Genesys keeps that expression; the second leg's ledger entry after one poll."""
    caller = waiting(app, queue)
    app.invoke()
    assert app.sim.skill_expression(caller) == OURS
    other = app.sim.add_queue("Spanish desk")
    app.sim.transfer(caller, other, skills=(ENGLISH,))
    app.sim.set_skill_expression(caller, OURS)  # Genesys carries the leg's expression over
    app.invoke()
    (entry,) = [e for e in app.legs(caller) if e.get("queue_id") == other]
    return caller, entry


def test_a_transfer_carrying_our_expression_is_not_recorded_as_someone_elses(app: App, spanish: str):
    app.upload_matrix(MATRIX.format(extra=""))
    _, entry = _transferred_with_our_expression(app, spanish)
    assert entry["outcome"] != "shadowed", entry
    assert entry.get("expression_before") != OURS, entry


def test_a_transfer_carrying_our_expression_is_not_composed_twice(app: App, spanish: str):
    app.upload_matrix(MATRIX.format(extra=AND))
    caller, _ = _transferred_with_our_expression(app, spanish)
    written = app.sim.skill_expression(caller) or ""
    assert written.count('Skill("Spanish") >= 3') == 1, written


def later(seconds: float) -> None:
    """The next polls run `seconds` from now, for the poller and the staffing cache (test_guard.py)."""
    current = runtime.current()
    clock = lambda: time.time() + seconds  # noqa: E731
    current.poller.clock = clock
    if current.poller.adapters.staffing is not None:
        current.poller.adapters.staffing.clock = clock


# --- (2) compose, a step, then the automatic relax: the original byte for byte ---------------


def test_compose_then_a_step_then_the_relax_restores_the_original_byte_for_byte(app: App, spanish: str):
    app.set(STAFFING_GUARD="on")  # UNSTAFFED_RELAX_SECONDS: 60 by default
    steps = AND + "    escalate:\n      - after: 60\n        require: {Spanish: 4, Billing: 1}\n"
    app.upload_matrix(MATRIX.format(extra=steps))
    # staffed so that the guard lets the rule and the step through; then they leave
    # one member meets ours (and theirs) and logs off later; another meets only theirs and stays,
    # so that the relax can remove skill-router's half (guard.relax_due never touches theirs)
    members = staff(app, spanish, 1, skills={SPANISH: 5, BILLING: 5, ENGLISH: 1})
    staff(app, spanish, 1, skills={BILLING: 2, ENGLISH: 1})
    caller = waiting(app, spanish)
    theirs = '  Skill("Billing") >= 1 |Skill("Billing")>=2\t'  # spacing as set, kept as set
    app.sim.set_skill_expression(caller, theirs)
    app.invoke()
    assert app.sim.skill_expression(caller) == f"({theirs}) & ({OURS})"
    later(120)
    app.invoke()
    assert app.sim.skill_expression(caller) == f'({theirs}) & (Skill("Spanish") >= 4 & Skill("Billing") >= 1)'
    for member in members:
        app.sim.set_member(spanish, member, status="OFF_QUEUE")
    for seconds in (190, 260, 330, 400):
        later(seconds)
        app.invoke()
    assert app.sim.skill_expression(caller) == theirs, bodies(app, caller)


# --- (3) two handlers composing `with_expression: and` at once -------------------------------


def test_a_poller_and_an_event_container_compose_once(app: App, spanish: str):
    app.set(EVENT_MODE="true")
    app.upload_matrix(MATRIX.format(extra=AND))
    caller = waiting(app, spanish)
    app.sim.set_skill_expression(caller, ARCHITECT)
    envelope = acd_start(app, caller, spanish)
    app.sim.delay("GET", GET + caller, 2.0)
    results([spawn(app), spawn(app, envelope, EVENT_HANDLER)])
    written = app.sim.skill_expression(caller)
    assert written == f"({ARCHITECT}) & ({OURS})", written
    assert sum("skillExpression" in b for b in bodies(app, caller)) == 1


# --- (4) the parser on hostile input ---------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        'Skill("' + "x" * 5000 + '") >= 1',
        'Skill("' + "x" * 4080 + '") >= 1',
        'Skill("a\\"b") >= 1',
        'Skill("a\\\\") >= 1',
        'Skill("Español 🇪🇸") >= 3',
        'Skill("a") >= 3.0',
        'Skill("a") >= 05',
        'Skill("a") >= 6',
        'Skill("a") >= -1',
        'Skill("a") >= 99999999999999999999999999',
        'Skill("a") >= \u0663',  # Arabic-Indic digit three: str.isdigit() says yes
        'Skill("a") >= \u00b3',  # superscript three: str.isdigit() says yes, int() says no
        "!" * 10_000,
        "(" * 4000,
        'Skill("a") >= 1 & ' * 300,
        "skills['5b1c2f7e-0000-4000-8000-0000000000a5'] >= 3",
        "\x00",
        'Skill("a")',
        'skill("a") >= 1',
        "Skill('a') >= 1",
    ],
)
def test_the_parser_raises_only_expression_error(text: str):
    try:
        parsed = expression.parse(text)
    except expression.ExpressionError:
        return
    for term in parsed.terms():
        assert 0 <= term.level <= expression.MAX_LEVEL, (text, term)
    assert expression.parse(parsed.render()) == parsed  # what it renders it can read back


def test_unicode_digits_are_not_levels():
    for digit in ("\u0663", "\u00b3", "\uff13"):  # Arabic-Indic 3, superscript 3, fullwidth 3
        with pytest.raises(expression.ExpressionError):
            expression.parse(f'Skill("a") >= {digit}')


@pytest.mark.parametrize(
    "hostile",
    [
        'Skill("a\\"b") >= 1',
        'Skill("' + "é" * 300 + '") >= 1',
        'Skill("Spanish") >= 3.0',
    ],
)
def test_a_hostile_matrix_expression_is_a_validation_error_not_a_crash(app: App, spanish: str, hostile: str):
    quoted = hostile.replace("'", "''")
    app.upload_matrix(f"skill_matrix:\n  - id: x\n    intent_keyword: billing\n    expression: '{quoted}'\n")
    caller = waiting(app, spanish)
    try:
        result = app.invoke()
    except MatrixError as error:  # an invalid matrix is rejected whole, by design, with a position
        assert "'expression'" in str(error) and "at character" in str(error), error
    else:
        assert "polls" in result, result
    assert app.sim.skill_expression(caller) in (None, hostile)


NORMALISED = "skills['5b1c2f7e-0000-4000-8000-0000000000a5'] >= 3 and languages['en'] >= 2"


@pytest.mark.parametrize("extra", ["", AND])
def test_their_expression_in_a_form_we_cannot_parse_is_kept_and_nothing_crashes(app: App, spanish: str, extra: str):
    app.set(STAFFING_GUARD="on")
    app.upload_matrix(MATRIX.format(extra=extra))
    staff(app, spanish, 2, skills={SPANISH: 5, BILLING: 5, ENGLISH: 1})
    caller = waiting(app, spanish)
    app.sim.set_skill_expression(caller, NORMALISED)
    result = app.invoke()
    poll = result["polls"][0]
    assert poll.get("errors", 0) == 0 and poll.get("failed", 0) == 0, poll
    written = app.sim.skill_expression(caller)
    assert written is not None and written.startswith(NORMALISED if not extra else f"({NORMALISED})"), written
    entry = app.ledger(caller)
    assert entry is not None and entry["outcome"] in ("applied", "shadowed"), entry


def test_composing_onto_a_long_expression_of_theirs_stays_within_4096(app: App, spanish: str):
    app.upload_matrix(MATRIX.format(extra=AND))
    caller = waiting(app, spanish)
    term = 'Skill("Billing") >= 1'
    theirs = " | ".join([term] * (4_000 // (len(term) + 3)))
    theirs += " " * (4_090 - len(theirs))  # valid, and within Genesys' bound as set
    assert len(theirs) == 4_090
    app.sim.set_skill_expression(caller, theirs)
    app.invoke()
    entry = app.ledger(caller)
    assert entry is not None and entry["outcome"] in ("applied", "shadowed"), entry
    assert all(len(str(b.get("skillExpression", ""))) <= 4_096 for b in bodies(app, caller))


# --- (5) `!` and `|` evaluated against members ------------------------------------------------


def _member(skills: dict[str, float], languages: dict[str, float] | None = None) -> SimpleNamespace:
    return SimpleNamespace(skills=skills, languages=languages or {})


def test_not_and_or_evaluate_as_genesys_reads_them():
    negated = expression.parse('!Skill("x") >= 1')
    assert negated == expression.Not(expression.Term("skill", "x", ">=", 1))
    assert negated.evaluate(_member({}))  # without the skill: not at 1 or better
    assert negated.evaluate(_member({"x": 0}))
    assert not negated.evaluate(_member({"x": 3}))
    either = expression.parse('Skill("x") >= 4 | Skill("y") >= 2 & !Skill("z") >= 1')
    assert either.evaluate(_member({"x": 4, "z": 5}))
    assert either.evaluate(_member({"y": 2}))
    assert not either.evaluate(_member({"y": 2, "z": 1}))
    assert not either.evaluate(_member({"x": 3}))
    assert expression.parse(either.render()) == either


def test_the_guard_counts_members_who_meet_a_negation_or_an_alternative(app: App, spanish: str):
    app.set(STAFFING_GUARD="on")
    rule = "skill_matrix:\n  - id: x\n    intent_keyword: billing\n    expression: '{}'\n"
    app.upload_matrix(rule.format('!Skill("Spanish") >= 1 | Skill("Billing") >= 4'))
    staff(app, spanish, 3, skills={SPANISH: 2, BILLING: 1, ENGLISH: 1})  # meet neither side
    staff(app, spanish, 1, skills={BILLING: 1, ENGLISH: 1})  # no Spanish: meets the negation
    caller = waiting(app, spanish)
    app.invoke()
    written = app.sim.skill_expression(caller)
    assert written is not None, "withheld though a member meets the negation"
    assert expression.parse(written) == expression.parse('!Skill("Spanish") >= 1 | Skill("Billing") >= 4')


def test_the_guard_withholds_a_negation_every_member_fails(app: App, spanish: str):
    app.set(STAFFING_GUARD="on")
    rule = "skill_matrix:\n  - id: x\n    intent_keyword: billing\n    expression: '{}'\n"
    app.upload_matrix(rule.format('!Skill("Spanish") >= 1 | Skill("Billing") >= 4'))
    staff(app, spanish, 3, skills={SPANISH: 2, BILLING: 1, ENGLISH: 1})
    caller = waiting(app, spanish)
    app.invoke()
    assert app.sim.skill_expression(caller) is None
