"""`skill-router why CONVERSATION_ID | --queue QUEUE_ID`: why is this caller still waiting?

For each waiting queue leg: its requirements and who set them, how many members on queue could
take it now and which requirement excludes the rest, what the staffing guard withheld or relaxed,
and the escalation steps applied and due (skill_router/why.py says it; this reads what it needs).
Like `doctor`, it uses the stack's own OAuth client (a login of its own: the function's token
cache is neither read nor written) and changes nothing. Its Genesys calls are bounded: one GET
per caller shown (at most --limit), one discovery query page for --queue (the function's own
query, narrowed to the queue), the queue's members pages, and the matrix's name look-ups, all
through a rate budget like the function's. Every failure is one line saying what to do.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from skill_router.cli.errors import (
    EXIT_INVALID,
    EXIT_NO_MATCH,
    EXIT_OK,
    EXIT_USAGE,
    UserError,
    aws_problem,
    function_logs_muted,
)
from skill_router.cli.genesys_login import login, stack_settings
from skill_router.errors import MatrixError, OutOfTime, SkillRouterError
from skill_router.genesys.client import PAGE_SIZE, QUEUE_MEMBERS_OPERATION
from skill_router.ids import is_genesys_id
from skill_router.settings import Settings
from skill_router.staffing import MEMBERS_PERMISSION

# Wall-clock bound of one `why`: every wait and retry of its Genesys calls ends by then.
TIME_BUDGET_SECONDS = 60.0
# The endpoint and the permission of each call `why` makes (by the client's operation name), for
# a 403's one line (README Deploy step 1; the SDK's RoutingApi.md for the members' "any of").
PERMISSIONS = {
    "GET /api/v2/conversations/{conversationId}": ("GET /api/v2/conversations/{id}", "conversation:communication:view"),
    "POST /api/v2/analytics/conversations/details/query": (
        "POST /api/v2/analytics/conversations/details/query",
        "analytics:conversationDetail:view",
    ),
    QUEUE_MEMBERS_OPERATION: ("GET /api/v2/routing/queues/{queueId}/members", MEMBERS_PERMISSION),
    "GET /api/v2/routing/skills": ("GET /api/v2/routing/skills", "routing:skill:view"),
}


def why(args: argparse.Namespace) -> int:
    with function_logs_muted():  # the function's own log lines would bury the explanation
        return _why(args)


def _why(args: argparse.Namespace) -> int:
    conversation, queue = _target(args)
    settings = stack_settings(args)
    reader = Reader(settings, login(settings, TIME_BUDGET_SECONDS, genesys_problem))
    try:
        if conversation is not None:
            return reader.conversation(conversation)
        return reader.queue(str(queue), args.limit)
    except OutOfTime:
        raise UserError(
            f"Genesys did not answer within {TIME_BUDGET_SECONDS:.0f} s (slow, or the rate budget is spent); "
            "try again in a minute"
        ) from None
    except SkillRouterError as exc:
        raise UserError(genesys_problem(exc)) from None


def _target(args: argparse.Namespace) -> tuple[str | None, str | None]:
    """The conversation or the queue, checked as Genesys ids before anything is read or sent."""
    if (args.conversation is None) == (args.queue is None):
        raise UserError("give a CONVERSATION_ID or --queue QUEUE_ID (one of them)", EXIT_USAGE)
    value = (args.conversation if args.conversation is not None else args.queue).strip()
    if not is_genesys_id(value):
        what = "CONVERSATION_ID" if args.conversation is not None else "--queue"
        shown = repr(value) if len(value) <= 40 else repr(value[:37]) + "..."
        kind = "conversation" if args.conversation is not None else "queue"
        raise UserError(
            f"{what} {shown} is not a Genesys {kind} id (a UUID, as Genesys' admin pages and the function's "
            "logs show it); copy it from there",
            EXIT_USAGE,
        )
    value = value.lower()
    return (value, None) if args.conversation is not None else (None, value)


def genesys_problem(exc: Exception) -> str:
    """One line for a failed Genesys call: what failed and what to do."""
    from skill_router.genesys.errors import GenesysError

    if not isinstance(exc, GenesysError):
        return str(exc)
    if exc.status == 403:
        endpoint, permission = PERMISSIONS.get(exc.operation, (exc.operation, None))
        need = f"add {permission} to the OAuth client's role" if permission else "check the OAuth client's role"
        return f"{endpoint} answered 403: {need} (README Deploy step 1; `skill-router doctor` checks it)"
    if exc.status == 401:
        return f"{exc.operation}: Genesys rejects the OAuth client's token; check the client is active in this region"
    if exc.transient:
        return f"Genesys did not answer ({exc}); try again in a minute (status: status.mypurecloud.com)"
    return str(exc)


@dataclass
class Reader:
    """What `why` reads for each caller: Genesys, the ledger, the matrix, the queue's staffing."""

    settings: Settings
    genesys: Any
    staffing: dict[str, tuple[Any, str | None]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    _matrix: Any = None
    _names: Any = None
    _store: Any = None

    def conversation(self, conversation_id: str) -> int:
        live = self.genesys.get_conversation(conversation_id)
        if live is None:
            raise UserError(
                f"conversation {conversation_id} not found in Genesys: it ended or never existed in this org; "
                f"`skill-router audit --conversation {conversation_id}` shows what skill-router did",
                EXIT_NO_MATCH,
            )
        if not live.in_queue:
            print(
                f"conversation {conversation_id} is not waiting in a queue now (answered, ended, or still in the "
                f"flow); `skill-router audit --conversation {conversation_id}` shows what skill-router did"
            )
            return EXIT_NO_MATCH
        print(self.explain(live))
        return self._status()

    def queue(self, queue_id: str, limit: int) -> int:
        """Everyone waiting in the queue, longest waiting first, at most `limit` (one query page)."""
        now = datetime.now(UTC)
        # The function's own discovery query (the same interval: DISCOVERY_LOOKBACK_DAYS whole
        # UTC days to now), narrowed to this queue: one page.
        today = now.replace(hour=0, minute=0, second=0, microsecond=0)
        start = today - timedelta(days=self.settings.discovery_lookback_days)
        page = self.genesys.query_waiting(start, now, 1, queue_id=queue_id)
        found = [c for c in page.conversations if c.in_queue and (c.queue_id or "").lower() == queue_id]
        if not found:
            print(f"nobody is waiting in queue {queue_id} now (as Genesys' analytics shows it)")
            return EXIT_NO_MATCH
        shown = found[:limit]
        # A full page may have more behind it: Genesys' totalHits (approximate) says how many.
        full = page.size >= PAGE_SIZE
        total = max(page.total_hits, len(found)) if full else len(found)
        more = total - len(shown)
        title = f"queue {queue_id}: {f'about {total}' if full else total} waiting"
        print(title + (f"; the {len(shown)} longest waiting below ({more} more not shown)" if more > 0 else ""))
        for discovered in shown:
            live = self.genesys.get_conversation(discovered.conversation_id)
            print()
            if live is None or not live.in_queue or (live.queue_id or "").lower() != queue_id:
                print(f"conversation {discovered.conversation_id}: left the queue since the query")
                continue
            print(self.explain(live))
        return self._status()

    def _status(self) -> int:
        for problem in dict.fromkeys(self.problems):
            print(f"skill-router: {problem}", file=sys.stderr)
        return EXIT_INVALID if self.problems else EXIT_OK

    def explain(self, live: Any) -> str:
        from skill_router import why as story
        from skill_router.genesys.client import leg_key

        caller = story.Caller(
            conversation_id=live.conversation_id.lower(),
            queue_id=str(live.queue_id),
            participant_id=live.participant_id,
            skill_ids=tuple(live.skill_ids),
            language_id=live.language_id,
            priority=live.priority,
            entered=live.queue_entered,
            skill_expression=live.skill_expression,
            queue_name=live.queue_name,
        )
        leg = leg_key(live.participant_id.lower() if live.participant_id else None, live.queue_id, live.queue_entered)
        entry = self.store().entry(caller.conversation_id, leg) if leg else None
        if entry is None and live.participant_id and live.queue_entered:
            # Event mode names a leg queue@entry time when its event carried no participant id.
            entry = self.store().entry(caller.conversation_id, leg_key(None, live.queue_id, live.queue_entered))
        matrix, names = self.matrix()
        rule = matrix.rule(entry.get("rule_id")) if matrix is not None and entry else None
        staffing, problem = self.queue_staffing(caller.queue_id)
        return story.explain(
            caller,
            entry,
            rule,
            staffing,
            names,
            datetime.now(UTC),
            staffing_problem=problem,
            matrix_version=matrix.version if matrix is not None else None,
        )

    def store(self) -> Any:
        if self._store is None:
            from skill_router import aws
            from skill_router.store import StateStore

            # A DRY_RUN deployment keeps its decisions apart (`dryrun#...`): read those.
            table = StateStore(self.settings.state_table, dry_run=self.settings.dry_run, client=aws.client("dynamodb"))
            self._store = _Ledger(table, self.settings)
        return self._store

    def matrix(self) -> tuple[Any, Any]:
        """The matrix in force (its rules' ladders) and the skill and language names it uses,
        resolved through Genesys as the function resolves them; without it, ids only."""
        if self._names is not None:
            return self._matrix, self._names
        from skill_router.matrix import resolve_matrix
        from skill_router.matrix_source import MatrixSource
        from skill_router.why import Names

        names = Names()

        def skills(wanted: Sequence[str]) -> dict[str, str]:
            found = dict(self.genesys.skill_ids_by_name(wanted))
            names.skills.update({i.lower(): n for n, i in found.items()})
            return found

        def languages(wanted: Sequence[str]) -> dict[str, str]:
            found = dict(self.genesys.language_ids_by_name(wanted))
            names.languages.update({i.lower(): n for n, i in found.items()})
            return found

        s = self.settings
        source = MatrixSource(
            s.matrix_bucket,
            s.matrix_key,
            # `why` emails nobody: a rule's user ids are not looked up (each would cost a call).
            resolver=lambda m: resolve_matrix(m, skills, lambda user: user, languages),
            limits={
                "max_wait_seconds": s.max_wait_seconds,
                "notify_channel": s.notify_channel,
                "lookback_days": s.discovery_lookback_days,
            },
        )
        try:
            self._matrix = source.current()
        except MatrixError as exc:
            self.problems.append(f"the matrix could not be read, so rules' steps are not shown: {exc.problems[0]}")
        except SkillRouterError as exc:
            self.problems.append(f"the matrix could not be read, so rules' steps are not shown: {exc}")
        except Exception as exc:
            self.problems.append(aws_problem(exc, f"reading the matrix {source.location}"))
        self._names = names
        return self._matrix, names

    def queue_staffing(self, queue_id: str) -> tuple[Any, str | None]:
        """The queue's members now (read once per queue), or why they could not be read."""
        if queue_id in self.staffing:
            return self.staffing[queue_id]
        from skill_router.genesys.errors import GenesysError
        from skill_router.staffing import Staffing

        try:
            members = self.genesys.queue_members(queue_id)
        except GenesysError as exc:
            problem = genesys_problem(exc)
            self.problems.append(problem)
            self.staffing[queue_id] = (None, problem)
        else:
            self.staffing[queue_id] = (Staffing(queue_id, tuple(members), time.time()), None)
        return self.staffing[queue_id]


@dataclass
class _Ledger:
    """The leg's ledger entry, an AWS failure said in one line."""

    store: Any
    settings: Settings

    def entry(self, conversation_id: str, leg: str) -> dict[str, Any] | None:
        try:
            found: dict[str, Any] | None = self.store.entry(conversation_id, leg)
        except Exception as exc:
            if isinstance(exc, SkillRouterError):
                raise
            raise UserError(aws_problem(exc, f"reading table {self.settings.state_table!r}")) from None
        return found
