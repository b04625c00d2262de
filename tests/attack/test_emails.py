"""Class 9 of issue #12: emails. Sent once per conversation and recipient, through DynamoDB
throttling, TTL and channel limits."""

from __future__ import annotations

import contextlib
import time
from typing import Any

import pytest

from scripts.lambda_runner import LambdaContext
from skill_router import runtime
from skill_router.errors import MatrixError
from skill_router.handlers import poll
from skill_router.store import emails_owed
from tests.attack.helpers import EMAIL, acd_start, send, spawn, throttle_dynamodb
from tests.integration.conftest import (
    BILLING,
    SCHEDULED_EVENT,
    App,
    await_holds_lapsed,
    minutes_ago,
    patches,
    queued,
)

THREE = ["a.lead@example.com", "b.lead@example.com", "c.lead@example.com"]


def three_recipients(app: App) -> None:
    app.upload_matrix(
        f"skill_matrix:\n  - intent_keyword: billing\n    skill_id: {BILLING}\n    priority: high\n"
        f"    notify: [{', '.join(THREE)}]\n"
    )


def short_invoke(app: App, seconds: float = 4.0) -> Any:
    return poll.handler(SCHEDULED_EVENT, LambdaContext(seconds, 512))


def agentless_to(app: App) -> list[str]:
    return [e["toAddresses"][0]["email"] for e in app.sim.emails]


def test_a_throttled_write_after_ses_accepted_does_not_send_it_again(app: App, queue: str):
    app.set(AWS_RETRY_MODE="standard", AWS_MAX_ATTEMPTS="1", SAFETY_MARGIN_SECONDS="1")
    conversation = queued(app, queue, "billing")
    throttled = throttle_dynamodb(runtime.current().store.client, 3, lambda body: b"SET #sent = :now" in body)
    with contextlib.suppress(Exception):
        short_invoke(app)
    assert throttled["throttled"] == 3 and len(app.sent_emails()) == 1
    await_holds_lapsed(app)  # any claim of that run has lapsed
    short_invoke(app)
    assert len(app.sent_emails()) == 1, "SES accepted it; a throttle must not send it again"
    assert app.ledger(conversation).get("notified_at")


def test_a_throttled_email_claim_delays_the_email_but_never_loses_it(app: App, queue: str):
    app.set(AWS_RETRY_MODE="standard", AWS_MAX_ATTEMPTS="1", SAFETY_MARGIN_SECONDS="1")
    conversation = queued(app, queue, "billing")
    throttled = throttle_dynamodb(
        runtime.current().store.client, 2, lambda body: b"attribute_not_exists(notified_at)" in body
    )
    with contextlib.suppress(Exception):
        short_invoke(app)
    assert app.sim.routing(conversation)[0] == [BILLING] and throttled["throttled"] >= 1
    for _ in range(3):
        short_invoke(app)
    assert throttled["throttled"] == 2
    assert len(app.sent_emails()) == 1 and patches(app, conversation) == 1


def test_a_throttled_outcome_write_is_retried_not_a_second_patch(app: App, queue: str):
    app.set(AWS_RETRY_MODE="standard", AWS_MAX_ATTEMPTS="1", SAFETY_MARGIN_SECONDS="1")
    conversation = queued(app, queue, "technical")
    throttle_dynamodb(runtime.current().store.client, 3, lambda body: b'":outcome": {"S": "applied"}' in body)
    with contextlib.suppress(Exception):
        short_invoke(app)
    assert app.ledger(conversation)["outcome"] == "applied"


def test_a_caller_older_than_the_ledgers_memory_is_never_acted_on(app: App, queue: str):
    # LEDGER_TTL_DAYS=1: DynamoDB may have deleted this caller's entry (applied, emailed) by now.
    app.set(LEDGER_TTL_DAYS="1")
    conversation = app.sim.add_conversation(
        queue_id=queue, attributes={"intent": "billing"}, start=minutes_ago(25 * 60)
    )
    result = send(acd_start(app, conversation, queue))
    assert patches(app, conversation) == 0 and app.sent_emails() == [], result


def test_a_ledger_entry_outlives_the_longest_a_caller_is_served(app: App, queue: str):
    conversation = queued(app, queue, "billing")
    app.invoke()
    settings = runtime.current().settings
    entry = app.ledger(conversation)
    horizon = settings.ledger_ttl_days * 86400
    assert entry["expires_at"] >= time.time() + horizon - 5
    # Every later write (the email's too) keeps the entry at least that long.
    assert entry.get("notified_at")


def test_a_rule_naming_more_recipients_than_ses_accepts_is_rejected_at_load(app: App, queue: str):
    too_many = ", ".join(f"lead{i}@example.com" for i in range(51))
    app.upload_matrix(
        f"skill_matrix:\n  - intent_keyword: billing\n    skill_id: {BILLING}\n    priority: high\n"
        f"    notify: [{too_many}]\n"
    )
    with pytest.raises(MatrixError, match=r"skill_matrix.yaml:5 .*51 recipients.*50"):
        runtime.current().matrix_source.current()


def test_the_cli_rejects_too_many_recipients_with_the_line(tmp_path, capsys):
    from skill_router import cli

    too_many = ", ".join(f"lead{i}@example.com" for i in range(60))
    path = tmp_path / "matrix.yaml"
    path.write_text(f"skill_matrix:\n  - intent_keyword: billing\n    skill_id: {BILLING}\n    notify: [{too_many}]\n")
    code = cli.main(["matrix", "validate", str(path)])
    out = capsys.readouterr()
    assert code != 0 and "60 recipients" in (out.out + out.err) and ":4" in (out.out + out.err)


def test_agentless_a_failed_second_recipient_does_not_resend_the_first(app: App, queue: str):
    app.set(NOTIFY_CHANNEL="genesys", NOTIFY_FROM="alerts@example.com")
    three_recipients(app)
    conversation = queued(app, queue, "billing")
    app.sim.fail("POST", EMAIL, 400, count=1, when=lambda body: body["toAddresses"][0]["email"] == THREE[1])
    app.invoke()
    app.invoke()
    app.invoke()
    assert sorted(agentless_to(app)) == THREE, "each recipient exactly once"
    assert app.ledger(conversation).get("notified_at")


@pytest.mark.slow
def test_agentless_killed_between_recipients_resends_nobody_already_sent(app: App, queue: str):
    app.set(NOTIFY_CHANNEL="genesys", NOTIFY_FROM="alerts@example.com")
    three_recipients(app)
    queued(app, queue, "billing")
    box: dict[str, Any] = {}
    kill = lambda: box["run"].kill()  # noqa: E731
    app.sim.hook("POST", EMAIL, lambda: app.sim.hook("POST", EMAIL, kill, stage="instead"), stage="after")
    box["run"] = spawn(app, timeout=8.0, SAFETY_MARGIN_SECONDS="1")
    assert box["run"].wait() == -9
    assert agentless_to(app) == THREE[:1]
    await_holds_lapsed(app)  # the killed run's lease and claim on the second recipient lapse with its invocation
    app.invoke()
    app.invoke()
    assert sorted(agentless_to(app)) == THREE


def test_agentless_two_containers_at_once_send_each_recipient_once(app: App, queue: str):
    app.set(NOTIFY_CHANNEL="genesys", NOTIFY_FROM="alerts@example.com", EVENT_MODE="true")
    three_recipients(app)
    conversation = queued(app, queue, "billing")
    app.sim.delay("POST", EMAIL, 0.5)
    envelope = acd_start(app, conversation, queue)
    from tests.attack.helpers import EVENT_HANDLER, results

    results([spawn(app, envelope, EVENT_HANDLER), spawn(app)])
    app.sim.delays.clear()
    app.invoke()
    assert sorted(agentless_to(app)) == THREE


def test_ses_refusing_once_sends_the_email_once_later(app: App, queue: str):
    conversation = queued(app, queue, "billing")
    ses = runtime.current().poller.adapters.notifier.client  # type: ignore[attr-defined]
    throttle_ses = {"left": 1}

    def refuse(**_: Any) -> Any:
        if throttle_ses["left"]:
            throttle_ses["left"] -= 1
            from botocore.exceptions import ClientError

            raise ClientError(
                {"Error": {"Code": "Throttling", "Message": "Maximum sending rate exceeded."}}, "SendEmail"
            )
        return None

    ses.meta.events.register("before-call.ses.SendEmail", refuse)
    app.invoke()
    assert app.sent_emails() == [] and emails_owed(app.ledger(conversation)) != []
    app.invoke()
    app.invoke()
    assert len(app.sent_emails()) == 1


def test_settings_refuse_a_ledger_ttl_shorter_than_the_longest_wait():
    from skill_router.errors import ConfigurationError
    from skill_router.settings import load_settings
    from tests.unit.test_settings import BASE

    longest = {"MAX_PENDING_AGE_SECONDS": "85000"}
    with pytest.raises(ConfigurationError, match="LEDGER_TTL_DAYS=1 is too short"):
        load_settings({**BASE, **longest, "LEDGER_TTL_DAYS": "1"})
    assert load_settings({**BASE, **longest, "LEDGER_TTL_DAYS": "2"}).ledger_ttl_days == 2


def test_a_throttled_step_email_claim_delays_the_step_email_but_never_loses_it(app: App, queue: str):
    from tests.integration.test_escalation import LADDER, step_emails, waiting

    app.sim.add_language("English")
    app.upload_matrix(LADDER)
    app.set(AWS_RETRY_MODE="standard", AWS_MAX_ATTEMPTS="1", SAFETY_MARGIN_SECONDS="1")
    waiting(app, queue, 360)  # first seen with both steps due: step 2 emails the lead
    claims_the_step_email = lambda body: b"@300s" in body and b"attribute_not_exists(notified_at)" in body  # noqa: E731
    throttled = throttle_dynamodb(runtime.current().store.client, 1, claims_the_step_email)
    with contextlib.suppress(Exception):
        short_invoke(app)
    assert throttled["throttled"] == 1 and step_emails(app) == []
    assert app.sim.count("PATCH") == 1, "the rule and both steps went in one PATCH"
    for _ in range(2):
        short_invoke(app)
    assert len(step_emails(app)) == 1, "the step email is owed until it is sent, once"
    assert app.sim.count("PATCH") == 1
