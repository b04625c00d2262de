"""Issue 19, class 3: a waiting caller's escalation ladder is the one of the rule that matched it,
or none, whatever rules are added above it or moved around it (rules without an `id` were named
by their position, and a caller's ladder was looked up by that name)."""

from __future__ import annotations

from tests.integration.conftest import BILLING, PATCH, TECH, App, later, minutes_ago

VIP_LEAD = "vip.lead@example.com"
GENERAL = f"""
  - intent_keyword: billing
    skills: [{BILLING}]
    escalate:
      - after: 60
        routing_priority: 20
"""
VIP = f"""
  - intent_keyword: billing
    queues: [{{vip}}]
    skills: [{BILLING}]
    routing_priority: 1000
    priority: high
    notify: [{VIP_LEAD}]
    escalate:
      - after: 60
        routing_priority: 2000
        notify: [{VIP_LEAD}]
"""
UNRELATED = f"""
  - intent_keyword: password reset
    skills: [{TECH}]
"""


def matrix(*rules: str) -> str:
    return "skill_matrix:\n" + "".join(rules)


def bodies(app: App, conversation: str) -> list[dict[str, object]]:
    return [r.body for r in app.sim.requests if r.method == "PATCH" and r.path == PATCH + conversation]


def served_then_waits(app: App, queue: str) -> str:
    conversation = app.sim.add_conversation(queue_id=queue, attributes={"intent": "billing"}, start=minutes_ago(0.1))
    app.invoke()
    assert bodies(app, conversation) == [{"skillIds": [BILLING]}]
    return conversation


def test_a_rule_inserted_above_does_not_give_a_waiting_caller_its_ladder(app: App, queue: str):
    app.upload_matrix(matrix(GENERAL))
    conversation = served_then_waits(app, queue)
    vip = app.sim.add_queue("VIP")
    app.upload_matrix(matrix(VIP.format(vip=vip), GENERAL))  # the VIP rule goes first; the caller is not in its queue
    later(90)
    app.invoke()
    assert app.sim.routing(conversation) == ([BILLING], 20), "the caller's own rule's step did not fire"
    assert bodies(app, conversation)[1:] == [{"priority": 20}]
    assert not [m for m in app.sent_emails() if VIP_LEAD in str(m)], "the VIP lead was emailed about a general caller"


def test_an_unrelated_rule_added_at_the_top_does_not_stop_a_waiting_callers_ladder(app: App, queue: str):
    app.upload_matrix(matrix(GENERAL))
    conversation = served_then_waits(app, queue)
    app.upload_matrix(matrix(UNRELATED, GENERAL))
    later(90)
    app.invoke()
    assert app.sim.routing(conversation) == ([BILLING], 20), "the caller's ladder stopped when a rule was added"


def test_a_caller_whose_rule_was_removed_gets_no_other_rules_ladder(app: App, queue: str):
    app.upload_matrix(matrix(GENERAL))
    conversation = served_then_waits(app, queue)
    # The general rule is replaced by one that matches other callers too, with a ladder of its own.
    app.upload_matrix(
        matrix(GENERAL.replace("intent_keyword: billing", "keywords: [billing, invoice]").replace("20", "700"))
    )
    later(90)
    app.invoke()
    assert app.sim.routing(conversation) == ([BILLING], 0), "another rule's ladder ran on a caller it never matched"


def test_a_rule_edited_in_what_it_does_keeps_its_waiting_callers(app: App, queue: str):
    app.upload_matrix(matrix(GENERAL))
    conversation = served_then_waits(app, queue)
    app.upload_matrix(matrix(UNRELATED, GENERAL.replace("routing_priority: 20", "routing_priority: 30")))
    later(90)
    app.invoke()
    assert app.sim.routing(conversation) == ([BILLING], 30), "the edited rule's waiting caller lost its ladder"


def test_a_rule_with_an_explicit_id_keeps_its_callers_when_moved_and_edited(app: App, queue: str):
    named = GENERAL.replace("  - intent_keyword: billing", "  - id: billing\n    intent_keyword: billing")
    app.upload_matrix(matrix(named))
    conversation = served_then_waits(app, queue)
    app.upload_matrix(matrix(UNRELATED, named.replace("routing_priority: 20", "routing_priority: 30")))
    later(90)
    app.invoke()
    assert app.sim.routing(conversation) == ([BILLING], 30), "a named rule's waiting callers lost its (edited) ladder"
