"""Adversarial review of issue 28 after 2dd2965 (a transfer carrying skill-router's expression onto
a new leg, composing past 4,096 characters), through the real handler, the real SDK against the
simulator over HTTP and boto3 against moto: two transfers in a row, someone else's expression that
merely contains ours, a carried expression followed by a step or a relax on the new leg, an
earlier leg recorded shadowed or withheld, event mode's acd.start on the new leg, a step near the
4,096 limit, `require: none` after a too-long rule, NO_EXPRESSION_QUEUES on the new leg, and
audit/why/report on such legs. Also: someone else's expression set while the caller waits, then
a step or a withheld requirement written by skill-router."""

from __future__ import annotations

from typing import Any

import pytest

from skill_router.cli import main
from skill_router.escalation import SHADOWED_BY_THEIRS
from tests.attack.helpers import acd_start, send
from tests.attack.test_expressions_attack import AND, ARCHITECT, MATRIX, OURS, SPANISH, bodies, later, waiting
from tests.integration.conftest import BILLING, ENGLISH, App, await_holds_lapsed, staff

pytestmark = pytest.mark.integration

STEP = 'Skill("Spanish") >= 4 & Skill("Billing") >= 1'
THEIRS = 'Skill("Billing") >= 1'  # someone else's, met by the members below who have Billing


def written(app: App, conversation: str) -> list[str]:
    return [str(b["skillExpression"]) for b in bodies(app, conversation) if "skillExpression" in b]


def leg_in(app: App, conversation: str, queue: str) -> dict[str, Any]:
    (entry,) = [e for e in app.legs(conversation) if e.get("queue_id") == queue]
    return entry


def transfer(app: App, conversation: str, name: str, carried: str | None = "same") -> str:
    """A transfer to a new queue; Genesys keeps the leg's expression on the new leg (`carried`
    "same"), or the new leg shows `carried` (someone else's, set on the way), or none."""
    before = app.sim.skill_expression(conversation)
    other = app.sim.add_queue(name)
    app.sim.transfer(conversation, other, skills=(ENGLISH,))
    expression = before if carried == "same" else carried
    if expression:
        app.sim.set_skill_expression(conversation, expression)
    return other


@pytest.fixture
def spanish(app: App, queue: str) -> str:
    app.sim.add_skill("Spanish", skill_id=SPANISH)
    return queue


# --- (1) two transfers in a row: A -> B -> C, our expression carried twice -------------------------


@pytest.mark.parametrize("theirs", [None, ARCHITECT])
def test_two_transfers_carrying_our_expression_are_neither_shadowed_nor_composed_again(
    app: App, spanish: str, theirs: str | None
):
    app.upload_matrix(MATRIX.format(extra=AND))
    caller = waiting(app, spanish)
    if theirs:
        app.sim.set_skill_expression(caller, theirs)
    app.invoke()
    left = f"({theirs}) & ({OURS})" if theirs else OURS
    assert app.sim.skill_expression(caller) == left
    second = transfer(app, caller, "Second")
    app.invoke()
    third = transfer(app, caller, "Third")
    app.invoke()
    assert app.sim.skill_expression(caller) == left
    assert written(app, caller) == [left]  # once, on the first leg
    for queue in (second, third):
        entry = leg_in(app, caller, queue)
        assert entry["outcome"] in ("applied", "unchanged"), entry
        assert (entry.get("expression_before") or None) == theirs, entry
        assert entry["requirement_after"] == OURS, entry


# --- (2) someone else's expression on the new leg that merely contains ours ------------------------


@pytest.mark.parametrize("wrapped", [f"({OURS}) & ({ARCHITECT})", f"{OURS} ", f"({OURS})", f"{OURS} | {ARCHITECT}"])
def test_an_expression_that_merely_contains_ours_is_someone_elses_on_the_new_leg(app: App, spanish: str, wrapped: str):
    app.upload_matrix(MATRIX.format(extra=""))
    caller = waiting(app, spanish)
    app.invoke()
    other = transfer(app, caller, "Second", carried=wrapped)
    app.invoke()
    assert app.sim.skill_expression(caller) == wrapped  # kept byte for byte
    entry = leg_in(app, caller, other)
    assert entry["outcome"] == "shadowed" and entry["reason"] == SHADOWED_BY_THEIRS, entry
    assert entry["expression_before"] == wrapped, entry
    assert written(app, caller) == [OURS]


def test_an_expression_that_contains_ours_is_composed_as_theirs_under_with_expression_and(app: App, spanish: str):
    app.upload_matrix(MATRIX.format(extra=AND))
    caller = waiting(app, spanish)
    app.invoke()
    wrapped = f"({OURS}) & ({ARCHITECT})"
    other = transfer(app, caller, "Second", carried=wrapped)
    app.invoke()
    assert app.sim.skill_expression(caller) == f"({wrapped}) & ({OURS})"
    assert leg_in(app, caller, other)["expression_before"] == wrapped


# --- (3) a carried expression, then a step on the new leg -------------------------------------------


@pytest.mark.parametrize("theirs", [None, ARCHITECT])
def test_a_require_none_step_on_the_new_leg_gives_back_theirs_byte_for_byte(app: App, spanish: str, theirs: str | None):
    steps = AND + "    escalate:\n      - after: 60\n        require: none\n"
    app.upload_matrix(MATRIX.format(extra=steps))
    caller = waiting(app, spanish)
    if theirs:
        app.sim.set_skill_expression(caller, theirs)
    app.invoke()
    other = transfer(app, caller, "Second")
    app.invoke()  # the new leg's first sight: nothing to write
    later(120)
    app.invoke()  # the new leg's step at 60 s
    assert app.sim.skill_expression(caller) == theirs
    assert bodies(app, caller)[-1] == {"skillExpression": theirs or ""}
    entry = leg_in(app, caller, other)
    assert entry["steps_applied"] == [60] and not entry.get("requirement_after"), entry


def test_a_stronger_step_on_the_new_leg_replaces_only_our_half(app: App, spanish: str):
    steps = AND + "    escalate:\n      - after: 60\n        require: {Spanish: 4, Billing: 1}\n"
    app.upload_matrix(MATRIX.format(extra=steps))
    caller = waiting(app, spanish)
    app.sim.set_skill_expression(caller, ARCHITECT)
    app.invoke()
    transfer(app, caller, "Second")
    app.invoke()
    later(120)
    app.invoke()
    assert app.sim.skill_expression(caller) == f"({ARCHITECT}) & ({STEP})"


# --- (4) a carried expression, then the staffing guard's relax on the new leg -----------------------


@pytest.mark.parametrize("theirs", [None, THEIRS])
def test_the_relax_on_the_new_leg_removes_the_carried_requirement_and_gives_back_theirs(
    app: App, spanish: str, theirs: str | None
):
    app.set(STAFFING_GUARD="on", UNSTAFFED_RELAX_SECONDS="60")
    app.upload_matrix(MATRIX.format(extra=AND))
    staff(app, spanish, 1, skills={SPANISH: 3, BILLING: 1, ENGLISH: 1})
    caller = waiting(app, spanish)
    if theirs:
        app.sim.set_skill_expression(caller, theirs)
    app.invoke()
    left = f"({theirs}) & ({OURS})" if theirs else OURS
    assert app.sim.skill_expression(caller) == left
    other = app.sim.add_queue("Second")
    staff(app, other, 1, skills={BILLING: 2, ENGLISH: 1})  # nobody there meets ours; theirs, yes
    app.sim.transfer(caller, other, skills=(ENGLISH,))
    app.sim.set_skill_expression(caller, left)  # carried over
    app.invoke()
    assert app.sim.skill_expression(caller) == left
    for seconds in (61, 130, 200, 270):
        later(seconds)
        app.invoke()
    assert app.sim.skill_expression(caller) == theirs, (bodies(app, caller), leg_in(app, caller, other))
    entry = leg_in(app, caller, other)
    assert entry["relaxed"] == ["expression:" + OURS], entry


def test_the_relax_on_the_new_leg_never_touches_what_someone_else_set_there_since(app: App, spanish: str):
    app.set(STAFFING_GUARD="on", UNSTAFFED_RELAX_SECONDS="60")
    app.upload_matrix(MATRIX.format(extra=AND))
    staff(app, spanish, 1, skills={SPANISH: 3, BILLING: 1, ENGLISH: 1})
    caller = waiting(app, spanish)
    app.invoke()
    other = app.sim.add_queue("Second")
    staff(app, other, 1, skills={BILLING: 2, ENGLISH: 1})
    app.sim.transfer(caller, other, skills=(ENGLISH,))
    app.sim.set_skill_expression(caller, OURS)  # carried over
    app.invoke()
    app.sim.set_skill_expression(caller, THEIRS)  # a person replaces it on the new leg
    for seconds in (61, 130, 200, 270):
        later(seconds)
        app.invoke()
    assert app.sim.skill_expression(caller) == THEIRS
    assert written(app, caller) == [OURS]


# --- (5) the earlier leg shadowed, or its requirement withheld, then a transfer -----------------------


def test_an_earlier_leg_shadowed_by_theirs_leaves_the_new_leg_shadowed_by_theirs(app: App, spanish: str):
    app.upload_matrix(MATRIX.format(extra=""))
    caller = waiting(app, spanish)
    app.sim.set_skill_expression(caller, ARCHITECT)
    app.invoke()
    assert app.ledger(caller)["outcome"] == "shadowed"  # type: ignore[index]
    other = transfer(app, caller, "Second")
    app.invoke()
    entry = leg_in(app, caller, other)
    assert entry["outcome"] == "shadowed" and entry["expression_before"] == ARCHITECT, entry
    assert app.sim.skill_expression(caller) == ARCHITECT and written(app, caller) == []


def test_an_earlier_leg_shadowed_as_too_long_leaves_theirs_theirs_on_the_new_leg(app: App, spanish: str):
    app.upload_matrix(MATRIX.format(extra=AND))
    caller = waiting(app, spanish)
    theirs = long_theirs(4_090)
    app.sim.set_skill_expression(caller, theirs)
    app.invoke()
    first = app.ledger(caller)
    assert first is not None and first["outcome"] == "shadowed" and "4,096" in first["reason"], first
    other = transfer(app, caller, "Second")
    app.invoke()
    entry = leg_in(app, caller, other)
    assert entry["outcome"] == "shadowed" and "4,096" in entry["reason"], entry
    assert app.sim.skill_expression(caller) == theirs and written(app, caller) == []


def test_a_requirement_withheld_on_the_earlier_leg_is_written_on_a_staffed_new_leg(app: App, spanish: str):
    app.set(STAFFING_GUARD="on")
    app.upload_matrix(MATRIX.format(extra=""))
    staff(app, spanish, 2, skills={SPANISH: 2, BILLING: 4, ENGLISH: 1})
    caller = waiting(app, spanish)
    app.invoke()
    assert app.sim.skill_expression(caller) is None
    other = app.sim.add_queue("Second")
    staff(app, other, 1, skills={SPANISH: 3, BILLING: 1, ENGLISH: 1})
    app.sim.transfer(caller, other, skills=(ENGLISH,))
    app.invoke()
    assert app.sim.skill_expression(caller) == OURS
    entry = leg_in(app, caller, other)
    assert entry["outcome"] == "applied" and entry["guard"] == "staffed" and not entry.get("expression_withheld")


# --- (6) event mode: acd.start on the new leg ---------------------------------------------------------


@pytest.mark.parametrize("theirs", [None, ARCHITECT])
def test_acd_start_on_the_new_leg_reads_the_carried_expression_as_ours(app: App, spanish: str, theirs: str | None):
    """The first leg is served by the poller: in event mode, the caller claim (the conversation's,
    whatever the leg) of an acd.start that decided lasts until that invocation's timeout, and an
    acd.start for a new leg within it is left to the next poll ("pending", no Genesys call)."""
    app.upload_matrix(MATRIX.format(extra=AND))
    caller = waiting(app, spanish)
    if theirs:
        app.sim.set_skill_expression(caller, theirs)
    app.invoke()
    left = f"({theirs}) & ({OURS})" if theirs else OURS
    assert app.sim.skill_expression(caller) == left
    app.set(EVENT_MODE="true")
    other = transfer(app, caller, "Second")
    result = send(acd_start(app, caller, other))
    assert result["outcome"] in ("applied", "unchanged"), (result, app.legs(caller))
    assert app.sim.skill_expression(caller) == left and written(app, caller) == [left]
    entry = leg_in(app, caller, other)
    assert (entry.get("expression_before") or None) == theirs and entry["requirement_after"] == OURS
    app.invoke()  # the poller after the events: nothing more
    assert written(app, caller) == [left]


# --- (7) the 4,096 limit: a step near it, `require: none` after a too-long rule --------------------


def long_theirs(length: int) -> str:
    term = 'Skill("Billing") >= 1'
    text = " | ".join([term] * ((length - 40) // (len(term) + 3)))
    return text + " " * (length - len(text))


def test_a_rule_that_fits_exactly_is_written_and_a_longer_step_is_skipped_then_require_none_restores(
    app: App, spanish: str
):
    steps = (
        AND
        + "    escalate:\n"
        + "      - after: 60\n        require: {Spanish: 4, Billing: 1, Technical: 2}\n        routing_priority: 20\n"
        + "      - after: 180\n        require: none\n"
    )
    app.upload_matrix(MATRIX.format(extra=steps))
    caller = waiting(app, spanish)
    theirs = long_theirs(4_096 - len(OURS) - len("() & ()"))  # composed: exactly 4,096
    app.sim.set_skill_expression(caller, theirs)
    app.invoke()
    composed = f"({theirs}) & ({OURS})"
    assert len(composed) == 4_096 and app.sim.skill_expression(caller) == composed
    assert app.ledger(caller)["outcome"] == "applied"  # type: ignore[index]
    later(120)
    app.invoke()
    assert app.sim.skill_expression(caller) == composed  # the step's requirement did not fit
    assert app.sim.routing(caller)[1] == 20  # the rest of the step did
    entry = app.ledger(caller)
    assert entry is not None and entry["steps_applied"] == [60] and entry["requirement_after"] == OURS, entry
    later(240)
    app.invoke()
    assert app.sim.skill_expression(caller) == theirs  # byte for byte
    assert all(len(str(b.get("skillExpression", ""))) <= 4_096 for b in bodies(app, caller))
    (skipped,) = [s for s in entry.get("step_log") or [] if s.get("step") == 1]
    assert "4,096" in skipped["requirement_skipped"], skipped
    assert main(["audit", "--conversation", caller]) == 0


def test_require_none_after_a_too_long_rule_writes_nothing(app: App, spanish: str):
    steps = AND + "    escalate:\n      - after: 60\n        require: none\n        routing_priority: 20\n"
    app.upload_matrix(MATRIX.format(extra=steps))
    caller = waiting(app, spanish)
    theirs = long_theirs(4_096 - len(OURS) - len("() & ()") + 1)  # composed: 4,097
    app.sim.set_skill_expression(caller, theirs)
    app.invoke()
    entry = app.ledger(caller)
    assert entry is not None and entry["outcome"] == "shadowed" and "4,097" in entry["reason"], entry
    later(120)
    app.invoke()
    assert app.sim.skill_expression(caller) == theirs
    assert written(app, caller) == [] and app.sim.routing(caller)[1] == 20


def test_a_step_that_fits_after_a_rule_that_did_not_is_not_written(app: App, spanish: str):
    """A rule too long to compose is shadowed; its ladder runs with skills only (README): a
    shorter step requirement is not written either (Plan.blocked)."""
    steps = AND + "    escalate:\n      - after: 60\n        require: {Spanish: 1}\n"
    app.upload_matrix(MATRIX.format(extra=steps))
    caller = waiting(app, spanish)
    theirs = long_theirs(4_096 - len(OURS) - len("() & ()") + 1)
    app.sim.set_skill_expression(caller, theirs)
    app.invoke()
    later(120)
    app.invoke()
    assert app.sim.skill_expression(caller) == theirs and written(app, caller) == []


# --- (8) NO_EXPRESSION_QUEUES on the new leg -------------------------------------------------------


def test_a_new_leg_in_a_queue_without_expressions_gets_the_skills_and_writes_no_expression(app: App, spanish: str):
    app.upload_matrix(MATRIX.format(extra=AND))
    caller = waiting(app, spanish)
    app.invoke()
    other = app.sim.add_queue("No expressions")
    app.set(NO_EXPRESSION_QUEUES=other)
    app.sim.transfer(caller, other, skills=(ENGLISH,))
    app.sim.set_skill_expression(caller, OURS)  # carried over
    result = app.invoke()["polls"][0]
    assert result.get("errors", 0) == 0 and result.get("failed", 0) == 0, result
    entry = leg_in(app, caller, other)
    assert entry["outcome"] == "applied" and entry["expression_unsupported"] is True, entry
    assert app.sim.routing(caller)[0] == [ENGLISH, SPANISH, BILLING]
    assert written(app, caller) == [OURS]  # nothing written on the new leg


# --- (9) audit, why and report on these legs -----------------------------------------------------------


def test_audit_why_and_report_on_carried_and_shadowed_legs(app: App, spanish: str, capsys: pytest.CaptureFixture[str]):
    app.set(STAFFING_GUARD="on")
    app.upload_matrix(MATRIX.format(extra=AND + "    escalate:\n      - after: 60\n        require: none\n"))
    staff(app, spanish, 1, skills={SPANISH: 3, BILLING: 1, ENGLISH: 1})
    caller = waiting(app, spanish)
    app.sim.set_skill_expression(caller, ARCHITECT)
    app.invoke()
    other = app.sim.add_queue("Second")
    staff(app, other, 1, skills={SPANISH: 3, BILLING: 1, ENGLISH: 1})
    app.sim.transfer(caller, other, skills=(ENGLISH,))
    app.sim.set_skill_expression(caller, f"({ARCHITECT}) & ({OURS})")
    app.invoke()
    too_long = waiting(app, spanish)
    app.sim.set_skill_expression(too_long, long_theirs(4_090))
    app.invoke()
    later(120)
    app.invoke()
    capsys.readouterr()
    for conversation in (caller, too_long):
        assert main(["audit", "--conversation", conversation]) == 0
        assert main(["why", conversation, "--env"]) == 0
    out = capsys.readouterr().out
    assert "Traceback" not in out
    assert main(["report", "--env", "--since", "1h"]) == 0
    assert "Traceback" not in capsys.readouterr().out


# --- (10) someone else's expression set while the caller waits, then skill-router writes again -------


def test_a_step_never_replaces_an_expression_someone_else_set_since_our_write(app: App, spanish: str):
    steps = "    escalate:\n      - after: 60\n        require: {Spanish: 4, Billing: 1}\n"
    app.upload_matrix(MATRIX.format(extra=steps))
    caller = waiting(app, spanish)
    app.invoke()
    assert app.sim.skill_expression(caller) == OURS
    app.sim.set_skill_expression(caller, ARCHITECT)  # a person (or a flow) sets theirs while it waits
    later(120)
    app.invoke()
    assert app.sim.skill_expression(caller) == ARCHITECT, bodies(app, caller)


def test_a_require_none_step_never_clears_an_expression_someone_else_set_since_our_write(app: App, spanish: str):
    steps = "    escalate:\n      - after: 60\n        require: none\n"
    app.upload_matrix(MATRIX.format(extra=steps))
    caller = waiting(app, spanish)
    app.invoke()
    app.sim.set_skill_expression(caller, ARCHITECT)
    later(120)
    app.invoke()
    assert app.sim.skill_expression(caller) == ARCHITECT, bodies(app, caller)


def test_a_withheld_requirement_never_replaces_an_expression_someone_else_set_since(app: App, spanish: str):
    app.set(STAFFING_GUARD="on")
    app.upload_matrix(MATRIX.format(extra=""))
    staff(app, spanish, 2, skills={SPANISH: 2, BILLING: 4, ENGLISH: 1})
    caller = waiting(app, spanish)
    app.invoke()
    assert app.sim.skill_expression(caller) is None  # withheld
    app.sim.set_skill_expression(caller, ARCHITECT)  # a person sets theirs while it waits
    staff(app, spanish, 1, skills={SPANISH: 3, BILLING: 1, ENGLISH: 1})
    later(61)
    app.invoke()
    assert app.sim.skill_expression(caller) == ARCHITECT, bodies(app, caller)
    assert written(app, caller) == []
    entry = app.ledger(caller)
    assert entry is not None and not entry.get("expression_written") and not entry.get("requirement_after"), entry


def test_with_expression_and_a_step_composes_into_an_expression_someone_else_set_since(app: App, spanish: str):
    steps = AND + (
        "    escalate:\n      - after: 60\n        require: {Spanish: 4, Billing: 1}\n"
        "      - after: 180\n        require: none\n"
    )
    app.upload_matrix(MATRIX.format(extra=steps))
    caller = waiting(app, spanish)
    app.invoke()
    assert app.sim.skill_expression(caller) == OURS
    app.sim.set_skill_expression(caller, ARCHITECT)  # theirs now, set while it waits
    later(120)
    app.invoke()
    assert app.sim.skill_expression(caller) == f"({ARCHITECT}) & ({STEP})"
    entry = app.ledger(caller)
    assert entry is not None and entry["expression_before"] == ARCHITECT and entry["requirement_after"] == STEP
    later(240)
    app.invoke()
    assert app.sim.skill_expression(caller) == ARCHITECT  # byte for byte


def test_a_step_without_an_expression_to_write_costs_no_get(app: App, spanish: str):
    """The read before a step is only for a step that writes the expression: a step that raises
    the priority alone keeps README's "one PATCH and no GET"."""
    steps = "    escalate:\n      - after: 60\n        routing_priority: 20\n"
    app.upload_matrix(MATRIX.format(extra=steps))
    caller = waiting(app, spanish)
    app.invoke()
    app.sim.clear_log()
    later(120)
    app.invoke()
    assert app.sim.routing(caller)[1] == 20
    assert app.sim.count("GET", "/api/v2/conversations/" + caller) == 0


# --- (11) more legs: a step's requirement carried, a relaxed leg, another rule on the new leg --------


def test_a_step_s_requirement_carried_to_the_new_leg_is_ours(app: App, spanish: str):
    steps = "    escalate:\n      - after: 60\n        require: {Spanish: 4, Billing: 1}\n"
    app.upload_matrix(MATRIX.format(extra=steps))
    caller = waiting(app, spanish)
    app.invoke()
    later(120)
    app.invoke()
    assert app.sim.skill_expression(caller) == STEP
    other = transfer(app, caller, "Second")
    later(130)  # the new leg has waited nothing yet: its step is not due
    app.invoke()
    entry = leg_in(app, caller, other)
    assert entry["outcome"] in ("applied", "unchanged") and not entry.get("expression_before"), entry


@pytest.mark.parametrize("theirs", [None, ARCHITECT])
def test_another_rule_on_the_new_leg_is_not_counted_applied_under_our_carried_expression(
    app: App, spanish: str, theirs: str | None
):
    """The caller's intent changes before the transfer, and the new leg matches a skills-only rule:
    the expression skill-router left on the first leg (carried over) would still take priority over
    those skills. The new leg's rule decides: the carried requirement (ours) is taken out, theirs
    is back byte for byte (and the rule shadowed by it), or the caller routes by the skills."""
    tech_rule = f"  - id: tech\n    intent_keyword: technical\n    skills: [{BILLING}]\n"
    app.upload_matrix(MATRIX.format(extra=AND + tech_rule))
    caller = waiting(app, spanish)
    if theirs:
        app.sim.set_skill_expression(caller, theirs)
    app.invoke()
    assert app.sim.skill_expression(caller) == (f"({theirs}) & ({OURS})" if theirs else OURS)
    app.sim.set_attributes(caller, {"intent": "technical"})
    other = transfer(app, caller, "Second")
    app.invoke()
    entry = leg_in(app, caller, other)
    assert entry["rule_id"] == "tech", entry
    assert app.sim.skill_expression(caller) == theirs, bodies(app, caller)
    assert entry["outcome"] == ("shadowed" if theirs else "applied"), entry
    assert bodies(app, caller)[-1].get("skillExpression") == (theirs or ""), bodies(app, caller)


def test_acd_start_on_the_new_leg_within_the_first_leg_s_claim_is_left_to_the_poll_which_serves_it(
    app: App, spanish: str
):
    """Event mode end to end: acd.start decides the first leg; the transfer's acd.start comes while
    that invocation's caller claim (the conversation's) still holds, so it is left "pending" with
    no Genesys call; the next poll serves the new leg, reading the carried expression as ours."""
    app.set(EVENT_MODE="true")
    app.upload_matrix(MATRIX.format(extra=AND))
    caller = waiting(app, spanish)
    app.sim.set_skill_expression(caller, ARCHITECT)
    assert send(acd_start(app, caller, spanish))["outcome"] == "applied"
    left = f"({ARCHITECT}) & ({OURS})"
    other = transfer(app, caller, "Second")
    assert send(acd_start(app, caller, other))["outcome"] in ("pending", "applied", "unchanged")
    await_holds_lapsed(app)
    app.invoke()
    entry = leg_in(app, caller, other)
    assert entry["outcome"] in ("applied", "unchanged") and entry["expression_before"] == ARCHITECT, entry
    assert app.sim.skill_expression(caller) == left and written(app, caller) == [left]


def test_a_step_already_due_at_the_new_leg_s_first_sight_replaces_only_our_carried_half(app: App, spanish: str):
    steps = AND + "    escalate:\n      - after: 60\n        require: {Spanish: 4, Billing: 1}\n"
    app.upload_matrix(MATRIX.format(extra=steps))
    caller = waiting(app, spanish)
    app.sim.set_skill_expression(caller, ARCHITECT)
    app.invoke()
    transfer(app, caller, "Second")
    app.sim.wait(caller, 90)  # first seen on the new leg with its step already due
    app.invoke()
    assert app.sim.skill_expression(caller) == f"({ARCHITECT}) & ({STEP})"
    assert written(app, caller) == [f"({ARCHITECT}) & ({OURS})", f"({ARCHITECT}) & ({STEP})"]


def test_a_leg_relaxed_back_to_theirs_then_transferred_composes_afresh_on_the_new_leg(app: App, spanish: str):
    app.set(STAFFING_GUARD="on", UNSTAFFED_RELAX_SECONDS="60")
    app.upload_matrix(MATRIX.format(extra=AND))
    (expert,) = staff(app, spanish, 1, skills={SPANISH: 3, BILLING: 1, ENGLISH: 1})
    staff(app, spanish, 1, skills={BILLING: 2, ENGLISH: 1})
    caller = waiting(app, spanish)
    app.sim.set_skill_expression(caller, THEIRS)
    app.invoke()
    app.sim.set_member(spanish, expert, status="OFF_QUEUE")
    for seconds in (61, 130):
        later(seconds)
        app.invoke()
    assert app.sim.skill_expression(caller) == THEIRS  # relaxed on the first leg
    other = app.sim.add_queue("Second")
    staff(app, other, 1, skills={SPANISH: 3, BILLING: 1, ENGLISH: 1})
    app.sim.transfer(caller, other, skills=(ENGLISH,))
    app.sim.set_skill_expression(caller, THEIRS)  # carried over
    later(200)
    app.invoke()
    assert app.sim.skill_expression(caller) == f"({THEIRS}) & ({OURS})"
    assert leg_in(app, caller, other)["expression_before"] == THEIRS
