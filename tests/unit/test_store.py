from datetime import UTC, datetime, timedelta

import boto3
import pytest
from moto import mock_aws

from skill_router.store import SKEW_MARGIN_SECONDS, StateStore, emails_owed
from tests.unit.memory_store import MemoryStore

TABLE = "state"


class Clock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture(params=["dynamodb", "memory"])
def store(request, clock):
    """The contract holds for the DynamoDB store (moto) and the decision tests' in-memory one."""
    if request.param == "memory":
        yield MemoryStore(clock)
        return
    with mock_aws():
        client = boto3.client("dynamodb")
        client.create_table(
            TableName=TABLE,
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        # The hand-moved clock is the time here (the server-time offset is tested in tests/attack).
        yield StateStore(TABLE, client=client, clock=clock, server_time=False)


def test_only_one_invocation_holds_the_lease(store):
    assert store.acquire_lease("run-a", 120) is not None
    assert store.acquire_lease("run-b", 120) is None


def test_an_expired_lease_is_taken_over(store, clock):
    store.acquire_lease("crashed-run", 120)
    clock.now += 120 + 1 + SKEW_MARGIN_SECONDS + 1
    assert store.acquire_lease("next-run", 120) is not None


def test_a_released_lease_is_free_for_the_next_minute(store):
    store.acquire_lease("run-a", 120)
    store.release_lease("run-a")
    assert store.acquire_lease("run-b", 120) is not None


def test_watermark_moves_only_under_the_lease_and_the_holder_may_move_it_back(store, clock):
    moment = datetime(2027, 1, 15, 10, 0, tzinfo=UTC)
    store.acquire_lease("run-a", 120)
    # A run whose clock was fast wrote a time ahead of now: a later holder must be able to fix it.
    assert store.advance_watermark("run-a", moment + timedelta(hours=2))
    assert store.advance_watermark("run-a", moment)
    assert not store.advance_watermark("intruder", moment + timedelta(minutes=1))
    clock.now += 200
    lease = store.acquire_lease("run-b", 120)
    assert lease is not None and lease.window_end == moment


def test_ledger_reads_many_conversations_in_batches(store):
    for i in range(250):
        store.record(f"c{i}", "applied", rule_id="1-billing", skills_written=["s1", "s2"])
    entries = store.ledger([(f"c{i}", None) for i in range(260)])
    assert len(entries) == 250
    assert entries[("c7", None)]["outcome"] == "applied" and entries[("c7", None)]["skills_written"] == ["s1", "s2"]
    assert entries[("c7", None)]["expires_at"] > 1_800_000_000


def test_attempts_are_counted(store):
    store.record("c1", "retry", count_attempt=True, reason="503")
    store.record("c1", "retry", count_attempt=True, reason="503")
    assert store.entry("c1")["attempts"] == 2


def test_an_email_is_claimed_once_and_the_leg_owes_it_until_it_is_settled(store):
    store.record("c1", "applied", rule_id="r1", emails_owed={"r1"})
    assert emails_owed(store.entry("c1")) == ["r1"]
    assert store.claim_email("c1", "r1", "run-a", 300)
    assert not store.claim_email("c1", "r1", "run-b", 300)
    stamp = store.mark_email_sent("c1", "r1")
    assert not store.claim_email("c1", "r1", "run-c", 300)
    store.settle_email("c1", None, "r1", stamp)
    entry = store.entry("c1")
    assert entry["notified_at"] == stamp and emails_owed(entry) == []


def test_an_entry_of_the_previous_release_still_owes_its_rule_email(store):
    store.record("c1", "applied", rule_id="r1", notify_pending=True)
    assert emails_owed(store.entry("c1")) == ["r1"]
    store.settle_email("c1", None, "r1")
    assert emails_owed(store.entry("c1")) == []


def test_a_claim_abandoned_by_a_crashed_run_expires(store, clock):
    assert store.claim_email("c1", "r1", "crashed", 300)
    clock.now += 300 + SKEW_MARGIN_SECONDS + 1
    assert store.claim_email("c1", "r1", "next", 300)


def test_a_claim_written_by_the_previous_release_is_honoured_until_it_lapses(store, clock):
    if isinstance(store, MemoryStore):
        store.items["email#c1#rule#r1"] = {"pk": "email#c1#rule#r1", "notify_claim_expires": int(clock.now) + 60}
    else:
        store.client.update_item(
            TableName=TABLE,
            Key={"pk": {"S": "email#c1#rule#r1"}},
            UpdateExpression="SET notify_claim_expires = :e",
            ExpressionAttributeValues={":e": {"N": str(int(clock.now) + 60)}},
        )
    assert not store.claim_email("c1", "r1", "new-release", 300)
    clock.now += 60 + SKEW_MARGIN_SECONDS + 1
    assert store.claim_email("c1", "r1", "new-release", 300)


def test_each_queue_leg_has_its_own_entry_and_the_email_is_one_per_conversation_and_rule(store):
    store.record("c1", "applied", leg="p1", rule_id="r1", emails_owed={"r1"})
    store.record("c1", "applied", leg="p2", rule_id="r1", emails_owed={"r1"})
    assert store.entry("c1", "p1")["outcome"] == store.entry("c1", "p2")["outcome"] == "applied"
    assert store.entry("c1") is None
    assert [e["leg"] for e in store.entries_for("c1")] == ["p1", "p2"]
    assert store.claim_email("c1", "r1", "run-a", 300)
    store.settle_email("c1", "p1", "r1", store.mark_email_sent("c1", "r1"))
    assert not store.claim_email("c1", "r1", "run-b", 300), "a second leg does not email again"
    assert store.claim_email("c1", "r2", "run-b", 300), "another rule is another email"
    assert emails_owed(store.entry("c1", "p1")) == [] and emails_owed(store.entry("c1", "p2")) == ["r1"]


def test_steps_are_claimed_up_to_a_rising_mark(store, clock):
    store.record("c1", "applied", leg="p1", rule_id="r1")
    assert store.claim_steps("c1", "p1", 60, "run-a", 30)
    assert not store.claim_steps("c1", "p1", 60, "run-b", 30), "held by run A"
    assert store.claim_steps("c1", "p1", 300, "run-b", 30), "a later step: the mark rises"
    store.record_steps("c1", "p1", [{"step": 2, "after": 300}], owed=["r1@300s"], steps_applied=[60, 300])
    clock.now += 60
    assert not store.claim_steps("c1", "p1", 300, "run-c", 30), "applied: never claimed again"
    assert emails_owed(store.entry("c1", "p1")) == ["r1@300s"]


def test_dry_run_state_never_touches_the_real_ledger(store):
    if isinstance(store, MemoryStore):
        pytest.skip("the DynamoDB store's key prefix")
    dry = StateStore(TABLE, client=store.client, dry_run=True)
    dry.record("c1", "applied")
    assert store.entry("c1") is None and dry.entry("c1") is not None


def test_the_last_watermark_write_also_frees_the_lease(store, clock):
    moment = datetime(2027, 1, 15, 10, 0, tzinfo=UTC)
    store.acquire_lease("run-a", 120)
    assert store.advance_watermark("run-a", moment, release=True)
    lease = store.acquire_lease("run-b", 120)
    assert lease is not None and lease.window_end == moment


def test_a_final_outcome_is_never_rewritten(store):
    assert store.record("c1", "retry", leg="p1", count_attempt=True)
    assert store.record("c1", "applied", leg="p1", rule_id="r1")
    assert not store.record("c1", "gone", leg="p1"), "a slow handler's late verdict is dropped"
    assert not store.record("c1", "retry", leg="p1"), "so is a late note"
    assert store.entry("c1", "p1")["outcome"] == "applied"


def test_a_caller_is_claimed_by_one_handler_until_it_is_released_or_lapses(store, clock):
    assert store.claim_caller("c1", "event", 30)
    assert not store.claim_caller("c1", "poller", 30)
    assert store.claim_caller("c1", "event", 30), "the holder may renew it"
    store.release_caller("c1", "poller")  # not the holder: nothing happens
    assert not store.claim_caller("c1", "poller", 30)
    store.release_caller("c1", "event")
    assert store.claim_caller("c1", "poller", 30)
    clock.now += 30 + 1 + SKEW_MARGIN_SECONDS + 1
    assert store.claim_caller("c1", "event", 30)


def test_an_expiry_no_invocation_can_reach_is_obeyed_by_nobody(store, clock):
    assert store.claim_caller("c1", "fast-clock", 3600)  # no invocation lasts an hour: absurd
    assert store.claim_caller("c1", "next", 30)


def test_a_lapsed_step_claim_is_taken_again_at_the_same_mark(store, clock):
    store.record("c1", "applied", leg="p1", rule_id="r1")
    assert store.claim_steps("c1", "p1", 60, "died", 30)
    clock.now += 30 + SKEW_MARGIN_SECONDS + 1
    assert store.claim_steps("c1", "p1", 60, "next", 30)


def test_an_email_mark_keeps_who_it_went_to_and_the_first_leg_that_sent_it(store):
    """For the audit trail: `sent_to` grows with each recipient marked, `leg` is the first sender's."""
    store.mark_email_sent("c1", "r1@60s", recipient="a@example.com", to=["a@example.com"], leg="p1")
    store.mark_email_sent("c1", "r1@60s", recipient="b@example.com", to=["b@example.com"], leg="p2")
    store.mark_email_sent("c1", "r1@60s", leg="p2")  # every recipient is out
    item = store.email("c1", "r1@60s")
    assert item["sent_to"] == ["a@example.com", "b@example.com"] and item["leg"] == "p1" and item["notified_at"]
    store.mark_email_sent("c1", "r1")  # as before: no recipients, no leg
    assert "sent_to" not in store.email("c1", "r1") and "leg" not in store.email("c1", "r1")


def test_an_email_to_one_recipient_is_claimed_and_marked_apart_from_the_others(store):
    assert store.claim_email("c1", "r1", "run-a", 300, recipient="a@example.com")
    assert store.claim_email("c1", "r1", "run-a", 300, recipient="b@example.com")
    store.mark_email_sent("c1", "r1", recipient="a@example.com")
    store.release_email("c1", "r1", "run-a", recipient="b@example.com")  # b's send failed
    assert not store.claim_email("c1", "r1", "run-b", 300, recipient="a@example.com"), "a is out"
    assert store.claim_email("c1", "r1", "run-b", 300, recipient="b@example.com"), "b is tried again at once"


def test_the_sweeps_place_is_written_under_the_lease_and_read_back_with_it(store):
    """Discovery's place in its sweep (issue 19): the next lease holder, in any container, gets it."""
    store.acquire_lease("run-a", 60)
    assert store.record_sweep("run-a", '{"next_page": 7}')
    assert not store.record_sweep("run-b", '{"next_page": 1}'), "only the lease holder writes it"
    store.release_lease("run-a")
    lease = store.acquire_lease("run-b", 60)
    assert lease is not None and lease.sweep == '{"next_page": 7}'
