"""The simulator's queue members and skill expressions, read through the real SDK: the shapes the
staffing guard relies on (SDK models QueueMemberEntityListing, QueueMember, User, UserRoutingSkill,
RoutingStatus, ConversationRoutingData; RoutingApi.md get_routing_queue_members)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from skill_router.deadline import Deadline
from skill_router.genesys.client import GenesysClient
from skill_router.genesys.sdk import ApiException, sdk
from skill_router.genesys.token import Credentials, TokenProvider
from tests.simulator import GenesysSimulator

EXPAND = ["skills", "languages", "routingStatus"]


@pytest.fixture
def api() -> Iterator[tuple[GenesysSimulator, Any]]:
    with GenesysSimulator() as sim:
        sim.add_client("c", "s")
        tokens = TokenProvider(sim.base_url, lambda: Credentials("c", "s"), lambda: None, lambda _: None)
        client = GenesysClient(sim.base_url, tokens)
        client.begin(Deadline.fixed(60))
        client.api_client.access_token = tokens.token()
        yield sim, client


def test_members_are_paged_by_name_with_a_next_uri_and_no_total(api: tuple[GenesysSimulator, Any]):
    sim, client = api
    queue = sim.add_queue("Q")
    for i in range(130):
        sim.add_member(queue, name=f"Agent {i:03d}")
    first = client.routing_api.get_routing_queue_members(queue, page_size=100, page_number=1)
    second = client.routing_api.get_routing_queue_members(queue, page_size=100, page_number=2)
    assert isinstance(first, sdk.QueueMemberEntityListing)
    assert [m.name for m in first.entities][:2] == ["Agent 000", "Agent 001"] and len(first.entities) == 100
    assert first.next_uri and second.next_uri is None and len(second.entities) == 30
    assert not hasattr(first, "total") and not hasattr(first, "page_count")
    with pytest.raises(ApiException) as refused:
        client.routing_api.get_routing_queue_members(queue, page_size=101)
    assert refused.value.status == 400  # "Max value is 100"


def test_skills_languages_and_routing_status_only_when_expanded(api: tuple[GenesysSimulator, Any]):
    sim, client = api
    queue = sim.add_queue("Q")
    spanish = sim.add_skill("Spanish")
    french = sim.add_language("French")
    user = sim.add_member(queue, skills={spanish: 3}, languages=[french], status="INTERACTING")
    bare = client.routing_api.get_routing_queue_members(queue).entities[0]
    assert bare.id == user and bare.joined is True
    assert bare.user.skills is None and bare.user.languages is None and bare.user.routing_status is None
    full = client.routing_api.get_routing_queue_members(queue, expand=EXPAND).entities[0]
    assert [(s.id, s.proficiency) for s in full.user.skills] == [(spanish, 3.0)]
    assert [(x.id, x.proficiency) for x in full.user.languages] == [(french, 5.0)]
    assert full.user.routing_status.status == "INTERACTING"


def test_joined_filter_and_changes_while_a_caller_waits(api: tuple[GenesysSimulator, Any]):
    sim, client = api
    queue = sim.add_queue("Q")
    on = sim.add_member(queue)
    away = sim.add_member(queue, joined=False)
    ids = [m.id for m in client.routing_api.get_routing_queue_members(queue, joined=True).entities]
    assert ids == [on]
    sim.set_member(queue, away, joined=True, status="OFF_QUEUE")
    sim.set_all_members(queue, "OFF_QUEUE")
    listed = client.routing_api.get_routing_queue_members(queue, joined=True, expand=EXPAND).entities
    assert sorted(m.id for m in listed) == sorted([on, away])
    assert {m.user.routing_status.status for m in listed} == {"OFF_QUEUE"}
    assert sim.member_requests(queue) == 2


def test_a_denied_permission_is_a_403_naming_it(api: tuple[GenesysSimulator, Any]):
    sim, client = api
    queue = sim.add_queue("Q")
    sim.deny_queue_members()
    with pytest.raises(ApiException) as denied:
        client.routing_api.get_routing_queue_members(queue)
    assert denied.value.status == 403 and "routing:queue:view" in denied.value.body
    sim.allow_queue_members()
    assert client.routing_api.get_routing_queue_members(queue).entities == []


def test_a_skill_expression_is_read_back_and_kept_by_a_patch_without_one(api: tuple[GenesysSimulator, Any]):
    sim, client = api
    queue = sim.add_queue("Q")
    billing = sim.add_skill("Billing")
    conversation = sim.add_conversation(queue_id=queue)
    sim.set_skill_expression(conversation, 'Skill("iPhone") >= 5')
    routing = next(
        p for p in client.conversations_api.get_conversation(conversation).participants if p.purpose == "acd"
    ).conversation_routing_data
    assert routing.skill_expression == 'Skill("iPhone") >= 5' and routing.skill_expression_id
    body = sdk.RoutingConversationAttributesRequest()
    body.skill_ids = [billing]
    client.routing_api.patch_routing_conversation(conversation, body)
    assert sim.skill_expression(conversation) == 'Skill("iPhone") >= 5'
    assert sim.routing(conversation)[0] == [billing]
    cleared = sdk.RoutingConversationAttributesRequest()
    cleared.skill_expression = ""
    client.routing_api.patch_routing_conversation(conversation, cleared)
    assert sim.skill_expression(conversation) is None
