"""Class 8 of issue #12: the event shortcut trusts a snapshot. An acd.start event tells what the
routing was as the caller entered the queue, not what a PATCH would overwrite now; event mode
must choose the same rule and write the same routing as the poller."""

from __future__ import annotations

import pytest

from tests.attack.helpers import acd_start, event, reroute, send
from tests.integration.conftest import BILLING, ENGLISH, GET, TECH, App, minutes_ago, patches

PRIORITY_MATRIX = f"""
skill_matrix:
  - intent_keyword: technical
    skill_id: {TECH}
    routing_priority: 100
"""


def intent_first(
    app: App, queue: str, intent: str, skills: tuple[str, ...] = (), priority: int = 0
) -> tuple[str, dict]:
    """The usual order: the bot sets the intent (attributes event), then the caller is queued;
    returns the conversation and its acd.start as Genesys emits it at queue entry."""
    conversation = app.sim.add_conversation(queue_id=None, attributes={}, start=minutes_ago(1))
    app.sim.set_attributes(conversation, {"intent": intent})
    send(event("attributes", conversation, attributes={"intent": intent}))
    app.sim.queue_conversation(conversation, queue, skills=skills, priority=priority)
    return conversation, acd_start(app, conversation, queue)


def test_a_skill_added_after_queue_entry_is_not_removed(app: App, queue: str):
    conversation, snapshot = intent_first(app, queue, "technical")
    reroute(app, conversation, skills=[ENGLISH])  # a flow adds a language skill after queue entry
    assert send(snapshot)["outcome"] == "applied"
    assert sorted(app.sim.routing(conversation)[0]) == sorted([ENGLISH, TECH])


def test_a_skill_removed_after_queue_entry_is_not_put_back(app: App, queue: str):
    conversation, snapshot = intent_first(app, queue, "technical", skills=(ENGLISH,))
    reroute(app, conversation, skills=[])  # a supervisor removed it
    send(snapshot)
    assert app.sim.routing(conversation)[0] == [TECH]


def test_an_absent_routing_priority_never_lowers_a_caller(app: App, queue: str):
    app.upload_matrix(PRIORITY_MATRIX)
    conversation, _ = intent_first(app, queue, "technical", priority=500)
    snapshot = acd_start(app, conversation, queue, routingPriority=None)
    send(snapshot)
    assert app.sim.routing(conversation) == ([TECH], 500)


def test_a_priority_raised_after_queue_entry_is_not_lowered(app: App, queue: str):
    app.upload_matrix(PRIORITY_MATRIX)
    conversation, snapshot = intent_first(app, queue, "technical", priority=0)
    reroute(app, conversation, priority=500)
    send(snapshot)
    assert app.sim.routing(conversation) == ([TECH], 500)


def test_the_event_path_honours_queue_restricted_rules_like_the_poller(app: App, queue: str):
    app.upload_matrix(
        f"""
skill_matrix:
  - id: billing-general
    intent_keyword: billing
    skill_id: {BILLING}
  - id: billing-vip
    intent_keyword: billing vip
    skill_id: {TECH}
    queues: [{queue}]
"""
    )
    # "billing vip" matches both; the first rule for the caller's queue wins in poll mode.
    by_event, snapshot = intent_first(app, queue, "billing vip")
    send(snapshot)
    by_poll = app.sim.add_conversation(queue_id=queue, attributes={"intent": "billing vip"}, start=minutes_ago(2))
    app.invoke()
    assert app.sim.routing(by_event)[0] == app.sim.routing(by_poll)[0]
    assert app.ledger(by_event)["rule_id"] == app.ledger(by_poll)["rule_id"]


def test_a_queue_restricted_rule_listed_first_wins_in_event_mode_too(app: App, queue: str):
    app.upload_matrix(
        f"""
skill_matrix:
  - id: billing-vip
    intent_keyword: billing
    skill_id: {TECH}
    queues: [{queue}]
  - id: billing-general
    intent_keyword: billing
    skill_id: {BILLING}
"""
    )
    conversation, snapshot = intent_first(app, queue, "billing")
    send(snapshot)
    assert app.sim.routing(conversation)[0] == [TECH]
    assert app.ledger(conversation)["rule_id"] == "billing-vip"


def test_an_intent_changed_after_its_event_is_read_not_assumed(app: App, queue: str):
    conversation, snapshot = intent_first(app, queue, "billing")
    app.sim.set_attributes(conversation, {"intent": "technical"})  # the bot re-classified the caller
    send(snapshot)
    assert app.sim.routing(conversation)[0] == [TECH]


def test_skills_in_the_event_that_the_caller_no_longer_has_are_not_written(app: App, queue: str):
    conversation, _ = intent_first(app, queue, "technical")
    forged = acd_start(app, conversation, queue, requestedRoutingSkillIds=[ENGLISH, BILLING])
    send(forged)
    assert app.sim.routing(conversation)[0] == [TECH]


@pytest.mark.parametrize(
    ("intent", "skills", "priority"),
    [("technical", (ENGLISH,), 0), ("billing", (), 7), ("technical", (TECH,), 0), ("nothing", (ENGLISH,), 0)],
    ids=["adds-a-skill", "high-priority", "already-there", "no-match"],
)
def test_event_mode_and_poll_mode_write_the_same_routing(app: App, queue: str, intent, skills, priority):
    by_event, snapshot = intent_first(app, queue, intent, skills=skills, priority=priority)
    send(snapshot)
    by_poll = app.sim.add_conversation(
        queue_id=queue, attributes={"intent": intent}, skills=skills, priority=priority, start=minutes_ago(2)
    )
    app.invoke()
    assert app.sim.routing(by_event) == app.sim.routing(by_poll)
    assert patches(app, by_event) == patches(app, by_poll)


def test_a_ledger_note_from_another_matrix_version_is_not_trusted(app: App, queue: str):
    conversation, snapshot = intent_first(app, queue, "technical")
    app.upload_matrix(f"skill_matrix:\n  - intent_keyword: technical\n    skill_id: {BILLING}\n")
    send(snapshot)
    assert app.sim.routing(conversation)[0] == [BILLING]
    assert app.sim.count("GET", GET + conversation) >= 1
