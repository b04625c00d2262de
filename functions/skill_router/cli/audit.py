"""`skill-router audit --conversation ID | --since WHEN`: the decisions and escalation steps the
function recorded, each with its own time (a conversation's as its story, leg by leg)."""

from __future__ import annotations

import argparse
import os
from datetime import UTC, datetime, timedelta

from skill_router.cli.errors import EXIT_NO_MATCH, EXIT_OK, EXIT_USAGE, UserError, aws_problem
from skill_router.durations import parse_duration
from skill_router.errors import SkillRouterError
from skill_router.ids import is_genesys_id


def parse_since(text: str, now: datetime | None = None) -> datetime:
    """A duration before now (the one grammar of durations: 90, 30m, 1h, 2d), or an ISO-8601 time."""
    now = now or datetime.now(UTC)
    shown = repr(text) if len(text) <= 40 else repr(text[:37]) + "..."
    seconds = parse_duration(text)
    if seconds is not None:
        try:
            return now - timedelta(seconds=seconds)
        except OverflowError:  # before the year 1: a duration no ledger can have
            raise ValueError(f"--since {shown}: that is before the year 1; give a duration like 30m, 1h, 2d") from None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"--since {shown}: use a duration like 30m, 1h, 2d or an ISO-8601 time") from None
    try:  # the ledger's times are UTC: 0001-01-01T00:00+01:00 is no time there
        return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
    except OverflowError:
        raise ValueError(f"--since {shown}: outside the years 1 to 9999 in UTC; give a time within them") from None


def audit(args: argparse.Namespace) -> int:
    from skill_router import audit as trail
    from skill_router import aws
    from skill_router.store import StateStore

    table = args.table or os.environ.get("STATE_TABLE")
    if not table:
        raise UserError("give --table (the stack's StateTableName output) or set STATE_TABLE", EXIT_USAGE)
    if args.conversation is not None and not is_genesys_id(args.conversation.strip()):
        shown = repr(args.conversation) if len(args.conversation) <= 40 else repr(args.conversation[:37]) + "..."
        raise UserError(
            f"--conversation {shown} is not a Genesys conversation id (a UUID, as the function's logs show it)",
            EXIT_USAGE,
        )
    moment = None
    if args.since is not None:
        try:
            moment = parse_since(args.since)
        except ValueError as exc:
            raise UserError(str(exc), EXIT_USAGE) from None
    try:
        store = StateStore(table, dry_run=args.dry_run, client=aws.client("dynamodb", args.region))
        conversation = args.conversation.strip() if moment is None else ""
        rows = trail.conversation(store, conversation) if moment is None else trail.since(store, moment)
    except Exception as exc:
        if isinstance(exc, SkillRouterError):
            raise
        raise UserError(aws_problem(exc, f"reading table {table!r}")) from None
    kind = "dry-run decision" if args.dry_run else "decision"
    if not rows:
        if moment is None:
            print(f"no {kind} recorded for {args.conversation} (never seen, or older than the ledger's TTL)")
        else:
            print(f"no {kind} recorded since {moment.isoformat(timespec='seconds')}")
        return EXIT_NO_MATCH
    print(trail.render(rows) if moment is not None else trail.render_story(conversation, rows))
    return EXIT_OK
