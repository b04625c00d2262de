"""Nothing secret in a log: a full run with canary secrets, as Lambda would log it (a real process,
DEBUG level, every line it prints), and not one canary in it."""

from __future__ import annotations

import json
import time

from tests.integration.conftest import CLIENT_SECRET, TECH, App, queued

CANARY_TOKEN = "canary-token-3f9a0c7e5d1b"
CANARY_ATTRIBUTE = "canary-account-number-8842-1177"


def test_no_secret_token_or_caller_data_appears_in_any_log_line_or_metric(app: App, queue: str):
    app.sim.accept_token(CANARY_TOKEN)
    app.client("secretsmanager").put_secret_value(
        SecretId=app.env["GENESYS_TOKEN_SECRET"],
        SecretString=json.dumps({"access_token": CANARY_TOKEN, "expires_at": int(time.time()) + 3600}),
    )
    first = queued(app, queue, "technical")
    app.sim.set_attributes(first, {"accountNumber": CANARY_ATTRIBUTE, "customerName": "Ada Canary"})
    second = queued(app, queue, "billing please")
    # Mid-run the token is revoked: a refresh, a login with the client secret, a new token cached.
    app.sim.hook("GET", "/api/v2/conversations/" + second, app.sim.revoke_tokens, stage="before")
    run = app.spawn(capture=True, POWERTOOLS_LOG_LEVEL="DEBUG", POWERTOOLS_METRICS_DISABLED="false")
    assert run.result()["polls"][0]["applied"] == 2 and app.sim.routing(first)[0] == [TECH]
    issued = set(app.sim.tokens)  # the token the refresh obtained
    assert app.sim.tokens_issued == 1 and issued
    output = run.output
    assert "rule applied" in output and '"_aws"' in output, "the logs and metrics were captured"
    for canary in (CLIENT_SECRET, CANARY_TOKEN, *issued, CANARY_ATTRIBUTE, "Ada Canary"):
        assert canary not in output


def test_a_rejected_login_names_the_problem_without_the_secret(app: App, queue: str):
    wrong = "wrong-secret-canary-51c2"
    app.client("secretsmanager").put_secret_value(
        SecretId=app.env["GENESYS_CREDENTIALS_SECRET"],
        SecretString=json.dumps({"client_id": "sim-client", "client_secret": wrong}),
    )
    queued(app, queue, "billing")
    run = app.spawn(capture=True, POWERTOOLS_LOG_LEVEL="DEBUG")
    run.wait()
    failure = json.loads(run.result_file.read_text())["invocations"][0]
    assert "rejected the client credentials" in failure["errorMessage"]
    assert wrong not in run.output and wrong not in json.dumps(failure)
