"""Did the rule help? Outcomes per rule and per escalation step, beside the callers no rule matched.

Pure functions of what was read: the ledger's leg entries (what the function decided and when) and
Genesys' analytics conversation details for those conversations (what happened next). Nothing
here calls Genesys or AWS (cli/report.py does); every figure can be recomputed from its inputs.

A leg's outcome comes from its ACD participant's session in the details (the participant id is
the ledger's leg key): Genesys counts an offered interaction as answered, abandoned or flowed out
(help.mypurecloud.com, "Why does the Offered metric not always equal the Answered plus Abandoned
metrics?"), and emits the metric `tAnswered`, `tAbandon` or `tFlowOut` on the queue's session
when it happens; each metric's `emitDate` (SDK model AnalyticsSessionMetric: "Metric emission
date") is when. A flow-out into another queue (a later ACD participant of the same conversation)
is reported as "transferred"; the caller's next leg has an entry of its own. An open interact
segment is "waiting"; an outcome after the period's end is "waiting" too (it was, at the end).
Genesys having no details for the conversation (yet: analytics lags) or none for the leg is
"no details": counted, never guessed.

Times are seconds from the change (the rule's decision, the step, the relaxing) to the answer or
the abandon, never from an earlier moment the change could not have influenced. Percentiles are
nearest-rank: the median and the 90th percentile are times some caller actually had.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from skill_router.genesys.payload import dicts, utc_time
from skill_router.ids import is_genesys_id

ASSIGNED = ("applied", "unchanged")  # the rule matched and its routing stands on the leg
# The rule matched, but someone else's skill expression takes priority over what it asked (issue
# 28): a matched caller of the rule (its row counts it, a `shadowed` row tells it apart), never baseline.
SHADOWED = "shadowed"
BASELINE = ("no_match", "no_intent")  # no rule matched the caller (no keyword, or no intent at all)
OUTCOMES = ("answered", "abandoned", "flowout", "transferred", "waiting", "no_details")
ANSWERED, ABANDONED, FLOWOUT = "tAnswered", "tAbandon", "tFlowOut"


@dataclass(frozen=True)
class LegOutcome:
    """What happened to one queue leg: one of OUTCOMES, and when it left the queue (if it did)."""

    outcome: str
    at: datetime | None = None


NO_DETAILS = LegOutcome("no_details")


@dataclass(frozen=True)
class Touch:
    """One leg a row counts: the moment of its change, and the leg's key."""

    key: tuple[str, str]
    at: datetime


@dataclass
class Row:
    kind: str  # rule | step | shadowed | withheld | relaxed | baseline
    rule_id: str
    label: str
    touches: list[Touch] = field(default_factory=list)
    queues: tuple[str, ...] = ()
    step: int | None = None
    after: int | None = None  # a step's `after` (seconds of waiting)
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(OUTCOMES, 0))
    to_answer: list[float] = field(default_factory=list)  # seconds from the change, each answered leg
    to_abandon: list[float] = field(default_factory=list)
    abandoned_before: int | None = None  # step rows: the rule's callers who hung up before it was due
    fired_after: float | None = None  # step rows: median seconds from the decision to the step

    @property
    def touched(self) -> int:
        return len(self.touches)

    def figures(self) -> dict[str, Any]:
        """The row as plain values (json, csv, the demo's file): no leg keys, no caller data."""
        return {
            "kind": self.kind,
            "rule": self.rule_id,
            "row": self.label,
            "step": self.step,
            "after_seconds": self.after,
            "queues": list(self.queues),
            "touched": self.touched,
            **self.counts,
            "answer_median_seconds": _round(percentile(self.to_answer, 50)),
            "answer_p90_seconds": _round(percentile(self.to_answer, 90)),
            "abandon_median_seconds": _round(percentile(self.to_abandon, 50)),
            "abandon_p90_seconds": _round(percentile(self.to_abandon, 90)),
            "abandoned_before_step": self.abandoned_before,
            "step_fired_after_seconds": _round(self.fired_after),
        }


def percentile(values: Sequence[float], p: float) -> float | None:
    """Nearest rank: the smallest value with at least p % of the values at or below it (None: no values)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100.0 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def leg_outcome(conversation: Mapping[str, Any] | None, leg: str, until: datetime) -> LegOutcome:
    """The outcome of the queue leg `leg` (an ACD participant id, or `queue@epoch` for a leg keyed
    by its queue and entry time) in one conversation of the details answer, as of `until`."""
    if not isinstance(conversation, Mapping):
        return NO_DETAILS
    acd = [p for p in dicts(conversation.get("participants")) if p.get("purpose") == "acd"]
    mine = next((p for p in acd if _is_leg(p, leg)), None)
    if mine is None:
        return NO_DETAILS
    segments = [s for session in dicts(mine.get("sessions")) for s in dicts(session.get("segments"))]
    interact = [s for s in segments if s.get("segmentType") in (None, "interact")]
    started = min((t for s in interact if (t := utc_time(s.get("segmentStart"))) is not None), default=None)
    ends = [utc_time(s.get("segmentEnd")) for s in interact]
    ended = max((t for t in ends if t is not None), default=None) if ends and None not in ends else None
    metrics = {
        str(m.get("name")): m
        for session in dicts(mine.get("sessions"))
        for m in dicts(session.get("metrics"))
        if m.get("name")
    }
    found: LegOutcome | None = None
    for name, outcome in ((ANSWERED, "answered"), (ABANDONED, "abandoned"), (FLOWOUT, "flowout")):
        if name in metrics:
            found = LegOutcome(outcome, utc_time(metrics[name].get("emitDate")) or ended)
            break
    if found is None and ended is None:
        return LegOutcome("waiting")
    later = any(_entered_after(p, started) for p in acd if p is not mine)
    if found is None or (found.outcome == "flowout" and later):
        if not later:
            return NO_DETAILS  # the queue leg ended and Genesys has not said how (yet)
        found = LegOutcome("transferred", found.at if found else ended)
    if found.at is not None and found.at > until:
        return LegOutcome("waiting")  # it was still waiting at the end of the period
    return found


def build(
    entries: Iterable[Mapping[str, Any]],
    outcomes: Mapping[tuple[str, str], LegOutcome],
    since: datetime,
    until: datetime,
    rule: str | None = None,
) -> list[Row]:
    """The report's rows: per rule (decided in [since, until)), its steps, its shadowed legs, its
    legs whose parts the staffing guard withheld or relaxed, then the baseline in the rule's queues; last, the baseline
    over every queue. `outcomes` by (conversation id, leg); a missing one is "no details"."""
    legs = [e for e in entries if leg_key(e) is not None and since <= (decided_at(e) or since) < until]
    legs = [e for e in legs if decided_at(e) is not None]
    ruled: dict[str, list[Mapping[str, Any]]] = {}
    baseline: list[Mapping[str, Any]] = []
    for entry in legs:
        if entry.get("outcome") in (*ASSIGNED, SHADOWED) and entry.get("rule_id"):
            ruled.setdefault(str(entry["rule_id"]), []).append(entry)
        elif entry.get("outcome") in BASELINE:
            baseline.append(entry)
    rows: list[Row] = []
    for rule_id in sorted(ruled):
        if rule is not None and rule_id != rule:
            continue
        mine = ruled[rule_id]
        queues = tuple(sorted({str(e.get("queue_id")) for e in mine if e.get("queue_id")}))
        rows.append(_row("rule", rule_id, f"rule {rule_id}", [(e, decided_at(e)) for e in mine], queues, outcomes))
        rows += _steps(rule_id, mine, queues, outcomes)
        shadowed = [(e, decided_at(e)) for e in mine if e.get("outcome") == SHADOWED]
        if shadowed:
            rows.append(_row("shadowed", rule_id, "  shadowed: another's expression", shadowed, queues, outcomes))
        withheld = [e for e in mine if _withheld(e)]
        if withheld:
            touches = [(e, decided_at(e)) for e in withheld]
            rows.append(_row("withheld", rule_id, "  withheld: nobody staffed", touches, queues, outcomes))
        relaxed = [e for e in mine if e.get("relaxed") or e.get("relaxed_at")]
        if relaxed:
            touches = [(e, utc_time(e.get("relaxed_at")) or decided_at(e)) for e in relaxed]
            rows.append(_row("relaxed", rule_id, "  relaxed: nobody staffed", touches, queues, outcomes))
        same = [(e, decided_at(e)) for e in baseline if str(e.get("queue_id")) in queues]
        rows.append(_row("baseline", rule_id, "  baseline: no rule, same queues", same, queues, outcomes))
    if rule is None:
        every = tuple(sorted({str(e.get("queue_id")) for e in baseline if e.get("queue_id")}))
        touches = [(e, decided_at(e)) for e in baseline]
        rows.append(_row("baseline", "", "baseline: no rule, every queue", touches, every, outcomes))
    return rows


def _withheld(entry: Mapping[str, Any]) -> bool:
    """The staffing guard withheld parts of the rule at first sight (issue 20's ledger fields);
    parts applied later (`withheld_applied_at`) leave the lists, not the fact."""
    return bool(
        entry.get("guard") == "withheld"
        or entry.get("skills_withheld")
        or entry.get("language_withheld")
        or entry.get("expression_withheld")
        or entry.get("withheld_applied_at")
    )


def _steps(
    rule_id: str,
    entries: list[Mapping[str, Any]],
    queues: tuple[str, ...],
    outcomes: Mapping[tuple[str, str], LegOutcome],
) -> list[Row]:
    fired: dict[tuple[int, int], list[tuple[Mapping[str, Any], datetime | None]]] = {}
    for entry in entries:
        for step in dicts(entry.get("step_log")):
            number, after = step.get("step"), step.get("after")
            if isinstance(number, int | float) and isinstance(after, int | float):
                fired.setdefault((int(number), int(after)), []).append((entry, utc_time(step.get("at"))))
    rows = []
    for (number, after), touches in sorted(fired.items()):
        row = _row("step", rule_id, f"  step {number} after {after}s", touches, queues, outcomes)
        row.step, row.after = number, after
        gaps = [(at - d).total_seconds() for e, at in touches if at and (d := decided_at(e))]
        row.fired_after = percentile(gaps, 50)
        row.abandoned_before = sum(1 for e in entries if _hung_up_before(e, after, outcomes))
        rows.append(row)
    return rows


def _hung_up_before(entry: Mapping[str, Any], after: int, outcomes: Mapping[tuple[str, str], LegOutcome]) -> bool:
    """The caller abandoned before waiting `after` seconds in the queue: a step that late never reached them."""
    key = leg_key(entry)
    outcome = outcomes.get(key) if key else None
    entered = utc_time(entry.get("queue_entered")) or decided_at(entry)
    if outcome is None or outcome.outcome != "abandoned" or outcome.at is None or entered is None:
        return False
    return (outcome.at - entered).total_seconds() < after


def _row(
    kind: str,
    rule_id: str,
    label: str,
    touches: Iterable[tuple[Mapping[str, Any], datetime | None]],
    queues: tuple[str, ...],
    outcomes: Mapping[tuple[str, str], LegOutcome],
) -> Row:
    row = Row(kind, rule_id, label, queues=queues)
    seen: set[tuple[str, str]] = set()
    for entry, at in touches:
        key = leg_key(entry)
        if key is None or at is None or key in seen:
            continue
        seen.add(key)
        row.touches.append(Touch(key, at))
        outcome = outcomes.get(key, NO_DETAILS)
        row.counts[outcome.outcome] += 1
        if outcome.at is not None and outcome.outcome in ("answered", "abandoned"):
            seconds = max(0.0, (outcome.at - at).total_seconds())  # clocks a moment apart: never negative
            (row.to_answer if outcome.outcome == "answered" else row.to_abandon).append(seconds)
    return row


def legs_to_read(entries: Iterable[Mapping[str, Any]]) -> list[str]:
    """The conversation ids whose details the report needs, each once, valid Genesys ids only."""
    return list(dict.fromkeys(k[0] for e in entries if (k := leg_key(e)) is not None))


def leg_key(entry: Mapping[str, Any]) -> tuple[str, str] | None:
    """(conversation id, leg) of a ledger leg entry, lower case; None for anything else."""
    cid, leg = entry.get("conversation_id"), entry.get("leg")
    if not is_genesys_id(cid) or not isinstance(leg, str) or not leg:
        return None  # event mode's note on a conversation, or an id no query may carry
    return str(cid).lower(), leg.lower()


def decided_at(entry: Mapping[str, Any]) -> datetime | None:
    """When the function decided on the leg: `decided_at` (a rule's outcome), else the time the
    final outcome was written (`no_match` and `no_intent` entries are written once, then)."""
    return utc_time(entry.get("decided_at")) or utc_time(entry.get("updated_at"))


def _is_leg(participant: Mapping[str, Any], leg: str) -> bool:
    pid = str(participant.get("participantId") or "").lower()
    if pid and pid == leg:
        return True
    queue, _, epoch = leg.partition("@")
    if not epoch.isdecimal():
        return False
    for session in dicts(participant.get("sessions")):
        for segment in dicts(session.get("segments")):
            start = utc_time(segment.get("segmentStart"))
            if str(segment.get("queueId") or "").lower() == queue and start and int(start.timestamp()) == int(epoch):
                return True
    return False


def _entered_after(participant: Mapping[str, Any], started: datetime | None) -> bool:
    if started is None:
        return False
    for session in dicts(participant.get("sessions")):
        for segment in dicts(session.get("segments")):
            start = utc_time(segment.get("segmentStart"))
            if segment.get("queueId") and start is not None and start > started:
                return True
    return False


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)
