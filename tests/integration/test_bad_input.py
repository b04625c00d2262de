"""Bad input, each kind: a clear error or a safe skip, and no caller lost."""

from __future__ import annotations

from typing import Any

import pytest

from scripts.lambda_runner import LambdaContext
from skill_router.errors import ConfigurationError
from skill_router.handlers import poll
from tests.integration.conftest import BILLING, GET, PATCH, TECH, App, minutes_ago, patches, queued

QUERY = "/api/v2/analytics/conversations/details/query"


@pytest.mark.parametrize("event", [[], "tick", None, 42], ids=["list", "string", "null", "number"])
def test_a_scheduled_event_that_is_not_an_object_is_refused_clearly(app: App, queue: str, event: Any):
    with pytest.raises(ValueError, match="expected a scheduled event"):
        poll.handler(event, LambdaContext(30, 256))
    assert "window_end" not in app.watermark()


def test_a_scheduled_event_with_unexpected_fields_is_just_a_tick(app: App, queue: str):
    conversation = queued(app, queue, "billing")
    weird = {"detail-type": "Scheduled Event", "detail": {"<script>": "x" * 10_000}, "resources": None}
    assert app.invoke(weird)["polls"][0]["applied"] == 1
    assert app.sim.routing(conversation)[0] == [BILLING]


def test_a_conversation_without_a_start_in_analytics_is_skipped_and_the_rest_served(app: App, queue: str):
    good = queued(app, queue, "technical")
    broken = {"conversationId": "no-start", "participants": []}

    def page_with_a_broken_conversation() -> None:
        app.sim.fail("POST", QUERY, 200, body={"totalHits": 2, "conversations": [broken, view(app, good)]})

    page_with_a_broken_conversation()
    report = app.invoke()["polls"][0]
    assert report["seen"] == 1 and app.sim.routing(good)[0] == [TECH]


def view(app: App, conversation_id: str) -> dict[str, Any]:
    with app.sim.lock:
        return app.sim._analytics_view(app.sim.conversations[conversation_id])


def test_an_unreadable_conversation_fails_alone_with_its_reason(app: App, queue: str):
    app.set(MAX_ATTEMPTS="2")
    unreadable = queued(app, queue, "billing", minutes=3)
    fine = queued(app, queue, "technical", minutes=2)
    app.sim.fail("GET", GET + unreadable, 200, count=None, body={"id": unreadable, "participants": "oops"})
    report = app.invoke()["polls"][0]
    # One unreadable answer is transient (issue #12): retried on the next poll, MAX_ATTEMPTS in all.
    assert (report["retry"], report["failed"], report["applied"]) == (1, 0, 1)
    assert app.invoke()["polls"][0]["failed"] == 1
    assert "unreadable response" in app.ledger(unreadable)["reason"]
    assert app.sim.routing(fine)[0] == [TECH]


def test_a_patch_accepted_with_an_unreadable_answer_counts_as_applied(app: App, queue: str):
    conversation = queued(app, queue, "technical")
    app.sim.fail("PATCH", PATCH + conversation, 200, body={"skills": "not-a-list"})
    # The fault answers instead of the simulator, so apply the change the way Genesys would have.
    app.sim.hook(
        "PATCH", PATCH + conversation, lambda: app.sim._conversation(conversation).legs[-1].skills.append(TECH)
    )
    assert app.invoke()["polls"][0]["applied"] == 1
    assert app.ledger(conversation)["outcome"] == "applied" and patches(app, conversation) == 1


@pytest.mark.parametrize(
    ("intent", "expected"),
    [
        ("Facturación 💳 BILLING \u2013 ¿puedo pagar?", [BILLING]),
        ('billing"}]; DROP TABLE conv; -- ${jndi:ldap://x} {{7*7}}', [BILLING]),
        ("billing " + "x" * 200_000, [BILLING]),
        ("x" * 200_000 + " billing", []),  # matching reads a bounded prefix of what callers typed
        ("\x00\x1b[31m technical \u202e", [TECH]),
    ],
    ids=["unicode", "injection-looking", "huge-match-first", "huge-match-late", "control-characters"],
)
def test_odd_intent_values_are_matched_safely_and_never_stored(app: App, queue: str, intent: str, expected: list):
    conversation = app.sim.add_conversation(queue_id=queue, attributes={"intent": intent}, start=minutes_ago(2))
    app.invoke()
    assert app.sim.routing(conversation)[0] == expected
    entry = app.ledger(conversation)
    assert entry is not None and intent not in str(entry)


@pytest.mark.parametrize(
    ("secret", "problem"),
    [
        ("not json", "is not a JSON object"),
        ("[]", "is not a JSON object"),
        ('{"client_id": 5, "client_secret": ""}', "has no client_secret"),
        ('{"client_id": " ", "client_secret": "s"}', "has no client_id"),
    ],
    ids=["not-json", "a-list", "no-secret", "blank-id"],
)
def test_malformed_credentials_are_named_and_nothing_moves(app: App, queue: str, secret: str, problem: str):
    app.client("secretsmanager").put_secret_value(SecretId=app.env["GENESYS_CREDENTIALS_SECRET"], SecretString=secret)
    conversation = queued(app, queue, "billing")
    with pytest.raises(ConfigurationError, match=problem):
        app.invoke()
    assert "window_end" not in app.watermark() and app.ledger(conversation) is None


def test_a_corrected_secret_is_used_on_the_next_run_despite_the_cache(app: App, queue: str):
    secrets = app.client("secretsmanager")
    secret_id = app.env["GENESYS_CREDENTIALS_SECRET"]
    secrets.put_secret_value(SecretId=secret_id, SecretString='{"client_id": "sim-client", "client_secret": "typo"}')
    conversation = queued(app, queue, "technical")
    with pytest.raises(ConfigurationError, match="rejected the client credentials"):
        app.invoke()
    secrets.put_secret_value(
        SecretId=secret_id, SecretString='{"client_id": "sim-client", "client_secret": "sim-client-secret-canary"}'
    )
    assert app.invoke()["polls"][0]["applied"] == 1, "the same warm container, no five-minute wait"
    assert app.sim.routing(conversation)[0] == [TECH]
