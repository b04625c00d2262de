"""The audit trail, read back with the CLI from the table the function wrote."""

from __future__ import annotations

import re

import pytest

from skill_router.cli import main
from tests.integration.conftest import BILLING, ENGLISH, TECH, App, minutes_ago, queued


def table(out: str) -> list[dict[str, str]]:
    """The rows of the audit's table, by column title (the dashes under the titles give the columns)."""
    lines = out.splitlines()
    top = next(i for i, line in enumerate(lines) if line.startswith("when (UTC)"))
    spans = [(m.start(), m.end()) for m in re.finditer(r"-+", lines[top + 1])]
    spans[-1] = (spans[-1][0], None)  # the last column runs to the end of its line
    titles = [lines[top][a:b].strip() for a, b in spans]
    rows = []
    for line in lines[top + 2 :]:
        if not line.strip():
            break
        rows.append({title: line[a:b].strip() for title, (a, b) in zip(titles, spans, strict=True)})
    return rows


def audit(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    capsys.readouterr()
    assert main(["audit", *args]) == 0
    return capsys.readouterr().out


def test_audit_reads_back_each_decision_by_conversation_and_by_time(
    app: App, queue: str, capsys: pytest.CaptureFixture[str]
):
    billing = queued(app, queue, "I want to dispute my BILLING statement", skills=(ENGLISH,))
    other = queued(app, queue, "sales enquiry")
    app.invoke()
    story = audit(capsys, "--conversation", billing)
    assert story.startswith(f"conversation {billing}: 1 queue leg") and "dispute" not in story
    (row,) = table(story)
    assert (row["event"], row["outcome"], row["keyword"]) == ("decision", "applied", "billing")
    assert row["rule"].startswith("billing-"), "an unnamed rule is named by its keyword and what it matches"
    assert row["skills before"] == ENGLISH and row["skills after"] == f"{ENGLISH}, {BILLING}"
    assert row["emailed"].endswith("to billing.lead@example.com"), "who the rule's email went to, and when"
    listing = table(audit(capsys, "--since", "1h"))
    assert {(r["conversation"], r["outcome"]) for r in listing} == {(billing, "applied"), (other, "no_match")}


def test_a_dry_run_is_audited_apart_and_changes_nothing(app: App, queue: str, capsys: pytest.CaptureFixture[str]):
    conversation = queued(app, queue, "technical")
    app.set(DRY_RUN="true")
    assert app.invoke()["polls"][0]["applied"] == 1
    assert app.sim.routing(conversation)[0] == [] and app.sim.count("PATCH") == 0
    capsys.readouterr()
    assert main(["audit", "--conversation", conversation]) == 3, "nothing real was recorded"
    assert main(["audit", "--conversation", conversation, "--dry-run"]) == 0
    assert "technical-" in capsys.readouterr().out


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


def test_the_audit_of_a_transferred_escalated_caller_tells_each_leg_decision_and_step_with_its_own_time(
    app: App, queue: str, capsys: pytest.CaptureFixture[str]
):
    english = app.sim.add_language("English")
    app.upload_matrix(LADDER)
    caller = app.sim.add_conversation(queue_id=queue, attributes={"intent": "billing"}, start=minutes_ago(5 / 60))
    first_leg = app.sim.acd_participant(caller)
    app.invoke()  # the rule, on the first leg
    decided = table(audit(capsys, "--conversation", caller))[0]["when (UTC)"]
    app.sim.wait(caller, 60)
    app.invoke()  # step 1 (65 s waited)
    app.sim.wait(caller, 240)
    app.invoke()  # step 2 (305 s): priority 50, language cleared, the lead emailed
    collections = app.sim.add_queue("Collections")
    app.sim.transfer(caller, collections)
    second_leg = app.sim.acd_participant(caller)
    app.invoke()  # the rule again, on the second leg
    app.sim.wait(caller, 65)
    app.invoke()  # the second leg's step 1

    out = audit(capsys, "--conversation", caller)
    rows = table(out)
    assert [(r.get("leg"), r.get("event"), r.get("outcome")) for r in rows] == [
        ("1", "decision", "applied"),
        ("1", "step 1 after 60s", "escalated"),
        ("1", "step 2 after 300s", "escalated"),
        ("2", "decision", "applied"),
        ("2", "step 1 after 60s", "escalated"),
    ], out
    # Each leg is named with its queue, in the order the caller met them.
    assert out.index(first_leg) < out.index(queue) < out.index(second_leg) < out.index(collections)
    times = [r["when (UTC)"] for r in rows]
    assert rows[0]["when (UTC)"] == decided, "a step never rewrites the decision's time"
    assert times == sorted(times) and len(set(times)) == len(times), "each row has its own time"
    decision, step1, step2, again, step1_again = rows
    # The decision shows what the rule did, not what the steps did later.
    assert decision["skills after"] == BILLING and decision["priority"] == "0 -> 10"
    assert decision["language"] == f"- -> {english}" and decision["emailed"] == "-"
    assert (step1["skills before"], step1["skills after"]) == (BILLING, TECH)
    assert step1["language"] == f"{english} -> {english}" and step1["priority"] == "10 -> 10"
    assert step1["emailed"] == "-"
    assert step2["priority"] == "10 -> 50" and step2["language"] == f"{english} -> -"
    assert LEAD in step2["emailed"] and step2["emailed"].startswith(times[2][:10])
    # The second leg starts again from the transfer's routing; the step email went out once.
    assert again["skills after"] == BILLING and again["emailed"] == "-"
    assert step1_again["skills after"] == TECH and step1_again["emailed"] == "-"
    assert len([m for m in app.sent_emails() if "escalated" in str(m.get("subject", ""))]) == 1

    # --since: one row per decision and step, in the order they happened.
    listing = [r for r in table(audit(capsys, "--since", "1h")) if r["conversation"] == caller]
    assert [(r["queue"], r["event"]) for r in listing] == [
        (queue, "decision"),
        (queue, "step 1 after 60s"),
        (queue, "step 2 after 300s"),
        (collections, "decision"),
        (collections, "step 1 after 60s"),
    ]
    assert [r["when (UTC)"] for r in listing] == times


def test_entries_written_by_the_previous_release_still_read(app: App, capsys: pytest.CaptureFixture[str]):
    """Before 0.3.0 the ledger had no `decided_at`/`*_decided` (a step rewrote `updated_at` and the
    routing after), and an email item neither `sent_to` nor `leg`: such rows still read, nothing invented."""
    store, caller, quiet = app.store, "0c0c0c0c-0000-4000-8000-00000000001d", "0c0c0c0c-0000-4000-8000-00000000002d"
    legacy = {"rule_id": "billing", "queue_id": "q1", "skills_before": [], "priority_before": 0}
    store.record(caller, "applied", leg="p1", **legacy, skills_after=[BILLING], priority_after=10, language_after="")
    step = {"step": 1, "after": 60, "at": "2026-01-01T10:01:00.000000Z", "language_before": "", "language_after": ""}
    step |= {"skills_before": [BILLING], "skills_after": [TECH], "priority_before": 10, "priority_after": 50}
    store.record_steps(caller, "p1", [step], skills_after=[TECH], priority_after=50, steps_applied=[60])
    store.mark_email_sent(caller, "billing@60s")  # as marked before 0.3.0: when, not who
    store.record(quiet, "applied", leg="p9", **legacy, skills_after=[BILLING], priority_written=10)

    decision, escalated = table(audit(capsys, "--conversation", caller))
    assert decision["when (UTC)"] == "-", "the step rewrote the entry's time: the decision's is not known"
    assert (decision["skills after"], decision["priority"]) == (BILLING, "0 -> 10"), "not the step's routing"
    assert (escalated["when (UTC)"], escalated["skills after"], escalated["priority"]) == (step["at"], TECH, "10 -> 50")
    assert escalated["emailed"].endswith("to (not recorded)") and escalated["language"] == "- -> -"
    (alone,) = table(audit(capsys, "--conversation", quiet))
    assert alone["when (UTC)"] != "-" and alone["skills after"] == BILLING and alone["priority"] == "0 -> 10"


def test_a_step_email_owed_then_sent_reads_so_recipient_by_recipient(
    app: App, queue: str, capsys: pytest.CaptureFixture[str]
):
    app.set(NOTIFY_CHANNEL="genesys", NOTIFY_FROM="alerts@example.com")  # one recipient per send
    app.sim.add_language("English")
    app.upload_matrix(LADDER.replace(f"notify: [{LEAD}]", f"notify: [{LEAD}, deputy@example.com]"))
    caller = app.sim.add_conversation(queue_id=queue, attributes={"intent": "billing"}, start=minutes_ago(6))
    app.sim.fail("POST", "/api/v2/conversations/emails/agentless", 400)  # the lead's send fails once
    app.invoke()  # the rule and both steps in one PATCH; the deputy is emailed, the lead is not
    decision, step1, step2 = table(audit(capsys, "--conversation", caller))
    assert decision["when (UTC)"] == step1["when (UTC)"] == step2["when (UTC)"], "one PATCH, one time"
    assert (decision["skills after"], step1["skills after"]) == (BILLING, TECH)
    assert step2["emailed"] == "partly, to deputy@example.com; the rest owed"
    app.invoke()  # the email still owed goes out to the lead only
    step2 = table(audit(capsys, "--conversation", caller))[2]
    assert step2["emailed"].endswith(" to deputy@example.com, lead@example.com")
    assert [e["toAddresses"] for e in app.sim.emails] == [
        [{"email": "deputy@example.com"}],
        [{"email": LEAD}],
    ]
