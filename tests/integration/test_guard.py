"""The staffing guard through the real handler, the real SDK against the simulator's queue members,
real boto3 against moto (issue 20, "Done when"): an unstaffed skill is withheld and applied once
someone with it is on queue; `next_step` jumps to a staffed step; a requirement skill-router added
is relaxed after the hysteresis, one someone else set is not; a skill expression is kept; the
priority is raised whatever is withheld. Minutes of waiting cost no wall clock: the poller's and
the staffing cache's clocks move together (`later`)."""

from __future__ import annotations

import logging
import time

import pytest

from skill_router import runtime
from tests.integration.conftest import BILLING, PATCH, TECH, App, minutes_ago, staff

RULE = f"""
skill_matrix:
  - id: billing
    intent_keyword: billing
    skills: [{BILLING}]
    routing_priority: 10
    when_unstaffed: {{when}}
{{steps}}"""
STEPS = """    escalate:
      - after: 60
        add_skills: [Technical]
        remove_skills: [Billing]
      - after: 120
        routing_priority: 30
"""


def later(seconds: float) -> None:
    """The next polls run `seconds` from now, for the poller and for the staffing cache (whose
    copy of a queue's members is read again once it is STAFFING_CACHE_SECONDS old)."""
    current = runtime.current()
    clock = lambda: time.time() + seconds  # noqa: E731
    current.poller.clock = clock
    staffing = current.poller.adapters.staffing
    assert staffing is not None, "STAFFING_GUARD is on: the runtime has a staffing cache"
    staffing.clock = clock


def waiting(app: App, queue: str, skills: tuple[str, ...] = ()) -> str:
    return app.sim.add_conversation(
        queue_id=queue, attributes={"intent": "billing"}, skills=skills, start=minutes_ago(0.1)
    )


def bodies(app: App, conversation: str) -> list[dict[str, object]]:
    return [r.body for r in app.sim.requests if r.method == "PATCH" and r.path == PATCH + conversation]


@pytest.fixture(autouse=True)
def guard_on(app: App) -> None:
    app.set(STAFFING_GUARD="on")  # the default setting (the other integration tests turn it off)


@pytest.fixture
def rule(app: App, queue: str) -> App:
    app.upload_matrix(RULE.format(when="skip", steps=""))
    return app


def test_an_unstaffed_skill_is_withheld_the_priority_raised_and_the_skill_applied_once_staff_is_on_queue(
    rule: App, queue: str
):
    app = rule
    staff(app, queue, skills=(TECH,))  # on queue, without Billing
    conversation = waiting(app, queue)
    poll = app.invoke()["polls"][0]
    assert poll["applied"] == 1 and poll["skills_withheld"] == 1
    assert bodies(app, conversation) == [{"priority": 10}], "the priority is raised; Billing is not added"
    entry = app.ledger(conversation)
    assert entry and entry["guard"] == "withheld" and entry["skills_withheld"] == [BILLING]

    later(20)  # nobody with Billing yet: nothing is sent
    assert app.invoke()["polls"][0]["withheld_applied"] == 0 and len(bodies(app, conversation)) == 1

    staff(app, queue, skills=(BILLING,))  # someone with Billing comes on queue
    later(20 + 61)  # within one cache period of it
    assert app.invoke()["polls"][0]["withheld_applied"] == 1
    assert app.sim.routing(conversation) == ([BILLING], 10)
    entry = app.ledger(conversation)
    assert entry and entry["skills_withheld"] == [] and entry["withheld_applied_at"]
    later(20 + 61 + 30)
    assert app.invoke()["polls"][0]["withheld_applied"] == 0 and len(bodies(app, conversation)) == 2, "once"


def test_next_step_jumps_to_the_first_staffed_step_and_the_step_jumped_to_never_fires_again(app: App, queue: str):
    app.upload_matrix(RULE.format(when="next_step", steps=STEPS))
    staff(app, queue, skills=(TECH,))
    conversation = waiting(app, queue)
    poll = app.invoke()["polls"][0]
    assert poll["applied"] == 1 and poll["escalation_steps"] == 1
    assert bodies(app, conversation) == [{"skillIds": [TECH], "priority": 10}]
    entry = app.ledger(conversation)
    assert entry and entry["guard"] == "next_step" and entry["steps_applied"] == [60]
    later(70)
    assert app.invoke()["polls"][0]["escalation_steps"] == 0 and len(bodies(app, conversation)) == 1
    later(130)  # step 2 (priority only) still fires on time
    assert app.invoke()["polls"][0]["escalation_steps"] == 1
    assert app.sim.routing(conversation) == ([TECH], 30)


def test_a_requirement_skill_router_added_is_relaxed_after_the_hysteresis_and_the_flows_is_kept(rule: App, queue: str):
    app = rule
    (agent,) = staff(app, queue, skills=(BILLING, TECH))
    staff(app, queue, skills=(TECH,))
    conversation = waiting(app, queue, skills=(TECH,))  # the flow asked for Technical
    app.invoke()
    assert app.sim.routing(conversation) == ([TECH, BILLING], 10)
    app.sim.set_member(queue, agent, status="OFF_QUEUE")  # the only Billing agent logs off

    later(61)  # the cache reads the members again: nobody meets Technical + Billing
    poll = app.invoke()["polls"][0]
    assert poll["requirements_relaxed"] == 0
    entry = app.ledger(conversation)
    assert entry and entry["unstaffed_since"]
    later(61 + 30)  # not yet: the hysteresis is 60 s
    assert app.invoke()["polls"][0]["requirements_relaxed"] == 0
    later(61 + 62)
    assert app.invoke()["polls"][0]["requirements_relaxed"] == 1
    assert app.sim.routing(conversation) == ([TECH], 10), "only Billing, which skill-router added, is removed"
    entry = app.ledger(conversation)
    assert entry and entry["relaxed"] == [BILLING] and entry["relaxed_at"]
    later(61 + 200)
    assert app.invoke()["polls"][0]["requirements_relaxed"] == 0 and len(bodies(app, conversation)) == 2


def test_a_requirement_someone_else_set_is_never_removed(rule: App, queue: str):
    app = rule
    (agent,) = staff(app, queue, skills=(BILLING, TECH))
    staff(app, queue, skills=(BILLING,))
    conversation = waiting(app, queue, skills=(TECH,))
    app.invoke()
    app.sim.set_member(queue, agent, status="OFF_QUEUE")  # nobody with the flow's Technical is left
    later(61)
    app.invoke()
    later(61 + 62)
    assert app.invoke()["polls"][0]["requirements_relaxed"] == 0
    assert app.sim.routing(conversation) == ([TECH, BILLING], 10)
    entry = app.ledger(conversation)
    assert entry and entry["relax_blocked_by"] == [TECH] and not entry.get("relaxed")


def test_a_caller_with_a_skill_expression_keeps_it_when_a_withheld_skill_is_applied(rule: App, queue: str):
    app = rule
    staff(app, queue, skills=(TECH,))
    conversation = waiting(app, queue)
    app.sim.set_skill_expression(conversation, "Technical >= 3")
    app.invoke()
    entry = app.ledger(conversation)
    assert entry is not None and entry["outcome"] == "shadowed"  # the expression takes priority (issue 28)
    staff(app, queue, skills=(BILLING,))
    later(61)
    assert app.invoke()["polls"][0]["withheld_applied"] == 1
    assert app.sim.skill_expression(conversation) == "Technical >= 3"
    assert all("skillExpression" not in body for body in bodies(app, conversation))


def test_with_the_guard_off_the_rule_applies_as_before_and_no_member_is_read(rule: App, queue: str):
    app = rule
    app.set(STAFFING_GUARD="off")
    conversation = waiting(app, queue)
    poll = app.invoke()["polls"][0]
    assert poll["skills_withheld"] == 0 and bodies(app, conversation) == [{"skillIds": [BILLING], "priority": 10}]
    assert app.sim.member_requests() == 0
    entry = app.ledger(conversation)
    assert entry and "guard" not in entry


def test_a_withheld_skill_a_later_step_removes_is_never_added_back(app: App, queue: str):
    """Attack (review of issue 20): a step that only removes the withheld skill (and raises the
    priority) adds nothing, so the guard has nothing to check; the withheld skill must still be
    dropped from `skills_withheld`, else staff arriving later brings back what the ladder removed."""
    steps = "    escalate:\n      - after: 60\n        remove_skills: [Billing]\n        routing_priority: 20\n"
    app.upload_matrix(RULE.format(when="skip", steps=steps))
    staff(app, queue, skills=(TECH,))
    conversation = waiting(app, queue)
    app.invoke()
    entry = app.ledger(conversation)
    assert entry and entry["skills_withheld"] == [BILLING]
    later(70)
    assert app.invoke()["polls"][0]["escalation_steps"] == 1
    assert app.sim.routing(conversation) == ([], 20)
    entry = app.ledger(conversation)
    assert entry and entry["skills_withheld"] == [], "the step removed Billing: it is no longer withheld"
    staff(app, queue, skills=(BILLING,))  # someone with Billing comes on queue
    later(70 + 61)
    assert app.invoke()["polls"][0]["withheld_applied"] == 0
    assert app.sim.routing(conversation) == ([], 20), "Billing came back after the step removed it"


def test_a_skill_a_person_added_after_our_write_survives_a_relax(rule: App, queue: str):
    """Attack (review of issue 20): the README promises a requirement someone else set is never
    removed. A supervisor adds Technical after skill-router's write; the relax of Billing must not
    drop it (the PATCH's skillIds replaces the whole list)."""
    app = rule
    (agent,) = staff(app, queue, skills=(BILLING, TECH))
    staff(app, queue, skills=(TECH,))
    conversation = waiting(app, queue)
    app.invoke()
    assert app.sim.routing(conversation) == ([BILLING], 10)
    app.sim.patch_routing(conversation, {"skillIds": [BILLING, TECH]})  # a person adds Technical
    app.sim.set_member(queue, agent, status="OFF_QUEUE")  # the only Billing agent logs off
    later(61)
    app.invoke()
    later(61 + 62)
    assert app.invoke()["polls"][0]["requirements_relaxed"] == 1
    assert app.sim.routing(conversation) == ([TECH], 10), "the person's Technical was removed by the relax"


def test_a_skill_a_person_added_after_our_write_survives_a_withheld_part_applied(rule: App, queue: str):
    app = rule
    staff(app, queue, skills=(TECH,))
    conversation = waiting(app, queue)
    app.invoke()
    assert app.sim.routing(conversation) == ([], 10)
    app.sim.patch_routing(conversation, {"skillIds": [TECH]})  # a person adds Technical
    staff(app, queue, skills=(BILLING, TECH))
    later(61)
    assert app.invoke()["polls"][0]["withheld_applied"] == 1
    assert sorted(app.sim.routing(conversation)[0]) == sorted([TECH, BILLING]), "the person's Technical was dropped"


def test_a_caller_transferred_before_a_repair_gets_no_patch_on_the_old_leg(rule: App, queue: str):
    app = rule
    other_queue = app.sim.add_queue("Other")
    staff(app, queue, skills=(TECH,))
    conversation = waiting(app, queue)
    app.invoke()
    staff(app, queue, skills=(BILLING,))
    sent = len(bodies(app, conversation))
    # Discovery still names the old leg (its page was read first); the transfer lands before the repair.
    members = "/api/v2/routing/queues/" + queue + "/members"
    app.sim.hook("GET", members, lambda: app.sim.transfer(conversation, other_queue), stage="before")
    later(61)
    assert app.invoke()["polls"][0]["withheld_applied"] == 0
    added = [body for body in bodies(app, conversation)[sent:] if BILLING in list(body.get("skillIds") or [])]
    assert added == [], "a repair meant for the old leg PATCHed the caller's new one"


def test_a_queue_of_1000_members_never_takes_more_than_the_staffing_share_of_the_budget(rule: App, queue: str):
    """Attack (review of issue 20): README "never at the assignments' expense": the members reads
    spend at most 20% of GENESYS_REQUESTS_PER_MINUTE in any 60 s. 1,000 members are 10 pages; at 30
    requests a minute the share is 6: the queue's staffing is unknown (the rule applies as before),
    and its read never eats the assignments' budget."""
    app = rule
    app.set(GENESYS_REQUESTS_PER_MINUTE="30")
    for _ in range(1000):
        app.sim.add_member(queue, skills=(BILLING,))
    conversation = waiting(app, queue)
    poll = app.invoke()["polls"][0]
    assert app.sim.member_requests() <= 6, "the members read took more than its 20% share of the minute"
    assert poll["applied"] == 1 and app.sim.routing(conversation) == ([BILLING], 10)


def test_members_failing_with_5xx_apply_rules_as_before_and_never_fail_a_poll(rule: App, queue: str, caplog):
    """Attack (review of issue 20): Genesys answering 503 to every members read: each rule applies
    as written (`guard: unknown`), nothing fails, and a poll warns about the queue, not per caller."""
    app = rule
    app.sim.fail("GET", r"/api/v2/routing/queues/[^/]+/members", 503, count=None)
    conversations = [waiting(app, queue) for _ in range(3)]
    with caplog.at_level(logging.WARNING):
        result = app.invoke()
    poll = result["polls"][0]
    assert result["status"] == "ok" and poll["applied"] == 3 and poll["failed"] == 0 and poll["retry"] == 0
    assert all(app.sim.routing(c) == ([BILLING], 10) for c in conversations)
    assert all((app.ledger(c) or {}).get("guard") == "unknown" for c in conversations)
    warned = [r for r in caplog.records if "queue members could not be read" in r.getMessage()]
    assert len(warned) == 1, "one warning for the queue, not one per caller"
