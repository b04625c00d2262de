"""`skill-router matrix validate | explain | upload | diff`: a skill matrix file, before and
after it reaches the function.

`matrix` never imports the Genesys SDK: skill names and user ids in a matrix are resolved by the
function when it loads the file (an unknown one rejects the new file there), and by `doctor`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from skill_router.cli import escalation_words
from skill_router.cli.errors import (
    EXIT_CHANGED,
    EXIT_INVALID,
    EXIT_NO_MATCH,
    EXIT_OK,
    EXIT_USAGE,
    UserError,
    aws_problem,
    function_logs_muted,
    shown,
)
from skill_router.errors import MatrixError
from skill_router.matrix import MAX_MATRIX_BYTES, Matrix, Rule, parse_matrix
from skill_router.matrix.index import FirstMatch, first

STARTER_NAME = "skill_matrix.yaml"
# Package data beside the modules, so a plain `pip install .` has it too.
STARTER = Path(__file__).parents[1] / "starter_skill_matrix.yaml"


def load(path: str, **limits: Any) -> Matrix:
    file, name = Path(path), shown(path)
    if file.is_dir():
        raise UserError(f"{name}: is a directory; give the matrix file itself (e.g. {shown(str(file / STARTER_NAME))})")
    if not file.is_file():
        hint = "; `skill-router matrix init` writes a starter one" if file.name == STARTER_NAME else ""
        raise UserError(f"{name}: no such file{hint}")
    try:
        size = file.stat().st_size
        if size > MAX_MATRIX_BYTES:  # refused before it is read: a stray 8 GB file is not loaded first
            raise MatrixError(name, [f"{name}: file is {size} bytes; the limit is {MAX_MATRIX_BYTES}"])
        with file.open("rb") as stream:
            body = stream.read(MAX_MATRIX_BYTES + 1)
    except OSError as exc:
        raise UserError(f"{name}: cannot be read ({exc.strerror})") from None
    return parse_matrix(body, name, **limits)


def read_lines(path: str, option: str) -> list[str]:
    name = shown(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserError(f"{option} {name}: no such file") from None
    except UnicodeDecodeError:
        raise UserError(f"{option} {name}: not UTF-8 text; save it as UTF-8, one sample per line") from None
    except OSError as exc:
        raise UserError(f"{option} {name}: cannot be read ({exc.strerror})") from None
    return [line.strip() for line in text.splitlines() if line.strip()]


def init(args: argparse.Namespace) -> int:
    """Write the starter matrix; never overwrite."""
    target = Path(args.file)
    try:
        with target.open("xb") as out:  # exclusive: an existing file is left as it is
            out.write(STARTER.read_bytes())
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
    limits = {
        "max_wait_seconds": args.max_wait,
        "notify_channel": args.notify_channel,
        "lookback_days": args.lookback_days,
    }
    online = Online(args) if args.online else None
    if online is None and (args.stack or args.env):
        raise UserError("--stack and --env are for --online (Genesys' check of the skill expressions)", EXIT_USAGE)
    for path in args.files:  # every file is checked, a missing one does not stop the others
        matrix = None
        try:
            matrix = load(path, **limits)
        except MatrixError as exc:
            print("\n".join(exc.problems))
            status = EXIT_INVALID
        except UserError as exc:
            print(f"skill-router: {exc}", file=sys.stderr)
            status = EXIT_INVALID
            continue
        else:
            for warning in matrix.warnings:
                print(f"warning: {warning}")
            print(f"{shown(path)}: {len(matrix.rules)} rules OK")
        if online is not None and not online.check(path, matrix):
            status = EXIT_INVALID
    return status


class Online:
    """`matrix validate --online`: after the local checks, Genesys' validate endpoint for every
    skill expression the file names (cli/expressions.py), with one login for all the files."""

    def __init__(self, args: argparse.Namespace) -> None:
        if bool(args.stack) == bool(args.env):
            raise UserError(
                "--online: give --stack NAME (a deployed stack) or --env (this environment's settings)", EXIT_USAGE
            )
        self.args = args
        self.genesys: Any = None
        self.denied = False

    def check(self, path: str, matrix: Matrix | None) -> bool:
        """Genesys' check of a file's expressions; a file that failed its local checks (None) sends nothing."""
        from skill_router.cli import expressions

        if matrix is None:
            return False  # the local check has said why
        name = shown(path)
        found = expressions.expressions_of(matrix)
        local = expressions.local_problems(found, name)
        if local:  # nothing of this file is sent while it has a problem of its own
            print("\n".join(local))
            return False
        if not found:
            return True
        if self.denied:  # said once
            return False
        with function_logs_muted():
            if self.genesys is None:
                from skill_router.cli.genesys_login import login, stack_settings

                self.genesys = login(stack_settings(self.args, "--online"), expressions.TIME_BUDGET_SECONDS)
            checked = expressions.check_online(found, name, self.genesys)
        self.denied = checked.denied
        if checked.problems:
            print("\n".join(checked.problems))
            return False
        print(f"{name}: Genesys accepts {checked.accepted} skill expression(s)")
        return True


def describe(rule: Rule) -> list[str]:
    skills = [*rule.skill_ids, *(f"{name} (name, resolved by the function)" for name in rule.skill_names)]
    if rule.requirement is not None:
        lines = [
            f"  requires: {rule.requirement.words()}",
            f"    written as the caller's skill expression {rule.requirement.render()!r} (no skills are added);",
            "    Genesys routes by it instead of the requested skills",
            "    a caller who already has someone else's expression: "
            + (
                "the requirement is ANDed into it (with_expression: and), theirs kept word for word"
                if rule.with_expression == "and"
                else "theirs is kept and the rule is recorded shadowed (it would change nothing)"
            ),
            f"    staffing guard: fewer than {rule.min_staffed} member(s) on queue meeting it: "
            + ("it is written anyway" if rule.when_unstaffed == "apply" else "it is withheld, the priority applied"),
        ]
    else:
        lines = [
            f"  skills merged in: {', '.join(skills)} (existing skills are kept)"
            if skills
            else "  skills: none added (the caller's are kept)"
        ]
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
    lines += escalation_words.describe_rule(rule)
    lines += guard_words(rule)
    return lines


UNSTAFFED_WORDS = {
    "skip": [
        "the part nobody can serve is withheld (the rest and the priority are applied),",
        "and applied on a later poll once someone on queue has it.",
    ],
    "next_step": [
        "it jumps to the first escalation step someone on queue can serve (the steps",
        "jumped over never fire); with none, the unservable part is withheld as with skip.",
    ],
    "apply": ["it is applied anyway (the behaviour before the guard)."],
}


def guard_words(rule: Rule) -> list[str]:
    """What the staffing guard would do for the rule's callers (guard.py)."""
    if rule.min_staffed <= 0:
        return ["  staffing guard: off for this rule (min_staffed: 0)"]
    who = "1 member" if rule.min_staffed == 1 else f"{rule.min_staffed} members"
    return [
        f"  staffing guard: before adding a skill or setting a language, at least {who} on queue must meet",
        f"    the caller's whole requirement; if not (when_unstaffed: {rule.when_unstaffed}),",
        *(f"    {line}" for line in UNSTAFFED_WORDS[rule.when_unstaffed]),
        "    A priority is never withheld. What it adds that nobody on queue can serve for",
        "    UNSTAFFED_RELAX_SECONDS is removed once; what someone else set is never removed.",
    ]


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
            print("\n".join(escalation_words.describe_wait(rule, args.waited)))
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
    from skill_router import aws  # only here: validate, explain and diff need no AWS

    client = aws.client("s3", args.region)
    try:
        response = client.put_object(Bucket=args.bucket, Key=args.key, Body=Path(args.file).read_bytes())
    except Exception as exc:
        raise UserError(aws_problem(exc, f"upload to s3://{args.bucket}/{args.key}")) from None
    version = response.get("VersionId") or str(response.get("ETag", "")).strip('"')
    print(
        f"uploaded {shown(args.file)} ({len(matrix.rules)} rules) to s3://{args.bucket}/{args.key}, version {version}"
    )
    print("the function uses it from its next poll")
    return EXIT_OK


def outcome(matrix: Matrix, attribute: str, value: str, intent_attribute: str, queue: str | None) -> str:
    hit = matrix.match({attribute: value}, intent_attribute, queue)
    return outcome_of(hit[0] if hit else None)


def outcome_of(rule: Rule | None) -> str:
    if rule is None:
        return "no match"
    email = "email" if rule.high_priority and (rule.notify or rule.notify_users) else "no email"
    what = ", ".join([*rule.skill_ids, *rule.skill_names])
    extra = requirement_words(rule)
    if extra:
        what = f"{what}; {extra}" if what else extra
    what = what or "no skills"
    priority = "unchanged" if rule.routing_priority is None else str(rule.routing_priority)
    return f"rule '{rule.id}': {what}; priority {priority}; {email}" + escalation_words.summary(rule)


def requirement_words(rule: Rule) -> str:
    """The rule's requirement and how it meets someone else's expression, as `diff` shows them (issue 28)."""
    if rule.requirement is None and rule.with_expression != "and":
        return ""
    text = f"requires {rule.requirement.words()}; " if rule.requirement is not None else ""
    if rule.with_expression == "and":
        return text + "ANDed into someone else's expression (with_expression: and)"
    return text + "someone else's expression kept, the rule shadowed"


def diff(args: argparse.Namespace) -> int:
    extra = read_lines(args.samples, "--samples") if args.samples else []
    old, new = load(args.old), load(args.new)
    rules = [r for m in (old, new) for r in m.rules]
    # Each rule's keywords are tried on the attribute that rule reads; --samples on every attribute.
    attributes = list(dict.fromkeys(r.attribute or args.intent_attribute for r in rules))
    samples = [(r.attribute or args.intent_attribute, k) for r in rules if r.match != "regex" for k in r.keywords]
    samples += [(attribute, text) for text in extra for attribute in attributes]
    regex = list(dict.fromkeys(f"'{r.id}'" for r in rules if r.match == "regex"))
    if regex and not extra:
        print(f"note: regex rule(s) {', '.join(regex)} are compared only on --samples; give sample intents")
    # Linear in the rules: each sample finds its candidate rules through indexes, and only the
    # queues those rules name can differ from "any other queue" (README, matrix diff).
    before_index, after_index = FirstMatch(old, args.intent_attribute), FirstMatch(new, args.intent_attribute)
    said: dict[int, str] = {}  # each rule put into words once

    def words(rule: Rule | None) -> str:
        key = id(rule)
        if key not in said:
            said[key] = outcome_of(rule)
        return said[key]

    changed = 0
    unique = list(dict.fromkeys(samples))
    for attribute, text in unique:
        label = repr(text) if attribute == args.intent_attribute else f"{attribute}={text!r}"
        was, now = before_index.candidates(attribute, text), after_index.candidates(attribute, text)
        queues: list[str | None] = [None, *sorted({q for r in (*was, *now) for q in r.queues})]
        lines = []
        for queue in queues:
            before, after = words(first(was, queue)), words(first(now, queue))
            if before != after:
                where = f" in queue {queue}" if queue else ""
                lines.append(f"  before{where}: {before}\n  after{where}:  {after}")
        if lines:
            changed += 1
            print(f"{label}:\n" + "\n".join(lines))
    print(f"{changed} of {len(unique)} sample intents change outcome")
    return EXIT_CHANGED if changed else EXIT_OK
