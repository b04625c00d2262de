"""The decision table of one caller leg, through the in-memory store (no moto, no HTTP): first
sight, late intent, transfer, due steps, claims held elsewhere, final outcomes never rewritten,
emails sent once. The same code paths as the poller and event mode (first_sight, ladder, leg,
emails, events); the effects' real-process tests are in tests/integration and tests/attack."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from skill_router.events import ACD_START, ATTRIBUTES, ConversationEvent, handle_event
from skill_router.first_sight import BUSY, WAITING_FOR_INTENT, process_conversation
from skill_router.genesys.client import Discovered, LiveConversation
from skill_router.genesys.errors import GenesysError
from skill_router.leg import Adapters, Outcome
from skill_router.matrix import Matrix, parse_matrix, resolve_matrix
from skill_router.settings import load_settings
from skill_router.store import emails_owed
from tests.unit.memory_store import MemoryStore

BILLING = "5b1c2f7e-0000-4000-8000-000000000001"
TECH = "5b1c2f7e-0000-4000-8000-000000000002"
FLOW_SKILL = "5b1c2f7e-0000-4000-8000-000000000003"
ENGLISH = "5b1c2f7e-0000-4000-8000-0000000000e1"
QUEUE = "7a000000-0000-4000-8000-000000000001"
OTHER_QUEUE = "7a000000-0000-4000-8000-000000000002"
CALLER = "c0000000-0000-4000-8000-000000000001"
LEG = "a0000000-0000-4000-8000-000000000001"
LEG_2 = "a0000000-0000-4000-8000-000000000002"
T0 = datetime(2027, 1, 15, 10, 0, tzinfo=UTC)

SIMPLE = f"""
skill_matrix:
  - id: billing
    intent_keyword: billing
    skill_id: {BILLING}
    priority: high
    supervisor_email: lead@example.com
  - id: tech
    intent_keyword: technical
    skill_id: {TECH}
"""
LADDER = f"""
skill_matrix:
  - id: billing
    intent_keyword: billing
    skills: [{BILLING}]
    language: {ENGLISH}
    routing_priority: 10
    escalate:
      - after: 60
        add_skills: [{TECH}]
        remove_skills: [{BILLING}]
      - after: 5m
        routing_priority: 50
        language: none
        notify: [boss@example.com]
"""
ENV = {
    "GENESYS_CREDENTIALS_SECRET": "c",
    "GENESYS_TOKEN_SECRET": "t",
    "STATE_TABLE": "s",
    "SKILL_MATRIX_BUCKET": "b",
    "NOTIFY_FROM": "skill-router@example.com",
}


class Clock:
    def __init__(self) -> None:
        self.now = T0.timestamp()

    def __call__(self) -> float:
        return self.now


class Deadline:
    def until_timeout(self) -> float:
        return 30.0


@dataclass
class Caller:
    attributes: dict[str, str]
    queue_id: str | None = QUEUE
    participant_id: str | None = LEG
    skills: list[str] = field(default_factory=list)
    priority: int | None = 0
    language: str | None = None
    entered: datetime = T0


class FakeGenesys:
    """The two calls on a caller's path, with the Genesys semantics that matter: skillIds
    replaces, an absent field is left as it is, a gone caller answers None."""

    def __init__(self) -> None:
        self.callers: dict[str, Caller] = {}
        self.deadline = Deadline()
        self.gets: list[str] = []
        self.patches: list[dict[str, Any]] = []
        self.faults: list[GenesysError] = []

    def get_conversation(self, cid: str) -> LiveConversation | None:
        self.gets.append(cid)
        if self.faults:
            raise self.faults.pop(0)
        c = self.callers.get(cid)
        if c is None:
            return None
        return LiveConversation(
            cid, c.attributes, c.queue_id, c.queue_id is None, tuple(c.skills), c.priority, c.participant_id, c.language
        )

    def patch_routing(self, cid: str, skill_ids: Any, priority: Any, language_id: Any = None) -> bool:
        body = {
            k: v
            for k, v in (("skillIds", skill_ids), ("priority", priority), ("languageId", language_id))
            if v is not None
        }
        self.patches.append(body)
        c = self.callers[cid]
        c.skills = list(skill_ids) if skill_ids is not None else c.skills
        c.priority = priority if priority is not None else c.priority
        c.language = (language_id or None) if language_id is not None else c.language
        return True


class Notifier:
    enabled = True
    one_recipient_per_send = False

    def __init__(self) -> None:
        self.sent: list[tuple[list[str], str]] = []
        self.refuse = 0

    def send(self, recipients: list[str], subject: str, text: str) -> None:
        if self.refuse:
            self.refuse -= 1
            raise RuntimeError("SES: Throttling")
        self.sent.append((recipients, subject))


@dataclass
class World:
    clock: Clock
    store: MemoryStore
    genesys: FakeGenesys
    notifier: Notifier
    adapters: Adapters
    matrix: Matrix

    def caller(self, intent: str | None, waited: float = 5, **fields: Any) -> Caller:
        entered = datetime.fromtimestamp(self.clock.now, UTC) - timedelta(seconds=waited)
        caller = Caller({"intent": intent} if intent else {}, entered=entered, **fields)
        self.genesys.callers[CALLER] = caller
        return caller

    def found(self, caller: Caller) -> Discovered:
        return Discovered(
            CALLER,
            caller.entered,
            False,
            caller.queue_id,
            caller.queue_id is None,
            tuple(caller.skills),
            caller.participant_id,
            caller.entered,
        )

    def poll(self, later: float = 0) -> Outcome:
        """What one poll does for the caller: read the leg's ledger entry, decide, act."""
        self.clock.now += later
        found = self.found(self.genesys.callers[CALLER])
        prior = self.store.entry(CALLER, found.leg)
        now = datetime.fromtimestamp(self.clock.now, UTC)
        return process_conversation(found, prior, self.matrix, self.adapters, now, run_ladder=True)

    def entry(self, leg: str = LEG) -> dict[str, Any]:
        return self.store.entry(CALLER, leg) or {}

    def emails(self, word: str = "") -> list[str]:
        return [subject for _, subject in self.notifier.sent if word in subject]


def world(matrix: str = SIMPLE, **env: str) -> World:
    clock = Clock()
    store = MemoryStore(clock)
    genesys, notifier = FakeGenesys(), Notifier()
    settings = load_settings({**ENV, **env})
    adapters = Adapters(genesys=genesys, store=store, notifier=notifier, settings=settings)  # type: ignore[arg-type]
    return World(clock, store, genesys, notifier, adapters, parse_matrix(matrix, "m.yaml"))


# --- first sight -----------------------------------------------------------------------------------


def test_first_sight_merges_the_rules_skills_patches_once_records_and_emails_once():
    w = world()
    w.caller("billing", skills=[FLOW_SKILL])
    outcome = w.poll()
    assert (outcome.outcome, outcome.notified, outcome.final) == ("applied", True, True)
    assert w.genesys.patches == [{"skillIds": [FLOW_SKILL, BILLING]}], "merged with the flow's skill, not replaced"
    entry = w.entry()
    assert entry["rule_id"] == "billing" and entry["skills_after"] == [FLOW_SKILL, BILLING]
    assert entry["notified_at"] and emails_owed(entry) == []
    # Seen again: finished, no Genesys call, no second email.
    gets = len(w.genesys.gets)
    assert w.poll(10).outcome == "done"
    assert len(w.genesys.gets) == gets and len(w.genesys.patches) == 1 and len(w.emails()) == 1


def test_first_sight_of_a_caller_who_already_has_what_the_rule_says_changes_nothing():
    only_tech = f"skill_matrix:\n  - intent_keyword: technical\n    skill_id: {TECH}\n"
    w = world(only_tech)
    w.caller("technical", skills=[TECH])
    assert w.poll().outcome == "no_rule", "discovery's skills say no rule can change it: no GET"
    assert w.genesys.gets == []
    w2 = world(only_tech + "    routing_priority: 5\n")
    w2.caller("technical", skills=[TECH], priority=9)
    assert w2.poll().outcome == "unchanged", "the priority is only ever raised"
    assert w2.genesys.patches == []


def test_a_caller_first_seen_with_steps_due_gets_the_rule_and_every_due_step_in_one_patch():
    w = world(LADDER)
    w.caller("billing", waited=360)
    outcome = w.poll()
    assert (outcome.outcome, outcome.steps) == ("applied", 2)
    assert w.genesys.patches == [{"skillIds": [TECH], "priority": 50}]
    entry = w.entry()
    assert entry["steps_applied"] == [60, 300] and [s["after"] for s in entry["step_log"]] == [60, 300]
    assert len(w.emails("escalated")) == 1


def test_no_match_no_intent_and_too_old_are_final_verdicts():
    w = world()
    w.caller("weather")
    assert w.poll().outcome == "no_match"
    w = world(MAX_PENDING_AGE_SECONDS="600")
    w.caller(None, waited=700)
    assert w.poll().outcome == "no_intent"
    assert w.genesys.patches == []


def test_a_caller_gone_before_the_get_or_refused_by_the_patch_is_recorded_gone():
    w = world()
    caller = w.caller("billing")
    found = w.found(caller)
    del w.genesys.callers[CALLER]
    now = datetime.fromtimestamp(w.clock.now, UTC)
    assert process_conversation(found, None, w.matrix, w.adapters, now).outcome == "gone"
    w = world()
    w.caller("billing")
    w.genesys.patch_routing = _refuse_and_leave(w)  # type: ignore[method-assign]
    assert w.poll().outcome == "gone" and w.emails() == []


def _refuse_and_leave(w: World) -> Any:
    def patch(*_: Any, **__: Any) -> bool:
        w.genesys.callers[CALLER].queue_id = None  # answered while the PATCH was on its way
        raise GenesysError("patch_routing", 409, "conflict")

    return patch


def test_a_dry_run_decides_and_records_but_patches_and_sends_nothing():
    w = world(DRY_RUN="true")
    w.adapters.notifier.enabled = False  # type: ignore[misc]  # the runtime gives a dry run no notifier
    w.caller("billing")
    assert w.poll().outcome == "applied"
    assert w.genesys.patches == [] and w.emails() == [] and w.entry()["dry_run"] is True


# --- late intent -----------------------------------------------------------------------------------


def test_a_caller_without_an_intent_is_read_again_on_its_schedule_and_served_once_it_has_one():
    w = world()
    caller = w.caller(None)
    outcome = w.poll()
    assert (outcome.outcome, outcome.reason) == ("pending", "waiting for intent")
    assert w.entry()["outcome"] == WAITING_FOR_INTENT and w.entry()["checks"] == 1
    caller.attributes["intent"] = "billing"
    assert w.poll(10).outcome == "pending", "not due: no GET"
    assert len(w.genesys.gets) == 1
    assert w.poll(25).outcome == "applied"
    assert w.genesys.patches == [{"skillIds": [BILLING]}]


def test_an_attributes_event_reads_a_waiting_caller_at_once():
    w = world()
    caller = w.caller(None)
    start = ConversationEvent(ACD_START, CALLER, caller.entered, QUEUE, (), 0, participant_id=LEG)
    now = datetime.fromtimestamp(w.clock.now, UTC)
    assert handle_event(start, None, w.matrix, w.adapters, now).outcome == "pending"
    caller.attributes["intent"] = "billing"
    intent = ConversationEvent(ATTRIBUTES, CALLER, now, attributes={"intent": "billing"})
    outcome = handle_event(intent, w.store.entry(CALLER), w.matrix, w.adapters, now + timedelta(seconds=2))
    assert outcome.outcome == "applied" and w.genesys.patches == [{"skillIds": [BILLING]}]


# --- transfer --------------------------------------------------------------------------------------


def test_a_transfer_is_a_new_leg_with_the_rules_evaluated_again_and_its_own_clock():
    w = world(LADDER)
    caller = w.caller("billing", waited=270)
    w.poll()  # the rule and step 1 on the first leg
    assert w.entry()["steps_applied"] == [60]
    # A new ACD participant in another queue: its own requested skills, priority and language.
    caller.queue_id, caller.participant_id, caller.skills, caller.priority, caller.language = (
        OTHER_QUEUE,
        LEG_2,
        [],
        0,
        None,
    )
    caller.entered = datetime.fromtimestamp(w.clock.now, UTC)
    assert w.poll(40).outcome == "applied"
    assert w.genesys.patches[-1] == {"skillIds": [BILLING], "priority": 10, "languageId": ENGLISH}
    assert w.entry(LEG)["steps_applied"] == [60], "nothing fired in the old queue"
    assert w.entry(LEG_2)["steps_applied"] == []


# --- due steps -------------------------------------------------------------------------------------


def test_each_step_fires_once_at_the_first_poll_after_it_is_due_with_one_patch_and_no_get():
    w = world(LADDER)
    w.caller("billing")
    w.poll()
    gets = len(w.genesys.gets)
    assert w.poll(50).steps == 0 and len(w.genesys.patches) == 1
    assert w.poll(10).steps == 1
    assert w.genesys.patches[-1] == {"skillIds": [TECH]}
    assert w.poll(10).steps == 0, "never twice"
    assert w.poll(240).steps == 1
    assert w.genesys.patches[-1] == {"priority": 50, "languageId": ""}
    assert len(w.genesys.gets) == gets, "the ledger said what the caller's routing was"
    assert len(w.emails("escalated")) == 1
    assert w.poll(600).steps == 0 and len(w.genesys.patches) == 3


def test_no_step_fires_after_the_caller_left_the_queue():
    w = world(LADDER)
    caller = w.caller("billing")
    w.poll()
    caller.queue_id = None
    assert w.poll(400).steps == 0 and len(w.genesys.patches) == 1


# --- claims held elsewhere -------------------------------------------------------------------------


def test_a_caller_claimed_by_another_handler_is_left_to_it():
    w = world(EVENT_MODE="true")  # the poller claims callers in event mode
    w.caller("billing")
    assert w.store.claim_caller(CALLER, "event-container", 30)
    outcome = w.poll()
    assert (outcome.outcome, outcome.reason) == ("pending", BUSY) and w.genesys.gets == []
    w.clock.now += 31 + 3  # the other container's invocation ended
    assert w.poll().outcome == "applied"


def test_steps_claimed_by_another_run_are_not_applied_again():
    w = world(LADDER)
    w.caller("billing")
    w.poll()
    w.clock.now += 65
    assert w.store.claim_steps(CALLER, LEG, 60, "other-run", 30)
    outcome = w.poll()
    assert outcome.steps == 0 and len(w.genesys.patches) == 1
    w.clock.now += 30 + 3  # the other run died before confirming: its claim lapsed
    assert w.poll().steps == 1 and len(w.genesys.patches) == 2


def test_an_email_claimed_by_another_run_is_not_sent_again():
    w = world()
    w.caller("billing")
    assert w.store.claim_email(CALLER, "billing", "other-run", 30)
    assert w.poll().outcome == "applied" and w.emails() == []
    assert emails_owed(w.entry()) == ["billing"], "owed until it is out"
    w.store.mark_email_sent(CALLER, "billing")  # the other run sent it
    w.poll(10)
    assert w.emails() == [] and emails_owed(w.entry()) == []


# --- final outcomes --------------------------------------------------------------------------------


def test_a_final_outcome_is_never_rewritten_by_a_handler_that_read_an_older_entry():
    w = world()
    caller = w.caller("billing")
    stale = w.found(caller)
    w.poll()
    now = datetime.fromtimestamp(w.clock.now, UTC)
    late = process_conversation(stale, None, w.matrix, w.adapters, now)  # read the ledger before the first finished
    assert late.outcome == "done" and w.entry()["outcome"] == "applied"
    assert len(w.genesys.patches) == 1 and len(w.emails()) == 1


def test_a_throttled_genesys_answer_costs_the_caller_no_attempt_and_a_failure_counts():
    w = world(MAX_ATTEMPTS="2")
    w.caller("billing")
    w.genesys.faults = [GenesysError("get_conversation", 429, "slow down")]
    outcome = w.poll()
    assert outcome.out_of_time and w.entry() == {}
    w.genesys.faults = [GenesysError("get_conversation", 503, "down")]
    assert w.poll().outcome == "retry" and w.entry()["attempts"] == 1
    w.genesys.faults = [GenesysError("get_conversation", 503, "down")]
    assert w.poll().outcome == "failed"
    assert w.poll(10).outcome == "done" and w.genesys.patches == []


# --- emails sent once ------------------------------------------------------------------------------


def test_a_refused_rule_email_is_owed_and_sent_once_by_a_later_poll():
    w = world()
    w.caller("billing")
    w.notifier.refuse = 1
    outcome = w.poll()
    assert outcome.outcome == "applied" and outcome.email_owed and w.emails() == []
    later = w.poll(10)
    assert later.notified and not later.email_owed and len(w.emails()) == 1
    w.poll(10)
    assert len(w.emails()) == 1


def test_a_step_email_whose_claim_is_throttled_is_sent_by_a_later_poll_once():
    w = world(LADDER)
    w.caller("billing", waited=360)
    w.store.fail = lambda operation, pk: pk.endswith("@300s")
    w.poll()
    assert w.emails("escalated") == [] and emails_owed(w.entry()) == ["billing@300s"]
    w.store.fail = lambda operation, pk: False
    assert w.poll(10).notified
    w.poll(10)
    assert len(w.emails("escalated")) == 1 and len(w.genesys.patches) == 1


def test_a_step_email_is_sent_once_per_conversation_and_step_whatever_the_polls():
    w = world(LADDER)
    w.caller("billing")
    for later in (0, 65, 240, 10, 600):
        w.poll(later)
    assert len(w.emails("escalated")) == 1 and emails_owed(w.entry()) == []


@pytest.mark.parametrize("per_recipient", [False, True])
def test_a_crash_after_one_recipient_repeats_nobody_already_sent(per_recipient: bool):
    w = world(SIMPLE.replace("supervisor_email: lead@example.com", "notify: [a@example.com, b@example.com]"))
    w.notifier.one_recipient_per_send = per_recipient
    w.caller("billing")
    sends: list[list[str]] = []
    real = w.notifier.send

    def flaky(recipients: list[str], subject: str, text: str) -> None:
        sends.append(recipients)
        if recipients == ["b@example.com"] and len(sends) == 2:
            raise RuntimeError("agentless email: 503")
        real(recipients, subject, text)

    w.notifier.send = flaky  # type: ignore[method-assign]
    w.poll()
    w.poll(10)
    w.poll(10)
    delivered = [r for r, _ in w.notifier.sent]
    if per_recipient:
        assert delivered == [["a@example.com"], ["b@example.com"]]
    else:
        assert delivered == [["a@example.com", "b@example.com"]]
    assert emails_owed(w.entry()) == []


def test_an_entry_of_the_previous_release_still_gets_its_owed_email():
    w = world()
    caller = w.caller("billing")
    w.store.record(CALLER, "applied", leg=LEG, rule_id="billing", notify_pending=True, notify_to=["old@example.com"])
    w.poll()
    assert [r for r, _ in w.notifier.sent] == [["old@example.com"]] and emails_owed(w.entry()) == []
    assert caller.skills == []


def test_outcomes_carry_typed_fields_not_a_details_dict():
    names = {f.name for f in dataclasses.fields(Outcome)}
    assert "details" not in names and {"steps", "email_owed", "out_of_time", "retry_page", "stale"} <= names


# --- a waiting caller's ladder is its own rule's (issue 19, class 3) --------------------------------

UNNAMED = f"""
  - intent_keyword: billing
    skills: [{BILLING}]
    escalate:
      - after: 60
        routing_priority: 20
"""
VIP_ABOVE = f"""
  - intent_keyword: billing
    queues: [{OTHER_QUEUE}]
    skills: [{BILLING}]
    escalate:
      - after: 60
        routing_priority: 2000
"""


def test_a_rule_added_above_neither_takes_nor_stops_a_waiting_callers_ladder():
    w = world("skill_matrix:" + UNNAMED)
    w.caller("billing")
    assert w.poll().outcome == "applied"
    w.matrix = parse_matrix("skill_matrix:" + VIP_ABOVE + UNNAMED, "m.yaml")
    assert w.poll(90).steps == 1
    assert w.genesys.patches[-1] == {"priority": 20}


def test_a_ledger_entry_naming_its_rule_by_position_keeps_its_ladder_while_the_rule_stays_there():
    w = world("skill_matrix:" + UNNAMED)
    w.caller("billing")
    w.poll()
    w.store.items[w.store.ledger_key(CALLER, LEG)]["rule_id"] = "1-billing"  # written by release 0.x
    assert w.poll(90).steps == 1 and w.genesys.patches[-1] == {"priority": 20}


def test_rules_without_an_id_are_named_by_what_they_match_not_where_they_are():
    alone = parse_matrix("skill_matrix:" + UNNAMED, "m.yaml").rules[0]
    moved = parse_matrix("skill_matrix:" + VIP_ABOVE + UNNAMED.replace("20", "30"), "m.yaml").rules[1]
    assert alone.id == moved.id and alone.id.startswith("billing-")
    other = parse_matrix("skill_matrix:" + UNNAMED.replace("intent_keyword", "match: exact\n    intent_keyword"), "m")
    assert other.rules[0].id != alone.id
    twice = parse_matrix("skill_matrix:" + UNNAMED + UNNAMED, "m.yaml")
    assert len({r.id for r in twice.rules}) == 2, "a shadowed duplicate still has a name of its own"


# --- a step that fails half-way (issue 19, classes 4 and 7) -----------------------------------------

PRIORITY_STEPS = f"""
skill_matrix:
  - id: billing
    intent_keyword: billing
    skills: [{BILLING}]
    escalate:
      - after: 60
        routing_priority: 20
      - after: 120
        routing_priority: 30
"""


def test_a_step_patch_throttled_past_its_retries_is_tried_again_by_the_next_poll():
    w = world(PRIORITY_STEPS)
    w.caller("billing")
    w.poll()
    w.genesys.patch_routing = _fail_once(w, 429)  # type: ignore[method-assign]
    assert w.poll(60).steps == 0
    assert w.entry().get("step_mark") is None, "the step's claim was left held"
    assert w.poll(5).steps == 1 and w.genesys.callers[CALLER].priority == 20


def test_a_step_genesys_refuses_ends_after_max_attempts_and_the_ladder_goes_on():
    w = world(PRIORITY_STEPS, MAX_ATTEMPTS="2")
    w.caller("billing")
    w.poll()
    refuse = _fail_always(w, 400)
    w.genesys.patch_routing = refuse  # type: ignore[method-assign]
    assert w.poll(60).outcome == "retry"
    assert w.poll(5).outcome == "failed"
    assert w.entry()["steps_failed"] == [60]
    calls = refuse.calls  # type: ignore[attr-defined]
    assert w.poll(5).outcome == "done" and refuse.calls == calls, "a step given up is never sent again"  # type: ignore[attr-defined]
    w.genesys.patch_routing = FakeGenesys.patch_routing.__get__(w.genesys)  # type: ignore[method-assign]
    assert w.poll(60).steps == 1 and w.genesys.callers[CALLER].priority == 30, "the next step still fires"


def _fail_once(w: World, status: int) -> Any:
    real = w.genesys.patch_routing
    state = {"left": 1}

    def patch(*args: Any, **kwargs: Any) -> bool:
        if state["left"]:
            state["left"] -= 1
            raise GenesysError("PATCH /api/v2/routing/conversations/{conversationId}", status, "refused")
        return real(*args, **kwargs)

    return patch


def _fail_always(w: World, status: int) -> Any:
    def patch(*args: Any, **kwargs: Any) -> bool:
        patch.calls += 1  # type: ignore[attr-defined]
        raise GenesysError("PATCH /api/v2/routing/conversations/{conversationId}", status, "languageId not found")

    patch.calls = 0  # type: ignore[attr-defined]
    return patch


def test_a_plan_from_an_out_of_date_entry_writes_nothing():
    """Issue 19, class 6: another container's memory of the leg predates step 1."""
    w = world(PRIORITY_STEPS)
    caller = w.caller("billing")
    w.poll()
    stale = w.entry()
    assert w.poll(60).steps == 1
    caller.skills.append(FLOW_SKILL)  # someone adds a skill
    patches = len(w.genesys.patches)
    w.clock.now += 60
    now = datetime.fromtimestamp(w.clock.now, UTC)
    outcome = process_conversation(w.found(caller), stale, w.matrix, w.adapters, now, run_ladder=True)
    assert outcome.stale and len(w.genesys.patches) == patches, "step 1 was planned again from a stale entry"
    assert w.poll().steps == 1 and w.genesys.patches[-1] == {"priority": 30}, "the ledger's plan goes on"


def test_a_rule_whose_names_did_not_resolve_fails_its_callers_and_no_other_rule_takes_them():
    """Issue 19, class 4."""
    matrix = parse_matrix(SIMPLE.replace("  - id: billing\n", "  - id: billing\n    language: Klingon\n"), "m.yaml")
    resolved = resolve_matrix(matrix, lambda names: {}, lambda uid: None, lambda names: {})
    w = world()
    w.matrix = resolved
    w.caller("billing")
    outcome = w.poll()
    assert outcome.outcome == "failed" and w.genesys.patches == []
    assert "Klingon" in w.entry()["reason"]
    w.caller("technical")
    w.genesys.callers[CALLER].participant_id = LEG_2
    assert w.poll().outcome == "applied", "a caller of another rule was not routed"


def test_a_late_acd_start_for_the_queue_left_acts_on_the_leg_the_read_shows():
    """Issue 19, class 5."""
    w = world(LADDER)
    caller = w.caller("billing", waited=270)
    old_entry = caller.entered
    caller.queue_id, caller.participant_id = OTHER_QUEUE, LEG_2  # transferred before anyone served it
    caller.entered = datetime.fromtimestamp(w.clock.now, UTC)
    late = ConversationEvent(ACD_START, CALLER, old_entry, QUEUE, (), 0, participant_id=LEG)
    now = datetime.fromtimestamp(w.clock.now, UTC)
    assert handle_event(late, None, w.matrix, w.adapters, now).outcome == "applied"
    assert w.genesys.patches == [{"skillIds": [BILLING], "priority": 10, "languageId": ENGLISH}], "no step yet"
    assert w.store.entry(CALLER, LEG) is None, "nothing is recorded on the ended leg"
    assert w.entry(LEG_2)["outcome"] == "applied"
