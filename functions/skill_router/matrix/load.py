"""Load and validate a skill matrix: YAML with the line of every key, every rule and escalation
step checked, every problem reported at once as file:line rule N 'field'.

The seed's format loads unchanged:

    skill_matrix:
      - intent_keyword: billing
        skill_id: 5b1c2f7e-0000-4000-8000-000000000001
        priority: high
        supervisor_email: billing.lead@example.com

Keywords match as a case-insensitive substring by default (the seed lower-cased only the
intent, so "Billing" never matched; here both sides are folded). First matching rule wins.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import re2
import yaml

from skill_router import expression, yaml_problems
from skill_router.durations import format_duration, parse_duration
from skill_router.errors import MatrixError
from skill_router.expression import Expr, ExpressionError, Join, Not, Term
from skill_router.matrix.lint import shadowed
from skill_router.matrix.model import (
    DEFAULT_MAX_WAIT_SECONDS,
    LANGUAGE_NONE,
    MATCH_MODES,
    NOTIFY_RECIPIENT_LIMITS,
    PRIORITY_BOUND,
    URGENCIES,
    WHEN_UNSTAFFED,
    Matrix,
    Pattern,
    Rule,
    Step,
    fold_pattern,
)

MAX_MATRIX_BYTES = 1_000_000
# Bounds that keep loading and matching linear (README "Writing the skill matrix", limits). YAML aliases
# can repeat a rule or a keyword list without repeating its bytes, so counts are bounded too.
MAX_RULES = 10_000
MAX_KEYWORDS_PER_RULE = 100
MAX_KEYWORD_CHARS = 200  # contains and exact keywords
MAX_PATTERN_CHARS = 500  # regex keywords
# RE2 guarantees time linear in the text; this bounds the compiled program (and so the constant).
_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.case_sensitive = False
_RE2_OPTIONS.max_mem = 8 << 20
_RE2_OPTIONS.log_errors = False  # the problem is reported once, with file and line
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
RULE_KEYS = (
    "id",
    "intent_keyword",
    "keywords",
    "match",
    "attribute",
    "skill_id",
    "skills",
    "priority",
    "routing_priority",
    "supervisor_email",
    "notify",
    "queues",
    "language",
    "escalate",
    "min_staffed",
    "when_unstaffed",
    "require",
    "expression",
    "with_expression",
)
MAX_MIN_STAFFED = 10_000  # members a queue may need on it before a rule adds a skill
STEP_KEYS = ("after", "add_skills", "remove_skills", "routing_priority", "language", "notify", "require", "expression")
WITH_EXPRESSION = ("and",)


# libyaml's parser (bundled in PyYAML's wheels) is ~20x faster than the pure-Python one: a 1 MB
# matrix parses in about a second instead of 20. Both are the safe loader (no Python objects).
_SafeLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _LineLoader(_SafeLoader):  # type: ignore[valid-type,misc]
    """The safe loader, remembering the line of every mapping and of each of its keys."""

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        # A scalar YAML resolves but Python cannot build (`2001-02-30` read as a date, an integer
        # of 5,000 digits, `!!int abc`) is a problem in the file, with its line, not a crash.
        try:
            return super().construct_object(node, deep)
        except (ValueError, TypeError, AttributeError, OverflowError) as exc:
            kind = str(node.tag).rpartition(":")[2]
            value = str(node.value)
            shown = repr(value if len(value) <= 30 else value[:27] + "...")
            reason = str(exc).partition(";")[0]
            raise yaml.constructor.ConstructorError(
                None, None, f"{shown} cannot be read as {kind} ({reason}); quote it to make it text", node.start_mark
            ) from None


class _Lines(dict[str, Any]):
    line: int = 0
    key_lines: dict[str, int]


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> _Lines:
    loader.flatten_mapping(node)
    mapping = _Lines()
    mapping.line = node.start_mark.line + 1
    mapping.key_lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, str):
            key = str(key)
        if key in mapping:
            raise yaml.MarkedYAMLError(
                "while constructing a mapping", node.start_mark, f"duplicate key {key!r}", key_node.start_mark
            )
        mapping[key] = loader.construct_object(value_node, deep=True)
        mapping.key_lines[key] = key_node.start_mark.line + 1
    return mapping


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def parse_matrix(
    text: str | bytes,
    source: str,
    version: str = "local",
    *,
    max_wait_seconds: int = DEFAULT_MAX_WAIT_SECONDS,
    notify_channel: str = "ses",
    lookback_days: int | None = None,
) -> Matrix:
    """Parse and validate a matrix; raise MatrixError with every problem (file:line rule N 'field').
    `max_wait_seconds` bounds escalation steps; `notify_channel` bounds a step's recipients;
    `lookback_days` (DISCOVERY_LOOKBACK_DAYS, when known) bounds steps by what discovery sees."""
    if len(text) > MAX_MATRIX_BYTES:
        raise MatrixError(source, [f"{source}: file is {len(text)} bytes; the limit is {MAX_MATRIX_BYTES}"])
    if isinstance(text, bytes) and not text.startswith((b"\xff\xfe", b"\xfe\xff")):
        raw = text
        try:  # PyYAML would name a byte offset; a line is what an editor shows
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            line = raw[: exc.start].count(b"\n") + 1
            column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
            raise MatrixError(
                source,
                [
                    f"{source}:{line}: byte 0x{raw[exc.start]:02x} at column {column} is not UTF-8; "
                    "save the file as UTF-8"
                ],
            ) from None
    try:
        # _LineLoader is a (C)SafeLoader subclass that only adds line numbers.
        document = yaml.load(text, Loader=_LineLoader)  # noqa: S506 # nosec B506
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        # libyaml marks an unexpected end of the file on the line after the last one: name the last.
        where = f"{source}:{min(mark.line + 1, len(text.splitlines()) or 1)}" if mark else source
        said = yaml_problems.explain(text, mark.line if mark else None, str(exc.problem or exc))
        raise MatrixError(source, [f"{where}: {said}"]) from None
    except yaml.YAMLError as exc:
        raise MatrixError(source, [f"{source}: not valid YAML: {exc}"]) from None
    top_level = ("skill_matrix", "priorities")
    if isinstance(document, _Lines) and "skill_matrix" not in document:
        found = [
            f"{source}:{document.key_lines[key]} unknown top-level key {key!r}"
            f"{yaml_problems.did_you_mean(str(key), top_level)}"
            for key in document
            if key not in top_level
        ]
        missing = (
            f"{source}:1: expected a mapping with a 'skill_matrix:' list of rules; there is no 'skill_matrix:' key"
        )
        raise MatrixError(source, [missing, *found])
    if not isinstance(document, _Lines):
        raise MatrixError(source, [f"{source}:1: expected a mapping with a 'skill_matrix:' list of rules"])
    problems: list[str] = []
    unknown = sorted(set(document) - set(top_level))
    for key in unknown:
        problems.append(
            f"{source}:{document.key_lines[key]} unknown top-level key {key!r}"
            f"{yaml_problems.did_you_mean(str(key), top_level)}"
        )
    priorities = _parse_priorities(document, source, problems)
    raw_rules = document["skill_matrix"]
    line = document.key_lines["skill_matrix"]
    if not isinstance(raw_rules, list) or not raw_rules:
        raise MatrixError(source, [*problems, f"{source}:{line} 'skill_matrix': expected a non-empty list"])
    if len(raw_rules) > MAX_RULES:
        raise MatrixError(
            source, [*problems, f"{source}:{line} 'skill_matrix': {len(raw_rules)} rules; the limit is {MAX_RULES:,}"]
        )
    rules: list[Rule] = []
    seen_ids: dict[str, int] = {}
    for position, raw in enumerate(raw_rules, start=1):
        recipient_limit = NOTIFY_RECIPIENT_LIMITS.get(notify_channel or "", NOTIFY_RECIPIENT_LIMITS["ses"])
        rule = _parse_rule(raw, position, source, priorities, problems, recipient_limit)
        if isinstance(raw, _Lines) and "escalate" in raw:
            # Parsed even when the rule itself has problems, so every problem is reported at once.
            limits = _Limits(max_wait_seconds, NOTIFY_RECIPIENT_LIMITS.get(notify_channel), lookback_days)
            steps = _parse_escalation(raw, position, rule, source, priorities, limits, problems)
            rule = replace(rule, escalate=steps) if rule is not None and steps is not None else None
        if rule is None:
            continue
        if rule.legacy_id is not None and rule.id in seen_ids:
            # Two rules without an id that match the same callers: the second is shadowed (first
            # match wins, lint warns); it still needs a name of its own.
            rule = replace(rule, id=f"{rule.id}-{position}")
        if rule.id in seen_ids:
            problems.append(
                f"{source}:{rule.line} rule {position} 'id': {rule.id!r} is already used by rule {seen_ids[rule.id]}"
            )
        seen_ids[rule.id] = position
        rules.append(rule)
    if problems:
        raise MatrixError(source, problems)
    return Matrix(rules=tuple(rules), version=version, source=source, warnings=tuple(shadowed(rules, source)))


def _parse_priorities(document: _Lines, source: str, problems: list[str]) -> dict[str, int]:
    raw = document.get("priorities")
    if raw is None:
        return {}
    if not isinstance(raw, _Lines):
        problems.append(f"{source}:{document.key_lines['priorities']} 'priorities': expected a mapping name: integer")
        return {}
    result = {}
    for name, value in raw.items():
        if isinstance(value, bool) or not isinstance(value, int) or abs(value) > PRIORITY_BOUND:
            problems.append(
                f"{source}:{raw.key_lines[name]} priorities '{name}': expected an integer within +/-{PRIORITY_BOUND:,}"
            )
        else:
            result[str(name).lower()] = value
    return result


def _parse_rule(
    raw: Any,
    position: int,
    source: str,
    priorities: dict[str, int],
    problems: list[str],
    max_recipients: int = NOTIFY_RECIPIENT_LIMITS["ses"],
) -> Rule | None:
    if not isinstance(raw, _Lines):
        problems.append(f"{source}: rule {position}: expected a mapping with intent_keyword and skill_id")
        return None
    before = len(problems)

    def where(key: str | None = None) -> str:
        line = raw.key_lines.get(key, raw.line) if key else raw.line
        return f"{source}:{line} rule {position}" + (f" '{key}'" if key else "")

    for key in raw:
        if key not in RULE_KEYS:
            problems.append(f"{where(key)}: unknown key; expected one of {', '.join(RULE_KEYS)}")

    def strings(key: str) -> list[str]:
        value = raw.get(key)
        if value is None:
            return []
        values = value if isinstance(value, list) else [value]
        if not values or not all(isinstance(v, str) and v.strip() for v in values):
            problems.append(f"{where(key)}: expected a non-empty string or a list of them")
            return []
        return [v.strip() for v in values]

    keyword_key = "keywords" if "keywords" in raw else "intent_keyword"
    if isinstance(raw.get(keyword_key), list) and len(raw[keyword_key]) > MAX_KEYWORDS_PER_RULE:
        problems.append(
            f"{where(keyword_key)}: {len(raw[keyword_key])} keywords; the limit is {MAX_KEYWORDS_PER_RULE} a rule"
        )
        return None
    keywords = strings("intent_keyword") + strings("keywords")
    if not keywords and "intent_keyword" not in raw and "keywords" not in raw:
        problems.append(f"{where()}: missing 'intent_keyword' (or 'keywords')")
    match = str(raw.get("match", "contains")).lower()
    if match not in MATCH_MODES:
        problems.append(f"{where('match')}: expected one of {', '.join(MATCH_MODES)}")
    patterns: list[Any] = []
    longest = MAX_PATTERN_CHARS if match == "regex" else MAX_KEYWORD_CHARS
    for keyword in keywords:
        if len(keyword) > longest:
            problems.append(
                f"{where(keyword_key)}: {keyword[:30]!r}... is {len(keyword)} characters; the limit is {longest}"
            )
        elif match == "regex":
            pattern = _compile_regex(keyword)
            if isinstance(pattern, str):
                problems.append(f"{where(keyword_key)}: regex {keyword!r} {pattern}")
            else:
                patterns.append(pattern)
    seed_skill = strings("skill_id")
    for skill in seed_skill:
        if not _UUID.match(skill):
            problems.append(
                f"{where('skill_id')}: {skill!r} is not a Genesys skill id (a UUID); put names under 'skills:'"
            )
    named_skills = strings("skills")
    requirement = _requirement(raw, where, problems, allow_none=False)
    has_requirement = "require" in raw or "expression" in raw
    if has_requirement and ("skill_id" in raw or "skills" in raw):
        problems.append(
            f"{where('require' if 'require' in raw else 'expression')}: give skills or a requirement "
            "(require/expression), not both: a requirement is written as the skill expression, which "
            "takes priority over skills"
        )
    with_expression = raw.get("with_expression")
    if with_expression is not None:
        if not isinstance(with_expression, str) or with_expression.strip().lower() not in WITH_EXPRESSION:
            problems.append(f"{where('with_expression')}: expected 'and' (or leave it out: never touch another's)")
        elif not has_requirement:
            problems.append(f"{where('with_expression')}: only a rule with 'require' or 'expression' can AND it in")
    skill_ids = [*seed_skill, *(s for s in named_skills if _UUID.match(s))]
    skill_names = [s for s in named_skills if not _UUID.match(s)]
    urgency = raw.get("priority")
    explicit_priority = raw.get("routing_priority")
    if isinstance(urgency, int) and not isinstance(urgency, bool):
        # `priority: 20` is a routing priority (the seed only had names, which stay urgencies).
        explicit_priority, urgency = (urgency if explicit_priority is None else explicit_priority), None
        if "routing_priority" in raw:
            problems.append(f"{where('priority')}: give the routing priority once, as 'routing_priority'")
    elif urgency is not None:
        urgency = str(urgency).lower()
        if urgency not in URGENCIES:
            problems.append(f"{where('priority')}: expected one of {', '.join(URGENCIES)} or an integer")
    key = "routing_priority" if "routing_priority" in raw else "priority"
    routing_priority = _routing_priority(explicit_priority, priorities, where(key), problems)
    if routing_priority is None and explicit_priority is None and isinstance(urgency, str):
        routing_priority = priorities.get(urgency)  # `priorities: {high: 100}` gives the seed's names a value
    notify: list[str] = []
    notify_users: list[str] = []
    for key in ("supervisor_email", "notify"):
        for address in strings(key):
            if _EMAIL.match(address):
                notify.append(address)
            elif _UUID.match(address) and key == "notify":
                notify_users.append(address.lower())
            else:
                expected = "an email address" + (" or a Genesys user id" if key == "notify" else "")
                problems.append(f"{where(key)}: {address!r} is not {expected}")
    recipients = len(dict.fromkeys(notify)) + len(dict.fromkeys(notify_users))
    if recipients > max_recipients:
        key = "notify" if "notify" in raw else "supervisor_email"
        problems.append(
            f"{where(key)}: {recipients} recipients; one email on this NOTIFY_CHANNEL takes at most {max_recipients} "
            "(SES: 50 per message): name a distribution list instead"
        )
    attribute = raw.get("attribute")
    if attribute is not None and (not isinstance(attribute, str) or not attribute.strip()):
        problems.append(f"{where('attribute')}: expected a participant attribute name")
        attribute = None
    language_id, language_name = _language(raw.get("language"), where("language"), problems)
    rule_id = raw.get("id")
    if rule_id is not None and (not isinstance(rule_id, str | int) or not str(rule_id).strip()):
        problems.append(f"{where('id')}: expected a short name")
    min_staffed = raw.get("min_staffed", 1)
    if isinstance(min_staffed, bool) or not isinstance(min_staffed, int) or not 0 <= min_staffed <= MAX_MIN_STAFFED:
        problems.append(
            f"{where('min_staffed')}: expected a whole number from 0 (the staffing guard off for this rule) "
            f"to {MAX_MIN_STAFFED:,}"
        )
    when_unstaffed = raw.get("when_unstaffed", "skip")
    if not isinstance(when_unstaffed, str) or when_unstaffed.strip().lower() not in WHEN_UNSTAFFED:
        problems.append(f"{where('when_unstaffed')}: expected one of {', '.join(WHEN_UNSTAFFED)}")
    # Nothing in Genesys requires a skill (the routing PATCH's skillIds, priority and languageId are
    # each optional: SDK RoutingConversationAttributesRequest), so a rule may only raise priority,
    # set a language, email or escalate; a rule that does none of these is a mistake (issue 19).
    gives_skills = "skill_id" in raw or "skills" in raw or has_requirement
    emails = urgency == "high" and bool(notify or notify_users)
    if not (gives_skills or routing_priority is not None or "language" in raw or "escalate" in raw or emails):
        problems.append(
            f"{where()}: the rule changes nothing; give it 'skills' (or 'skill_id', 'require', 'expression'), "
            "a 'routing_priority', a 'language', 'escalate' steps or an email ('priority: high' with 'notify')"
        )
    if len(problems) > before:
        return None
    first = re.sub(r"[^a-z0-9]+", "-", keywords[0].lower()).strip("-") if keywords else "rule"
    queues = tuple(q.lower() for q in strings("queues"))  # Genesys ids, one spelling (like skill ids)
    folded = tuple(k.casefold() for k in keywords)
    return Rule(
        id=str(rule_id) if rule_id is not None else derived_id(first, folded, match, attribute, queues),
        legacy_id=None if rule_id is not None else f"{position}-{first}"[:64],
        position=position,
        line=raw.line,
        keywords=folded,
        match=match,
        attribute=attribute.strip() if isinstance(attribute, str) else None,
        skill_ids=tuple(dict.fromkeys(s.lower() for s in skill_ids)),
        urgency=urgency,
        routing_priority=routing_priority,
        notify=tuple(dict.fromkeys(notify)),
        queues=queues,
        patterns=tuple(patterns),
        skill_names=tuple(dict.fromkeys(skill_names)),
        notify_users=tuple(dict.fromkeys(notify_users)),
        language_id=language_id,
        language_name=language_name,
        key_lines=dict(raw.key_lines),
        min_staffed=int(min_staffed),
        when_unstaffed=str(when_unstaffed).strip().lower(),
        requirement=requirement if isinstance(requirement, Term | Not | Join) else None,
        with_expression=str(with_expression).strip().lower() if with_expression is not None else None,
    )


def derived_id(first: str, keywords: tuple[str, ...], match: str, attribute: Any, queues: tuple[str, ...]) -> str:
    """The id of a rule without an explicit `id`: its first keyword and a digest of what decides
    which callers it matches (keywords, match mode, attribute, queues). A waiting caller's ladder
    is found by the id its leg recorded, so the id must not change when another rule is added,
    removed or moved (it was the rule's position: issue 19). Editing what a rule does (skills,
    priority, steps) keeps its id; editing what it matches makes it another rule."""
    content = {
        "keywords": sorted(set(keywords)),
        "match": match,
        "attribute": attribute.strip() if isinstance(attribute, str) else None,
        "queues": sorted(set(queues)),
    }
    digest = hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()[:8]
    return f"{first[:40]}-{digest}"


def _compile_regex(keyword: str) -> Any:
    """The pattern compiled by RE2, or why not: RE2 has no backreferences, lookaround, atomic
    groups or possessive repeats (the features that need backtracking), and refuses huge programs."""
    try:
        return Pattern(keyword, re2.compile(fold_pattern(keyword), _RE2_OPTIONS))
    except re2.error as exc:
        detail = exc.args[0] if exc.args else exc
        reason = detail.decode("utf-8", "replace") if isinstance(detail, bytes) else str(detail)
        return (
            f"cannot be used: RE2 (the linear-time engine skill-router matches with) refuses it ({reason}); "
            "no backreferences, lookahead/lookbehind, atomic groups or possessive repeats, \\z not \\Z"
        )


def _language(value: Any, where: str, problems: list[str]) -> tuple[str | None, str | None]:
    """(language id, language name to resolve): an id (UUID), a name, or `none` (clear: id "")."""
    if value is None:
        return None, None
    if not isinstance(value, str) or not value.strip():
        problems.append(f"{where}: expected a language name, a language id, or none")
        return None, None
    text = value.strip()
    if text.casefold() == LANGUAGE_NONE:
        return "", None
    if _UUID.match(text):
        return text.lower(), None
    return None, text


@dataclass(frozen=True)
class _Limits:
    max_wait_seconds: int
    max_recipients: int | None
    lookback_days: int | None = None


def _parse_escalation(
    raw: _Lines,
    position: int,
    rule: Rule | None,
    source: str,
    priorities: dict[str, int],
    limits: _Limits,
    problems: list[str],
) -> tuple[Step, ...] | None:
    """The `escalate:` ladder of one rule, checked against the rule it extends."""
    before = len(problems)
    ladder = raw["escalate"]
    if not isinstance(ladder, list) or not ladder:
        problems.append(
            f"{source}:{raw.key_lines['escalate']} rule {position} 'escalate': expected a list of steps, "
            "each with 'after' and what changes"
        )
        return None
    # What the rule and the steps so far are known to have made true; a step that adds nothing
    # to it changes nothing. Skills are compared as written (a name and its id are not matched).
    present = {s.casefold() for s in _raw_strings(raw.get("skill_id")) + _raw_strings(raw.get("skills"))}
    absent: set[str] = set()
    priority = rule.routing_priority if rule is not None else None
    language = (rule.language_id if rule.language_id is not None else rule.language_name) if rule else None
    steps: list[Step] = []
    previous: Step | None = None
    for number, step_raw in enumerate(ladder, start=1):
        if not isinstance(step_raw, _Lines):
            line = raw.key_lines["escalate"]
            problems.append(f"{source}:{line} rule {position} escalate step {number}: expected a mapping with 'after'")
            continue
        step_problems = len(problems)

        def where(key: str | None = None, step_raw: _Lines = step_raw, number: int = number) -> str:
            line = step_raw.key_lines.get(key, step_raw.line) if key else step_raw.line
            return f"{source}:{line} rule {position} escalate step {number}" + (f" '{key}'" if key else "")

        for key in step_raw:
            if key not in STEP_KEYS:
                problems.append(f"{where(key)}: unknown key; expected one of {', '.join(STEP_KEYS)}")

        def strings(key: str, where: Callable[[str], str] = where, step_raw: _Lines = step_raw) -> list[str]:
            value = step_raw.get(key)
            if value is None:
                return []
            values = value if isinstance(value, list) else [value]
            if not values or not all(isinstance(v, str) and v.strip() for v in values):
                problems.append(f"{where(key)}: expected a non-empty string or a list of them")
                return []
            return list(dict.fromkeys(v.strip() for v in values))

        after: int | None = None
        if "after" not in step_raw:
            problems.append(f'{where()}: missing \'after\' (seconds in the queue, or "90s", "2m")')
        else:
            after = parse_duration(step_raw["after"])
            if after is None or after == 0:
                problems.append(f'{where("after")}: expected a positive number of seconds, or "90s", "2m", "1h"')
                after = None
            elif after > limits.max_wait_seconds:
                problems.append(
                    f"{where('after')}: {format_duration(after)} is beyond MAX_WAIT_SECONDS "
                    f"({format_duration(limits.max_wait_seconds)}); callers are not followed that long"
                )
            elif limits.lookback_days is not None and after > limits.lookback_days * 86400:
                # Discovery asks for callers who entered a queue from 00:00 UTC lookback_days before
                # today: just after midnight that is only lookback_days of waiting. A caller waiting
                # longer is not found, so the step would silently never fire for them.
                days = limits.lookback_days
                problems.append(
                    f"{where('after')}: {format_duration(after)} is later than discovery is sure to see a caller: "
                    f"DISCOVERY_LOOKBACK_DAYS={days} finds callers who entered the queue since 00:00 UTC "
                    f"{days} day(s) before today, which just after midnight is only "
                    f"{format_duration(days * 86400) if days else 'today'}; raise DISCOVERY_LOOKBACK_DAYS "
                    "(matrix validate --lookback-days) or make the step earlier"
                )
            elif previous is not None and after <= previous.after:
                problems.append(
                    f"{where('after')}: {format_duration(after)} is not later than step {previous.position} "
                    f"({format_duration(previous.after)}); list steps in increasing 'after'"
                )
        after_ok = len(problems) == step_problems
        step_problems = len(problems)
        add, remove = strings("add_skills"), strings("remove_skills")
        both = sorted({s.casefold() for s in add} & {s.casefold() for s in remove})
        if both:
            problems.append(f"{where('remove_skills')}: {', '.join(both)} is both added and removed by this step")
        step_priority = _routing_priority(
            step_raw.get("routing_priority"), priorities, where("routing_priority"), problems
        )
        language_id, language_name = _language(step_raw.get("language"), where("language"), problems)
        step_requirement = _requirement(step_raw, where, problems, allow_none=True)
        if step_requirement is not None and rule is not None and rule.requirement is None:
            problems.append(f"{where()}: a step's require/expression needs one on its rule (the rule writes skills)")
        notify: list[str] = []
        notify_users: list[str] = []
        for address in strings("notify"):
            if _EMAIL.match(address):
                notify.append(address)
            elif _UUID.match(address):
                notify_users.append(address.lower())
            else:
                problems.append(f"{where('notify')}: {address!r} is not an email address or a Genesys user id")
        recipients = len(notify) + len(notify_users)
        if limits.max_recipients is not None and recipients > limits.max_recipients:
            problems.append(
                f"{where('notify')}: {recipients} recipients; one email on this NOTIFY_CHANNEL "
                f"takes at most {limits.max_recipients} (use a distribution list address)"
            )
        if len(problems) > step_problems:
            continue
        # A step that changes nothing is a mistake in the ladder (a typo, or a later step already
        # covered): say so instead of recording steps that do nothing.
        adds = [s for s in add if s.casefold() not in present]
        removes = [s for s in remove if s.casefold() not in absent]
        raises = step_priority is not None and (priority is None or step_priority > priority)
        new_language = language_id if language_id is not None else language_name
        relanguages = new_language is not None and new_language != language
        if not (adds or removes or raises or relanguages or recipients or step_requirement is not None):
            why = []
            if step_priority is not None:
                why.append(f"routing_priority {step_priority} is not above {priority}, and priorities are only raised")
            if add or remove:
                why.append("its skills are already added or removed before it")
            if new_language is not None:
                why.append("the language is already that")
            problems.append(
                f"{where()}: this step changes nothing"
                + (f" ({'; '.join(why)})" if why else "")
                + "; give it add_skills, remove_skills, a higher routing_priority, a language or notify"
            )
            continue
        if step_priority is not None and not raises:
            problems.append(
                f"{where('routing_priority')}: {step_priority} is not above {priority} set before it; "
                "priorities are only raised"
            )
            continue
        if not after_ok or after is None:
            continue
        present = (present | {s.casefold() for s in add}) - {s.casefold() for s in remove}
        absent = (absent | {s.casefold() for s in remove}) - {s.casefold() for s in add}
        priority = step_priority if raises else priority
        language = new_language if new_language is not None else language
        previous = Step(
            position=number,
            line=step_raw.line,
            after=after,
            add_skill_ids=tuple(s.lower() for s in add if _UUID.match(s)),
            remove_skill_ids=tuple(s.lower() for s in remove if _UUID.match(s)),
            routing_priority=step_priority,
            language_id=language_id,
            notify=tuple(dict.fromkeys(notify)),
            add_skill_names=tuple(s for s in add if not _UUID.match(s)),
            remove_skill_names=tuple(s for s in remove if not _UUID.match(s)),
            language_name=language_name,
            notify_users=tuple(dict.fromkeys(notify_users)),
            key_lines=dict(step_raw.key_lines),
            requirement=step_requirement if isinstance(step_requirement, Term | Not | Join) else None,
            drops_requirement=step_requirement == NONE,
        )
        steps.append(previous)
    if len(problems) > before:
        return None
    return tuple(steps)


NONE = "none"


def _requirement(raw: _Lines, where: Callable[[str], str], problems: list[str], allow_none: bool) -> Expr | str | None:
    """`require: {Spanish: 3, language: {English: 2}}` and/or `expression: 'Skill("X") >= 2'` (both:
    ANDed), parsed by expression.py; a step's `require: none` drops skill-router's requirement."""
    found: Expr | None = None
    if "require" in raw:
        value = raw["require"]
        if allow_none and isinstance(value, str) and value.strip().lower() == NONE:
            if "expression" in raw:
                problems.append(f"{where('require')}: 'require: none' drops the requirement; give no expression")
            return NONE
        found = _required_levels(value, where("require"), problems)
    if "expression" in raw:
        text = raw["expression"]
        try:
            found = expression.both(found, expression.parse(text))
        except ExpressionError as exc:
            problems.append(f"{where('expression')}: {exc.message} at character {exc.position + 1}")
    return found


def _required_levels(value: Any, where: str, problems: list[str]) -> Expr | None:
    expected = (
        f"{where}: expected skill names with a proficiency from 0 to {expression.MAX_LEVEL}, and languages "
        "under 'language', e.g. {Spanish: 3, language: {English: 2}}"
    )
    if not isinstance(value, dict) or not value:
        problems.append(expected)
        return None
    skills: dict[str, int] = {}
    languages: dict[str, int] = {}
    for name, level in value.items():
        if name == "language" and isinstance(level, dict) and level:
            for language, language_level in level.items():
                if not _level_ok(language, language_level):
                    problems.append(f"{where}: language {language!r}: {expected.split(': ', 1)[1]}")
                    return None
                languages[language.strip()] = int(language_level)
            continue
        if not _level_ok(name, level):
            problems.append(f"{where}: {str(name)[:40]!r}: {expected.split(': ', 1)[1]}")
            return None
        skills[name.strip()] = int(level)
    return expression.from_requirement(skills, languages)


def _level_ok(name: Any, level: Any) -> bool:
    return (
        isinstance(name, str)
        and bool(name.strip())
        and '"' not in name
        and "\\" not in name
        and len(name) <= 200
        and isinstance(level, int)
        and not isinstance(level, bool)
        and 0 <= level <= expression.MAX_LEVEL
    )


def _raw_strings(value: Any) -> list[str]:
    """A rule's string-or-list value as written (already validated by _parse_rule)."""
    values = value if isinstance(value, list) else [value] if value is not None else []
    return [v.strip() for v in values if isinstance(v, str) and v.strip()]


def _routing_priority(value: Any, priorities: dict[str, int], where: str, problems: list[str]) -> int | None:
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        if abs(value) <= PRIORITY_BOUND:
            return value
    elif isinstance(value, str) and value.lower() in priorities:
        return priorities[value.lower()]
    named = f" or one of {', '.join(priorities)} (from 'priorities:')" if priorities else ""
    problems.append(f"{where}: expected an integer within +/-{PRIORITY_BOUND:,}{named}")
    return None
