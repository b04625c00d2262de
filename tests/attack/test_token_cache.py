"""Issue 19, class 9: a token cache that cannot be trusted. A hand-edited or corrupted cached token
that the HTTP library refuses to send never earns a 401, so nothing else would ever replace it:
it is a bad cache, and costs one login, never routing."""

from __future__ import annotations

import json
import time

import pytest

from tests.integration.conftest import TECH, App, queued


@pytest.mark.parametrize(
    "cached",
    ["canary-token-with-newline\n", "canary\rtoken", "canary token", "canary-tök", "canary\x00token", ""],
    ids=["trailing-newline", "carriage-return", "space", "non-ascii", "nul", "empty"],
)
def test_a_cached_token_that_cannot_be_sent_costs_one_login_and_routing_goes_on(app: App, queue: str, cached: str):
    app.client("secretsmanager").put_secret_value(
        SecretId=app.env["GENESYS_TOKEN_SECRET"],
        SecretString=json.dumps({"access_token": cached, "expires_at": int(time.time()) + 10 * 365 * 86400}),
    )
    conversation = queued(app, queue, "technical")
    report = app.invoke()["polls"][0]
    assert report["applied"] == 1 and app.sim.routing(conversation)[0] == [TECH], report
    assert app.sim.tokens_issued == 1
    app.set()  # a new container reads the cache again: the login's token replaced the bad one
    queued(app, queue, "technical")
    assert app.invoke()["polls"][0]["applied"] == 1
    assert app.sim.tokens_issued == 1
