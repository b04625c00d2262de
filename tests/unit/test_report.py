"""The report's pure arithmetic: each leg's outcome from the details, percentiles, per rule, per
step, withheld and relaxed rows, and the baseline in the same queues (issue 22)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from skill_router.report import LegOutcome, build, leg_outcome, legs_to_read, percentile

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
UNTIL = T0 + timedelta(hours=1)
Q1, Q2 = str(uuid.uuid4()), str(uuid.uuid4())


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def acd(pid: str, queue: str, start: datetime, end: datetime | None, metric: str | None) -> dict[str, Any]:
    segment: dict[str, Any] = {"segmentStart": iso(start), "segmentType": "interact", "queueId": queue}
    if end is not None:
        segment["segmentEnd"] = iso(end)
    session: dict[str, Any] = {"mediaType": "voice", "segments": [segment]}
    if metric and end is not None:
        session["metrics"] = [
            {"name": "tAcd", "value": 1, "emitDate": iso(end)},
            {"name": metric, "value": 1, "emitDate": iso(end)},
        ]
    return {"participantId": pid, "purpose": "acd", "sessions": [session]}


def details(*participants: dict[str, Any]) -> dict[str, Any]:
    return {"conversationId": str(uuid.uuid4()), "conversationStart": iso(T0), "participants": list(participants)}


@pytest.mark.parametrize(
    ("values", "median", "p90"),
    [
        ([], None, None),
        ([7.0], 7.0, 7.0),
        ([10.0, 20.0], 10.0, 20.0),
        ([5.0, 1.0, 3.0, 2.0, 4.0], 3.0, 5.0),
        ([float(n) for n in range(1, 11)], 5.0, 9.0),
        ([float(n) for n in range(1, 101)], 50.0, 90.0),
    ],
)
def test_percentiles_are_nearest_rank_values_some_caller_had(values, median, p90):
    assert percentile(values, 50) == median
    assert percentile(values, 90) == p90


def test_each_outcome_is_read_from_the_legs_own_session_metrics():
    leg = str(uuid.uuid4())
    answered = details(acd(leg, Q1, T0, T0 + timedelta(seconds=40), "tAnswered"))
    assert leg_outcome(answered, leg, UNTIL) == LegOutcome("answered", T0 + timedelta(seconds=40))
    abandoned = details(acd(leg, Q1, T0, T0 + timedelta(seconds=90), "tAbandon"))
    assert leg_outcome(abandoned, leg, UNTIL).outcome == "abandoned"
    flowout = details(acd(leg, Q1, T0, T0 + timedelta(seconds=90), "tFlowOut"))
    assert leg_outcome(flowout, leg, UNTIL).outcome == "flowout"
    waiting = details(acd(leg, Q1, T0, None, None))
    assert leg_outcome(waiting, leg, UNTIL) == LegOutcome("waiting")


def test_a_flow_out_into_another_queue_is_a_transfer():
    leg, next_leg = str(uuid.uuid4()), str(uuid.uuid4())
    moved = T0 + timedelta(seconds=30)
    conversation = details(
        acd(leg, Q1, T0, moved, "tFlowOut"), acd(next_leg, Q2, moved + timedelta(seconds=1), None, None)
    )
    assert leg_outcome(conversation, leg, UNTIL) == LegOutcome("transferred", moved)
    assert leg_outcome(conversation, next_leg, UNTIL).outcome == "waiting"


def test_what_genesys_has_not_told_is_no_details_never_a_guess():
    leg = str(uuid.uuid4())
    assert leg_outcome(None, leg, UNTIL).outcome == "no_details"
    assert leg_outcome(details(acd(str(uuid.uuid4()), Q1, T0, None, None)), leg, UNTIL).outcome == "no_details"
    ended_without_metric = details(acd(leg, Q1, T0, T0 + timedelta(seconds=5), None))
    assert leg_outcome(ended_without_metric, leg, UNTIL).outcome == "no_details"
    assert leg_outcome({"participants": "garbage"}, leg, UNTIL).outcome == "no_details"


def test_an_outcome_after_the_period_was_still_waiting_at_its_end():
    leg = str(uuid.uuid4())
    late = details(acd(leg, Q1, T0, UNTIL + timedelta(seconds=1), "tAnswered"))
    assert leg_outcome(late, leg, UNTIL).outcome == "waiting"


def test_a_leg_keyed_by_queue_and_entry_time_is_found():
    conversation = details(acd(str(uuid.uuid4()), Q1, T0, T0 + timedelta(seconds=9), "tAnswered"))
    assert leg_outcome(conversation, f"{Q1}@{int(T0.timestamp())}", UNTIL).outcome == "answered"


def entry(outcome: str, rule: str | None, queue: str, decided: datetime, **fields: Any) -> dict[str, Any]:
    data = {
        "conversation_id": str(uuid.uuid4()),
        "leg": str(uuid.uuid4()),
        "outcome": outcome,
        "queue_id": queue,
        "queue_entered": iso(decided - timedelta(seconds=5)),
        "updated_at": iso(decided),
        **fields,
    }
    if rule:
        data["rule_id"] = rule
        data["decided_at"] = iso(decided)
    return data


def key(e: dict[str, Any]) -> tuple[str, str]:
    return e["conversation_id"], e["leg"]


def test_a_rule_beside_its_baseline_in_the_same_queues_with_median_and_p90():
    start = T0 + timedelta(minutes=1)
    rule = [entry("applied", "billing", Q1, start) for _ in range(10)]
    base_same = [entry("no_match", None, Q1, start) for _ in range(4)]
    base_other = [entry("no_match", None, Q2, start)]
    outcomes = {key(e): LegOutcome("answered", start + timedelta(seconds=10 * (i + 1))) for i, e in enumerate(rule)}
    outcomes |= {key(e): LegOutcome("answered", start + timedelta(seconds=300)) for e in base_same[:3]}
    outcomes[key(base_same[3])] = LegOutcome("abandoned", start + timedelta(seconds=120))
    outcomes[key(base_other[0])] = LegOutcome("waiting")
    rows = build(rule + base_same + base_other, outcomes, T0, UNTIL)
    by = {(r.kind, r.rule_id): r.figures() for r in rows}
    billing = by[("rule", "billing")]
    assert (billing["touched"], billing["answered"]) == (10, 10)
    assert (billing["answer_median_seconds"], billing["answer_p90_seconds"]) == (50.0, 90.0)
    same = by[("baseline", "billing")]
    assert (same["touched"], same["answered"], same["abandoned"]) == (4, 3, 1)
    assert same["queues"] == [Q1] and same["answer_median_seconds"] == 300.0
    assert same["abandon_median_seconds"] == 120.0
    every = by[("baseline", "")]
    assert (every["touched"], every["waiting"]) == (5, 1)


def test_a_step_that_fires_after_most_callers_hung_up_says_so():
    start = T0 + timedelta(minutes=1)
    rule = [entry("applied", "complaint", Q1, start) for _ in range(10)]
    outcomes = {}
    for e in rule[:7]:  # hung up after 60 s in the queue: before the step due at 120 s
        outcomes[key(e)] = LegOutcome("abandoned", start + timedelta(seconds=55))
    for e in rule[7:]:
        e["step_log"] = [{"step": 1, "after": 120, "at": iso(start + timedelta(seconds=115))}]
        outcomes[key(e)] = LegOutcome("answered", start + timedelta(seconds=130))
    rows = build(rule, outcomes, T0, UNTIL)
    step = next(r for r in rows if r.kind == "step").figures()
    assert (step["step"], step["after_seconds"], step["touched"], step["answered"]) == (1, 120, 3, 3)
    assert step["abandoned_before_step"] == 7
    assert step["answer_median_seconds"] == 15.0  # from the step, not from the decision
    assert step["step_fired_after_seconds"] == 115.0


def test_withheld_and_relaxed_legs_are_rows_of_their_own_measured_from_their_change():
    start = T0 + timedelta(minutes=1)
    withheld = entry("applied", "vip", Q1, start, skills_withheld=[str(uuid.uuid4())], guard="withheld")
    relaxed = entry(
        "applied", "vip", Q1, start, relaxed=[f"language:{uuid.uuid4()}"], relaxed_at=iso(start + timedelta(seconds=60))
    )
    plain = entry("applied", "vip", Q1, start, guard="staffed")
    # withheld, then applied when staff came on queue: the lists are empty, the fact stays
    later = entry("applied", "vip", Q1, start, guard="withheld", skills_withheld=[], withheld_applied_at=iso(start))
    legs = (withheld, relaxed, plain, later)
    outcomes = {key(e): LegOutcome("answered", start + timedelta(seconds=100)) for e in legs}
    rows = {r.kind: r.figures() for r in build(list(legs), outcomes, T0, UNTIL, rule="vip")}
    assert rows["rule"]["touched"] == 4
    assert rows["withheld"]["touched"] == 2 and rows["withheld"]["answer_median_seconds"] == 100.0
    assert rows["relaxed"]["touched"] == 1 and rows["relaxed"]["answer_median_seconds"] == 40.0


def test_shadowed_legs_are_matched_callers_of_their_rule_told_apart_and_never_baseline():
    """Issue 28: a leg recorded `shadowed` (someone else's skill expression takes priority) was
    matched by its rule: the rule's row counts it, a `shadowed` row shows how many and how they
    fared, and the baseline (no rule matched) never includes it."""
    start = T0 + timedelta(minutes=1)
    applied = [entry("applied", "spanish", Q1, start) for _ in range(3)]
    shadowed = [entry("shadowed", "spanish", Q1, start, expression_before='Skill("iPhone") >= 5') for _ in range(2)]
    base = entry("no_match", None, Q1, start)
    legs = [*applied, *shadowed, base]
    outcomes = {key(e): LegOutcome("answered", start + timedelta(seconds=30)) for e in applied}
    outcomes |= {key(e): LegOutcome("abandoned", start + timedelta(seconds=200)) for e in shadowed}
    rows = build(legs, outcomes, T0, UNTIL)
    by = {(r.kind, r.rule_id): r.figures() for r in rows}
    assert by[("rule", "spanish")]["touched"] == 5
    row = by[("shadowed", "spanish")]
    assert (row["touched"], row["abandoned"], row["abandon_median_seconds"]) == (2, 2, 200.0)
    assert by[("baseline", "spanish")]["touched"] == 1 and by[("baseline", "")]["touched"] == 1
    assert [r.kind for r in rows if r.rule_id == "spanish"] == ["rule", "shadowed", "baseline"]


def test_a_withheld_requirement_is_a_withheld_leg():
    start = T0 + timedelta(minutes=1)
    leg = entry("applied", "spanish", Q1, start, expression_withheld='Skill("Spanish") >= 3')
    rows = {r.kind: r.figures() for r in build([leg], {}, T0, UNTIL, rule="spanish")}
    assert rows["withheld"]["touched"] == 1


def test_the_period_the_rule_filter_and_unreadable_entries():
    inside = entry("applied", "billing", Q1, T0 + timedelta(minutes=5))
    before = entry("applied", "billing", Q1, T0 - timedelta(minutes=5))
    other = entry("applied", "tech", Q1, T0 + timedelta(minutes=5))
    note = {"conversation_id": str(uuid.uuid4()), "leg": None, "outcome": "waiting", "updated_at": iso(T0)}
    bad = entry("applied", "billing", Q1, T0 + timedelta(minutes=5)) | {"conversation_id": "../x"}
    rows = build([inside, before, other, note, bad], {}, T0, UNTIL, rule="billing")
    assert [r.kind for r in rows] == ["rule", "baseline"]
    assert rows[0].touched == 1 and rows[0].counts["no_details"] == 1
    assert legs_to_read([inside, note, bad, inside]) == [inside["conversation_id"]]


def test_figures_carry_no_leg_or_conversation_ids():
    e = entry("applied", "billing", Q1, T0 + timedelta(minutes=5))
    text = repr([r.figures() for r in build([e], {}, T0, UNTIL)])
    assert e["conversation_id"] not in text and e["leg"] not in text


def test_every_format_escapes_a_rule_id_for_its_medium():
    from skill_router.cli.report_format import Header, render

    start = T0 + timedelta(minutes=1)
    hostile = '=HYPERLINK("x")<script>\x1b[31m'
    e = entry("applied", hostile, Q1, start)
    e["step_log"] = [{"step": 1, "after": 60, "at": iso(start + timedelta(seconds=61))}]
    rows = build([e], {key(e): LegOutcome("answered", start + timedelta(seconds=90))}, T0, UNTIL)
    header = Header("a", "b", "c", 1, 0, 1, 0.1)
    page = render("html", header, rows)
    assert "<script>" not in page and "&lt;script&gt;" in page and "<svg" in page and "step 1" in page
    assert "\x1b" not in render("table", header, rows)
    table = render("csv", header, rows)
    assert "'=HYPERLINK" in table and ',"=HYPERLINK' not in table and ",=HYPERLINK" not in table
    assert json.loads(render("json", header, rows))["rows"][0]["rule"] == hostile
