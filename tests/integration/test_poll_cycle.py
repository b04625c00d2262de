"""The scheduled handler end to end: moto server + the Genesys simulator, through the real SDK."""

from __future__ import annotations

import time

import pytest

from skill_router.errors import ConfigurationError, MatrixError
from tests.integration.conftest import (
    BILLING,
    ENGLISH,
    GET,
    PATCH,
    TECH,
    App,
    later,
    minutes_ago,
    patches,
    queued,
)


def test_seed_matrix_merges_skills_keeps_existing_and_emails_supervisor(app: App, queue: str):
    billing = queued(app, queue, "I want to dispute my BILL, billing please", skills=(ENGLISH,))
    tech = queued(app, queue, "technical fault on my router")
    report = app.invoke()["polls"][0]

    assert app.sim.routing(billing)[0] == [ENGLISH, BILLING]  # existing skill kept, new one added once
    assert app.sim.routing(tech)[0] == [TECH]
    assert (report["applied"], report["notified"], report["failed"]) == (2, 1, 0)
    emails = app.sent_emails()
    assert len(emails) == 1 and billing in emails[0]["subject"]
    assert emails[0]["destinations"]["ToAddresses"] == ["billing.lead@example.com"]
    assert app.ledger(billing)["outcome"] == "applied"
    assert app.ledger(billing)["skills_written"] == [ENGLISH, BILLING]


def test_one_get_and_at_most_one_patch_per_conversation(app: App, queue: str):
    for i in range(5):
        queued(app, queue, f"billing question {i}")
    app.invoke()
    assert app.sim.count("GET", GET) == 5
    assert patches(app) == 5
    # The callers' page and the empty one that ends the list.
    assert app.sim.count("POST", "/api/v2/analytics/conversations/details/query") == 2


def test_conversation_already_carrying_the_skill_gets_no_patch(app: App, queue: str):
    done = queued(app, queue, "technical question", skills=(TECH, ENGLISH))
    report = app.invoke()["polls"][0]
    assert patches(app, done) == 0
    assert report["unchanged"] == 1
    assert app.sim.routing(done)[0] == [TECH, ENGLISH]


def test_a_second_poll_does_not_touch_finished_conversations(app: App, queue: str):
    conversation = queued(app, queue, "billing")
    app.invoke()
    app.sim.clear_log()
    report = app.invoke()["polls"][0]
    assert app.sim.count("GET", GET) == 0 and patches(app) == 0
    assert report["done"] == 1
    assert len(app.sent_emails()) == 1, "the supervisor is emailed once, not once per poll"
    assert app.sim.routing(conversation)[0] == [BILLING]


def test_conversation_gone_between_discovery_and_patch_is_recorded_and_the_run_continues(app: App, queue: str):
    vanishing = queued(app, queue, "billing", minutes=3)
    staying = queued(app, queue, "technical", minutes=2)
    app.sim.fail("PATCH", PATCH + vanishing, 404)
    report = app.invoke()["polls"][0]
    assert app.ledger(vanishing)["outcome"] == "gone"
    assert app.sim.routing(staying)[0] == [TECH]
    assert (report["gone"], report["applied"], report["failed"]) == (1, 1, 0)


def test_conversation_gone_before_the_get_is_recorded_as_gone(app: App, queue: str):
    vanishing = queued(app, queue, "billing")
    app.sim.fail("GET", GET + vanishing, 404)
    assert app.invoke()["polls"][0]["gone"] == 1
    assert patches(app) == 0


def test_429_with_retry_after_waits_then_succeeds(app: App, queue: str):
    conversation = queued(app, queue, "billing")
    app.sim.fail("PATCH", PATCH + conversation, 429, retry_after=2)
    began = time.monotonic()
    app.invoke()
    waited = time.monotonic() - began
    assert app.sim.routing(conversation)[0] == [BILLING]
    assert patches(app, conversation) == 2  # the throttled attempt and the retry, nothing more
    assert waited >= 2.0


def test_503_then_success_is_retried_within_the_invocation(app: App, queue: str):
    conversation = queued(app, queue, "billing")
    app.sim.fail("GET", GET + conversation, 503, count=2)
    assert app.invoke()["polls"][0]["applied"] == 1


def test_revoked_token_is_refreshed_once_and_the_run_goes_on(app: App, queue: str):
    first = queued(app, queue, "billing")
    app.invoke()
    app.sim.revoke_tokens()
    second = queued(app, queue, "technical")
    app.invoke()
    assert app.sim.routing(first)[0] == [BILLING] and app.sim.routing(second)[0] == [TECH]
    assert app.sim.tokens_issued == 2


def test_a_cold_start_within_the_token_life_takes_the_token_from_the_secret(app: App, queue: str):
    queued(app, queue, "billing")
    app.invoke()
    app.set()  # a new Lambda container: nothing in memory
    queued(app, queue, "technical")
    app.invoke()
    assert app.sim.count("POST", "/oauth/token") == 1


def test_watermark_advances_in_dynamodb(app: App, queue: str):
    queued(app, queue, "billing")
    report = app.invoke()["polls"][0]
    first = app.watermark()["window_end"]
    assert first == report["window"]["end"]
    time.sleep(0.05)
    app.invoke()
    assert app.watermark()["window_end"] > first


def test_intent_set_after_the_first_poll_is_applied_on_a_later_one(app: App, queue: str):
    conversation = queued(app, queue, None)
    report = app.invoke()["polls"][0]
    assert report["pending"] == 1 and patches(app) == 0
    assert app.ledger(conversation)["outcome"] == "waiting_for_intent"
    app.sim.set_attributes(conversation, {"intent": "billing"})
    later(31)  # the caller's next re-check
    app.invoke()
    assert app.sim.routing(conversation)[0] == [BILLING]


def test_a_caller_still_in_the_ivr_is_picked_up_once_queued(app: App, queue: str):
    conversation = app.sim.add_conversation(queue_id=None, attributes={}, start=minutes_ago(4))
    assert app.invoke()["polls"][0]["seen"] == 0, "discovery asks only for callers in a queue"
    assert app.sim.count("GET", GET) == 0, "a caller not queued costs no GET"
    app.sim.set_attributes(conversation, {"intent": "technical"})
    app.sim.queue_conversation(conversation, queue)
    app.invoke()
    assert app.sim.routing(conversation)[0] == [TECH]


def test_no_match_is_recorded_and_changes_nothing(app: App, queue: str):
    conversation = queued(app, queue, "sales enquiry")
    assert app.invoke()["polls"][0]["no_match"] == 1
    assert patches(app) == 0 and app.ledger(conversation)["outcome"] == "no_match"


def test_missing_matrix_says_not_configured_yet_and_the_watermark_stays(app: App, queue: str):
    app.client("s3").delete_object(Bucket=app.env["SKILL_MATRIX_BUCKET"], Key=app.env["SKILL_MATRIX_KEY"])
    conversation = queued(app, queue, "billing")
    result = app.invoke()  # set-up not finished: a quiet run, not a failure (README Deploy)
    assert result["status"] == "not_configured" and "no skill matrix at s3://" in result["problem"]
    assert "window_end" not in app.watermark() and app.ledger(conversation) is None


def test_broken_matrix_names_the_line(app: App, queue: str):
    app.upload_matrix("skill_matrix:\n  - intent_keyword: billing\n    skill_id: [oops\n")
    # The file ends inside the bracket opened on line 3: that line is named.
    with pytest.raises(MatrixError, match=r"skill_matrix.yaml:3: not valid YAML"):
        app.invoke()


def test_broken_new_matrix_keeps_the_last_good_one_in_force(app: App, queue: str):
    app.invoke()
    app.upload_matrix("skill_matrix: [")
    conversation = queued(app, queue, "billing")
    app.invoke()
    assert app.sim.routing(conversation)[0] == [BILLING]


def test_missing_credentials_secret_is_a_clear_error(app: App, queue: str):
    queued(app, queue, "billing")
    app.set(GENESYS_CREDENTIALS_SECRET="no-such-secret")
    with pytest.raises(ConfigurationError, match=r"'no-such-secret' .* does not exist"):
        app.invoke()
    assert "window_end" not in app.watermark()


def test_credentials_without_client_id_is_a_clear_error(app: App, queue: str):
    app.client("secretsmanager").put_secret_value(
        SecretId=app.env["GENESYS_CREDENTIALS_SECRET"], SecretString='{"client_secret": "x"}'
    )
    with pytest.raises(ConfigurationError, match="has no client_id"):
        app.invoke()


def test_wrong_client_secret_is_a_clear_error(app: App, queue: str):
    app.client("secretsmanager").put_secret_value(
        SecretId=app.env["GENESYS_CREDENTIALS_SECRET"],
        SecretString='{"client_id": "sim-client", "client_secret": "bad"}',
    )
    with pytest.raises(ConfigurationError, match="rejected the client credentials"):
        app.invoke()


def test_unknown_genesys_environment_is_a_clear_error(app: App, queue: str):
    app.set(GENESYS_ENVIRONMENT="mypurecloud.con", GENESYS_API_URL="", GENESYS_LOGIN_URL="")
    with pytest.raises(ConfigurationError, match=r"'mypurecloud\.con' is not a Genesys Cloud region"):
        app.invoke()


def test_two_overlapping_invocations_one_works_one_exits(app: App, queue: str):
    queued(app, queue, "billing")
    held = app.store.acquire_lease("another-invocation", 60)
    assert held is not None
    assert app.invoke() == {"dry_run": False, "status": "lease_held", "polls": []}
    assert patches(app) == 0
