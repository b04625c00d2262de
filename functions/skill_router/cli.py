"""`skill-router`: the skill matrix and the audit trail from a terminal or a CI job.

    skill-router matrix validate FILE...            exit 1 with every problem (file:line rule N 'field')
    skill-router matrix explain FILE --intent TEXT  which rule matches and why; exit 3 when none does
                                   [--waited 90s]   and what its escalation ladder does by then
    skill-router matrix upload FILE --bucket B      validate, then put it in S3 (refuses a broken file)
    skill-router matrix diff OLD NEW                which sample intents change outcome; exit 4 if any
    skill-router audit --conversation ID | --since 1h   the decisions the function recorded

It never imports the Genesys SDK: skill names and user ids in a matrix are resolved by the
function when it loads the file (an unknown one rejects the new file there).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from skill_router import escalation_text as escalation
from skill_router.errors import MatrixError
from skill_router.matrix import (
    DEFAULT_MAX_WAIT_SECONDS,
    NOTIFY_RECIPIENT_LIMITS,
    Matrix,
    Rule,
    parse_duration,
    parse_matrix,
)

EXIT_OK, EXIT_INVALID, EXIT_NO_MATCH, EXIT_CHANGED = 0, 1, 3, 4


class UserError(Exception):
    """A mistake on the command line or in a file: printed as one line, no traceback."""


def load(path: str, **limits: Any) -> Matrix:
    file = Path(path)
    if not file.is_file():
        raise UserError(f"{path}: no such file")
    return parse_matrix(file.read_bytes(), path, **limits)


# --- matrix -------------------------------------------------------------------------------------


def validate(args: argparse.Namespace) -> int:
    status = EXIT_OK
    limits = {"max_wait_seconds": args.max_wait, "notify_channel": args.notify_channel}
    for path in args.files:
        try:
            matrix = load(path, **limits)
        except MatrixError as exc:
            print("\n".join(exc.problems))
            status = EXIT_INVALID
            continue
        for warning in matrix.warnings:
            print(f"warning: {warning}")
        print(f"{path}: {len(matrix.rules)} rules OK")
    return status


def describe(rule: Rule) -> list[str]:
    skills = [*rule.skill_ids, *(f"{name} (name, resolved by the function)" for name in rule.skill_names)]
    lines = [f"  skills merged in: {', '.join(skills)} (existing skills are kept)"]
    lines.append(
        f"  routing priority: {rule.routing_priority}"
        if rule.routing_priority is not None
        else "  routing priority: unchanged"
    )
    recipients = [*rule.notify, *(f"user {u}" for u in rule.notify_users)]
    if rule.high_priority and recipients:
        lines.append(f"  supervisor email: once, to {', '.join(recipients)}")
    else:
        lines.append("  supervisor email: none (only rules with priority: high email)")
    lines += escalation.describe_rule(rule)
    return lines


def explain(args: argparse.Namespace) -> int:
    matrix = load(args.file)
    attributes = dict(pair.split("=", 1) for pair in args.attribute)
    if args.intent is not None:
        attributes[args.intent_attribute] = args.intent
    hit = matrix.match(attributes, args.intent_attribute, args.queue)
    if hit is not None:
        rule, value = hit
        keyword = rule.matching_keyword(value)
        attribute = rule.attribute or args.intent_attribute
        print(f"rule {rule.position} '{rule.id}' (line {rule.line}) matches:")
        print(f"  {attribute!r} {rule.match}-matches keyword {keyword!r} (case-insensitive); first match wins")
        print("\n".join(describe(rule)))
        if args.waited is not None:
            print("\n".join(escalation.describe_wait(rule, args.waited)))
        return EXIT_OK
    print("no rule matches; nothing would change")
    for rule in matrix.rules:
        attribute = rule.attribute or args.intent_attribute
        if rule.queues and args.queue not in rule.queues:
            why = f"only for queues {', '.join(rule.queues)}"
        elif not attributes.get(attribute):
            why = f"attribute {attribute!r} is not set"
        else:
            why = f"none of {', '.join(repr(k) for k in rule.keywords)} ({rule.match}) is in {attribute!r}"
        print(f"  rule {rule.position} '{rule.id}' (line {rule.line}): {why}")
    return EXIT_NO_MATCH


def upload(args: argparse.Namespace) -> int:
    matrix = load(args.file)  # a broken file raises MatrixError: nothing is uploaded
    import boto3  # only here: validate and explain need no AWS

    client = boto3.client("s3", region_name=args.region) if args.region else boto3.client("s3")
    response = client.put_object(Bucket=args.bucket, Key=args.key, Body=Path(args.file).read_bytes())
    version = response.get("VersionId") or str(response.get("ETag", "")).strip('"')
    print(f"uploaded {args.file} ({len(matrix.rules)} rules) to s3://{args.bucket}/{args.key}, version {version}")
    print("the function uses it from its next poll")
    return EXIT_OK


def outcome(matrix: Matrix, intent: str, attribute: str) -> str:
    hit = matrix.match({attribute: intent}, attribute, None)
    if hit is None:
        return "no match"
    rule = hit[0]
    email = "email" if rule.high_priority and (rule.notify or rule.notify_users) else "no email"
    skills = ", ".join([*rule.skill_ids, *rule.skill_names])
    return f"rule '{rule.id}': {skills}; priority {rule.routing_priority}; {email}" + escalation.summary(rule)


def diff(args: argparse.Namespace) -> int:
    old, new = load(args.old), load(args.new)
    samples = [k for m in (old, new) for r in m.rules if r.match != "regex" for k in r.keywords]
    if args.samples:
        samples += [line.strip() for line in Path(args.samples).read_text().splitlines() if line.strip()]
    changed = 0
    for intent in dict.fromkeys(samples):
        before, after = outcome(old, intent, args.intent_attribute), outcome(new, intent, args.intent_attribute)
        if before != after:
            changed += 1
            print(f"{intent!r}:\n  before: {before}\n  after:  {after}")
    print(f"{changed} of {len(dict.fromkeys(samples))} sample intents change outcome")
    return EXIT_CHANGED if changed else EXIT_OK


# --- audit --------------------------------------------------------------------------------------


def audit(args: argparse.Namespace) -> int:
    from skill_router import audit as trail
    from skill_router.store import StateStore

    table = args.table or os.environ.get("STATE_TABLE")
    if not table:
        raise UserError("give --table (the stack's StateTableName output) or set STATE_TABLE")
    store = StateStore(table, dry_run=args.dry_run)
    if args.conversation:
        entry = trail.conversation(store, args.conversation)
        if entry is None:
            print(f"no decision recorded for {args.conversation} (never seen, or older than the ledger's TTL)")
            return EXIT_NO_MATCH
        entries = [entry]
    else:
        try:
            moment = trail.parse_since(args.since)
        except ValueError as exc:
            raise UserError(str(exc)) from None
        entries = list(trail.since(store, moment))
    print(trail.render(entries))
    return EXIT_OK


# --- the parser ---------------------------------------------------------------------------------


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="skill-router",
        description="The skill matrix and the audit trail of skill-router.",
        epilog="exit codes: 0 ok, 1 invalid file or error, 2 usage, 3 no match / not found, 4 diff found changes",
    )
    commands = top.add_subparsers(dest="command", required=True)
    matrix = commands.add_parser("matrix", help="validate, explain, upload or compare skill matrices")
    actions = matrix.add_subparsers(dest="action", required=True)
    p = actions.add_parser("validate", help="check files; exit 1 with every problem")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument(
        "--max-wait",
        type=_seconds,
        default=DEFAULT_MAX_WAIT_SECONDS,
        help="MAX_WAIT_SECONDS of the deployment: no escalation step may be later (default 1 day)",
    )
    p.add_argument(
        "--notify-channel",
        choices=[*NOTIFY_RECIPIENT_LIMITS, "none"],
        default="ses",
        help="NOTIFY_CHANNEL of the deployment: bounds a step's notify recipients (default ses)",
    )
    p.set_defaults(run=validate)
    p = actions.add_parser("explain", help="which rule matches an intent, and what it would do")
    p.add_argument("file", metavar="FILE")
    p.add_argument("--intent", help="the caller's intent attribute value")
    p.add_argument("--attribute", action="append", default=[], metavar="NAME=VALUE", help="other participant data")
    p.add_argument("--queue", help="the queue id the caller waits in")
    p.add_argument("--intent-attribute", default="intent", help="INTENT_ATTRIBUTE of the deployment")
    p.add_argument(
        "--waited",
        type=_seconds,
        metavar="DURATION",
        help="show what the rule's escalation steps do for a caller who has waited this long (90, 90s, 2m)",
    )
    p.set_defaults(run=explain)
    p = actions.add_parser("upload", help="validate, then upload to the matrix bucket")
    p.add_argument("file", metavar="FILE")
    p.add_argument("--bucket", required=True, help="the stack's SkillMatrixBucketName output")
    p.add_argument("--key", default="skill_matrix.yaml")
    p.add_argument("--region")
    p.set_defaults(run=upload)
    p = actions.add_parser("diff", help="which sample intents change outcome between two files")
    p.add_argument("old", metavar="OLD")
    p.add_argument("new", metavar="NEW")
    p.add_argument("--samples", help="a file of sample intents, one per line")
    p.add_argument("--intent-attribute", default="intent")
    p.set_defaults(run=diff)
    p = commands.add_parser("audit", help="read back the decisions recorded in the state table")
    p.add_argument("--table", help="the state table (default: $STATE_TABLE)")
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--conversation", metavar="ID")
    which.add_argument("--since", metavar="WHEN", help="30m, 1h, 2d or an ISO-8601 time")
    p.add_argument("--dry-run", action="store_true", help="read the dry run's decisions instead")
    p.set_defaults(run=audit)
    return top


def _seconds(text: str) -> int:
    seconds = parse_duration(text)
    if seconds is None:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration: give seconds, or 90s, 2m, 1h")
    return seconds


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        status: Any = args.run(args)
    except MatrixError as exc:
        print("\n".join(exc.problems), file=sys.stderr)
        return EXIT_INVALID
    except UserError as exc:
        print(f"skill-router: {exc}", file=sys.stderr)
        return EXIT_INVALID
    return int(status)


if __name__ == "__main__":
    sys.exit(main())
