"""`skill-router why`: why a caller still waits, read from Genesys (the simulator over HTTP, the real
SDK), the ledger the function wrote (moto) and the queue's members, as an operator would run it."""

from __future__ import annotations

import uuid

import pytest

from skill_router.cli import main
from tests.integration.conftest import BILLING, ENGLISH, TECH, App, member_pages, queued, staff
from tests.integration.test_guard import RULE as GUARD_RULE
from tests.integration.test_guard import STEPS as GUARD_STEPS
from tests.integration.test_guard import later

pytestmark = pytest.mark.integration

NAMED_MATRIX = """
skill_matrix:
  - id: billing
    intent_keyword: billing
    skills: [Billing]
    routing_priority: 10
    escalate:
      - after: 10m
        add_skills: [Technical]
  - id: technical
    intent_keyword: technical
    skills: [Technical]
"""


@pytest.fixture(autouse=True)
def guard_on(app: App) -> None:
    """The deployment's default (the other integration tests turn the guard off): `why` explains it."""
    app.set(STAFFING_GUARD="on")


def why(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    status = main(["why", *args, "--env"])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_a_caller_whose_rule_was_applied_shows_the_rule_and_who_set_each_requirement(
    app: App, queue: str, capsys: pytest.CaptureFixture[str]
):
    app.upload_matrix(NAMED_MATRIX)
    staff(app, queue, 2, skills=(BILLING, ENGLISH))
    staff(app, queue, 1, skills=(ENGLISH,))
    staff(app, queue, 1, skills=(BILLING, ENGLISH), status="OFF_QUEUE")
    caller = queued(app, queue, "I want to dispute my billing statement", skills=(ENGLISH,))
    app.invoke()
    status, out, err = why(capsys, caller)
    assert status == 0, err
    assert f"conversation {caller}: waiting" in out and f"in queue General ({queue}) since" in out
    assert "skill-router: rule billing (keyword 'billing') applied at" in out
    assert f"skill Billing ({BILLING}): set by rule billing" in out, out
    assert f"skill English ({ENGLISH})" not in out, "a name the CLI cannot resolve is shown as its id"
    assert f"skill {ENGLISH}: set by someone else, before skill-router saw the caller" in out
    assert "priority 10: set by rule billing" in out
    assert "staffing: 3 of 4 joined members on queue now; 2 could take this caller" in out
    assert f"excluded by: skill Billing ({BILLING}): 1 of 3 on queue lack it" in out
    assert "next: step 1 (after 10m) due at" in out
    assert "dispute" not in out + err, "a caller's attribute values are never shown"


def test_a_requirement_nobody_on_queue_meets_is_named_with_the_counts(
    app: App, queue: str, capsys: pytest.CaptureFixture[str]
):
    app.upload_matrix(NAMED_MATRIX)
    staff(app, queue, 3, skills=(BILLING, ENGLISH))
    # The flow asked for Technical; nobody on queue has it; no rule matches the intent.
    caller = queued(app, queue, "sales", skills=(TECH, ENGLISH))
    app.invoke()
    status, out, err = why(capsys, caller)
    assert status == 0, err
    assert "skill-router: no rule of the matrix matches this caller" in out
    assert f"skill Technical ({TECH}): set by someone else" in out
    assert "staffing: 3 of 3 joined members on queue now; 0 could take this caller" in out
    assert f"excluded by: skill Technical ({TECH}): 3 of 3 on queue lack it" in out
    assert "sales" not in out


def test_a_skill_the_guard_withheld_then_applied_is_explained(app: App, queue: str, capsys: pytest.CaptureFixture[str]):
    app.upload_matrix(NAMED_MATRIX)
    staff(app, queue, 2, skills=(ENGLISH,))  # nobody on queue has Billing
    caller = queued(app, queue, "billing", skills=(ENGLISH,))
    app.invoke()
    status, out, err = why(capsys, caller)
    assert status == 0, err
    assert "guard: withheld: it left off what nobody on queue could serve" in out
    assert f"withheld: skill Billing ({BILLING}): nobody on queue could serve it; still withheld" in out
    assert "staffing: 2 of 2 joined members on queue now; 2 could take this caller" in out
    staff(app, queue, 1, skills=(BILLING, ENGLISH))  # someone with Billing comes on queue
    later(61)  # one staffing cache period on: the poll applies the withheld skill
    assert app.invoke()["polls"][0]["withheld_applied"] == 1
    _, out, _ = why(capsys, caller)
    assert f"skill Billing ({BILLING}): set by rule billing (keyword 'billing'), held back by the staffing guard" in out
    assert "withheld parts applied at" in out and "still withheld" not in out
    assert "staffing: 3 of 3 joined members on queue now; 1 could take this caller" in out


def test_a_relaxed_requirement_and_one_someone_else_set_that_blocks_are_explained(
    app: App, queue: str, capsys: pytest.CaptureFixture[str]
):
    app.upload_matrix(NAMED_MATRIX)
    (agent,) = staff(app, queue, 1, skills=(BILLING, TECH))
    staff(app, queue, 1, skills=(TECH,))
    relaxed = queued(app, queue, "billing", skills=(TECH,))  # the flow asked for Technical
    (other,) = staff(app, queue, 1, skills=(BILLING, ENGLISH))
    blocked = queued(app, queue, "billing", skills=(ENGLISH,))  # the flow asked for English
    app.invoke()
    app.sim.set_member(queue, agent, status="OFF_QUEUE")
    app.sim.set_member(queue, other, status="OFF_QUEUE")
    later(61)
    app.invoke()
    _, out, _ = why(capsys, relaxed)
    assert "unstaffed since" in out and "it relaxes what it added after UNSTAFFED_RELAX_SECONDS" in out
    later(61 + 62)
    app.invoke()
    _, out, _ = why(capsys, relaxed)
    assert f"relaxed: removed skill Billing ({BILLING}) at" in out
    assert f"skill Technical ({TECH}): set by someone else, before skill-router saw the caller" in out
    _, out, _ = why(capsys, blocked)
    assert f"removing what skill-router added would not help: blocked by what someone else set: skill {ENGLISH}" in out
    assert "never removes it" in out and "it relaxes what it added" not in out
    assert "0 could take this caller" in out and f"skill {ENGLISH}: 1 of 1 on queue lack it" in out


def test_a_jump_to_the_first_staffed_step_is_explained(app: App, queue: str, capsys: pytest.CaptureFixture[str]):
    app.upload_matrix(GUARD_RULE.format(when="next_step", steps=GUARD_STEPS))  # ids, not names
    staff(app, queue, 2, skills=(TECH,))  # nobody has Billing; Technical (step 1's) is staffed
    caller = queued(app, queue, "billing", minutes=0.1)
    app.invoke()
    _, out, _ = why(capsys, caller)
    assert "guard: next_step: nobody on queue could serve the rule's requirement: it jumped to the first staffed" in out
    assert f"skill Technical ({TECH}): set by step 1 after 1m of rule billing" in out, out
    assert "step 1 (after 1m) applied at" in out and "(guard: next_step)" in out
    assert "next: step 2 (after 2m) due at" in out, out
    assert "staffing: 2 of 2 joined members on queue now; 2 could take this caller" in out


def test_queue_lists_everyone_waiting_there_reading_its_members_once(
    app: App, queue: str, capsys: pytest.CaptureFixture[str]
):
    app.upload_matrix(NAMED_MATRIX)
    staff(app, queue, 2, skills=(BILLING,))
    callers = [queued(app, queue, intent, minutes=m) for intent, m in (("billing", 5), ("technical", 3), ("x", 1))]
    elsewhere = app.sim.add_queue("Elsewhere")
    other = queued(app, elsewhere, "billing")
    app.invoke()
    before = member_pages(app)
    status, out, err = why(capsys, "--queue", queue)
    assert status == 0, err
    assert out.startswith(f"queue {queue}: 3 waiting")
    positions = [out.index(f"conversation {c}: waiting") for c in callers]
    assert positions == sorted(positions), "longest waiting first"
    assert other not in out
    assert member_pages(app) - before == 1, "the queue's members are read once for all its callers"
    status, out, _ = why(capsys, "--queue", queue, "--limit", "2")
    assert "the 2 longest waiting below (1 more not shown)" in out and callers[2] not in out


def test_a_conversation_not_found_or_not_an_id_is_one_line(app: App, queue: str, capsys: pytest.CaptureFixture[str]):
    missing = str(uuid.uuid4())
    status, out, err = why(capsys, missing)
    assert status == 3 and out == ""
    assert err.count("\n") == 1 and f"conversation {missing} not found in Genesys" in err
    assert "skill-router audit --conversation" in err and "Traceback" not in err
    calls = app.sim.count()
    status, out, err = why(capsys, "../users/me")
    assert status == 2 and "is not a Genesys conversation id" in err and err.count("\n") == 1
    status, out, err = why(capsys, "--queue", "q/../../users/me")
    assert status == 2 and "--queue 'q/../../users/me' is not a Genesys queue id" in err
    assert app.sim.count() == calls, "a bad id reaches no URL"


def test_a_caller_no_longer_waiting_says_so_and_points_at_the_audit(
    app: App, queue: str, capsys: pytest.CaptureFixture[str]
):
    caller = queued(app, queue, "billing")
    app.sim.answer(caller)
    status, out, err = why(capsys, caller)
    assert status == 3 and "is not waiting in a queue now" in out and err == ""
    assert f"skill-router audit --conversation {caller}" in out


def test_a_skill_expression_is_shown_and_kept_apart_from_the_counts(
    app: App, queue: str, capsys: pytest.CaptureFixture[str]
):
    staff(app, queue, 1, skills=(BILLING,))
    caller = queued(app, queue, "sales", skills=(BILLING,))
    app.sim.set_skill_expression(caller, 'Skill("Billing") >= 3')
    status, out, _ = why(capsys, caller)
    assert status == 0
    assert "skill expression 'Skill(\"Billing\") >= 3': set by someone else" in out
    assert "Genesys routes by the skill expression, not evaluated here" in out


def test_a_403_on_members_names_the_permission_and_shows_the_rest(
    app: App, queue: str, capsys: pytest.CaptureFixture[str]
):
    app.upload_matrix(NAMED_MATRIX)
    app.sim.deny_queue_members()  # the function's guard is off for want of it; `why` says so
    caller = queued(app, queue, "billing")
    app.invoke()
    status, out, err = why(capsys, caller)
    assert status == 1 and "Traceback" not in err
    assert "guard: unknown: the queue's staffing could not be read then" in out
    assert f"skill Billing ({BILLING}): set by rule billing" in out, "the rest is still explained"
    assert "staffing: not known (GET /api/v2/routing/queues/{queueId}/members answered 403" in out
    assert "routing:queue:view" in err and err.count("\n") == 1


def test_genesys_down_is_one_line(app: App, queue: str, capsys: pytest.CaptureFixture[str]):
    caller = queued(app, queue, "billing")
    app.sim.fail("GET", r"^/api/v2/conversations/", 503, count=None)
    status, out, err = why(capsys, caller)
    assert status == 1 and out == "" and err.count("\n") == 1
    assert "Genesys did not answer" in err and "Traceback" not in err


def test_a_403_on_the_conversation_names_its_permission(app: App, queue: str, capsys: pytest.CaptureFixture[str]):
    caller = queued(app, queue, "billing")
    app.sim.fail("GET", r"^/api/v2/conversations/", 403, count=None)
    status, out, err = why(capsys, caller)
    assert status == 1 and out == "" and err.count("\n") == 1
    assert "GET /api/v2/conversations/{id} answered 403: add conversation:communication:view" in err
