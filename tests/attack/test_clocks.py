"""Class 2 of issue #12: clocks. A container whose clock is off neither takes a lease or a claim
another holds, nor holds one longer than its invocation, nor writes times ahead of now."""

from __future__ import annotations

import time
from typing import Any

import pytest

from skill_router.poller import Poller
from skill_router.store import StateStore
from skill_router.store.claims import LEASE
from tests.attack.helpers import EVENT_HANDLER, acd_start, results, spawn
from tests.integration.conftest import App, await_holds_lapsed, queued
from tests.integration.test_guard import later

HOUR = 3600.0
QUERY = "/api/v2/analytics/conversations/details/query"


def skewed_store(app: App, skew: float) -> StateStore:
    """The state store as a container whose wall clock is `skew` seconds off would build it."""
    return StateStore(app.env["STATE_TABLE"], client=app.client("dynamodb"), clock=lambda: time.time() + skew)


def test_a_container_an_hour_fast_does_not_take_a_held_lease(app: App, queue: str):
    queued(app, queue, "technical")
    assert app.store.acquire_lease("live-run", 30) is not None
    result = spawn(app, skew=HOUR).result()
    assert result["status"] == "lease_held", result
    assert app.watermark()["lease_owner"] == "live-run"


def test_a_container_a_few_seconds_fast_does_not_take_a_lease_about_to_end(app: App, queue: str):
    assert app.store.acquire_lease("live-run", 3) is not None
    assert skewed_store(app, 5).acquire_lease("fast", 30) is None


def test_a_container_an_hour_slow_takes_a_lapsed_lease(app: App, queue: str):
    assert app.store.acquire_lease("crashed-run", 1) is not None
    await_holds_lapsed(app)  # the crashed run's invocation ended (plus the skew margin)
    result = spawn(app, skew=-HOUR).result()
    assert result["status"] == "ok", result


@pytest.mark.slow
def test_a_fast_container_killed_mid_run_does_not_lock_out_later_runs(app: App, queue: str):
    conversation = queued(app, queue, "technical")
    box: dict[str, Any] = {}
    # Killed at its first Genesys request (the login), once it holds the lease.
    app.sim.hook("POST", "/oauth/token", lambda: box["run"].kill(), stage="instead")
    box["run"] = spawn(app, skew=HOUR, timeout=4.0, SAFETY_MARGIN_SECONDS="1")
    assert box["run"].wait() == -9
    # It took the lease, written on DynamoDB's clock and not an hour ahead (whether it has lapsed yet
    # depends on how fast the spawned process reached its login, so that is awaited, not asserted).
    assert app.watermark()["lease_expires"] <= time.time() + 4.0 + 2
    assert app.watermark().get("lease_owner")
    await_holds_lapsed(app)  # its invocation would have timed out, and the skew margin has passed
    result = app.invoke()
    assert result["status"] == "ok", "a lease written an hour ahead blocked every later run"
    assert app.sim.routing(conversation)[0] != []


def test_lease_expiry_is_never_written_beyond_the_invocation(app: App, queue: str):
    lease = skewed_store(app, HOUR).acquire_lease("fast", 30)
    assert lease is not None
    assert float(app.watermark()["lease_expires"]) <= time.time() + 30 + 2


def test_a_container_an_hour_fast_cannot_take_a_held_email_claim(app: App, queue: str):
    conversation = queued(app, queue, "billing")
    assert app.store.claim_email(conversation, "1-billing", "normal", 30)
    assert not skewed_store(app, HOUR).claim_email(conversation, "1-billing", "fast", 30)


def test_an_email_claim_taken_by_a_slow_clock_still_lasts_its_invocation(app: App, queue: str):
    conversation = queued(app, queue, "billing")
    assert skewed_store(app, -HOUR).claim_email(conversation, "1-billing", "slow", 30)
    assert not app.store.claim_email(conversation, "1-billing", "normal", 30), "a second container could send it again"


def test_a_caller_claim_taken_by_a_slow_clock_still_lasts_its_invocation(app: App, queue: str):
    conversation = queued(app, queue, "billing")
    assert skewed_store(app, -HOUR).claim_caller(conversation, "slow", 30)
    assert not app.store.claim_caller(conversation, "normal", 30)
    assert not skewed_store(app, HOUR).claim_caller(conversation, "fast", 30)


def test_ledger_times_written_by_a_fast_clock_are_not_in_the_future(app: App, queue: str):
    conversation = queued(app, queue, "billing")
    store = skewed_store(app, HOUR)
    store.record(conversation, "applied", rule_id="1-billing")
    entry = app.ledger(conversation)
    assert entry["updated_at"] <= time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(time.time() + 2))
    assert entry["expires_at"] <= time.time() + store.ttl_seconds + 2


def test_a_fast_event_container_writes_no_future_times(app: App, queue: str):
    conversation = queued(app, queue, "billing")
    result = spawn(app, acd_start(app, conversation, queue), EVENT_HANDLER, skew=HOUR).result()
    assert result["outcome"] == "applied"
    entry = app.ledger(conversation)
    assert entry["updated_at"] <= time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(time.time() + 2))
    assert entry["notified_at"] <= time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(time.time() + 2))


def write_raw(app: App, key: str, **numbers: float) -> None:
    """Put attributes on an item as an older version, or a container with a broken clock, left them."""
    names = {f"#{k}": k for k in numbers}
    app.client("dynamodb").update_item(
        TableName=app.env["STATE_TABLE"],
        Key={"pk": {"S": key}},
        UpdateExpression="SET " + ", ".join(f"#{k} = :{k}" for k in numbers),
        ExpressionAttributeNames=names,
        ExpressionAttributeValues={f":{k}": {"N": str(int(v))} for k, v in numbers.items()},
    )


def test_a_lease_written_a_year_ahead_does_not_lock_out_every_later_run(app: App, queue: str):
    write_raw(app, "watermark#poll", lease_expires=time.time() + 365 * 86400)
    assert app.store.acquire_lease("next-run", 30) is not None


def test_an_email_claim_written_a_year_ahead_does_not_lose_the_email(app: App, queue: str):
    conversation = queued(app, queue, "billing")
    write_raw(app, f"email#{conversation}#rule#1-billing", notify_claim_expires=time.time() + 365 * 86400)
    assert app.store.claim_email(conversation, "1-billing", "normal", 30)


def test_a_caller_claim_written_a_year_ahead_does_not_block_the_caller_for_good(app: App, queue: str):
    app.set(EVENT_MODE="true")  # the poller claims callers in event mode
    conversation = queued(app, queue, "billing")
    write_raw(app, f"claim#{conversation}", work_expires=time.time() + 365 * 86400)
    report = app.invoke()["polls"][0]
    assert report["applied"] == 1


class Killed(BaseException):
    """Lambda ends a timed-out or crashed run: no `finally` of ours runs after it."""


@pytest.mark.parametrize("margin", ["5", "0"])
def test_the_scheduled_run_after_a_crashed_run_is_not_locked_out(
    app: App, queue: str, monkeypatch: pytest.MonkeyPatch, margin: str
):
    """Issue 19, class 12: a run killed while it holds the lease must not cost the next scheduled
    run (60 s after it started; the template's Timeout is 58 s) its minute."""
    app.set(SAFETY_MARGIN_SECONDS=margin)

    def killed(*_: Any, **__: Any) -> None:
        raise Killed

    monkeypatch.setattr(Poller, "poll", killed)
    monkeypatch.setattr(StateStore, "release_lease", killed)
    started = app.store.now()  # DynamoDB's time, just before the run starts (the lease is in it too)
    with pytest.raises(Killed):
        app.invoke(timeout=58.0)
    lease = app.watermark()
    assert LEASE.held(lease, app.store.now()), "the lease was not taken: the attack proves nothing"
    assert not LEASE.held(lease, started + 60), (
        f"the lease ({lease['lease_expires']}) still holds when the next scheduled run starts ({started + 60:.0f})"
    )


GUARDED_RULE = """
skill_matrix:
  - id: billing
    intent_keyword: billing
    skills: [{billing}]
    routing_priority: 10
"""


def _unstaffed_by_a_skewed_container(app: App, queue: str, skew: float) -> str:
    """A caller whose Billing (skill-router's) nobody on queue can serve any more, first seen so
    by a container whose clock is `skew` s off (it writes `unstaffed_since`)."""
    from tests.integration.conftest import BILLING, TECH, minutes_ago, staff

    app.set(STAFFING_GUARD="on", UNSTAFFED_RELAX_SECONDS="60")
    app.upload_matrix(GUARDED_RULE.format(billing=BILLING))
    (agent,) = staff(app, queue, skills=(BILLING, TECH))
    staff(app, queue, skills=(TECH,))
    # Waiting two hours, so a container an hour slow still finds the caller in its query window.
    conversation = app.sim.add_conversation(queue_id=queue, attributes={"intent": "billing"}, start=minutes_ago(120))
    assert results([spawn(app, STAFFING_GUARD="on")])[0]["status"] == "ok"
    assert app.sim.routing(conversation) == ([BILLING], 10)
    app.sim.set_member(queue, agent, status="OFF_QUEUE")  # the only Billing agent logs off
    assert results([spawn(app, skew=skew, STAFFING_GUARD="on", UNSTAFFED_RELAX_SECONDS="60")])[0]["status"] == "ok"
    entry = app.ledger(conversation)
    assert entry and entry.get("unstaffed_since"), "the skewed container saw nobody serving Billing"
    return conversation


def test_unstaffed_since_written_by_a_slow_clock_does_not_relax_before_the_hysteresis(app: App, queue: str):
    conversation = _unstaffed_by_a_skewed_container(app, queue, -HOUR)
    assert float(app.ledger(conversation)["unstaffed_since"]) >= time.time() - 60, "written an hour in the past"
    report = app.invoke()
    assert report["polls"][0]["requirements_relaxed"] == 0, "relaxed at once: the hysteresis was skipped"
    later(62)
    assert app.invoke()["polls"][0]["requirements_relaxed"] == 1


def test_unstaffed_since_written_by_a_fast_clock_does_not_hold_a_relax_for_an_hour(app: App, queue: str):
    conversation = _unstaffed_by_a_skewed_container(app, queue, HOUR)
    assert float(app.ledger(conversation)["unstaffed_since"]) <= time.time() + 5, "written an hour ahead"
    assert app.invoke()["polls"][0]["requirements_relaxed"] == 0, "not before the hysteresis"
    later(62)  # this container's next polls, a minute on
    assert app.invoke()["polls"][0]["requirements_relaxed"] == 1, "a fast clock held the relax back"
    assert app.sim.routing(conversation) == ([], 10)
