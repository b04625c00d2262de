"""`skill-router`: the skill matrix, the audit trail and a deployment's pre-flight check.

    skill-router matrix init [FILE]                 write a starter matrix (skill names) to edit; never overwrites
    skill-router matrix validate FILE...            exit 1 with every problem (file:line rule N 'field')
    skill-router matrix validate --online --stack NAME FILE...   and ask Genesys about every skill expression
    skill-router matrix explain FILE --intent TEXT  which rule matches and why; exit 3 when none does
                                   [--waited 90s]   and what its escalation ladder does by then
    skill-router matrix upload FILE --bucket B      validate, then put it in S3 (refuses a broken file)
    skill-router matrix diff OLD NEW                which sample intents change outcome; exit 4 if any
    skill-router audit --conversation ID | --since 1h   the decisions the function recorded
    skill-router report --since 24h [--until T] [--rule ID] [--format table|json|csv|html]
                                                    outcomes per rule and step beside the baseline
    skill-router doctor --stack NAME                is a deployed stack ready? exit 0 only when it is
    skill-router why ID | --queue ID --stack NAME   why is this caller (everyone in this queue) still waiting?

Exit codes: 0 ok, 1 invalid file or error, 2 usage, 3 nothing matched or recorded, 4 diff found changes,
141 the reader of its output went away (`| head`; nothing is printed, as for other Unix tools).
A user's mistake is one line on stderr saying what is wrong and what to do, never a traceback
(SKILL_ROUTER_DEBUG=1 shows the traceback of an unexpected error).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

from skill_router import __version__
from skill_router.cli import audit, matrix, report
from skill_router.cli.errors import EXIT_CLOSED_PIPE, EXIT_INVALID, EXIT_USAGE, UserError
from skill_router.durations import format_duration, parse_duration
from skill_router.errors import MatrixError, SkillRouterError
from skill_router.matrix import DEFAULT_MAX_WAIT_SECONDS, NOTIFY_RECIPIENT_LIMITS
from skill_router.settings import BY_ENV

MAX_WAIT = BY_ENV["MAX_WAIT_SECONDS"]
LOOKBACK = BY_ENV["DISCOVERY_LOOKBACK_DAYS"]


def doctor(args: argparse.Namespace) -> int:
    from skill_router.cli import doctor as preflight  # imports the Genesys adapter: only for doctor

    return preflight.run(args)


def why(args: argparse.Namespace) -> int:
    from skill_router.cli import why as waiting  # imports the Genesys adapter: only for why

    return waiting.why(args)


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
    matrix_command = commands.add_parser("matrix", help="write, validate, explain, upload or compare skill matrices")
    actions = matrix_command.add_subparsers(dest="action", required=True, parser_class=Parser)
    p = actions.add_parser("init", help="write a starter matrix (skill names) to edit; never overwrites a file")
    p.add_argument(
        "file", nargs="?", default=matrix.STARTER_NAME, metavar="FILE", help=f"default {matrix.STARTER_NAME}"
    )
    p.set_defaults(run=matrix.init)
    p = actions.add_parser("validate", help="check files; exit 1 with every problem")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument(
        "--max-wait",
        type=_max_wait,
        default=DEFAULT_MAX_WAIT_SECONDS,
        help="MAX_WAIT_SECONDS of the deployment: no escalation step may be later (default 1 day)",
    )
    p.add_argument(
        "--lookback-days",
        type=_lookback_days,
        default=LOOKBACK.default,
        metavar="DAYS",
        help="DISCOVERY_LOOKBACK_DAYS of the deployment: no step may be later than discovery is sure to see "
        f"a caller (default {LOOKBACK.default})",
    )
    p.add_argument(
        "--notify-channel",
        choices=[*NOTIFY_RECIPIENT_LIMITS, "none"],
        default="ses",
        help="NOTIFY_CHANNEL of the deployment: bounds a step's notify recipients (default ses)",
    )
    p.add_argument(
        "--online",
        action="store_true",
        help="also ask Genesys' validate endpoint about every skill expression (needs --stack NAME or --env)",
    )
    p.add_argument("--stack", help="with --online: the CloudFormation stack whose OAuth client to use")
    p.add_argument("--region", help="with --online: the stack's region (default: AWS_DEFAULT_REGION)")
    p.add_argument("--env", action="store_true", help="with --online: read the settings from this environment")
    p.set_defaults(run=matrix.validate)
    p = actions.add_parser("explain", help="which rule matches an intent, and what it would do")
    p.add_argument("file", metavar="FILE")
    p.add_argument("--intent", help="the caller's intent attribute value")
    p.add_argument("--attribute", action="append", default=[], metavar="NAME=VALUE", help="other participant data")
    p.add_argument("--queue", help="the queue id the caller waits in")
    p.add_argument(
        "--intent-attribute",
        type=_name("--intent-attribute"),
        default="intent",
        help="INTENT_ATTRIBUTE of the deployment",
    )
    p.add_argument(
        "--waited",
        type=_seconds,
        metavar="DURATION",
        help="show what the rule's escalation steps do for a caller who has waited this long (90, 90s, 2m)",
    )
    p.set_defaults(run=matrix.explain)
    p = actions.add_parser("upload", help="validate, then upload to the matrix bucket")
    p.add_argument("file", metavar="FILE")
    p.add_argument("--bucket", type=_name("--bucket"), required=True, help="the stack's SkillMatrixBucketName output")
    p.add_argument("--key", type=_name("--key"), default="skill_matrix.yaml")
    p.add_argument("--region")
    p.set_defaults(run=matrix.upload)
    p = actions.add_parser("diff", help="which sample intents change outcome between two files")
    p.add_argument("old", metavar="OLD")
    p.add_argument("new", metavar="NEW")
    p.add_argument("--samples", help="a file of sample intents, one per line (tried on every attribute)")
    p.add_argument("--intent-attribute", type=_name("--intent-attribute"), default="intent")
    p.set_defaults(run=matrix.diff)
    p = commands.add_parser("audit", help="read back the decisions recorded in the state table")
    p.add_argument("--table", help="the state table (default: $STATE_TABLE)")
    p.add_argument("--region", help="the stack's region (default: AWS_DEFAULT_REGION)")
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--conversation", metavar="ID")
    which.add_argument("--since", metavar="WHEN", help="30m, 1h, 2d or an ISO-8601 time")
    p.add_argument("--dry-run", action="store_true", help="read the dry run's decisions instead")
    p.set_defaults(run=audit.audit)
    report.add_parser(commands)
    p = commands.add_parser("doctor", help="check a deployed stack is ready: secret, login, permissions, matrix")
    p.add_argument("--stack", help="the CloudFormation stack name (reads its outputs and parameters)")
    p.add_argument("--region", help="the stack's region (default: AWS_DEFAULT_REGION)")
    p.add_argument(
        "--env",
        action="store_true",
        help="read the function's settings from this environment instead of a stack (local runs, make doctor)",
    )
    p.set_defaults(run=doctor)
    p = commands.add_parser(
        "why",
        help="why is this caller still waiting? its requirements, who set them, who on queue could take it",
        description="For each waiting queue leg: its requested skills, language and priority and who set them "
        "(a rule, a step, or someone else), how many members on queue could take it now and which requirement "
        "excludes the rest, what the staffing guard withheld or relaxed, and the escalation steps applied and due. "
        "Uses the stack's own OAuth client, changes nothing, never shows a caller's attribute values.",
    )
    p.add_argument("conversation", nargs="?", metavar="CONVERSATION_ID", help="the caller's conversation id")
    p.add_argument("--queue", metavar="QUEUE_ID", help="everyone waiting in this queue, longest waiting first")
    p.add_argument(
        "--limit",
        type=_limit,
        default=10,
        metavar="N",
        help="with --queue: show at most N callers (1-100, default 10; one Genesys read each)",
    )
    p.add_argument("--stack", help="the CloudFormation stack name (reads its outputs and parameters)")
    p.add_argument("--region", help="the stack's region (default: AWS_DEFAULT_REGION)")
    p.add_argument(
        "--env",
        action="store_true",
        help="read the function's settings from this environment instead of a stack (local runs)",
    )
    p.set_defaults(run=why)
    return top


def _limit(text: str) -> int:
    if not (text.strip().isdecimal() and text.strip().isascii() and 1 <= int(text) <= 100):
        raise argparse.ArgumentTypeError(f"{_short(text)} is not a whole number from 1 to 100")
    return int(text)


def _seconds(text: str) -> int:
    seconds = parse_duration(text)
    if seconds is None:
        raise argparse.ArgumentTypeError(f"{_short(text)} is not a duration: give seconds, or 90s, 2m, 1h")
    return seconds


def _max_wait(text: str) -> int:
    """MAX_WAIT_SECONDS as the deployment could have it: within the setting's own range."""
    seconds = _seconds(text)
    low, high = int(MAX_WAIT.low or 0), int(MAX_WAIT.high or 0)
    if not low <= seconds <= high:
        raise argparse.ArgumentTypeError(
            f"{_short(text)} is outside MAX_WAIT_SECONDS' range, {format_duration(low)} to {format_duration(high)}"
        )
    return seconds


def _lookback_days(text: str) -> int:
    low, high = int(LOOKBACK.low or 0), int(LOOKBACK.high or 0)
    if not (text.strip().isdecimal() and text.strip().isascii() and low <= int(text) <= high):
        raise argparse.ArgumentTypeError(f"{_short(text)} is not a whole number of days from {low} to {high}")
    return int(text)


def _name(option: str) -> Any:
    def name(text: str) -> str:
        if not text.strip():
            raise argparse.ArgumentTypeError("it is empty; give a name")
        return text.strip()

    name.__name__ = option.lstrip("-")  # what argparse calls the type in its own messages
    return name


def _short(text: str) -> str:
    shown = repr(text)
    return shown if len(shown) <= 40 else shown[:37] + "..."


class OutputFailed(Exception):
    """Writing to stdout failed (a full disk): told apart from every other OSError a command meets."""


class _Output:
    """stdout, whose write failures are raised as OutputFailed (a closed pipe stays BrokenPipeError)."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        return int(self._guard(self._stream.write, text))

    def flush(self) -> None:
        self._guard(self._stream.flush)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)

    @staticmethod
    def _guard(call: Any, *args: Any) -> Any:
        try:
            return call(*args)
        except BrokenPipeError:
            raise
        except OSError as exc:
            raise OutputFailed(exc.strerror or str(exc)) from None


def main(argv: Sequence[str] | None = None) -> int:
    _readable_streams()
    stdout = sys.stdout
    if stdout is None:  # started with stdout closed (`>&-`): the work and its exit code still count
        return _main(argv)
    sys.stdout = _Output(stdout)
    try:
        try:
            status = _main(argv)
        except SystemExit:  # argparse's --help and usage errors: their output may meet a closed pipe too
            sys.stdout.flush()
            raise
        sys.stdout.flush()  # a closed pipe or a full disk shows here, not as a message at exit
    except BrokenPipeError:
        # The reader went away (`| head`): stop quietly, as Unix tools do.
        _discard(stdout)
        return EXIT_CLOSED_PIPE
    except OutputFailed as exc:
        _discard(stdout)
        if sys.stderr is not None:
            print(f"skill-router: cannot write its output ({exc})", file=sys.stderr)
        return EXIT_INVALID
    finally:
        sys.stdout = stdout
    return status


def _discard(stdout: Any) -> None:
    """Point stdout at /dev/null: Python flushes it again at exit and would complain a second time."""
    os.dup2(os.open(os.devnull, os.O_WRONLY), stdout.fileno())


def _readable_streams() -> None:
    """Text the terminal's encoding cannot show (a Latin-1 file name on a UTF-8 desktop, any
    non-ASCII keyword under PYTHONIOENCODING=ascii) is written escaped, never an encoding error."""
    for stream in (sys.stdout, sys.stderr):
        if stream is not None and getattr(stream, "errors", None) == "strict" and hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")


def _main(argv: Sequence[str] | None) -> int:
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
    except (BrokenPipeError, OutputFailed):
        raise  # main() says so once (or, for a closed pipe, ends quietly)
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
