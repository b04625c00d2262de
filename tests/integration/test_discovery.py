"""Discovery as the real analytics API answers it (issue 11): the interval matched by UTC day,
approximate totalHits, pages that shift, the whole mix of live conversations, transfers to
another queue, and a watermark that can be wrong. Each test is a promise a user relies on."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from skill_router import runtime
from tests.integration.conftest import BILLING, GET, PATCH, TECH, App, minutes_ago, patches, queued

QUERY = "/api/v2/analytics/conversations/details/query"


def today_at_least(moment: datetime) -> datetime:
    """`moment`, but not before today 00:00:01 UTC (so "earlier today" stays today)."""
    midnight = datetime.now(UTC).replace(hour=0, minute=0, second=1, microsecond=0)
    return max(moment, midnight)


def test_a_callback_queued_three_hours_ago_never_seen_before_is_assigned_on_the_first_poll(app: App, queue: str):
    callback = app.sim.add_conversation(
        queue_id=queue,
        attributes={"intent": "technical"},
        media_type="callback",
        start=minutes_ago(185),
        queued_at=minutes_ago(180),
    )
    report = app.invoke()["polls"][0]
    assert app.sim.routing(callback)[0] == [TECH]
    assert report["applied"] == 1


def test_a_caller_queued_before_midnight_utc_is_still_found(app: App, queue: str):
    midnight = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    late = app.sim.add_conversation(
        queue_id=queue, attributes={"intent": "technical"}, start=midnight - timedelta(minutes=3)
    )
    app.invoke()
    assert app.sim.routing(late)[0] == [TECH]


def test_live_conversations_that_are_not_queued_cost_no_get_and_no_extra_page(app: App, queue: str):
    app.sim.add_live_mix(300, start=today_at_least(minutes_ago(120)))
    answered = queued(app, queue, "technical", minutes=100)
    app.sim.answer(answered)
    waiting = queued(app, queue, "technical", minutes=1)
    app.invoke()
    # One page for the waiting caller, and the empty page that ends the list (a short page does
    # not: Genesys does not promise it is the last).
    assert app.sim.count("POST", QUERY) == 2, "two query pages for one waiting caller"
    assert app.sim.count("GET", GET) == 1 and app.sim.count("GET", GET + waiting) == 1
    assert app.sim.routing(waiting)[0] == [TECH]
    app.sim.answer(waiting)
    app.invoke()
    assert app.sim.count("POST", QUERY) == 3, "an idle poll: one (empty) query page"


@pytest.mark.parametrize(("callers", "error"), [(230, -0.10), (250, -0.25)])
def test_a_backlog_with_under_reported_total_hits_is_drained(app: App, queue: str, callers: int, error: float):
    app.sim.total_hits_error = error
    backlog = [queued(app, queue, "technical", minutes=30 - i / 10) for i in range(callers)]
    app.invoke()
    missing = [c for c in backlog if app.sim.routing(c)[0] != [TECH]]
    assert missing == [], f"{len(missing)} of {callers} callers not served in one poll"


def test_callers_ending_between_pages_lose_nobody(app: App, queue: str):
    callers = [queued(app, queue, "technical", minutes=30 - i / 10) for i in range(150)]

    def forty_hang_up() -> None:
        for cid in callers[:40]:
            app.sim.end_conversation(cid)

    app.sim.hook("POST", QUERY, forty_hang_up, stage="after", count=1)  # between page 1 and page 2
    app.invoke()
    app.invoke()  # the next poll finds whoever slipped between the shifting pages
    still_waiting = callers[40:]
    assert [c for c in still_waiting if app.sim.routing(c)[0] != [TECH]] == []
    assert patches(app) == len(still_waiting), "one PATCH each, nobody twice"


def test_a_transferred_caller_gets_the_rules_skills_again_with_one_email(app: App, queue: str):
    other = app.sim.add_queue("Escalations")
    caller = queued(app, queue, "billing dispute")
    app.invoke()
    assert app.sim.routing(caller)[0] == [BILLING] and len(app.sent_emails()) == 1
    app.sim.transfer(caller, other, skills=())  # the transfer asks for no skills: the rule's are gone
    report = app.invoke()["polls"][0]
    assert app.sim.routing(caller)[0] == [BILLING], "the rule's skills are applied again in the new queue"
    assert report["applied"] == 1
    assert len(app.sent_emails()) == 1, "the supervisor is emailed once per conversation and rule"
    legs = app.legs(caller)
    assert len(legs) == 2 and {leg["queue_id"] for leg in legs} == {queue, other}
    assert all(leg.get("queue_entered") for leg in legs)
    app.sim.clear_log()
    app.invoke()
    assert app.sim.count("GET", GET) == 0 and patches(app) == 0, "each leg is finished once"


def test_a_rule_restricted_to_the_queue_a_caller_is_transferred_to_fires_there(app: App, queue: str):
    other = app.sim.add_queue("Refunds")
    app.upload_matrix(
        f"""
skill_matrix:
  - intent_keyword: refund
    skills: [{BILLING}]
    queues: [{other}]
"""
    )
    caller = queued(app, queue, "refund please")
    app.invoke()
    assert app.sim.routing(caller)[0] == []
    app.sim.transfer(caller, other)
    app.invoke()
    assert app.sim.routing(caller)[0] == [BILLING]


def test_a_priority_only_rule_sends_no_skill_ids(app: App, queue: str):
    app.upload_matrix(
        f"""
skill_matrix:
  - intent_keyword: vip
    skills: [{TECH}]
    routing_priority: 50
"""
    )
    caller = queued(app, queue, "vip customer", skills=(TECH,))  # has the skill: only the priority changes
    app.invoke()
    (body,) = [r.body for r in app.sim.requests if r.method == "PATCH" and r.path.startswith(PATCH)]
    assert body == {"priority": 50}, "skillIds replaces the whole set: it is sent only when the skills change"
    assert app.sim.routing(caller) == ([TECH], 50)


def test_a_patch_refused_because_the_caller_left_is_gone_not_failed(app: App, queue: str):
    app.sim.gone_patch_status = 409
    caller = queued(app, queue, "technical")
    app.sim.hook("GET", GET + caller, lambda: app.sim.answer(caller), stage="after", count=1)
    report = app.invoke()["polls"][0]
    assert (report["gone"], report["failed"]) == (1, 0)
    assert app.ledger(caller)["outcome"] == "gone"


def test_a_patch_refused_while_the_caller_still_waits_is_a_failure(app: App, queue: str):
    caller = queued(app, queue, "technical")
    app.sim.fail("PATCH", PATCH + caller, 400)
    report = app.invoke()["polls"][0]
    assert report["failed"] == 1 and app.ledger(caller)["outcome"] == "failed"


def test_a_conversation_starting_in_2999_does_not_stop_later_callers(app: App, queue: str):
    for i in range(99):
        queued(app, queue, "technical", minutes=20 - i / 10)
    app.sim.add_conversation(
        queue_id=queue, attributes={"intent": "technical"}, reported_start=datetime(2999, 1, 1, tzinfo=UTC)
    )
    app.sim.total_hits_error = 0.5  # over-reported: a client trusting totalHits asks for page 2 too
    app.sim.fail("POST", QUERY, 400, when=lambda body: body["paging"]["pageNumber"] == 2)
    app.invoke()
    later = queued(app, queue, "technical", minutes=0.1)
    app.invoke()
    assert app.sim.routing(later)[0] == [TECH]
    assert datetime.fromisoformat(app.watermark()["window_end"].replace("Z", "+00:00")) <= datetime.now(UTC)


def test_a_clock_two_hours_fast_on_one_run_does_not_stop_later_runs(app: App, queue: str):
    first = queued(app, queue, "technical")
    fast = runtime.current()
    fast.poller.clock = lambda: time.time() + 7200
    fast.store._clock = lambda: time.time() + 7200
    app.invoke()
    assert app.sim.routing(first)[0] == [TECH]
    runtime.use(None)  # the next run lands on a host with a good clock
    later = queued(app, queue, "technical", minutes=0.1)
    report = app.invoke()["polls"][0]
    assert app.sim.routing(later)[0] == [TECH]
    assert report["watermark"]["after"] is not None
    after = datetime.fromisoformat(report["watermark"]["after"].replace("Z", "+00:00"))
    assert after <= datetime.now(UTC), "the watermark is brought back to now"


def test_a_caller_without_an_intent_is_read_at_most_six_times_in_ten_minutes(app: App, queue: str):
    caller = queued(app, queue, None, minutes=0)
    base = time.time()
    rt = runtime.current()
    for step in range(41):  # a poll every 15 s for 10 minutes
        rt.poller.clock = lambda step=step: base + 15 * step
        app.invoke()
    assert 1 <= app.sim.count("GET", GET + caller) <= 6
    assert app.ledger(caller)["outcome"] == "waiting_for_intent"
    app.sim.set_attributes(caller, {"intent": "technical"})
    for step in range(41, 62):  # the intent arrives: found within the next check (5 minutes at most)
        rt.poller.clock = lambda step=step: base + 15 * step
        app.invoke()
    assert app.sim.routing(caller)[0] == [TECH]


def test_in_event_mode_the_attributes_event_ends_the_wait_at_once(app: App, queue: str):
    from tests.integration.test_event_mode import acd_start, event, send

    runtime.use(None)
    caller = queued(app, queue, None, minutes=0)
    assert send(acd_start(app, caller, queue))["outcome"] == "pending"
    app.sim.set_attributes(caller, {"intent": "technical"})
    result = send(event("attributes", caller, attributes={"intent": "technical"}))
    assert result["outcome"] == "applied", "no waiting for the caller's next re-check"
    assert app.sim.routing(caller)[0] == [TECH]
    runtime.use(None)
