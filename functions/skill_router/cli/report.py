"""`skill-router report --since 24h`: did the rules help? Outcomes per rule and per escalation step
from Genesys' analytics, beside the callers no rule matched in the same queues (issue 22).

It reads the ledger (the decisions, as `audit --since` does), asks Genesys' details query for the
conversations the ledger names, PAGE_SIZE ids a request, and hands both to report.py's pure
arithmetic. Like `doctor` it logs in with the stack's OAuth client on its own (the function's
token cache is neither read nor written) and paces itself with a rate budget of its own sized as
the function's (GENESYS_REQUESTS_PER_MINUTE, GENESYS_RATE_HEADROOM), which also follows the
token's shared count in Genesys' `inin-ratelimit-*` headers: the deployed function's budget and
its containers are not touched. A progress line goes to stderr every few seconds on long runs.
Only counts, durations, rule and queue ids are written; never a caller's attributes (the details
query returns none) nor a conversation id.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from skill_router.cli.audit import parse_since
from skill_router.cli.errors import (
    EXIT_NO_MATCH,
    EXIT_OK,
    EXIT_USAGE,
    UserError,
    aws_problem,
    function_logs_muted,
    shown,
)
from skill_router.cli.genesys_login import client, stack_settings
from skill_router.cli.report_format import FORMATS, Header, render
from skill_router.errors import OutOfTime, SkillRouterError
from skill_router.report import ASSIGNED, BASELINE, build, decided_at, leg_key, leg_outcome, legs_to_read

BATCH = 100  # the details query's page size maximum (genesys/client.py PAGE_SIZE): one page per batch
LONGEST_INTERVAL_DAYS = 31  # "If you do provide a filter, the limit increases to 31 days" (Detail queries)
PROGRESS_SECONDS = 2.0
BATCH_SECONDS = 180.0  # a batch may wait this long for the rate budget and Genesys' Retry-After


def add_parser(commands: Any) -> None:
    p = commands.add_parser("report", help="outcomes per rule and escalation step, beside the callers no rule matched")
    p.add_argument("--since", required=True, metavar="WHEN", help="decisions since: 30m, 24h, 7d or an ISO-8601 time")
    p.add_argument("--until", metavar="WHEN", help="decisions before (default now): a duration ago or an ISO time")
    p.add_argument("--rule", metavar="ID", help="only this rule (its id, as the audit trail shows it)")
    p.add_argument("--format", choices=FORMATS, default="table", help="table (default), json, csv or html")
    p.add_argument("--output", metavar="FILE", help="write the report to FILE instead of stdout")
    p.add_argument("--stack", help="the CloudFormation stack name (reads its function's settings)")
    p.add_argument("--env", action="store_true", help="read the function's settings from this environment")
    p.add_argument("--region", help="the stack's region (default: AWS_DEFAULT_REGION)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    with function_logs_muted():  # the function's own log lines would bury the report
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    now = datetime.now(UTC)
    since, until = _period(args.since, args.until, now)
    rule = _rule(args.rule)
    settings = stack_settings(args)
    entries = _entries(settings.state_table, since)
    # The legs a row counts: a rule's (applied, unchanged) and the baseline's (no_match, no_intent).
    wanted = [e for e in entries if e.get("outcome") in (*ASSIGNED, *BASELINE) and _in_period(e, since, until)]
    if not any(e.get("leg") for e in wanted):
        print(f"no decision recorded from {_iso(since)} to {_iso(until)}", file=sys.stderr)
        return EXIT_NO_MATCH
    started = time.monotonic()
    details, calls = fetch_details(client(settings, max_attempts=None)[0], legs_to_read(wanted), since, now, settings)
    outcomes = {key: leg_outcome(details.get(key[0]), key[1], until) for e in wanted if (key := leg_key(e)) is not None}
    rows = build(wanted, outcomes, since, until, rule)
    if rule is not None and not any(r.kind == "rule" for r in rows):
        print(f"no decision of rule {rule!r} recorded from {_iso(since)} to {_iso(until)}", file=sys.stderr)
        return EXIT_NO_MATCH
    ids = legs_to_read(wanted)
    header = Header(
        since=_iso(since),
        until=_iso(until),
        generated_at=_iso(now),
        conversations=len(ids),
        without_details=sum(1 for cid in ids if cid not in details),
        genesys_calls=calls,
        seconds=time.monotonic() - started,
    )
    text = render(args.format, header, rows)
    if args.output:
        try:
            Path(args.output).write_text(text + "\n", encoding="utf-8")
        except OSError as exc:
            raise UserError(f"cannot write {shown(args.output)}: {exc.strerror or exc}") from None
        print(f"wrote {shown(args.output)} ({args.format}, {len(rows)} rows)", file=sys.stderr)
    else:
        print(text)
    return EXIT_OK


def fetch_details(
    genesys: Any,
    conversation_ids: Sequence[str],
    since: datetime,
    now: datetime,
    settings: Any,
    progress: Callable[[str], None] | None = None,
) -> tuple[dict[str, dict[str, Any]], int]:
    """Each conversation's details by id (missing: Genesys has none), and the Genesys calls spent.
    A batch Genesys refuses as too large (400) is split in halves; a single id it refuses has no
    details. Any other failure (after the client's retries, Retry-After honoured) is one line."""
    from skill_router.deadline import Deadline
    from skill_router.genesys.errors import GenesysError

    say = progress or (lambda line: print(line, file=sys.stderr, flush=True))
    # The details query matches conversations by the UTC day they started: a caller decided on at
    # `since` may have started DISCOVERY_LOOKBACK_DAYS earlier (a callback queued overnight).
    start = (since - timedelta(days=settings.discovery_lookback_days)).replace(
        hour=0, minute=0, second=0, microsecond=0
    )
    start = max(start, now - timedelta(days=LONGEST_INTERVAL_DAYS) + timedelta(minutes=1))
    found: dict[str, dict[str, Any]] = {}
    pending = [list(conversation_ids[i : i + BATCH]) for i in range(0, len(conversation_ids), BATCH)]
    calls, done, began, shown_at = 0, 0, time.monotonic(), time.monotonic()
    while pending:
        batch = pending.pop(0)
        genesys.begin(Deadline.fixed(BATCH_SECONDS))
        try:
            for raw in genesys.conversation_details(batch, start, now):
                found[str(raw["conversationId"]).lower()] = raw
            done += len(batch)
        except GenesysError as exc:
            if exc.status != 400:
                raise UserError(
                    f"Genesys analytics: {exc} (after {done} of {len(conversation_ids)} conversations; "
                    "try again later, or a shorter --since)"
                ) from None
            if len(batch) > 1:
                pending[:0] = [batch[: len(batch) // 2], batch[len(batch) // 2 :]]
            else:
                done += 1  # refused alone: reported as without details
        except OutOfTime as exc:
            raise UserError(
                f"Genesys analytics: {exc} (after {done} of {len(conversation_ids)} conversations)"
            ) from None
        finally:
            calls += genesys.stats.get("calls", 0)
        if len(conversation_ids) > BATCH and (time.monotonic() - shown_at >= PROGRESS_SECONDS or not pending):
            shown_at = time.monotonic()
            say(
                f"report: {done} of {len(conversation_ids)} conversations read from Genesys analytics, "
                f"{calls} calls, {shown_at - began:.0f} s"
            )
    return found, calls


def _period(since_text: str, until_text: str | None, now: datetime) -> tuple[datetime, datetime]:
    moments = []
    for option, text in (("--since", since_text), ("--until", until_text)):
        if text is None:
            moments.append(now)
            continue
        try:
            moments.append(parse_since(text, now))
        except ValueError as exc:  # parse_since speaks of --since: this may be --until
            raise UserError(str(exc).replace("--since", option, 1), EXIT_USAGE) from None
    since, until = moments
    if until <= since:
        raise UserError(f"--until {_iso(until)} is not after --since {_iso(since)}", EXIT_USAGE)
    return since, min(until, now)


def _rule(text: str | None) -> str | None:
    if text is None:
        return None
    if not text.strip() or len(text) > 200 or not text.isprintable():
        raise UserError(
            "--rule: give a rule id as the audit trail shows it (printable, at most 200 characters)", EXIT_USAGE
        )
    return text.strip()


def _entries(table: str, since: datetime) -> list[dict[str, Any]]:
    from skill_router import aws
    from skill_router.store import StateStore

    try:
        return StateStore(table, client=aws.client("dynamodb")).entries_since(since)
    except SkillRouterError:
        raise
    except Exception as exc:
        raise UserError(aws_problem(exc, f"reading table {table!r}")) from None


def _in_period(entry: Mapping[str, Any], since: datetime, until: datetime) -> bool:
    at = decided_at(entry)
    return at is not None and since <= at < until


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
