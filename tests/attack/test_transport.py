"""Attacks on the transport (issue #12 classes 3, 4, 5 and 10; issue #15 item 4): a login or an
answer that hiccups once, answers that drip or inflate, rate-limit headers that lie, and the
library loggers at DEBUG. Real handler processes where the promise is about a process (its
memory, its wall time, its log output), a real proxy process-thread in front of the simulator.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from scripts.lambda_runner import LambdaContext
from skill_router import runtime
from skill_router.deadline import Deadline
from skill_router.errors import OutOfTime
from skill_router.genesys.budget import RateBudget
from skill_router.genesys.client import GenesysClient
from skill_router.genesys.token import TokenProvider
from skill_router.handlers import conversation_event
from tests.attack.proxy import MisbehavingProxy
from tests.integration.conftest import BILLING, CLIENT_ID, CLIENT_SECRET, GET, PATCH, ROOT, App, queued

NO_TOKEN = {"token_type": "bearer", "expires_in": 86399}
LOGIN_PAGE = "<!doctype html><html><body><form action='/login'>Sign in</form></body></html>"


@pytest.fixture
def proxy(app: App) -> Iterator[MisbehavingProxy]:
    """Every Genesys request (login included) goes through the proxy."""
    with MisbehavingProxy(app.sim.base_url) as p:
        app.set(GENESYS_API_URL=p.url, GENESYS_LOGIN_URL=p.url)
        yield p


def outcome(app: App, cid: str) -> str | None:
    return (app.ledger(cid) or {}).get("outcome")


def served(app: App, cid: str, runs: int = 3, timeout: float = 20.0) -> bool:
    """Poll (warm, as the schedule would) until the caller is applied, at most `runs` times."""
    for _ in range(runs):
        if outcome(app, cid) == "applied":
            break
        app.invoke(timeout=timeout)
    return outcome(app, cid) == "applied" and BILLING in app.sim.routing(cid)[0]


def spawn(app: App, timeout: float, root_debug: bool = False, **env: str) -> tuple[dict[str, Any], str, float]:
    """The poll handler in a fresh process (as Lambda runs it): its report, its output, wall time."""
    result = Path(tempfile.mkstemp(suffix=".json")[1])
    argv = [str(ROOT / "scripts" / "lambda_runner.py"), str(ROOT / "events" / "scheduled.json")]
    argv += ["--timeout", str(timeout), "--result-file", str(result)]
    prelude = (
        "import logging; logging.basicConfig(level=logging.DEBUG); logging.getLogger('canary').debug('root-at-debug'); "
        if root_debug
        else ""
    )
    code = f"{prelude}import runpy, sys; sys.argv = {argv!r}; runpy.run_path(sys.argv[0], run_name='__main__')"
    started = time.monotonic()
    process = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, **app.env, "POWERTOOLS_METRICS_DISABLED": "true", **env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout + 60,
    )
    wall = time.monotonic() - started
    return json.loads(result.read_text()), process.stdout + process.stderr, wall


def revoke_then(app: App, *actions: Any) -> Any:
    """A hook: the token is revoked (expired early) and the next login misbehaves."""

    def callback() -> None:
        app.sim.revoke_tokens()
        for action in actions:
            action()

    return callback


# --- class 3: one hiccup must not fail a caller for good -------------------------------------


def test_login_answering_200_without_a_token_once_does_not_fail_the_caller(app: App, queue: str):
    cid = queued(app, queue, "billing")
    bad_login = revoke_then(app, lambda: app.sim.fail("POST", "/oauth/token", 200, body=NO_TOKEN))
    app.sim.hook("GET", GET + cid, bad_login, stage="before")
    assert served(app, cid)


def test_login_answering_an_html_page_once_does_not_fail_the_caller(app: App, queue: str, proxy: MisbehavingProxy):
    cid = queued(app, queue, "billing")
    page = {"status": 200, "body": LOGIN_PAGE, "headers": {"Content-Type": "text/html"}}
    app.sim.hook("GET", GET + cid, revoke_then(app, lambda: proxy.rule("POST", "/oauth/token$", "answer", **page)))
    assert served(app, cid)


def test_login_redirected_once_does_not_mark_the_caller_gone(app: App, queue: str, proxy: MisbehavingProxy):
    cid = queued(app, queue, "billing")
    moved = {"status": 302, "headers": {"Location": "/login"}}
    app.sim.hook("GET", GET + cid, revoke_then(app, lambda: proxy.rule("POST", "/oauth/token$", "answer", **moved)))
    assert served(app, cid)


def test_login_without_a_token_during_the_patch_is_not_recorded_applied(app: App, queue: str):
    cid = queued(app, queue, "billing")
    bad_login = revoke_then(app, lambda: app.sim.fail("POST", "/oauth/token", 200, body=NO_TOKEN))
    app.sim.hook("PATCH", PATCH + cid, bad_login, stage="before")
    app.invoke(timeout=20)
    # Whatever the ledger says, it must not claim a change Genesys never made.
    if outcome(app, cid) == "applied":
        assert BILLING in app.sim.routing(cid)[0], "recorded applied, but the PATCH was never sent"
    assert served(app, cid)


def test_login_html_during_the_patch_is_not_recorded_applied(app: App, queue: str, proxy: MisbehavingProxy):
    cid = queued(app, queue, "billing")
    page = {"status": 200, "body": LOGIN_PAGE, "headers": {"Content-Type": "text/html"}}
    app.sim.hook("PATCH", PATCH + cid, revoke_then(app, lambda: proxy.rule("POST", "/oauth/token$", "answer", **page)))
    app.invoke(timeout=20)
    if outcome(app, cid) == "applied":
        assert BILLING in app.sim.routing(cid)[0], "recorded applied, but the PATCH was never sent"
    assert served(app, cid)


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_a_redirect_on_the_get_once_does_not_fail_the_caller(app: App, queue: str, proxy: MisbehavingProxy, status):
    cid = queued(app, queue, "billing")
    proxy.rule("GET", GET + cid, "answer", status=status, headers={"Location": "/api/v2/elsewhere"})
    assert served(app, cid)


def test_a_redirect_never_carries_the_token_to_another_host(app: App, queue: str, proxy: MisbehavingProxy):
    cid = queued(app, queue, "billing")
    with MisbehavingProxy(app.sim.base_url) as elsewhere:
        proxy.rule("GET", GET + cid, "answer", count=None, status=302, headers={"Location": elsewhere.url + "/x"})
        app.invoke(timeout=10)
        assert not any("Authorization" in h or "authorization" in h for _, _, h in elsewhere.seen)
    assert outcome(app, cid) != "failed"


def test_an_unreadable_conversation_body_once_does_not_fail_the_caller(app: App, queue: str):
    cid = queued(app, queue, "billing")
    app.sim.fail("GET", GET + cid, 200, body={"id": cid, "participants": [{"id": "p"}]})
    assert served(app, cid)


@pytest.mark.parametrize(
    "body",
    [b"{not json", b"\xff\xfe\xfa not utf-8", b"<html>502 Bad Gateway</html>", b""],
    ids=["broken-json", "invalid-utf8", "html", "empty"],
)
def test_a_garbled_200_on_the_get_once_does_not_fail_the_caller(
    app: App, queue: str, proxy: MisbehavingProxy, body: bytes
):
    cid = queued(app, queue, "billing")
    proxy.rule("GET", GET + cid, "answer", status=200, body=body)
    assert served(app, cid)


def test_a_redirect_that_never_stops_fails_the_caller_within_max_attempts(
    app: App, queue: str, proxy: MisbehavingProxy
):
    """Transient, but not for ever: MAX_ATTEMPTS polls, then `failed` with the reason."""
    app.set(MAX_ATTEMPTS="2")
    cid = queued(app, queue, "billing")
    proxy.rule("GET", GET + cid, "answer", count=None, status=302, headers={"Location": "/x"})
    app.invoke(timeout=10)
    assert outcome(app, cid) == "retry"
    app.invoke(timeout=10)
    assert outcome(app, cid) == "failed"
    assert "302" in (app.ledger(cid) or {}).get("reason", "")


# --- class 4: slow or huge answers -----------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("target", ["GET", "login"])
def test_an_answer_dripped_one_byte_at_a_time_cannot_outlive_the_invocation(
    app: App, queue: str, proxy: MisbehavingProxy, target: str
):
    cid = queued(app, queue, "billing")
    if target == "GET":
        proxy.rule("GET", GET + cid, "drip", count=None, interval=0.25)
    else:
        proxy.rule("POST", "/oauth/token$", "drip", count=None, interval=0.25)
    report, _, _ = spawn(app, timeout=12, SAFETY_MARGIN_SECONDS="2")
    invocation = report["invocations"][0]
    assert invocation["duration_seconds"] <= 12, f"the invocation outlived its timeout: {invocation}"
    assert outcome(app, cid) != "failed"
    proxy.clear()
    assert served(app, cid)


@pytest.mark.slow
def test_headers_dripped_one_byte_at_a_time_cannot_outlive_the_invocation(
    app: App, queue: str, proxy: MisbehavingProxy
):
    cid = queued(app, queue, "billing")
    proxy.rule("GET", GET + cid, "drip_headers", count=None, interval=0.25)
    report, _, _ = spawn(app, timeout=12, SAFETY_MARGIN_SECONDS="2")
    assert report["invocations"][0]["duration_seconds"] <= 12
    assert outcome(app, cid) != "failed"


@pytest.mark.slow
@pytest.mark.parametrize(
    ("method", "path", "encoding"),
    [
        ("GET", "conversation", "gzip"),
        ("GET", "conversation", "deflate"),
        ("POST", "/api/v2/analytics/conversations/details/query$", "gzip"),
        ("POST", "/oauth/token$", "gzip"),
    ],
    ids=["get-gzip", "get-deflate", "query-gzip", "login-gzip"],
)
def test_a_compression_bomb_stays_inside_a_256_mb_function(
    app: App, queue: str, proxy: MisbehavingProxy, method: str, path: str, encoding: str
):
    cid = queued(app, queue, "billing")
    proxy.rule(method, GET + cid if path == "conversation" else path, "bomb", size=768 << 20, encoding=encoding)
    report, _, _ = spawn(app, timeout=25)
    assert report["max_rss_mb"] < 256, f"peak memory {report['max_rss_mb']} MB against a 256 MB function"
    assert outcome(app, cid) != "failed"
    assert served(app, cid)


@pytest.mark.slow
@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_a_huge_plain_answer_stays_inside_a_256_mb_function(
    app: App, queue: str, proxy: MisbehavingProxy, chunked: bool
):
    cid = queued(app, queue, "billing")
    proxy.rule("GET", GET + cid, "huge", size=400 << 20, headers={"chunked": "1"} if chunked else {})
    report, _, _ = spawn(app, timeout=25)
    assert report["max_rss_mb"] < 256, f"peak memory {report['max_rss_mb']} MB against a 256 MB function"
    assert outcome(app, cid) != "failed"


# --- class 5: one answer must not throttle a container for good ------------------------------


@pytest.mark.parametrize("value", ["3600", "1e308", "inf", "-5", "nan", "Wed, 21 Oct 2099 07:28:00 GMT"])
def test_one_absurd_retry_after_does_not_silence_the_next_warm_runs(
    app: App, queue: str, proxy: MisbehavingProxy, value: str
):
    cid = queued(app, queue, "billing")
    error = json.dumps({"message": "Rate limit exceeded", "code": "too.many.requests", "status": 429})
    proxy.rule("GET", GET + cid, "answer", status=429, body=error, headers={"Retry-After": value})
    app.invoke(timeout=10)
    # Warm runs a minute apart (here: at once, the worst case): the same container, its budget.
    assert served(app, cid, runs=2, timeout=10)


def test_a_429_from_the_simulator_with_retry_after_3600_is_bounded(app: App, queue: str):
    cid = queued(app, queue, "billing")
    app.sim.fail("GET", GET + cid, 429, retry_after=3600)
    started = time.monotonic()
    app.invoke(timeout=10)
    assert time.monotonic() - started < 12
    assert served(app, cid, runs=2, timeout=10)


@pytest.mark.parametrize("allowed", ["2", "1", "0", "-4", "abc", "99999999999999999999"])
def test_one_low_allowed_header_does_not_hold_the_budget_down(
    app: App, queue: str, proxy: MisbehavingProxy, allowed: str
):
    app.set(GENESYS_REQUESTS_PER_MINUTE="300")
    callers = [queued(app, queue, "billing") for _ in range(8)]
    # One answer (the query, a bucket of its own) says its bucket allows 2 a minute.
    proxy.rule(
        "POST",
        "/api/v2/analytics/conversations/details/query$",
        "add_headers",
        headers={"inin-ratelimit-allowed": allowed, "inin-ratelimit-count": "1", "inin-ratelimit-reset": "2"},
    )
    for _ in range(2):
        app.invoke(timeout=15)
    assert [outcome(app, c) for c in callers] == ["applied"] * len(callers)


def test_a_reset_header_of_an_hour_does_not_stop_the_container_for_an_hour(
    app: App, queue: str, proxy: MisbehavingProxy
):
    app.set(GENESYS_REQUESTS_PER_MINUTE="300")
    cid = queued(app, queue, "billing")
    proxy.rule(
        "POST",
        "/api/v2/analytics/conversations/details/query$",
        "add_headers",
        headers={"inin-ratelimit-allowed": "300", "inin-ratelimit-count": "300", "inin-ratelimit-reset": "3600"},
    )
    app.invoke(timeout=8)
    # The longest Genesys's per-minute bucket can need is a minute; simulate that minute passing.
    budget = runtime.current().genesys.budget
    _age(budget, 61.0)
    assert served(app, cid, runs=1, timeout=10)


def _age(budget: RateBudget, seconds: float) -> None:
    """Move the container's budget `seconds` into the future (what a minute between runs does)."""
    clock = budget._clock
    budget._clock = lambda: clock() + seconds  # type: ignore[method-assign]


# --- issue 15 item 4: one budget across containers -------------------------------------------


@pytest.mark.slow
def test_two_containers_sharing_a_token_stay_under_its_limit(app: App):
    """Genesys counts per token; two containers each configured with the whole budget must pace
    from what the answers report, not each spend the whole budget."""
    app.sim.rate_limit_per_minute = 20
    token = "shared-token-canary"
    app.sim.accept_token(token)
    spent: list[int] = []
    out_of_budget: list[int] = []

    def container() -> None:
        tokens = TokenProvider(
            app.sim.base_url, lambda: None, lambda: {"access_token": token, "expires_at": 2e9}, lambda _t: None
        )  # type: ignore[arg-type, return-value]
        client = GenesysClient(app.sim.base_url, tokens, budget=RateBudget(20))
        client.begin(Deadline.fixed(22.0))
        for _ in range(20):
            try:
                client.skill_ids_by_name(["Billing"])
                spent.append(1)
            except OutOfTime:
                out_of_budget.append(1)
                return

    threads = [threading.Thread(target=container) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert app.sim.throttled == 0, f"{app.sim.throttled} answers were 429: the containers overspent the token"
    assert len(spent) >= 15, "the two containers together used most of the token's budget"


def test_an_event_container_out_of_budget_leaves_the_caller_pending(app: App, queue: str):
    from tests.integration.test_event_mode import acd_start

    runtime.use(None)
    app.set(EVENT_MODE="true")
    cid = queued(app, queue, None)
    app.sim.set_attributes(cid, {"intent": "billing"})
    # Another container spent the token's minute: the last answer said so.
    full = {"inin-ratelimit-allowed": "300", "inin-ratelimit-count": "300", "inin-ratelimit-reset": "50"}
    runtime.current().genesys.budget.observe(full, "PATCH /api/v2/routing/conversations/{conversationId}")
    result = conversation_event.handler(acd_start(app, cid, queue), LambdaContext(8, 256))
    assert result["outcome"] == "pending"
    app.set(EVENT_MODE="true")
    app.invoke(timeout=20)  # the poller reconciles
    assert outcome(app, cid) == "applied"


def test_an_event_container_throttled_by_genesys_leaves_the_caller_pending(app: App, queue: str):
    """The token's minute was spent by other containers (the simulator counts per token): the
    event is not raised into EventBridge's retries; the poller reconciles the caller."""
    from tests.integration.test_event_mode import acd_start

    runtime.use(None)
    app.set(EVENT_MODE="true")
    cid = queued(app, queue, None)
    app.sim.set_attributes(cid, {"intent": "billing"})
    app.sim.rate_limit_per_minute = 2
    token = runtime.current().genesys.tokens.token()
    for _ in range(2):  # another container, same token
        requests.get(
            app.sim.base_url + "/api/v2/routing/skills", headers={"Authorization": f"Bearer {token}"}, timeout=5
        )
    result = conversation_event.handler(acd_start(app, cid, queue), LambdaContext(8, 256))
    assert result["outcome"] == "pending"
    app.sim.rate_limit_per_minute = None
    app.set(EVENT_MODE="true")  # the poller: another container, a minute later
    app.invoke(timeout=20)  # the poller reconciles
    assert outcome(app, cid) == "applied"


# --- class 10: no secret at DEBUG ------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize(
    "levels",
    [
        {"AWS_LAMBDA_LOG_LEVEL": "DEBUG"},
        {"POWERTOOLS_LOG_LEVEL": "DEBUG"},
        {"AWS_LAMBDA_LOG_LEVEL": "DEBUG", "POWERTOOLS_LOG_LEVEL": "DEBUG", "LOG_LEVEL": "DEBUG"},
    ],
    ids=["lambda", "powertools", "all"],
)
def test_no_secret_or_token_in_any_log_line_at_root_debug(app: App, queue: str, levels: dict[str, str]):
    cid = queued(app, queue, "billing")
    app.sim.hook("GET", GET + cid, app.sim.revoke_tokens, stage="before")  # a refresh: the secret is read again
    report, output, _ = spawn(app, timeout=30, root_debug=True, **levels)
    assert report["invocations"][0]["result"]["polls"][0]["applied"] == 1
    assert "root-at-debug" in output, "the root logger was at DEBUG and its output captured"
    import base64

    basic = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
    for canary in (CLIENT_SECRET, basic, *app.sim.tokens):
        assert canary not in output, "a secret or token reached the log"


# --- issue 19 class 8: a bucket is a resource's, not a number's --------------------------------


def test_a_full_bucket_is_not_forgotten_when_another_bucket_allows_the_same_number(app: App):
    """Genesys reports the bucket of each request (the SDK's logging docs: `allowed: 180` on GET
    /api/v2/users while a token allows 300). Two resources whose buckets allow the same number:
    one's answer must not make the other's full count forgotten and a request sent into a 429."""
    app.sim.add_skill("Billing")
    app.sim.resource_limits = {"GET /api/v2/routing/skills": 4, "GET /api/v2/routing/languages": 4}
    token = "bucket-token-canary"
    app.sim.accept_token(token)
    for _ in range(3):  # another container, same token, spends most of the skills bucket
        requests.get(
            app.sim.base_url + "/api/v2/routing/skills", headers={"Authorization": f"Bearer {token}"}, timeout=5
        )
    tokens = TokenProvider(
        app.sim.base_url, lambda: None, lambda: {"access_token": token, "expires_at": 2e9}, lambda _t: None
    )  # type: ignore[arg-type, return-value]
    client = GenesysClient(app.sim.base_url, tokens, budget=RateBudget(300))
    client.begin(Deadline.fixed(4.0))
    client.skill_ids_by_name(["Billing"])  # answered: 4 of 4 counted in the skills bucket
    client.language_ids_by_name(["English"])  # answered from the languages bucket: 1 of 4
    with pytest.raises(OutOfTime):  # the skills bucket is full for a minute: wait, never a 429
        client.skill_ids_by_name(["Billing"])
    assert app.sim.throttled == 0, "a request was sent into a full bucket"
