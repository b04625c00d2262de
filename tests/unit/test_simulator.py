"""The simulator speaks Genesys's JSON: every field it sends is one the real SDK's models know,
and its fault switches behave as the integration tests assume."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests

from skill_router.genesys.sdk import sdk
from tests.simulator import GenesysSimulator

LIST_TYPE = re.compile(r"list\[(.+)\]")
DICT_TYPE = re.compile(r"dict\(str, (.+)\)")


def unknown_fields(data: Any, type_name: str, path: str = "") -> list[str]:
    """Every key in `data` that the SDK model `type_name` (recursively) has no attribute for."""
    if (m := LIST_TYPE.fullmatch(type_name)) and isinstance(data, list):
        return [p for i, item in enumerate(data) for p in unknown_fields(item, m.group(1), f"{path}[{i}]")]
    if (m := DICT_TYPE.fullmatch(type_name)) and isinstance(data, dict):
        return [p for k, v in data.items() for p in unknown_fields(v, m.group(1), f"{path}.{k}")]
    model = getattr(sdk, type_name, None)
    if model is None or not isinstance(data, dict):
        return []  # a primitive (str, int, datetime, object)
    instance = model()
    by_json_name = {json_name: attr for attr, json_name in instance.attribute_map.items()}
    problems = []
    for key, value in data.items():
        if key not in by_json_name:
            problems.append(f"{path}.{key}")
        else:
            problems += unknown_fields(value, instance.swagger_types[by_json_name[key]], f"{path}.{key}")
    return problems


@pytest.fixture
def sim() -> Iterator[GenesysSimulator]:
    with GenesysSimulator() as simulator:
        simulator.add_client("c", "s")
        yield simulator


def token(sim: GenesysSimulator) -> dict[str, str]:
    answer = requests.post(
        f"{sim.base_url}/oauth/token", data={"grant_type": "client_credentials"}, auth=("c", "s"), timeout=5
    )
    answer.raise_for_status()
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


def query(sim: GenesysSimulator, headers: dict[str, str], page: int = 1, size: int = 100) -> requests.Response:
    now = datetime.now(UTC)
    interval = f"{(now - timedelta(hours=1)).isoformat()}/{(now + timedelta(minutes=1)).isoformat()}"
    body = {"interval": interval, "paging": {"pageSize": size, "pageNumber": page}, "order": "asc"}
    return requests.post(
        f"{sim.base_url}/api/v2/analytics/conversations/details/query", json=body, headers=headers, timeout=5
    )


def test_every_field_the_simulator_sends_is_a_field_of_the_sdk_models(sim: GenesysSimulator):
    skill = sim.add_skill("Billing")
    queue = sim.add_queue("General")
    conversation = sim.add_conversation(queue_id=queue, attributes={"intent": "billing"}, skills=[skill])
    sim.add_live_mix(5)  # IVR, outbound, internal, message, email
    english = sim.add_language("English")
    sim.add_user("Lead", "lead@example.com", user_id="u1")
    headers = token(sim)
    base = sim.base_url
    requests.patch(
        f"{base}/api/v2/routing/conversations/{conversation}", json={"languageId": english}, headers=headers, timeout=5
    ).raise_for_status()
    answers = {
        "AnalyticsConversationQueryResponse": query(sim, headers).json(),
        "Conversation": requests.get(f"{base}/api/v2/conversations/{conversation}", headers=headers, timeout=5).json(),
        "RoutingConversationAttributesResponse": requests.patch(
            f"{base}/api/v2/routing/conversations/{conversation}",
            json={"skillIds": [skill]},
            headers=headers,
            timeout=5,
        ).json(),
        "SkillEntityListing": requests.get(f"{base}/api/v2/routing/skills", headers=headers, timeout=5).json(),
        "User": requests.get(f"{base}/api/v2/users/u1", headers=headers, timeout=5).json(),
    }
    for model, answer in answers.items():
        assert unknown_fields(answer, model) == [], model
    assert answers["Conversation"]["participants"][1]["conversationRoutingData"]["skills"] == [
        {"id": skill, "selfUri": f"/api/v2/routing/skills/{skill}"}
    ]


def test_analytics_pages_are_ordered_and_an_empty_page_has_no_list(sim: GenesysSimulator):
    queue = sim.add_queue("General")
    now = datetime.now(UTC)
    ids = [sim.add_conversation(queue_id=queue, start=now - timedelta(minutes=10 - i)) for i in range(3)]
    headers = token(sim)
    first, second, third = (query(sim, headers, page=n, size=2).json() for n in (1, 2, 3))
    assert [c["conversationId"] for c in first["conversations"] + second["conversations"]] == ids
    assert first["totalHits"] == 3 and third == {"totalHits": 3}


def test_patch_replaces_the_requested_skills_and_rejects_an_unknown_one(sim: GenesysSimulator):
    a, b = sim.add_skill("A"), sim.add_skill("B")
    conversation = sim.add_conversation(queue_id=sim.add_queue("Q"), skills=[a])
    url = f"{sim.base_url}/api/v2/routing/conversations/{conversation}"
    headers = token(sim)
    assert requests.patch(url, json={"skillIds": [b], "priority": 5}, headers=headers, timeout=5).ok
    assert sim.routing(conversation) == ([b], 5)
    refused = requests.patch(url, json={"skillIds": ["nope"]}, headers=headers, timeout=5)
    assert refused.status_code == 400 and "nope" in refused.json()["message"]
    sim.answer(conversation)
    assert requests.patch(url, json={"skillIds": [a]}, headers=headers, timeout=5).status_code == 404


def test_faults_are_served_count_times_then_the_real_answer(sim: GenesysSimulator):
    conversation = sim.add_conversation()
    url = f"{sim.base_url}/api/v2/conversations/{conversation}"
    headers = token(sim)
    sim.fail("GET", "/api/v2/conversations/", 429, count=2, retry_after=3)
    statuses = [requests.get(url, headers=headers, timeout=5) for _ in range(3)]
    assert [r.status_code for r in statuses] == [429, 429, 200]
    assert statuses[0].headers["Retry-After"] == "3" and statuses[0].json()["status"] == 429
    assert sim.count("GET", "/api/v2/conversations/") == 3


def test_a_revoked_token_gets_401_and_a_new_login_works(sim: GenesysSimulator):
    conversation = sim.add_conversation()
    url = f"{sim.base_url}/api/v2/conversations/{conversation}"
    headers = token(sim)
    sim.revoke_tokens()
    assert requests.get(url, headers=headers, timeout=5).status_code == 401
    assert requests.get(url, headers=token(sim), timeout=5).status_code == 200
    assert sim.tokens_issued == 2


def test_the_rate_limit_answers_429_with_retry_after_past_the_budget(sim: GenesysSimulator):
    now = [1_000_000.0]
    sim.clock = lambda: now[0]
    sim.rate_limit_per_minute = 3
    conversation = sim.add_conversation()
    url = f"{sim.base_url}/api/v2/conversations/{conversation}"
    headers = token(sim)
    answers = [requests.get(url, headers=headers, timeout=5) for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert answers[0].headers["inin-ratelimit-allowed"] == "3" and answers[3].headers["Retry-After"] == "60"
    now[0] += 60.0
    assert requests.get(url, headers=headers, timeout=5).status_code == 200


# --- behaviours of the real analytics query and PATCH (issue 11) -----------------------------

WAITING_FILTERS = {
    "conversationFilters": [{"type": "and", "predicates": [{"dimension": "conversationEnd", "operator": "notExists"}]}],
    "segmentFilters": [
        {
            "type": "and",
            "predicates": [
                {"dimension": "purpose", "value": "acd"},
                {"dimension": "segmentType", "value": "interact"},
                {"dimension": "segmentEnd", "operator": "notExists"},
            ],
        }
    ],
}


def ask(sim: GenesysSimulator, headers: dict[str, str], start: datetime, end: datetime, **extra: Any) -> Any:
    body = {
        "interval": f"{start.isoformat()}/{end.isoformat()}",
        "paging": {"pageSize": extra.pop("size", 100), "pageNumber": extra.pop("page", 1)},
        "order": "asc",
        "orderBy": "conversationStart",
        **extra,
    }
    return requests.post(
        f"{sim.base_url}/api/v2/analytics/conversations/details/query", json=body, headers=headers, timeout=5
    )


def ids(answer: Any) -> set[str]:
    return {c["conversationId"] for c in answer.json().get("conversations", [])}


def test_the_interval_matches_every_conversation_that_started_on_a_day_it_touches(sim: GenesysSimulator):
    headers = token(sim)
    queue = sim.add_queue("Q")
    day = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    early = sim.add_conversation(queue_id=queue, start=day + timedelta(minutes=5))
    yesterday = sim.add_conversation(queue_id=queue, start=day - timedelta(minutes=5))
    window = ask(sim, headers, day + timedelta(minutes=30), day + timedelta(minutes=31))
    assert early in ids(window) and yesterday not in ids(window)
    spanning = ask(sim, headers, day - timedelta(seconds=1), day + timedelta(seconds=1))
    assert {early, yesterday} <= ids(spanning)


def test_the_interval_is_limited_to_7_days_without_a_filter_and_31_with_one(sim: GenesysSimulator):
    headers = token(sim)
    now = datetime.now(UTC)
    assert ask(sim, headers, now - timedelta(days=8), now).status_code == 400
    assert ask(sim, headers, now - timedelta(days=8), now, **WAITING_FILTERS).status_code == 200
    assert ask(sim, headers, now - timedelta(days=32), now, **WAITING_FILTERS).status_code == 400


def test_segment_filters_return_only_conversations_waiting_in_a_queue(sim: GenesysSimulator):
    headers = token(sim)
    queue, other = sim.add_queue("Q"), sim.add_queue("R")
    now = datetime.now(UTC)
    waiting = sim.add_conversation(queue_id=queue, media_type="callback")
    answered = sim.add_conversation(queue_id=queue)
    sim.answer(answered)
    ended = sim.add_conversation(queue_id=queue)
    sim.end_conversation(ended)
    moved = sim.add_conversation(queue_id=queue)
    sim.transfer(moved, other)
    mix = sim.add_live_mix(10)
    everything = ask(sim, headers, now - timedelta(minutes=1), now + timedelta(minutes=1))
    assert {waiting, answered, ended, moved, *mix} <= ids(everything)
    filtered = ask(sim, headers, now - timedelta(minutes=1), now + timedelta(minutes=1), **WAITING_FILTERS)
    assert ids(filtered) == {waiting, moved}
    in_other = {
        "segmentFilters": [
            {"type": "and", "predicates": [{"dimension": "queueId", "value": other}]},
            {"type": "or", "predicates": [{"dimension": "mediaType", "value": "voice"}]},
        ]
    }
    assert ids(ask(sim, headers, now - timedelta(minutes=1), now + timedelta(minutes=1), **in_other)) == {moved}


def test_a_transfer_keeps_both_acd_legs_in_analytics_with_their_own_queue_entry_times(sim: GenesysSimulator):
    headers = token(sim)
    first, second = sim.add_queue("Q"), sim.add_queue("R")
    now = datetime.now(UTC)
    cid = sim.add_conversation(
        queue_id=first, skills=(), start=now - timedelta(minutes=9), queued_at=now - timedelta(minutes=8)
    )
    sim.transfer(cid, second)
    (view,) = ask(sim, headers, now - timedelta(hours=1), now + timedelta(minutes=1)).json()["conversations"]
    legs = [p for p in view["participants"] if p["purpose"] == "acd"]
    assert len(legs) == 2 and legs[0]["participantId"] != legs[1]["participantId"]
    one, two = (leg["sessions"][0]["segments"][0] for leg in legs)
    assert one["queueId"] == first and "segmentEnd" in one
    assert two["queueId"] == second and "segmentEnd" not in two
    assert one["segmentStart"] < two["segmentStart"]


def test_total_hits_is_approximate_and_pages_shift_when_callers_leave(sim: GenesysSimulator):
    headers = token(sim)
    queue = sim.add_queue("Q")
    now = datetime.now(UTC)
    callers = [sim.add_conversation(queue_id=queue, start=now - timedelta(seconds=300 - i)) for i in range(6)]
    sim.total_hits_error = -0.5
    first = ask(sim, headers, now - timedelta(hours=1), now, size=2, **WAITING_FILTERS)
    assert first.json()["totalHits"] == 3
    # Callers answered between two page requests (a test does this with sim.hook(...)).
    for cid in callers[:2]:
        sim.answer(cid)
    second = ask(sim, headers, now - timedelta(hours=1), now, size=2, page=2, **WAITING_FILTERS)
    assert ids(second) == set(callers[4:6]), "the page shifted: callers 2 and 3 slipped past page 2"


def test_patch_fields_replace_clear_or_leave_alone(sim: GenesysSimulator):
    headers = token(sim)
    queue = sim.add_queue("Q")
    a, b = sim.add_skill("A"), sim.add_skill("B")
    english = sim.add_language("English")
    cid = sim.add_conversation(queue_id=queue, skills=(a,))
    url = f"{sim.base_url}/api/v2/routing/conversations/{cid}"
    assert requests.patch(url, json={"priority": 5}, headers=headers, timeout=5).ok
    assert sim.routing(cid) == ([a], 5), "an absent skillIds leaves the skills as they are"
    assert requests.patch(url, json={"skillIds": [b], "languageId": english}, headers=headers, timeout=5).ok
    assert sim.routing(cid) == ([b], 5) and sim.language(cid) == english
    assert requests.patch(url, json={"skillIds": [], "languageId": ""}, headers=headers, timeout=5).ok
    assert sim.routing(cid) == ([], 5) and sim.language(cid) is None
    sim.answer(cid)
    sim.gone_patch_status = 409
    assert requests.patch(url, json={"priority": 6}, headers=headers, timeout=5).status_code == 409


def test_a_corrupt_conversation_start_is_reported_as_given(sim: GenesysSimulator):
    headers = token(sim)
    queue = sim.add_queue("Q")
    now = datetime.now(UTC)
    sim.add_conversation(queue_id=queue, reported_start=datetime(2999, 1, 1, tzinfo=UTC))
    (view,) = ask(sim, headers, now - timedelta(hours=1), now + timedelta(minutes=1)).json()["conversations"]
    assert view["conversationStart"].startswith("2999-01-01")


def order(answer: Any) -> list[str]:
    return [c["conversationId"] for c in answer.json().get("conversations", [])]


def test_pages_come_newest_first_on_order_desc_and_by_conversation_id(sim: GenesysSimulator):
    headers = token(sim)
    queue = sim.add_queue("Q")
    now = datetime.now(UTC)
    callers = [sim.add_conversation(queue_id=queue, start=now - timedelta(seconds=300 - i)) for i in range(5)]
    newest = ask(sim, headers, now - timedelta(hours=1), now, size=2, order="desc", **WAITING_FILTERS)
    assert order(newest) == [callers[4], callers[3]]
    wanted = {"type": "or", "predicates": [{"dimension": "conversationId", "value": c} for c in callers[1:3]]}
    filters = {**WAITING_FILTERS, "conversationFilters": [*WAITING_FILTERS["conversationFilters"], wanted]}
    assert ids(ask(sim, headers, now - timedelta(hours=1), now, **filters)) == set(callers[1:3])


def test_pages_before_the_last_can_come_back_short(sim: GenesysSimulator):
    """duplicate_rows_every: a page counts a duplicate row and sends it once, so it is short."""
    headers = token(sim)
    queue = sim.add_queue("Q")
    now = datetime.now(UTC)
    callers = [sim.add_conversation(queue_id=queue, start=now - timedelta(seconds=300 - i)) for i in range(10)]
    sim.duplicate_rows_every = 3
    pages = [
        order(ask(sim, headers, now - timedelta(hours=1), now, size=4, page=n, **WAITING_FILTERS))
        for n in (1, 2, 3, 4, 5)
    ]
    assert [len(p) for p in pages] == [3, 3, 3, 1, 0]  # short before the last: nobody lost, nobody twice
    assert [c for p in pages for c in p] == callers


def test_analytics_shows_the_conversations_as_they_were_lag_seconds_ago(sim: GenesysSimulator):
    headers = token(sim)
    queue = sim.add_queue("Q")
    now = datetime.now(UTC)
    sim.analytics_lag_seconds = 30.0
    settled = sim.add_conversation(queue_id=queue, start=now - timedelta(minutes=10))
    just_queued = sim.add_conversation(
        queue_id=queue, start=now - timedelta(minutes=10), queued_at=now - timedelta(seconds=5)
    )
    just_left = sim.add_conversation(queue_id=queue, start=now - timedelta(minutes=10))
    sim.answer(just_left)
    assert ids(ask(sim, headers, now - timedelta(hours=1), now, **WAITING_FILTERS)) == {settled, just_left}
    sim.analytics_lag_seconds = 0.0
    assert ids(ask(sim, headers, now - timedelta(hours=1), now, **WAITING_FILTERS)) == {settled, just_queued}
