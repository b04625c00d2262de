"""Escalation steps applied by the poll cycle: the real handler, the real SDK against the
simulator, real boto3 against moto. The poller's clock is moved with `later` (the caller's queue
entry stays where the simulator put it), so minutes of waiting take no wall-clock time."""

from __future__ import annotations

import pytest

from skill_router.cli import main
from tests.integration.conftest import BILLING, GET, PATCH, TECH, App, later, minutes_ago

LEAD = "lead@example.com"
LADDER = f"""
skill_matrix:
  - id: billing
    intent_keyword: billing
    skills: [{BILLING}]
    language: English
    routing_priority: 10
    escalate:
      - after: 60
        add_skills: [Technical]
        remove_skills: [Billing]
      - after: 5m
        routing_priority: 50
        language: none
        notify: [{LEAD}]
"""


@pytest.fixture
def ladder(app: App, queue: str) -> dict[str, str]:
    ids = {"English": app.sim.add_language("English"), "Spanish": app.sim.add_language("Spanish")}
    app.upload_matrix(LADDER)
    return ids


def waiting(app: App, queue: str, seconds: float, intent: str = "billing") -> str:
    return app.sim.add_conversation(queue_id=queue, attributes={"intent": intent}, start=minutes_ago(seconds / 60))


def bodies(app: App, conversation: str) -> list[dict[str, object]]:
    return [r.body for r in app.sim.requests if r.method == "PATCH" and r.path == PATCH + conversation]


def step_emails(app: App) -> list[dict[str, object]]:
    return [m for m in app.sent_emails() if "escalated" in str(m.get("subject", ""))]


def test_a_caller_first_seen_after_6_minutes_gets_the_rule_and_every_due_step_in_one_patch(
    app: App, queue: str, ladder: dict[str, str]
):
    conversation = waiting(app, queue, 360)
    poll = app.invoke()["polls"][0]
    assert poll["applied"] == 1 and poll["escalation_steps"] == 2
    # Billing added by the rule then removed by step 1, Technical added; English set then cleared
    # by step 2 (the caller had none: nothing to send); priority raised to 50.
    assert bodies(app, conversation) == [{"skillIds": [TECH], "priority": 50}]
    assert app.sim.routing(conversation) == ([TECH], 50) and app.sim.language(conversation) is None
    entry = app.ledger(conversation)
    assert entry and entry["steps_applied"] == [60, 300]
    assert [(s["step"], s["after"]) for s in entry["step_log"]] == [(1, 60), (2, 300)]
    assert len(step_emails(app)) == 1


def test_each_step_fires_at_the_first_poll_after_it_is_due_once_with_one_patch_and_no_get(
    app: App, queue: str, ladder: dict[str, str]
):
    conversation = waiting(app, queue, 5)
    app.invoke()
    # The rule: Billing, English by name reaches languageId, priority 10.
    assert bodies(app, conversation) == [{"skillIds": [BILLING], "priority": 10, "languageId": ladder["English"]}]
    assert app.sim.language(conversation) == ladder["English"]
    app.sim.clear_log()

    later(50)  # 55 s waited: nothing due, nothing sent, nothing read
    assert app.invoke()["polls"][0]["escalation_steps"] == 0
    assert app.sim.count("PATCH") == 0 and app.sim.count("GET", GET) == 0

    later(60)  # 65 s: step 1, within one poll interval of being due
    assert app.invoke()["polls"][0]["escalation_steps"] == 1
    assert bodies(app, conversation) == [{"skillIds": [TECH]}]
    assert app.sim.count("GET", GET) == 0, "the ledger said what the caller's routing was"
    assert app.sim.routing(conversation) == ([TECH], 10)

    later(70)  # 75 s: step 1 never twice
    app.invoke()
    assert len(bodies(app, conversation)) == 1

    later(300)  # 305 s: step 2 raises the priority, clears the language, emails the lead
    assert app.invoke()["polls"][0]["escalation_steps"] == 1
    assert bodies(app, conversation)[1:] == [{"priority": 50, "languageId": ""}]
    assert app.sim.language(conversation) is None and app.sim.routing(conversation) == ([TECH], 50)
    for extra in (310, 900):
        later(extra)
        app.invoke()
    assert len(bodies(app, conversation)) == 2 and app.sim.count("GET", GET) == 0
    emails = step_emails(app)
    assert len(emails) == 1 and LEAD in str(emails[0].get("destinations"))


def test_no_step_after_the_caller_left_the_queue(app: App, queue: str, ladder: dict[str, str]):
    conversation = waiting(app, queue, 5)
    app.invoke()
    app.sim.answer(conversation)
    app.sim.clear_log()
    later(400)
    app.invoke()
    assert app.sim.count("PATCH") == 0 and not step_emails(app)
    assert (app.ledger(conversation) or {}).get("steps_applied") in (None, [])


def test_a_transfer_starts_a_new_leg_and_the_clock_with_it(app: App, queue: str, ladder: dict[str, str]):
    conversation = waiting(app, queue, 270)
    app.invoke()  # rule and step 1 on the first leg
    first_leg = app.sim.acd_participant(conversation)
    other = app.sim.add_queue("Collections")
    app.sim.transfer(conversation, other)
    app.sim.clear_log()

    later(40)  # the first leg would be at 310 s (step 2 due) had the caller stayed
    app.invoke()
    assert bodies(app, conversation) == [{"skillIds": [BILLING], "priority": 10, "languageId": ladder["English"]}]
    legs = {e["leg"]: e for e in app.legs(conversation)}
    assert legs[first_leg]["steps_applied"] == [60], "nothing fired in the old queue"
    assert not step_emails(app)

    later(70)  # 70 s into the new leg: its step 1
    app.invoke()
    assert bodies(app, conversation)[1:] == [{"skillIds": [TECH]}]
    legs = {e["leg"]: e for e in app.legs(conversation)}
    assert legs[app.sim.acd_participant(conversation)]["steps_applied"] == [60]


def test_a_dry_run_decides_the_steps_and_changes_nothing(
    app: App, queue: str, ladder: dict[str, str], capsys: pytest.CaptureFixture[str]
):
    app.set(DRY_RUN="true")
    conversation = waiting(app, queue, 360)
    assert app.invoke()["polls"][0]["escalation_steps"] == 2
    assert app.sim.count("PATCH") == 0 and app.sim.routing(conversation) == ([], 0) and not step_emails(app)
    capsys.readouterr()
    assert main(["audit", "--conversation", conversation, "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "step 1 after 60s" in out and "step 2 after 300s" in out


def test_the_audit_trail_shows_each_step_with_the_routing_before_and_after(
    app: App, queue: str, ladder: dict[str, str], capsys: pytest.CaptureFixture[str]
):
    conversation = waiting(app, queue, 5)
    app.invoke()
    later(65)
    app.invoke()
    capsys.readouterr()
    assert main(["audit", "--conversation", conversation]) == 0
    out = capsys.readouterr().out
    step = next(line for line in out.splitlines() if "step 1 after 60s" in line)
    assert BILLING in step and TECH in step and "10" in step
