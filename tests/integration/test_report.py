"""`skill-router report` end to end (issue 22): the real handler records its decisions in moto's
table, the simulator's callers are answered, abandoned or left waiting, and the report reads both
over HTTP through the real SDK. The poller's clock runs ten minutes behind (`later(-600)`), so the
decisions are recorded in the past and every outcome the scenario sets up lies between them and
now: no wall-clock waiting."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from skill_router.cli import main
from skill_router.store import format_time
from skill_router.store.codec import typed
from tests.integration.conftest import CLIENT_SECRET, TECH, App, later, minutes_ago, staff

pytestmark = pytest.mark.integration
DETAILS = "/api/v2/analytics/conversations/details/query"
CANARY = "canary-intent-7f3a billing"  # a caller's words: never in the report or its output
BACK = 600  # the poller decides this many seconds in the past


def report(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    capsys.readouterr()  # the handler's own log lines, from the polls before
    status = main(["report", "--env", *args])
    out, err = capsys.readouterr()
    return status, out, err


def rows(out: str) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (r["kind"], r["rule"] if r["kind"] != "step" else f"{r['rule']}#{r['step']}"): r
        for r in json.loads(out)["rows"]
    }


def callers(app: App, queue: str, intent: str, count: int, waited: float = 5) -> list[str]:
    """Callers who entered `queue` `waited` seconds before the (shifted) poll."""
    start = minutes_ago((BACK + waited) / 60)
    return [app.sim.add_conversation(queue_id=queue, attributes={"intent": intent}, start=start) for _ in range(count)]


@pytest.fixture
def decided_in_the_past() -> Iterator[None]:
    later(-BACK)
    yield


def test_a_rule_answered_faster_than_the_baseline_in_its_queue(
    app: App, queue: str, decided_in_the_past: None, capsys: pytest.CaptureFixture[str]
):
    billing = callers(app, queue, CANARY, 4, waited=120)
    other = callers(app, queue, "I want a pony", 4, waited=120)
    later(-BACK)
    poll = app.invoke()["polls"][0]
    assert poll["applied"] == 4 and poll["no_match"] == 4
    for i, cid in enumerate(billing):  # 10, 20, 30, 40 s after the decision (which came at 120 s)
        app.sim.answer(cid, after=120 + 10 * (i + 1))
    for i, cid in enumerate(other[:3]):  # 3, 4, 5 minutes after it
        app.sim.answer(cid, after=120 + 60 * (i + 3))
    app.sim.abandon(other[3], after=120 + 90)

    status, out, err = report(capsys, "--since", "1h", "--format", "json")
    assert status == 0, err
    found = rows(out)
    rule = next(r for (kind, _), r in found.items() if kind == "rule")
    assert (rule["touched"], rule["answered"], rule["abandoned"], rule["waiting"]) == (4, 4, 0, 0)
    assert 19 <= rule["answer_median_seconds"] <= 22 and 39 <= rule["answer_p90_seconds"] <= 42
    base = found[("baseline", rule["rule"])]
    assert (base["touched"], base["answered"], base["abandoned"]) == (4, 3, 1)
    assert 239 <= base["answer_median_seconds"] <= 242 and 89 <= base["abandon_median_seconds"] <= 92
    assert base["queues"] == [queue]

    status, table, err = report(capsys, "--since", "1h")
    assert status == 0 and f"rule {rule['rule']}" in table and "baseline: no rule, same queues" in table
    assert CANARY not in table + out + err and "pony" not in table + out + err
    assert CLIENT_SECRET not in table + out + err and not any(token in table + out for token in app.sim.tokens)
    assert not any(cid in table + out for cid in billing + other)


LADDER = """
skill_matrix:
  - id: complaint
    intent_keyword: complaint
    skills: [Billing]
    escalate:
      - after: 60
        routing_priority: 50
"""


def test_a_step_that_fires_after_most_callers_hung_up_and_callers_still_waiting(
    app: App, queue: str, decided_in_the_past: None, capsys: pytest.CaptureFixture[str]
):
    app.upload_matrix(LADDER)
    every = callers(app, queue, "a complaint", 10, waited=5)
    app.invoke()
    for cid in every[:7]:
        app.sim.abandon(cid, after=30)  # before the step (due at 60 s of waiting)
    later(-BACK + 70)
    assert app.invoke()["polls"][0]["escalation_steps"] == 3
    for cid in every[7:9]:
        app.sim.answer(cid, after=100)
    # every[9] is still waiting now, at the end of the period

    status, out, err = report(capsys, "--since", "1h", "--rule", "complaint", "--format", "json")
    assert status == 0, err
    found = rows(out)
    rule = found[("rule", "complaint")]
    assert (rule["touched"], rule["abandoned"], rule["answered"], rule["waiting"]) == (10, 7, 2, 1)
    step = found[("step", "complaint#1")]
    assert (step["touched"], step["answered"], step["waiting"], step["abandoned_before_step"]) == (3, 2, 1, 7)
    assert 64 <= step["step_fired_after_seconds"] <= 75
    assert ("baseline", "") not in found  # --rule: the baseline of the rule's queues only

    status, page, err = report(capsys, "--since", "1h", "--format", "html")
    assert status == 0 and page.startswith("<!doctype html>") and "<svg" in page and "step 1" in page
    assert "http://" not in page and "https://" not in page and "<script" not in page


def ledger_entries(app: App, count: int, queue: str, rule: str = "bulk", **fields: Any) -> list[str]:
    """`count` rule decisions written straight into the ledger (as the function writes them), each
    with a caller in the simulator that was answered 30 s after its decision."""
    store, now = app.store, time.time()
    client, ids, requests = app.client("dynamodb"), [], []
    for _ in range(count):
        cid = app.sim.add_conversation(queue_id=queue, attributes={"intent": "x"}, start=now - 300)
        leg = app.sim.acd_participant(cid)
        app.sim.answer(cid, after=290)
        item = store.ledger_key(cid, leg) | {
            "outcome": typed("applied"),
            "rule_id": typed(rule),
            "queue_id": typed(queue),
            "decided_at": typed(format_time(_utc(now - 40))),
            "updated_at": typed(format_time(_utc(now - 40))),
            **{name: typed(value) for name, value in fields.items()},
        }
        requests.append({"PutRequest": {"Item": item}})
        ids.append(cid)
    for i in range(0, len(requests), 25):
        client.batch_write_item(RequestItems={app.env["STATE_TABLE"]: requests[i : i + 25]})
    return ids


def _utc(epoch: float) -> Any:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(epoch, UTC)


def test_ids_go_in_batches_within_the_page_limit_and_a_lower_limit_is_split(
    app: App, queue: str, capsys: pytest.CaptureFixture[str]
):
    ledger_entries(app, 250, queue)
    app.sim.clear_log()
    status, out, err = report(capsys, "--since", "1h", "--format", "json")
    assert status == 0, err
    queries = [r for r in app.sim.requests if r.path == DETAILS]
    sizes = [len(r.body["conversationFilters"][0]["predicates"]) for r in queries]
    assert sizes == [100, 100, 50] and all(r.body["paging"]["pageSize"] == 100 for r in queries)
    assert rows(out)[("rule", "bulk")]["answered"] == 250
    assert "conversations read" in err  # the progress line, on stderr

    app.sim.details_max_conversation_ids = 30  # Genesys refuses more ids than this (400)
    app.sim.clear_log()
    status, out, err = report(capsys, "--since", "1h", "--format", "json")
    assert status == 0, err
    assert rows(out)[("rule", "bulk")]["answered"] == 250
    assert all(r.status in (200, 400) for r in app.sim.requests if r.path == DETAILS)


def test_a_conversation_genesys_has_no_details_for_yet_and_429s(
    app: App, queue: str, capsys: pytest.CaptureFixture[str]
):
    ids = ledger_entries(app, 5, queue)
    app.sim.vanish(ids[0])  # analytics has nothing on it (yet)
    app.sim.fail("POST", DETAILS, 429, count=2, retry_after=0.2)
    status, out, err = report(capsys, "--since", "1h", "--format", "json")
    assert status == 0, err
    document = json.loads(out)
    bulk = rows(out)[("rule", "bulk")]
    assert (bulk["touched"], bulk["answered"], bulk["no_details"]) == (5, 4, 1)
    assert document["genesys"]["without_details"] == 1
    assert app.sim.throttled == 0 and [r.status for r in app.sim.requests if r.path == DETAILS][:2] == [429, 429]

    app.sim.fail("POST", DETAILS, 503, count=None)
    status, out, err = report(capsys, "--since", "1h")
    assert status == 1 and out == "" and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_usage_mistakes_are_one_line(app: App, capsys: pytest.CaptureFixture[str]):
    for args, says in (
        (["--since", "yesterday"], "--since 'yesterday'"),
        (["--since", "1h", "--until", "2h"], "is not after --since"),
        (["--since", "1h", "--until", "soon"], "--until 'soon'"),
        (["--since", "1h", "--rule", "a\x1bb"], "--rule"),
    ):
        status, out, err = report(capsys, *args)
        assert out == ""
        assert status == 2 and says in err and len(err.strip().splitlines()) == 1, err
    status, _, err = report(capsys, "--since", "1h")
    assert status == 3 and "no decision recorded" in err


@pytest.mark.slow
def test_5000_conversations_stay_within_the_cli_rate_budget(app: App, queue: str, capsys: pytest.CaptureFixture[str]):
    app.set(GENESYS_REQUESTS_PER_MINUTE="300")
    app.sim.rate_limit_per_minute = 300  # Genesys' default per token
    ledger_entries(app, 5000, queue)
    app.sim.clear_log()
    began = time.monotonic()
    status, out, err = report(capsys, "--since", "1h", "--format", "json")
    took = time.monotonic() - began
    assert status == 0, err
    document = json.loads(out)
    assert rows(out)[("rule", "bulk")]["answered"] == 5000
    assert document["genesys"]["calls"] == 50 and app.sim.count("POST", DETAILS) == 50
    assert app.sim.throttled == 0
    print(f"\n5,000 conversations: {document['genesys']['calls']} Genesys calls, {took:.1f} s")  # docs/performance.md


def test_an_id_that_is_not_a_genesys_id_is_never_sent(app: App, queue: str, capsys: pytest.CaptureFixture[str]):
    ledger_entries(app, 1, queue)
    bad = app.store.ledger_key("not-a-uuid/../x", str(uuid.uuid4())) | {
        "outcome": typed("applied"),
        "rule_id": typed("bulk"),
        "decided_at": typed(format_time(_utc(time.time() - 10))),
        "updated_at": typed(format_time(_utc(time.time() - 10))),
    }
    app.client("dynamodb").put_item(TableName=app.env["STATE_TABLE"], Item=bad)
    app.sim.clear_log()
    status, _, err = report(capsys, "--since", "1h", "--format", "json")
    assert status == 0, err
    assert all("not-a-uuid" not in json.dumps(r.body) for r in app.sim.requests)


def test_skills_the_staffing_guard_withheld_or_relaxed_are_rows_of_their_own(
    app: App, queue: str, capsys: pytest.CaptureFixture[str]
):
    """Issue 20's ledger fields, written as the guard writes them (spec-20.md)."""
    skill = str(uuid.uuid4())
    ledger_entries(app, 3, queue, rule="vip", guard="staffed")
    ledger_entries(app, 2, queue, rule="vip", guard="withheld", skills_withheld=[skill], language_withheld="")
    relaxed_at = format_time(_utc(time.time() - 20))
    ledger_entries(app, 1, queue, rule="vip", guard="staffed", relaxed=[skill], relaxed_at=relaxed_at)
    status, out, err = report(capsys, "--since", "1h", "--format", "json")
    assert status == 0, err
    found = rows(out)
    assert found[("rule", "vip")]["touched"] == 6
    assert (found[("withheld", "vip")]["touched"], found[("withheld", "vip")]["answered"]) == (2, 2)
    relaxed = found[("relaxed", "vip")]
    assert relaxed["touched"] == 1 and 9 <= relaxed["answer_median_seconds"] <= 11  # from relaxed_at
    status, table, _ = report(capsys, "--since", "1h")
    assert "withheld: nobody staffed" in table and "relaxed: nobody staffed" in table


def test_what_analytics_has_not_caught_up_with_is_waiting_or_no_details(
    app: App, queue: str, capsys: pytest.CaptureFixture[str]
):
    """Analytics lags (the simulator's analytics_lag_seconds): a leg that ended within the lag
    still shows as waiting, a conversation that started within it has no details yet."""
    ledger_entries(app, 2, queue)  # answered 10 s ago
    app.sim.analytics_lag_seconds = 30
    fresh = app.sim.add_conversation(queue_id=queue, attributes={"intent": "x"})
    item = app.store.ledger_key(fresh, app.sim.acd_participant(fresh)) | {
        "outcome": typed("applied"),
        "rule_id": typed("bulk"),
        "decided_at": typed(format_time(_utc(time.time() - 1))),
    }
    app.client("dynamodb").put_item(TableName=app.env["STATE_TABLE"], Item=item | {"updated_at": item["decided_at"]})
    status, out, err = report(capsys, "--since", "1h", "--format", "json")
    assert status == 0, err
    bulk = rows(out)[("rule", "bulk")]
    assert (bulk["touched"], bulk["answered"], bulk["waiting"], bulk["no_details"]) == (3, 0, 2, 1)


def test_callers_the_staffing_guard_did_not_strand_are_counted_from_what_the_guard_recorded(
    app: App, queue: str, decided_in_the_past: None, capsys: pytest.CaptureFixture[str]
):
    """The real guard (issue 20) withholds the billing skill nobody on queue has; the report's
    withheld row counts those legs from the ledger fields the guard wrote."""
    app.set(STAFFING_GUARD="on")
    later(-BACK)
    staff(app, queue, skills=(TECH,))  # on queue, but without Billing
    stranded = callers(app, queue, "billing", 2, waited=30)
    assert app.invoke()["polls"][0]["skills_withheld"] == 2  # the rule stands, its skill withheld
    assert all((app.ledger(cid) or {}).get("skills_withheld") for cid in stranded)
    for cid in stranded:
        app.sim.answer(cid, after=45)
    status, out, err = report(capsys, "--since", "1h", "--format", "json")
    assert status == 0, err
    withheld = next(r for (kind, _), r in rows(out).items() if kind == "withheld")
    assert (withheld["touched"], withheld["answered"]) == (2, 2)
    assert 13 <= withheld["answer_median_seconds"] <= 17
