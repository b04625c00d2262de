"""Class 1 of issue #12: two handlers on one caller. A final outcome is never overwritten, and two
handlers never work on the same caller at once (a short claim, freed or lapsing with the invocation)."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

import pytest

from skill_router import runtime
from skill_router.events import handle_event, parse_event
from tests.attack.helpers import EVENT_HANDLER, acd_start, event, results, send, spawn
from tests.integration.conftest import (
    BILLING,
    ENGLISH,
    EVENT_ORG,
    EVENT_SOURCE,
    GET,
    TECH,
    App,
    await_holds_lapsed,
    patches,
    queued,
)


def test_the_same_acd_start_delivered_twice_at_once_patches_and_emails_once(app: App, queue: str):
    conversation = queued(app, queue, "billing")
    envelope = acd_start(app, conversation, queue)
    app.sim.delay("GET", GET + conversation, 2.0)  # both containers are inside the GET together
    runs = [spawn(app, envelope, EVENT_HANDLER), spawn(app, envelope, EVENT_HANDLER)]
    outcomes = sorted(r["outcome"] for r in results(runs))
    assert patches(app, conversation) == 1, outcomes
    assert app.sim.count("GET", GET + conversation) == 1, "the second container did not read a claimed caller"
    assert app.ledger(conversation)["outcome"] == "applied"
    assert len(app.sent_emails()) == 1


def test_a_poller_and_an_event_container_at_once_patch_a_caller_once(app: App, queue: str):
    app.set(EVENT_MODE="true")  # the poller of an event-mode stack (template.yaml)
    conversation = queued(app, queue, "technical")
    envelope = acd_start(app, conversation, queue)
    app.sim.delay("GET", GET + conversation, 2.0)
    runs = [spawn(app), spawn(app, envelope, EVENT_HANDLER)]
    results(runs)
    assert patches(app, conversation) == 1
    assert app.sim.routing(conversation)[0] == [TECH]


@pytest.mark.slow
def test_three_event_containers_and_a_poller_on_five_callers_patch_each_once(app: App, queue: str):
    app.set(EVENT_MODE="true")  # the poller of an event-mode stack (template.yaml)
    callers = [
        queued(app, queue, intent, minutes=2 + i) for i, intent in enumerate(["billing", "technical"] * 2 + ["billing"])
    ]
    for caller in callers:
        app.sim.delay("GET", GET + caller, 1.0)
    runs = [spawn(app)]
    for caller in callers:
        envelope = acd_start(app, caller, queue)
        runs += [spawn(app, envelope, EVENT_HANDLER) for _ in range(2)]
    results(runs)
    for caller in callers:
        assert patches(app, caller) == 1, caller
    assert len(app.sent_emails()) == 3, "one email per high-priority caller"
    report = app.invoke()["polls"][0]
    assert report["done"] == 5 and patches(app) == 5


def test_a_late_intent_write_never_overwrites_applied_and_a_redelivery_patches_nothing(app: App, queue: str):
    conversation = app.sim.add_conversation(queue_id=None, attributes={"intent": "technical"})
    attributes = parse_event(
        event("attributes", conversation, attributes={"intent": "technical"}), EVENT_SOURCE, org_id=EVENT_ORG
    )
    stale = app.ledger(conversation)  # the attributes container read the ledger: nothing yet
    app.sim.queue_conversation(conversation, queue)
    envelope = acd_start(app, conversation, queue)  # the snapshot as the caller entered the queue
    assert send(envelope)["outcome"] == "applied"
    rt = runtime.current()
    # ... and only now does the slow attributes container write what it decided.
    handle_event(attributes, stale, rt.matrix_source.current(), rt.poller.adapters, datetime.now(UTC))
    assert app.ledger(conversation)["outcome"] == "applied", "a final outcome was overwritten"
    send(envelope)  # EventBridge delivers the same acd.start again
    assert patches(app, conversation) == 1
    assert app.sim.routing(conversation)[0] == [TECH]


@pytest.mark.parametrize("late", ["waiting", "retry", "intent_seen"])
def test_a_late_non_final_write_never_replaces_a_final_outcome(app: App, queue: str, late: str):
    conversation = queued(app, queue, "technical")
    app.invoke()
    store = app.store
    leg = app.ledger(conversation)["leg"]
    assert app.ledger(conversation)["outcome"] == "applied"
    store.record(conversation, late, leg=leg, count_attempt=(late == "retry"), reason="a slow handler's stale decision")
    entry = app.ledger(conversation)
    assert entry["outcome"] == "applied" and entry.get("reason") is None
    app.sim.clear_log()
    app.invoke()
    assert app.sim.count("GET", GET + conversation) == 0 and patches(app, conversation) == 0


@pytest.mark.parametrize("late", ["gone", "failed", "no_match", "unchanged"])
def test_a_second_final_outcome_does_not_replace_the_first(app: App, queue: str, late: str):
    conversation = queued(app, queue, "billing")
    app.invoke()
    app.store.record(conversation, late, leg=app.ledger(conversation)["leg"], reason="another handler's late verdict")
    assert app.ledger(conversation)["outcome"] == "applied"
    assert app.ledger(conversation)["skills_written"] == [BILLING]


def test_a_transient_failure_of_one_handler_does_not_undo_anothers_success(app: App, queue: str):
    conversation = queued(app, queue, "technical")
    # The poller's GET fails (503 every attempt) while an event container applies the rule.
    app.sim.fail("GET", GET + conversation, 503, count=None)
    envelope = acd_start(app, conversation, queue)
    poll = app.invoke()["polls"][0]
    assert poll["retry"] == 1
    app.sim.faults.clear()
    assert send(envelope)["outcome"] == "applied"
    app.sim.fail("GET", GET + conversation, 503, count=None)
    stale_attempt = app.store
    stale_attempt.record(
        conversation, "retry", leg=app.ledger(conversation)["leg"], count_attempt=True, reason="GET failed: 503"
    )
    app.sim.faults.clear()
    assert app.ledger(conversation)["outcome"] == "applied"
    app.invoke()
    assert patches(app, conversation) == 1


def test_a_handler_killed_holding_a_caller_frees_it_with_its_invocation(app: App, queue: str):
    app.set(EVENT_MODE="true")  # the poller of an event-mode stack (template.yaml)
    conversation = queued(app, queue, "technical")
    envelope = acd_start(app, conversation, queue)
    box = {}
    app.sim.hook("GET", GET + conversation, lambda: box["run"].kill(), stage="instead")
    box["run"] = spawn(app, envelope, EVENT_HANDLER, timeout=3.0, SAFETY_MARGIN_SECONDS="1")
    assert box["run"].wait() == -9
    await_holds_lapsed(app)  # the killed container's invocation has timed out, and the skew margin passed
    report = app.invoke()["polls"][0]
    assert report["applied"] == 1 and app.sim.routing(conversation)[0] == [TECH]


def test_a_finished_handler_leaves_the_caller_free_for_the_next_at_once(app: App, queue: str):
    conversation = queued(app, queue, None)
    assert send(acd_start(app, conversation, queue))["outcome"] == "pending"  # no intent yet
    app.sim.set_attributes(conversation, {"intent": "billing"})
    # The intent's event, a moment later: no waiting for a claim the first event left behind.
    assert send(event("attributes", conversation, attributes={"intent": "billing"}))["outcome"] == "applied"
    assert app.sim.routing(conversation)[0] == [BILLING]


def test_a_redelivered_acd_start_after_the_poller_applied_changes_nothing(app: App, queue: str):
    conversation = queued(app, queue, "technical", skills=(ENGLISH,))
    envelope = acd_start(app, conversation, queue)
    app.invoke()
    app.sim.clear_log()
    assert send(envelope)["outcome"] == "done"
    assert app.sim.count(path_prefix="/api/v2/") == 0
    assert app.sim.routing(conversation)[0] == [ENGLISH, TECH]


def test_a_caller_claimed_by_a_live_handler_is_left_alone_and_picked_up_later(app: App, queue: str):
    app.set(EVENT_MODE="true")  # the poller of an event-mode stack (template.yaml)
    conversation = queued(app, queue, "technical")
    inside = threading.Event()
    app.sim.hook("GET", GET + conversation, lambda: (inside.set(), time.sleep(3.0)), stage="before")
    holder = spawn(app, acd_start(app, conversation, queue), EVENT_HANDLER)
    assert inside.wait(20), "the event container reached the GET"
    report = app.invoke()["polls"][0]  # the poller meets the caller while the event holds it
    assert report["applied"] == 0 and report["pending"] == 1, report
    assert results([holder])[0]["outcome"] == "applied"
    assert patches(app, conversation) == 1
    later = app.invoke()["polls"][0]
    assert later["done"] == 1
