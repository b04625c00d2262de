"""`skill-router`: the skill matrix, the audit trail and a deployment's pre-flight check.

    skill-router matrix init [FILE]                 write a starter matrix (skill names) to edit; never overwrites
    skill-router matrix validate FILE...            exit 1 with every problem (file:line rule N 'field')
    skill-router matrix explain FILE --intent TEXT  which rule matches and why; exit 3 when none does
                                   [--waited 90s]   and what its escalation ladder does by then
    skill-router matrix upload FILE --bucket B      validate, then put it in S3 (refuses a broken file)
    skill-router matrix diff OLD NEW                which sample intents change outcome; exit 4 if any
    skill-router audit --conversation ID | --since 1h   the decisions the function recorded
    skill-router doctor --stack NAME                is a deployed stack ready? exit 0 only when it is

Exit codes: 0 ok, 1 invalid file or error, 2 usage, 3 nothing matched or recorded, 4 diff found changes.
A user's mistake is one line on stderr saying what is wrong and what to do, never a traceback
(SKILL_ROUTER_DEBUG=1 shows the traceback of an unexpected error).

`matrix` never imports the Genesys SDK: skill names and user ids in a matrix are resolved by the
function when it loads the file (an unknown one rejects the new file there), and by `doctor`.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from skill_router import __version__
from skill_router import escalation_text as escalation
from skill_router.errors import MatrixError, SkillRouterError
from skill_router.matrix import (
    DEFAULT_MAX_WAIT_SECONDS,
    NOTIFY_RECIPIENT_LIMITS,
    Matrix,
    Rule,
    parse_duration,
    parse_matrix,
)

EXIT_OK, EXIT_INVALID, EXIT_USAGE, EXIT_NO_MATCH, EXIT_CHANGED = 0, 1, 2, 3, 4
REGION_HINT = "give --region or set AWS_DEFAULT_REGION (the stack's region)"


class UserError(Exception):
    """A mistake on the command line or in a file: printed as one line, no traceback."""

    def __init__(self, message: str, status: int = EXIT_INVALID) -> None:
        super().__init__(message)
        self.status = status


def load(path: str, **limits: Any) -> Matrix:
    file = Path(path)
    if file.is_dir():
        raise UserError(f"{path}: is a directory; give the matrix file itself (e.g. {file / 'skill_matrix.yaml'})")
    if not file.is_file():
        first = "; `skill-router matrix init` writes a starter one" if file.name == STARTER_NAME else ""
        raise UserError(f"{path}: no such file{first}")
    try:
        body = file.read_bytes()
    except OSError as exc:
        raise UserError(f"{path}: cannot be read ({exc.strerror})") from None
    return parse_matrix(body, path, **limits)


def read_lines(path: str, option: str) -> list[str]:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserError(f"{option} {path}: no such file") from None
    except UnicodeDecodeError:
        raise UserError(f"{option} {path}: not UTF-8 text; save it as UTF-8, one sample per line") from None
    except OSError as exc:
        raise UserError(f"{option} {path}: cannot be read ({exc.strerror})") from None
    return [line.strip() for line in text.splitlines() if line.strip()]


def aws_client(service: str, region: str | None) -> Any:
    import boto3  # only here: validate, explain and diff need no AWS

    return boto3.client(service, region_name=region) if region else boto3.client(service)


def aws_problem(exc: Exception, what: str) -> str:
    """One line for an AWS failure: what we were doing, what AWS said, what to do."""
    from botocore.exceptions import (
        ClientError,
        EndpointConnectionError,
        NoCredentialsError,
        NoRegionError,
        PartialCredentialsError,
    )

    if isinstance(exc, NoRegionError) or (isinstance(exc, ValueError) and "Invalid endpoint" in str(exc)):
        return f"{what}: no AWS region; {REGION_HINT}"
    if isinstance(exc, NoCredentialsError | PartialCredentialsError):
        return f"{what}: no AWS credentials; set AWS_PROFILE (or run `aws configure` / `aws sso login`)"
    if isinstance(exc, EndpointConnectionError):
        return f"{what}: cannot reach AWS ({exc}); check the region and the network"
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code, message = str(error.get("Code", "")), str(error.get("Message", "")).strip()
        hints = {
            "ResourceNotFoundException": "check the name (the stack's outputs) and --region",
            "NoSuchBucket": "check --bucket (the stack's SkillMatrixBucketName output) and --region",
            "ValidationError": "check the name and --region",
            "AccessDenied": "your AWS identity lacks the permission named above",
            "AccessDeniedException": "your AWS identity lacks the permission named above",
            "UnrecognizedClientException": "the AWS credentials are not valid; refresh them",
            "ExpiredToken": "the AWS session expired; log in again",
            "ExpiredTokenException": "the AWS session expired; log in again",
            "InvalidClientTokenId": "the AWS credentials are not valid; refresh them",
        }
        hint = hints.get(code, "see the message above")
        return f"{what}: {code or 'AWS error'}: {message or exc}; {hint}"
    return f"{what}: {type(exc).__name__}: {exc}"


# --- matrix -------------------------------------------------------------------------------------


STARTER_NAME = "skill_matrix.yaml"


def init(args: argparse.Namespace) -> int:
    """Write the starter matrix (package data, so `pip install .` has it too); never overwrite."""
    starter = Path(__file__).with_name("starter_skill_matrix.yaml").read_bytes()
    target = Path(args.file)
    try:
        with target.open("xb") as out:  # exclusive: an existing file is left as it is
            out.write(starter)
    except FileExistsError:
        raise UserError(f"{args.file} already exists; it is left as it is (give another FILE)") from None
    except OSError as exc:
        raise UserError(f"{args.file}: cannot be written ({exc.strerror})") from None
    print(
        f"wrote {args.file}: a starter matrix. Write your org's skill names and your callers' keywords "
        f"into it, then: skill-router matrix validate {args.file}"
    )
    return EXIT_OK


def validate(args: argparse.Namespace) -> int:
    status = EXIT_OK
    limits = {"max_wait_seconds": args.max_wait, "notify_channel": args.notify_channel}
    for path in args.files:  # every file is checked, a missing one does not stop the others
        try:
            matrix = load(path, **limits)
        except MatrixError as exc:
            print("\n".join(exc.problems))
            status = EXIT_INVALID
            continue
        except UserError as exc:
            print(f"skill-router: {exc}", file=sys.stderr)
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


def attribute_pairs(pairs: Sequence[str]) -> dict[str, str]:
    attributes = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise UserError(
                f"--attribute {pair!r}: expected NAME=VALUE, e.g. --attribute botIntent=billing", EXIT_USAGE
            )
        attributes[name.strip()] = value
    return attributes


def explain(args: argparse.Namespace) -> int:
    attributes = attribute_pairs(args.attribute)
    matrix = load(args.file)
    if args.intent is not None:
        attributes[args.intent_attribute] = args.intent
    if not attributes:
        raise UserError("give --intent TEXT or --attribute NAME=VALUE: what the caller said", EXIT_USAGE)
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
        if rule.queues and (args.queue or "").lower() not in rule.queues:
            why = f"only for queues {', '.join(rule.queues)}"
        elif not attributes.get(attribute):
            why = f"attribute {attribute!r} is not set"
        else:
            why = f"none of {', '.join(repr(k) for k in rule.keywords)} ({rule.match}) is in {attribute!r}"
        print(f"  rule {rule.position} '{rule.id}' (line {rule.line}): {why}")
    return EXIT_NO_MATCH


def upload(args: argparse.Namespace) -> int:
    matrix = load(args.file)  # a broken file raises MatrixError: nothing is uploaded
    client = aws_client("s3", args.region)
    try:
        response = client.put_object(Bucket=args.bucket, Key=args.key, Body=Path(args.file).read_bytes())
    except Exception as exc:
        raise UserError(aws_problem(exc, f"upload to s3://{args.bucket}/{args.key}")) from None
    version = response.get("VersionId") or str(response.get("ETag", "")).strip('"')
    print(f"uploaded {args.file} ({len(matrix.rules)} rules) to s3://{args.bucket}/{args.key}, version {version}")
    print("the function uses it from its next poll")
    return EXIT_OK


def outcome(matrix: Matrix, attribute: str, value: str, intent_attribute: str, queue: str | None) -> str:
    hit = matrix.match({attribute: value}, intent_attribute, queue)
    if hit is None:
        return "no match"
    rule = hit[0]
    email = "email" if rule.high_priority and (rule.notify or rule.notify_users) else "no email"
    skills = ", ".join([*rule.skill_ids, *rule.skill_names])
    priority = "unchanged" if rule.routing_priority is None else str(rule.routing_priority)
    return f"rule '{rule.id}': {skills}; priority {priority}; {email}" + escalation.summary(rule)


def diff(args: argparse.Namespace) -> int:
    extra = read_lines(args.samples, "--samples") if args.samples else []
    old, new = load(args.old), load(args.new)
    rules = [r for m in (old, new) for r in m.rules]
    # Each rule's keywords are tried on the attribute that rule reads; --samples on every attribute.
    attributes = list(dict.fromkeys(r.attribute or args.intent_attribute for r in rules))
    samples = [(r.attribute or args.intent_attribute, k) for r in rules if r.match != "regex" for k in r.keywords]
    samples += [(attribute, text) for text in extra for attribute in attributes]
    queues: list[str | None] = [None, *sorted({q for r in rules for q in r.queues})]
    regex = list(dict.fromkeys(f"'{r.id}'" for r in rules if r.match == "regex"))
    if regex and not extra:
        print(f"note: regex rule(s) {', '.join(regex)} are compared only on --samples; give sample intents")
    changed = 0
    for attribute, text in dict.fromkeys(samples):
        label = repr(text) if attribute == args.intent_attribute else f"{attribute}={text!r}"
        lines = []
        for queue in queues:
            before = outcome(old, attribute, text, args.intent_attribute, queue)
            after = outcome(new, attribute, text, args.intent_attribute, queue)
            if before != after:
                where = f" in queue {queue}" if queue else ""
                lines.append(f"  before{where}: {before}\n  after{where}:  {after}")
        if lines:
            changed += 1
            print(f"{label}:\n" + "\n".join(lines))
    print(f"{changed} of {len(dict.fromkeys(samples))} sample intents change outcome")
    return EXIT_CHANGED if changed else EXIT_OK


# --- audit --------------------------------------------------------------------------------------


def audit(args: argparse.Namespace) -> int:
    from skill_router import audit as trail
    from skill_router.store import StateStore

    table = args.table or os.environ.get("STATE_TABLE")
    if not table:
        raise UserError("give --table (the stack's StateTableName output) or set STATE_TABLE", EXIT_USAGE)
    moment = None
    if args.since:
        try:
            moment = trail.parse_since(args.since)
        except ValueError as exc:
            raise UserError(str(exc), EXIT_USAGE) from None
    try:
        store = StateStore(table, dry_run=args.dry_run, client=aws_client("dynamodb", args.region))
        if moment is None:
            entry = trail.conversation(store, args.conversation)
            entries = [entry] if entry else []
        else:
            entries = list(trail.since(store, moment))
    except Exception as exc:
        if isinstance(exc, SkillRouterError):
            raise
        raise UserError(aws_problem(exc, f"reading table {table!r}")) from None
    kind = "dry-run decision" if args.dry_run else "decision"
    if not entries:
        if moment is None:
            print(f"no {kind} recorded for {args.conversation} (never seen, or older than the ledger's TTL)")
        else:
            print(f"no {kind} recorded since {moment.isoformat(timespec='seconds')}")
        return EXIT_NO_MATCH
    print(trail.render(entries))
    return EXIT_OK


# --- doctor -------------------------------------------------------------------------------------


def doctor(args: argparse.Namespace) -> int:
    from skill_router import doctor as preflight

    return preflight.run(args)


# --- the parser ---------------------------------------------------------------------------------


class Parser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one line (exit 2), not the usage block."""

    def error(self, message: str) -> NoReturn:
        print(f"{self.prog}: {message} (see {self.prog} --help)", file=sys.stderr)
        sys.exit(EXIT_USAGE)


def parser() -> argparse.ArgumentParser:
    top = Parser(
        prog="skill-router",
        description="The skill matrix, the audit trail and the pre-flight check of skill-router.",
        epilog="exit codes: 0 ok, 1 invalid file or error, 2 usage, 3 nothing matched or recorded, "
        "4 diff found changes",
    )
    top.add_argument("--version", action="version", version=f"skill-router {__version__}")
    commands = top.add_subparsers(dest="command", required=True, parser_class=Parser)
    matrix = commands.add_parser("matrix", help="write, validate, explain, upload or compare skill matrices")
    actions = matrix.add_subparsers(dest="action", required=True, parser_class=Parser)
    p = actions.add_parser("init", help="write a starter matrix (skill names) to edit; never overwrites a file")
    p.add_argument("file", nargs="?", default=STARTER_NAME, metavar="FILE", help=f"default {STARTER_NAME}")
    p.set_defaults(run=init)
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
    p.add_argument("--samples", help="a file of sample intents, one per line (tried on every attribute)")
    p.add_argument("--intent-attribute", default="intent")
    p.set_defaults(run=diff)
    p = commands.add_parser("audit", help="read back the decisions recorded in the state table")
    p.add_argument("--table", help="the state table (default: $STATE_TABLE)")
    p.add_argument("--region", help="the stack's region (default: AWS_DEFAULT_REGION)")
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--conversation", metavar="ID")
    which.add_argument("--since", metavar="WHEN", help="30m, 1h, 2d or an ISO-8601 time")
    p.add_argument("--dry-run", action="store_true", help="read the dry run's decisions instead")
    p.set_defaults(run=audit)
    p = commands.add_parser("doctor", help="check a deployed stack is ready: secret, login, permissions, matrix")
    p.add_argument("--stack", help="the CloudFormation stack name (reads its outputs and parameters)")
    p.add_argument("--region", help="the stack's region (default: AWS_DEFAULT_REGION)")
    p.add_argument(
        "--env",
        action="store_true",
        help="read the function's settings from this environment instead of a stack (local runs, make doctor)",
    )
    p.set_defaults(run=doctor)
    return top


def _seconds(text: str) -> int:
    seconds = parse_duration(text)
    if seconds is None:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration: give seconds, or 90s, 2m, 1h")
    return seconds


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = parser().parse_args(argv)
        status: Any = args.run(args)
    except MatrixError as exc:
        print("\n".join(exc.problems), file=sys.stderr)
        return EXIT_INVALID
    except UserError as exc:
        print(f"skill-router: {exc}", file=sys.stderr)
        return exc.status
    except SkillRouterError as exc:
        print(f"skill-router: {exc}", file=sys.stderr)
        return EXIT_INVALID
    except KeyboardInterrupt:
        print("skill-router: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # the last guard: a bug is still one line, unless debugging
        if os.environ.get("SKILL_ROUTER_DEBUG"):
            raise
        print(
            f"skill-router: unexpected {type(exc).__name__}: {exc} "
            "(a bug: please report it; SKILL_ROUTER_DEBUG=1 shows the traceback)",
            file=sys.stderr,
        )
        return EXIT_INVALID
    return int(status)


if __name__ == "__main__":
    sys.exit(main())
