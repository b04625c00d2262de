"""One invocation: take the lease, poll what waits in a queue now every POLL_INTERVAL_SECONDS
while there is time, record the watermark.

Each poll asks the analytics details query for every live conversation with an open interact
segment of an ACD participant that started on a UTC day from DISCOVERY_LOOKBACK_DAYS ago to
today (the interval is matched by day, so that is the whole of those days), within discovery's
share of the rate budget: the newest page first while the sweep over the whole list spans polls,
then the sweep where the last poll left it, until an empty page (`totalHits` is approximate and
a page may come back short: neither ends the list). The watermark in DynamoDB records when the
last complete sweep began, for the lag metric and operators; finding a caller never depends on
it (docs/design.md, "Discovery", "Bounded discovery").
"""

from __future__ import annotations

import json
import time
from collections import Counter, OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from skill_router.deadline import Deadline
from skill_router.discovery import DiscoveryBudget, PageRequest, PollPages
from skill_router.errors import OutOfTime
from skill_router.first_sight import process_conversation
from skill_router.genesys.client import Discovered, GenesysClient
from skill_router.genesys.errors import GenesysError
from skill_router.guard import next_look
from skill_router.leg import Adapters, Outcome
from skill_router.matrix import Matrix
from skill_router.matrix_source import MatrixSource
from skill_router.observability import logger, metrics
from skill_router.settings import Settings
from skill_router.store import FINAL_OUTCOMES, SKEW_MARGIN_SECONDS, StateStore, format_time

# A poll starts only with this much of the invocation left: an idle poll is one query page and
# a watermark write; a busy one stops at the deadline and leaves the rest to the next poll.
MIN_POLL_SECONDS = 2.0
FINISHED_CACHE_SIZE = 50_000  # queue legs; a few MB at most
# Callers looked up by id in one query when their steps fall due: one conversationId predicate
# each. Genesys documents no limit on a filter's predicates that we found; 50 keeps the body small.
DUE_PER_QUERY = 50
LADDER_OUTCOMES = ("applied", "unchanged", "shadowed", "done")  # a rule was applied on the leg: its ladder runs
# What a finished leg's ladder needs (ladder.py): the rule, the steps applied, the routing we left.
_REMEMBERED = (
    "outcome",
    "rule_id",
    "steps_applied",
    "steps_failed",
    "step_mark",
    "step_expires",
    "step_claim_expires",
    "skills_after",
    "priority_after",
    "language_after",
    # The skill expression (issue 28): someone else's as first seen, and skill-router's part.
    "expression_before",
    "requirement_after",
    "expression_withheld",
    # What the staffing guard needs (guard.py): whose requirement it is, what is withheld, the clock.
    "queue_id",
    "skills_before",
    "language_before",
    "skills_withheld",
    "language_withheld",
    "unstaffed_since",
    "relaxed_at",
    "relax_blocked_by",
    "requirements_others",
)
REPORTED = ("applied", "unchanged", "shadowed", "gone", "failed", "retry", "no_match", "no_rule", "pending", "done")


@dataclass
class PollReport:
    window_start: str
    window_end: str
    watermark_before: str | None
    watermark_after: str | None
    complete: bool = False
    pages: int = 0
    seen: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    notified: int = 0
    escalation_steps: int = 0
    genesys_calls: int = 0
    matrix_version: str = ""
    problem: str | None = None
    released: bool = False
    event_mode: bool = False
    # Discovery's share of the budget ran out before the end of the list: the next poll
    # continues from `next_page` (docs/design.md, "Bounded discovery").
    share_spent: bool = False
    next_page: int = 1
    rules_failed: int = 0  # rules of the matrix in force whose names do not resolve
    # The staffing guard (guard.py): parts of requirements withheld because nobody on queue has
    # them, withheld parts applied once someone had, parts skill-router added and then relaxed.
    skills_withheld: int = 0
    withheld_applied: int = 0
    requirements_relaxed: int = 0

    @property
    def matched(self) -> int:
        return self.outcomes.get("applied", 0) + self.outcomes.get("unchanged", 0)

    def as_dict(self) -> dict[str, Any]:
        counts = {name: self.outcomes.get(name, 0) for name in REPORTED}
        return {
            "window": {"start": self.window_start, "end": self.window_end},
            "watermark": {"before": self.watermark_before, "after": self.watermark_after},
            "complete": self.complete,
            "pages": self.pages,
            "seen": self.seen,
            "matched": self.matched,
            **counts,
            "notified": self.notified,
            "escalation_steps": self.escalation_steps,
            "skills_withheld": self.skills_withheld,
            "withheld_applied": self.withheld_applied,
            "requirements_relaxed": self.requirements_relaxed,
            # In event mode the poller is the safety net: what it applied, events had missed.
            "reconciled": counts["applied"] if self.event_mode else 0,
            "genesys_calls": self.genesys_calls,
            **({"share_spent": True, "next_page": self.next_page} if self.share_spent else {}),
            **({"rules_failed": self.rules_failed} if self.rules_failed else {}),
            "matrix_version": self.matrix_version,
            **({"problem": self.problem} if self.problem else {}),
        }


@dataclass
class Poller:
    settings: Settings
    genesys: GenesysClient
    store: StateStore
    matrix_source: MatrixSource
    adapters: Adapters
    clock: Callable[[], float] = time.time
    sleep: Callable[[float], None] = time.sleep
    _pool: ThreadPoolExecutor | None = field(default=None, init=False, repr=False)
    # Queue legs this container saw finished (final outcome, no email owed): a final outcome is
    # never rewritten, so a caller still waiting on such a leg costs no ledger read on later polls.
    _finished: OrderedDict[tuple[str, str | None], dict[str, Any]] = field(
        default_factory=OrderedDict, init=False, repr=False
    )
    _discovery: DiscoveryBudget | None = field(default=None, init=False, repr=False)
    _sweep_recorded: str | None = field(default=None, init=False, repr=False)
    # Legs whose rule has a step still to come, and when it falls due (epoch seconds).
    _due: dict[tuple[str, str | None], float] = field(default_factory=dict, init=False, repr=False)
    # Of those, the legs due only for the staffing guard's look (guard.next_look): a due step goes first.
    _looks: set[tuple[str, str | None]] = field(default_factory=set, init=False, repr=False)

    def run_invocation(self, deadline: Deadline, owner: str) -> dict[str, Any]:
        """All polls of one invocation under one lease; the lease is released however it ends."""
        self.genesys.begin(deadline)
        lease = self.store.acquire_lease(owner, lease_seconds(deadline))
        if lease is None:
            metrics.add_metric(name="LeaseHeld", unit="Count", value=1)
            logger.warning("another invocation holds the lease; this one does nothing")
            return {"status": "lease_held", "polls": []}
        reports: list[PollReport] = []
        # The sweep continues where the last poll left it, whichever container ran that poll.
        self.discovery().resume(_sweep_item(lease.sweep))
        self._sweep_recorded = lease.sweep
        watermark = lease.window_end
        interval = self.settings.poll_interval_seconds
        slot = self.clock()
        released = False
        try:
            # A poll every POLL_INTERVAL_SECONDS while the next one would still have MIN_POLL_SECONDS
            # to work. A poll that overran its interval (a backlog) is followed at once, and the
            # interval counts from there.
            while True:
                next_slot = slot + interval
                last = not deadline.allows(max(next_slot - self.clock(), 0) + MIN_POLL_SECONDS)
                report = self.poll(deadline, owner, watermark, release=last)
                released = report.released
                reports.append(report)
                watermark = datetime.fromisoformat(report.watermark_after) if report.watermark_after else watermark
                now = self.clock()
                slot = max(next_slot, now)
                if last or not deadline.allows(slot - now + MIN_POLL_SECONDS):
                    break
                if slot > now:
                    self.sleep(slot - now)
        finally:
            if not released:
                self.store.release_lease(owner)
            stats = self.genesys.stats
            for name, key in (
                ("Genesys429s", "throttled"),
                ("GenesysRetries", "retries"),
                ("TokenRefreshes", "token_refreshes"),
            ):
                metrics.add_metric(name=name, unit="Count", value=stats.get(key, 0))
        return {"status": "ok", "polls": [r.as_dict() for r in reports]}

    def poll(self, deadline: Deadline, owner: str, watermark: datetime | None, release: bool = False) -> PollReport:
        """One discovery. With `release`, the watermark write also frees the lease (one write, not two)."""
        matrix = self.matrix_source.current()
        now = datetime.fromtimestamp(self.clock(), UTC)
        s = self.settings
        if watermark is not None and watermark > now:
            # Written by a run whose clock was fast (or a bad write): it gates nothing, and is
            # brought back to this run's now when this poll completes.
            logger.warning(
                "the watermark is ahead of now; it is ignored and rewritten", extra={"watermark": _iso(watermark)}
            )
        today = now.replace(hour=0, minute=0, second=0, microsecond=0)
        start = today - timedelta(days=s.discovery_lookback_days)
        end = max(now, start + timedelta(seconds=1))
        # Genesys matches the interval by UTC day, so it must touch the day every caller started
        # on. A container whose clock runs behind DynamoDB's (the shared clock; the lease already
        # taught us the offset) would, just after midnight, not touch today and miss every caller
        # who queued since: then the interval ends at DynamoDB's now.
        shared = datetime.fromtimestamp(self.adapters.store.now(), UTC)
        if shared.date() > end.date():
            end = shared
        report = PollReport(
            window_start=_iso(start),
            window_end=_iso(end),
            watermark_before=_iso(watermark) if watermark else None,
            watermark_after=_iso(watermark) if watermark else None,
            matrix_version=matrix.version,
            event_mode=s.event_mode,
            rules_failed=len(matrix.broken_rules),
        )
        calls_before = self.genesys.stats["calls"]
        pages = self.discovery().plan()
        self._serve_due(pages, start, end, matrix, now, deadline, report)
        unfinished: PageRequest | None = None  # the page being read or handled (read again next poll)
        while not deadline.expired:
            request = pages.page(deadline, self.sleep)
            if request is None:
                report.share_spent = pages.share_spent  # not a problem: the next poll continues
                break
            unfinished = request
            page = request.number
            try:
                result = self.genesys.query_waiting(start, end, page, newest_first=request.newest_first)
            except OutOfTime:
                report.problem = "time ran out; the rest is polled next time"
                break
            except GenesysError as exc:
                report.problem = f"discovery query failed on page {page}: {exc}"
                logger.error("discovery query failed; the rest is polled next time", extra={"error": str(exc)})
                break
            pages.read(request, result)
            report.pages += 1
            outcomes = self._serve(result.conversations, matrix, now, deadline, report)
            # A page is left only when every caller on it was handled; else the next poll reads it again.
            if deadline.expired or any(o is None or o.out_of_time for o in outcomes):
                report.problem = "time ran out; the rest is polled next time"
                break
            if any(o.retry_page for o in outcomes if o is not None):
                report.problem = f"a caller on page {page} is left for the next poll; the rest is polled then"
                break
            # Only an empty page ends the list: totalHits is approximate (Genesys developer blog,
            # "Analytics conversations API behavior", 2022-04-21) and a page may come back short.
            pages.finished(request, result)
            unfinished = None
            if pages.complete:
                report.complete = True
                break
        if unfinished is not None:
            pages.stopped_at(unfinished)
        report.next_page = self.discovery().next_page
        self._record_sweep(owner)
        # A sweep over the whole list may span polls: the watermark says when the last complete
        # one began (every caller waiting since then was read), never ahead of this run's now.
        swept_from = _sweep_start(self.discovery(), now)
        if report.complete:
            # Never ahead of this run's now; the lease holder may also move it back.
            if self.store.advance_watermark(owner, swept_from, release=release):
                report.watermark_after = _iso(swept_from)
                report.released = release
            else:
                report.problem = "lost the lease; the watermark was left for the holder"
                logger.error(report.problem)
        report.genesys_calls = self.genesys.stats["calls"] - calls_before
        self._emit(report, now)
        logger.info("poll finished", extra={"report": report.as_dict()})
        return report

    def _serve(
        self, conversations: list[Discovered], matrix: Matrix, now: datetime, deadline: Deadline, report: PollReport
    ) -> list[Outcome | None]:
        """Serve a page's callers (None: not reached before the deadline), and note in the report."""
        ledger = self._ledger([(c.conversation_id, c.leg) for c in conversations])

        def handle(found: Discovered) -> Outcome | None:
            if deadline.expired:
                return None
            prior = ledger.get((found.conversation_id, found.leg))
            try:
                return process_conversation(found, prior, matrix, self.adapters, now, run_ladder=True)
            except (ClientError, BotoCoreError) as exc:
                # One caller's AWS call (its claim or outcome in DynamoDB, a secret) failed after
                # botocore's retries: that caller waits for the next poll; the page's others are served.
                logger.warning(
                    "AWS call failed; the caller is tried again on the next poll",
                    extra={"conversation_id": found.conversation_id, "reason": type(exc).__name__},
                )
                return Outcome(
                    found.conversation_id, "pending", final=False, reason=type(exc).__name__, retry_page=True
                )

        # A page's conversations are independent: a few threads clear a backlog at the rate
        # budget's pace instead of one round trip at a time.
        outcomes = list(self._executor().map(handle, conversations))
        for found, outcome in zip(conversations, outcomes, strict=True):
            report.seen += 1
            if outcome is None:
                report.outcomes["pending"] += 1
                continue
            report.outcomes[outcome.outcome] += 1
            report.notified += int(outcome.notified)
            report.escalation_steps += outcome.steps
            report.skills_withheld += outcome.withheld
            report.withheld_applied += outcome.withheld_applied
            report.requirements_relaxed += outcome.relaxed
            key = (found.conversation_id, found.leg)
            self._remember_finished(key, ledger.get(key), outcome)
            self._schedule(found, ledger.get(key), outcome, matrix)
        return outcomes

    def _schedule(self, found: Discovered, prior: dict[str, Any] | None, outcome: Outcome, matrix: Matrix) -> None:
        """Note when the leg's next escalation step falls due, so that poll looks the caller up by
        id (`_serve_due`) instead of waiting for the sweep to come round to them."""
        key = (found.conversation_id, found.leg)
        entry = outcome.entry or prior or {}
        rule_id = outcome.rule_id or entry.get("rule_id")
        rule = matrix.rule(rule_id) if rule_id and outcome.outcome in LADDER_OUTCOMES else None
        applied = max((int(a) for a in entry.get("steps_applied") or []), default=-1)
        after = min((step.after for step in rule.escalate if step.after > applied), default=None) if rule else None
        step_at = None if after is None else found.waiting_since.timestamp() + after
        # The staffing guard's repairs ride the same path: a leg with withheld parts every poll, an
        # unstaffed requirement when its hysteresis runs out (guard.next_look).
        guard_at = None
        if self.adapters.guard_on:  # `unstaffed_since` is in DynamoDB's time; `at` is in this container's
            offset = self.adapters.store.clock_offset()
            look = next_look(entry, self.clock() + offset, self.adapters.relax_seconds)
            guard_at = None if look is None else look - offset
        at = min((t for t in (step_at, guard_at) if t is not None), default=None)
        if at is None or not found.in_queue or found.left_queue:
            self._due.pop(key, None)
            self._looks.discard(key)
            return
        self._due[key] = at
        if step_at is None or (guard_at is not None and guard_at < step_at):
            self._looks.add(key)
        else:
            self._looks.discard(key)
        while len(self._due) > FINISHED_CACHE_SIZE:
            self._looks.discard(oldest := next(iter(self._due)))
            self._due.pop(oldest)

    def _serve_due(
        self,
        pages: PollPages,
        start: datetime,
        end: datetime,
        matrix: Matrix,
        now: datetime,
        deadline: Deadline,
        report: PollReport,
    ) -> None:
        """The callers whose next step is due (as this container last saw their legs): one query
        page asks which of them still wait, and those are served now, wherever the sweep is.
        A new container knows none: their steps wait for the sweep (README, "Escalation")."""
        moment = now.timestamp()
        # Due steps first, then the guard's looks (a withheld part, a relax): each in order of time.
        due = sorted(((key in self._looks, at), key) for key, at in self._due.items() if at <= moment)[:DUE_PER_QUERY]
        if not due or deadline.expired or not pages.due_page(deadline, self.sleep):
            return
        ids = list(dict.fromkeys(key[0] for _, key in due))
        try:
            result = self.genesys.query_waiting(start, end, 1, conversation_ids=ids)
        except (OutOfTime, GenesysError) as exc:
            logger.warning("the due-step query failed; the sweep reaches those callers", extra={"error": str(exc)})
            return
        pages.read(PageRequest(1, by_id=True), result)
        report.pages += 1
        waiting = {(c.conversation_id, c.leg) for c in result.conversations}
        for _, key in due:
            if key not in waiting:  # left the queue (or this leg of it): nothing more is due
                self._due.pop(key, None)
                self._looks.discard(key)
        self._serve(result.conversations, matrix, now, deadline, report)

    def discovery(self) -> DiscoveryBudget:
        """The discovery share of this container's poller (its place in the sweep included)."""
        if self._discovery is None:
            s = self.settings
            self._discovery = DiscoveryBudget.of(
                s.requests_per_minute, s.rate_headroom, s.discovery_budget_share, self.clock, s.poll_interval_seconds
            )
        return self._discovery

    def _record_sweep(self, owner: str) -> None:
        """Keep the sweep's place on the watermark item (under the lease), so the next poll
        continues it even in a new container; written only when it moved."""
        place = json.dumps(self.discovery().place.as_item(), sort_keys=True)
        if place == self._sweep_recorded:
            return
        try:
            if self.store.record_sweep(owner, place):
                self._sweep_recorded = place
        except (ClientError, BotoCoreError) as exc:
            # This container still knows the place; another would start the sweep again.
            logger.warning("the sweep's place was not recorded", extra={"reason": type(exc).__name__})

    def _ledger(self, keys: list[tuple[str, str | None]]) -> dict[tuple[str, str | None], dict[str, Any]]:
        known = {k: self._finished[k] for k in keys if k in self._finished}
        missing = [k for k in keys if k not in known]
        return {**known, **(self.store.ledger(missing) if missing else {})}

    def _remember_finished(self, key: tuple[str, str | None], prior: dict[str, Any] | None, outcome: Outcome) -> None:
        """Remember a finished leg that owes no email, with what its escalation ladder needs (the
        steps applied and the routing we left), so later polls cost no ledger read; forget it when
        another run moved its ladder on (our copy is stale)."""
        if outcome.stale or outcome.email_owed:
            self._finished.pop(key, None)
            return
        if outcome.outcome == "done" and (outcome.entry or prior):
            self._remember(key, outcome.entry or prior or {})
        elif outcome.outcome in FINAL_OUTCOMES:
            # Decided just now: remembered from the outcome (with the ladder's fields when a
            # rule was applied), so the next poll costs no ledger read.
            self._remember(key, outcome.entry or {"outcome": outcome.outcome, "rule_id": outcome.rule_id})

    def _remember(self, key: tuple[str, str | None], entry: dict[str, Any]) -> None:
        self._finished[key] = {k: entry[k] for k in _REMEMBERED if entry.get(k) is not None}
        self._finished.move_to_end(key)
        while len(self._finished) > FINISHED_CACHE_SIZE:
            self._finished.popitem(last=False)

    def _executor(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=self.settings.concurrency, thread_name_prefix="conversation")
        return self._pool

    def _emit(self, report: PollReport, now: datetime) -> None:
        metrics.add_metric(name="ConversationsSeen", unit="Count", value=report.seen)
        for name in ("applied", "unchanged", "gone", "failed", "pending"):
            metrics.add_metric(name=f"Conversations{name.title()}", unit="Count", value=report.outcomes.get(name, 0))
        metrics.add_metric(name="ConversationsMatched", unit="Count", value=report.matched)
        # Rules whose requirement had no routing effect: someone else's skill expression takes priority.
        metrics.add_metric(name="RulesShadowed", unit="Count", value=report.outcomes.get("shadowed", 0))
        metrics.add_metric(name="NotificationsSent", unit="Count", value=report.notified)
        metrics.add_metric(name="EscalationStepsApplied", unit="Count", value=report.escalation_steps)
        metrics.add_metric(name="SkillsWithheldUnstaffed", unit="Count", value=report.skills_withheld)
        metrics.add_metric(name="RequirementsRelaxedUnstaffed", unit="Count", value=report.requirements_relaxed)
        if report.event_mode:
            metrics.add_metric(name="Reconciled", unit="Count", value=report.outcomes.get("applied", 0))
        metrics.add_metric(name="GenesysCalls", unit="Count", value=report.genesys_calls)
        # Rules in force whose names did not resolve (matrix_source.py): alarmed while above 0.
        metrics.add_metric(name="MatrixRulesFailed", unit="Count", value=report.rules_failed)
        if report.watermark_after:
            lag = (now - datetime.fromisoformat(report.watermark_after)).total_seconds()
            metrics.add_metric(name="WatermarkLagSeconds", unit="Seconds", value=max(lag, 0))


def lease_seconds(deadline: Deadline) -> float:
    """How long the lease taken now lasts: until the work stops (SAFETY_MARGIN_SECONDS before the
    timeout), and never so long that a crashed run's lease is still judged held when its invocation
    would have timed out: a claim counts as lapsed only SKEW_MARGIN_SECONDS after its expiry, in
    DynamoDB's whole seconds. The next scheduled run starts a minute after this one, later than the
    timeout (58 s), so it always finds a crashed run's lease lapsed (README "When things fail")."""
    return max(1.0, min(deadline.remaining(), deadline.until_timeout() - SKEW_MARGIN_SECONDS - 1))


def _sweep_item(recorded: str | None) -> dict[str, Any] | None:
    if not recorded:
        return None
    try:
        item = json.loads(recorded)
    except ValueError:
        return None
    return item if isinstance(item, dict) else None


def _sweep_start(discovery: DiscoveryBudget, now: datetime) -> datetime:
    started = discovery.sweep_started
    if started is None:
        return now
    return min(now, datetime.fromtimestamp(started, UTC))


_iso = format_time
