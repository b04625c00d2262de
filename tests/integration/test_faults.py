"""The fault matrix: each test breaks one thing and checks that no caller is lost, no change is
made twice and no supervisor is emailed twice. Faults come from the simulator's switches, moto,
and real process kills (SIGKILL, as a Lambda timeout or crash ends a run: no `finally`)."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from scripts.lambda_runner import LambdaContext
from skill_router import runtime
from skill_router.errors import MatrixError
from skill_router.handlers import poll
from skill_router.poller import MIN_POLL_SECONDS
from skill_router.store import emails_owed
from tests.integration.conftest import (
    BILLING,
    GET,
    PATCH,
    SCHEDULED_EVENT,
    SEED_MATRIX,
    TECH,
    App,
    Run,
    ScriptedContext,
    await_holds_lapsed,
    later,
    patches,
    queued,
)

QUERY = "/api/v2/analytics/conversations/details/query"
EMAIL = "/api/v2/conversations/emails/agentless"
# Killed runs use a short timeout and margin so their lease and email claim lapse in seconds.
SHORT_RUN = {"timeout": 4.0, "SAFETY_MARGIN_SECONDS": "1"}


def spawn_and_kill_on(app: App, method: str, path: str, stage: str, **env: str) -> Run:
    """Run the handler in its own process and SIGKILL it at the first matching Genesys request."""
    box: dict[str, Run] = {}
    app.sim.hook(method, path, lambda: box["run"].kill(), stage=stage)
    box["run"] = run = app.spawn(timeout=SHORT_RUN["timeout"], SAFETY_MARGIN_SECONDS="1", **env)
    assert run.wait() == -9, "the run was killed"
    return run


def test_429_without_retry_after_backs_off_and_succeeds(app: App, queue: str):
    conversation = queued(app, queue, "billing")
    app.sim.fail("PATCH", PATCH + conversation, 429, count=2)
    report = app.invoke()["polls"][0]
    assert report["applied"] == 1 and app.sim.routing(conversation)[0] == [BILLING]
    assert patches(app, conversation) == 3


def test_response_slower_than_the_read_timeout_is_retried_with_the_same_effect(app: App, queue: str):
    app.set(GENESYS_READ_TIMEOUT_SECONDS="0.5")
    conversation = queued(app, queue, "billing", skills=(TECH,))
    # Genesys makes the change, then answers too late: the client times out and sends it again.
    app.sim.hook("PATCH", PATCH + conversation, lambda: time.sleep(1.0), stage="after")
    assert app.invoke()["polls"][0]["applied"] == 1
    assert patches(app, conversation) == 2
    assert app.sim.routing(conversation)[0] == [TECH, BILLING], "the retry sent the same list: no duplicate"
    assert len(app.sent_emails()) == 1


def test_token_revoked_mid_run_is_refreshed_once_and_every_caller_is_served(app: App, queue: str):
    callers = [queued(app, queue, "technical", minutes=3 - i * 0.1) for i in range(3)]
    app.sim.hook("GET", GET + callers[1], app.sim.revoke_tokens, stage="before")
    assert app.invoke()["polls"][0]["applied"] == 3
    assert app.sim.tokens_issued == 2 and app.sim.count("POST", "/oauth/token") == 2
    assert all(app.sim.routing(c)[0] == [TECH] for c in callers)


def test_intent_set_only_before_the_third_poll_is_applied_on_the_third(app: App, queue: str):
    conversation = queued(app, queue, None)
    for _ in range(2):
        assert app.invoke()["polls"][0]["pending"] == 1
    assert app.sim.count("GET", GET + conversation) == 1, "re-read on a backoff, not every poll"
    app.sim.set_attributes(conversation, {"intent": "technical"})
    later(31)
    assert app.invoke()["polls"][0]["applied"] == 1
    assert app.sim.routing(conversation)[0] == [TECH] and patches(app) == 1


def test_transient_failures_are_retried_on_later_polls_then_recorded_as_failed(app: App, queue: str):
    app.set(MAX_ATTEMPTS="2")
    broken = queued(app, queue, "billing", minutes=3)
    fine = queued(app, queue, "technical", minutes=2)
    app.sim.fail("GET", GET + broken, 503, count=None)
    first = app.invoke()["polls"][0]
    assert (first["retry"], first["applied"]) == (1, 1)
    assert app.ledger(broken)["outcome"] == "retry"
    second = app.invoke()["polls"][0]
    entry = app.ledger(broken)
    assert second["failed"] == 1 and entry["outcome"] == "failed" and entry["attempts"] == 2
    assert "503" in entry["reason"]
    app.sim.clear_log()
    app.invoke()
    assert app.sim.count("GET", GET) == 0, "a failed conversation is not retried for ever"
    assert app.sim.routing(fine)[0] == [TECH]


def test_token_secret_missing_costs_one_login_and_routing_goes_on(app: App, queue: str):
    app.client("secretsmanager").delete_secret(
        SecretId=app.env["GENESYS_TOKEN_SECRET"], ForceDeleteWithoutRecovery=True
    )
    conversation = queued(app, queue, "billing")
    assert app.invoke()["polls"][0]["applied"] == 1
    assert app.sim.routing(conversation)[0] == [BILLING]


@pytest.mark.parametrize(
    "cached",
    ["not json", json.dumps({"access_token": "stale", "expires_at": 1}), json.dumps({"token": "x"})],
    ids=["malformed", "expired", "wrong-shape"],
)
def test_token_secret_malformed_or_expired_is_replaced_by_a_new_token(app: App, queue: str, cached: str):
    secret = app.env["GENESYS_TOKEN_SECRET"]
    app.client("secretsmanager").put_secret_value(SecretId=secret, SecretString=cached)
    conversation = queued(app, queue, "billing")
    assert app.invoke()["polls"][0]["applied"] == 1
    assert app.sim.routing(conversation)[0] == [BILLING] and app.sim.tokens_issued == 1
    written = json.loads(app.client("secretsmanager").get_secret_value(SecretId=secret)["SecretString"])
    assert set(written) == {"access_token", "expires_at"} and written["expires_at"] > time.time()


def test_invalid_matrix_with_no_good_one_before_names_line_and_field(app: App, queue: str):
    app.upload_matrix("skill_matrix:\n  - intent_keyword: billing\n    skil_id: abc\n")
    with pytest.raises(MatrixError, match=r"skill_matrix.yaml:3 .*'skil_id'"):
        app.invoke()
    assert "window_end" not in app.watermark()


def test_invalid_new_matrix_keeps_the_last_good_one_in_force(app: App, queue: str):
    app.invoke()
    app.upload_matrix(SEED_MATRIX + "    colour: blue\n")
    conversation = queued(app, queue, "technical")
    report = app.invoke()["polls"][0]
    assert report["applied"] == 1 and app.sim.routing(conversation)[0] == [TECH]


def test_watermark_conflict_after_the_lease_is_lost_leaves_it_to_the_holder(app: App, queue: str):
    conversation = queued(app, queue, "billing")
    store = app.store

    def steal() -> None:  # the lease lapses and another run takes it while this one works
        store.client.update_item(
            TableName=store.table_name,
            Key={"pk": {"S": "watermark#poll"}},
            UpdateExpression="SET lease_owner = :o",
            ExpressionAttributeValues={":o": {"S": "another-run"}},
        )

    app.sim.hook("POST", QUERY, steal, stage="before")
    report = app.invoke()["polls"][0]
    assert report["problem"].startswith("lost the lease") and "window_end" not in app.watermark()
    assert app.ledger(conversation)["outcome"] == "applied", "the work done is recorded"
    store.release_lease("another-run")
    app.sim.clear_log()
    app.invoke()
    assert patches(app) == 0 and app.sim.count("GET", GET) == 0 and len(app.sent_emails()) == 1
    assert "window_end" in app.watermark()


def test_two_invocations_started_together_one_works_one_exits(app: App, queue: str):
    conversation = queued(app, queue, "billing")
    app.sim.delay("POST", QUERY, 2.0)  # keep the first run busy while the second starts
    runs = [app.spawn(), app.spawn()]
    statuses = sorted(run.result()["status"] for run in runs)
    assert statuses == ["lease_held", "ok"]
    assert patches(app, conversation) == 1 and len(app.sent_emails()) == 1


def test_crashed_run_lease_lapses_and_the_ledger_prevents_double_work(app: App, queue: str):
    first = queued(app, queue, "billing", minutes=3)
    second = queued(app, queue, "technical", minutes=2)
    # One conversation at a time, so the run dies after finishing the first caller.
    spawn_and_kill_on(app, "GET", GET + second, "instead", GENESYS_CONCURRENCY="1")
    assert app.ledger(first)["outcome"] == "applied" and app.ledger(second) is None
    await_holds_lapsed(app)
    app.sim.clear_log()
    assert app.invoke()["status"] == "ok"
    assert patches(app, first) == 0 and app.sim.count("GET", GET + first) == 0
    assert app.sim.routing(second)[0] == [TECH]
    assert len(app.sent_emails()) == 1


def test_killed_after_patch_before_the_ledger_write_converges_without_a_second_change(app: App, queue: str):
    conversation = queued(app, queue, "billing")
    spawn_and_kill_on(app, "PATCH", PATCH + conversation, "after")
    assert app.sim.routing(conversation)[0] == [BILLING] and app.ledger(conversation) is None
    await_holds_lapsed(app)
    report = app.invoke()["polls"][0]
    assert report["unchanged"] == 1 and patches(app, conversation) == 1
    assert app.sim.routing(conversation)[0] == [BILLING]
    assert len(app.sent_emails()) == 1, "the high-priority email still goes out, once"


def test_killed_after_the_email_claim_before_sending_sends_it_once_later(app: App, queue: str):
    app.set(NOTIFY_CHANNEL="genesys", NOTIFY_FROM="alerts@example.com")
    conversation = queued(app, queue, "billing")
    spawn_and_kill_on(app, "POST", EMAIL, "instead")
    assert app.sim.emails == [] and emails_owed(app.ledger(conversation)) != []
    await_holds_lapsed(app)
    assert app.invoke()["polls"][0]["notified"] == 1
    app.invoke()
    assert len(app.sim.emails) == 1 and patches(app, conversation) == 1
    assert app.sim.emails[0]["toAddresses"] == [{"email": "billing.lead@example.com"}]


def test_time_running_out_mid_window_loses_nothing(app: App, queue: str):
    app.set(SAFETY_MARGIN_SECONDS="0.5", GENESYS_CONCURRENCY="1")
    callers = [queued(app, queue, "technical", minutes=5 - i * 0.1) for i in range(8)]
    # Time runs out once three callers have been read, however long that took here.
    report = poll.handler(SCHEDULED_EVENT, ScriptedContext(app, "GET", GET, count=3, then=0))["polls"][0]
    done = sum(1 for c in callers if app.sim.routing(c)[0] == [TECH])
    assert 2 <= done <= 3 and report["problem"].startswith("time ran out"), (done, report)
    first_left = callers[done]
    assert "window_end" not in app.watermark(), "an incomplete poll does not record the watermark"
    app.sim.delays.clear()
    app.invoke()
    assert all(app.sim.routing(c)[0] == [TECH] for c in callers)
    assert all(patches(app, c) == 1 for c in callers)
    assert app.ledger(first_left)["outcome"] == "applied"


def test_page_7_of_10_failing_once_is_retried_and_all_1000_callers_are_served(app: App, queue: str):
    callers = [queued(app, queue, "technical", minutes=25 - i * 0.02) for i in range(1000)]
    app.sim.fail("POST", QUERY, 503, when=lambda body: body["paging"]["pageNumber"] == 7)
    # As long as the 1,000 callers take on this machine; once the 12th query (the empty 11th page)
    # is answered, too little time for another poll.
    margin = runtime.current().settings.safety_margin_seconds
    context = ScriptedContext(app, "POST", QUERY, count=12, then=margin + MIN_POLL_SECONDS - 0.1)
    report = poll.handler(SCHEDULED_EVENT, context)["polls"][0]
    # totalHits is never trusted: 1,000 callers end with an empty 11th page.
    assert (report["pages"], report["seen"], report["applied"], report["complete"]) == (11, 1000, 1000, True)
    assert app.sim.count("POST", QUERY) == 12
    assert app.sim.count("PATCH", PATCH) == 1000
    assert {app.sim.routing(c)[0][0] for c in callers} == {TECH}


def test_a_page_that_keeps_failing_holds_the_watermark_until_it_is_served(app: App, queue: str):
    app.set(MAX_ATTEMPTS="1")
    callers = [queued(app, queue, "technical", minutes=20 - i * 0.05) for i in range(250)]
    app.sim.fail("POST", QUERY, 500, count=None, when=lambda body: body["paging"]["pageNumber"] == 2)
    report = app.invoke()["polls"][0]
    assert report["applied"] == 100 and not report["complete"]
    assert "window_end" not in app.watermark(), "an incomplete poll does not record the watermark"
    app.sim.faults.clear()
    app.invoke()
    assert all(app.sim.routing(c)[0] == [TECH] for c in callers)
    assert app.sim.count("PATCH", PATCH) == 250


def test_polls_every_interval_only_while_there_is_time_for_the_next(app: App, queue: str):
    app.set(POLL_INTERVAL_SECONDS="1", SAFETY_MARGIN_SECONDS="0.5")
    first = app.invoke(timeout=5)  # polls at 0, 1, 2 s: the next would start with under 2 s left
    assert 2 <= len(first["polls"]) <= 3
    short = poll.handler(SCHEDULED_EVENT, LambdaContext(3, 512))
    assert len(short["polls"]) == 1, "no second poll when it could not finish in time"


def test_assigning_the_same_caller_from_two_runs_at_once_has_one_effect_and_one_email(app: App, queue: str):
    """The lease normally prevents this; if it ever failed, the PATCH is idempotent (the same
    merged list) and the email claim is a conditional write, so the outcome is the same."""
    import threading

    from skill_router.deadline import Deadline
    from skill_router.runtime import build_runtime

    conversation = queued(app, queue, "billing", skills=(TECH,))
    runtimes = [build_runtime(), build_runtime()]
    barrier = threading.Barrier(2)
    results: list[Any] = []

    def run(rt: Any) -> None:
        rt.genesys.begin(Deadline.fixed(30))
        barrier.wait()
        results.append(rt.poller.poll(Deadline.fixed(30), owner="x", watermark=None))

    threads = [threading.Thread(target=run, args=(rt,)) for rt in runtimes]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert app.sim.routing(conversation)[0] == [TECH, BILLING]
    assert len(app.sent_emails()) == 1
    assert sum(r.notified for r in results) == 1


def test_a_caller_waiting_for_an_intent_for_long_does_not_hide_newer_callers(app: App, queue: str):
    app.set(MAX_PENDING_AGE_SECONDS="600")
    waiting = queued(app, queue, None, minutes=9)
    assert app.invoke()["polls"][0]["pending"] == 1
    newer = queued(app, queue, "technical", minutes=0.5)
    app.invoke()
    assert app.sim.routing(newer)[0] == [TECH]
    assert app.ledger(waiting)["outcome"] == "waiting_for_intent", "still waiting, still looked at"
