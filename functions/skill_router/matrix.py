"""The skill matrix: parse YAML with line numbers, validate every rule, match a caller's intent.

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

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import yaml

from skill_router.errors import MatrixError

MAX_MATRIX_BYTES = 1_000_000
# Attribute values are caller- or bot-controlled: bound what a regex ever scans.
MAX_MATCHED_CHARS = 1_000
MATCH_MODES = ("contains", "exact", "regex")
URGENCIES = ("high", "medium", "low")
PRIORITY_BOUND = 25_000_000  # Genesys rejects routing priorities outside +/- this
# SES SendEmail takes at most 50 recipients per message; the Genesys agentless channel sends (and
# the ledger claims) one per call. One limit for both keeps a matrix valid on either channel.
MAX_RECIPIENTS = 50
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
# A group that repeats something that itself repeats, e.g. (a+)+ or (\w*)*: the classic shape of
# catastrophic backtracking in Python's re engine.
_NESTED_QUANTIFIER = re.compile(r"\((?:[^()\\]|\\.)*[+*}](?:[^()\\]|\\.)*\)\s*[+*{]")
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
)


@dataclass(frozen=True)
class Rule:
    id: str
    position: int
    line: int
    keywords: tuple[str, ...]
    match: str
    attribute: str | None
    skill_ids: tuple[str, ...]
    urgency: str | None
    routing_priority: int | None
    notify: tuple[str, ...]
    queues: tuple[str, ...]
    patterns: tuple[re.Pattern[str], ...] = field(default=(), compare=False, repr=False)
    # Named in the file, resolved through Genesys when the function loads the matrix.
    skill_names: tuple[str, ...] = ()
    notify_users: tuple[str, ...] = ()

    @property
    def high_priority(self) -> bool:
        return self.urgency == "high"

    def matches(self, value: str) -> bool:
        return self.matching_keyword(value) is not None

    def matching_keyword(self, value: str) -> str | None:
        """The rule's keyword (or pattern) that matches `value`: the matrix's words, not the caller's."""
        text = value[:MAX_MATCHED_CHARS].casefold()
        if self.match == "regex":
            return next((p.pattern for p in self.patterns if p.search(text)), None)
        if self.match == "exact":
            return text.strip() if text.strip() in self.keywords else None
        return next((k for k in self.keywords if k in text), None)


@dataclass(frozen=True)
class Matrix:
    rules: tuple[Rule, ...]
    version: str
    source: str
    warnings: tuple[str, ...] = ()

    @property
    def attributes(self) -> set[str | None]:
        return {r.attribute for r in self.rules}

    def rule(self, rule_id: Any) -> Rule | None:
        """The rule with this id, if the matrix (still) has one."""
        return next((r for r in self.rules if r.id == rule_id), None) if rule_id else None

    @property
    def unresolved(self) -> bool:
        """Some rule names a skill or a user that only Genesys can turn into an id or an email."""
        return any(r.skill_names or r.notify_users for r in self.rules)

    def queue_ids(self) -> set[str] | None:
        """Queues some rule is restricted to, or None when any rule applies to every queue."""
        if any(not r.queues for r in self.rules):
            return None
        return {q for r in self.rules for q in r.queues}

    def match(
        self, attributes: Mapping[str, str], default_attribute: str, queue_id: str | None = None
    ) -> tuple[Rule, str] | None:
        """First rule whose keyword matches; returns the rule and the value it matched."""
        for rule in self.rules:
            if rule.queues and queue_id not in rule.queues:
                continue
            value = attributes.get(rule.attribute or default_attribute)
            if isinstance(value, str) and value and rule.matches(value):
                return rule, value
        return None


class _LineLoader(yaml.SafeLoader):
    """SafeLoader that remembers the line of every mapping and of each of its keys."""


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


def parse_matrix(text: str | bytes, source: str, version: str = "local") -> Matrix:
    """Parse and validate a matrix; raise MatrixError with every problem (file:line rule N 'field')."""
    if len(text) > MAX_MATRIX_BYTES:
        raise MatrixError(source, [f"{source}: file is {len(text)} bytes; the limit is {MAX_MATRIX_BYTES}"])
    try:
        # _LineLoader is a SafeLoader subclass that only adds line numbers.
        document = yaml.load(text, Loader=_LineLoader)  # noqa: S506 # nosec B506
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{source}:{mark.line + 1}" if mark else source
        raise MatrixError(source, [f"{where}: not valid YAML: {exc.problem or exc}"]) from None
    except yaml.YAMLError as exc:
        raise MatrixError(source, [f"{source}: not valid YAML: {exc}"]) from None
    if not isinstance(document, _Lines) or "skill_matrix" not in document:
        raise MatrixError(source, [f"{source}:1: expected a mapping with a 'skill_matrix:' list of rules"])
    problems: list[str] = []
    unknown = sorted(set(document) - {"skill_matrix", "priorities"})
    for key in unknown:
        problems.append(f"{source}:{document.key_lines[key]} unknown top-level key {key!r}")
    priorities = _parse_priorities(document, source, problems)
    raw_rules = document["skill_matrix"]
    if not isinstance(raw_rules, list) or not raw_rules:
        line = document.key_lines["skill_matrix"]
        raise MatrixError(source, [*problems, f"{source}:{line} 'skill_matrix': expected a non-empty list"])
    rules: list[Rule] = []
    seen_ids: dict[str, int] = {}
    for position, raw in enumerate(raw_rules, start=1):
        rule = _parse_rule(raw, position, source, priorities, problems)
        if rule is None:
            continue
        if rule.id in seen_ids:
            problems.append(
                f"{source}:{rule.line} rule {position} 'id': {rule.id!r} is already used by rule {seen_ids[rule.id]}"
            )
        seen_ids[rule.id] = position
        rules.append(rule)
    if problems:
        raise MatrixError(source, problems)
    return Matrix(rules=tuple(rules), version=version, source=source, warnings=tuple(_shadowed(rules, source)))


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


def _parse_rule(raw: Any, position: int, source: str, priorities: dict[str, int], problems: list[str]) -> Rule | None:
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

    keywords = strings("intent_keyword") + strings("keywords")
    if not keywords and "intent_keyword" not in raw and "keywords" not in raw:
        problems.append(f"{where()}: missing 'intent_keyword' (or 'keywords')")
    match = str(raw.get("match", "contains")).lower()
    if match not in MATCH_MODES:
        problems.append(f"{where('match')}: expected one of {', '.join(MATCH_MODES)}")
    patterns: list[re.Pattern[str]] = []
    if match == "regex":
        for keyword in keywords:
            if _NESTED_QUANTIFIER.search(keyword) or len(keyword) > 500:
                problems.append(
                    f"{where('keywords' if 'keywords' in raw else 'intent_keyword')}: regex {keyword!r} "
                    "repeats a repeated group and could backtrack catastrophically; simplify it"
                )
                continue
            try:
                patterns.append(re.compile(keyword, re.IGNORECASE))
            except re.error as exc:
                problems.append(f"{where('keywords' if 'keywords' in raw else 'intent_keyword')}: bad regex: {exc}")
    seed_skill = strings("skill_id")
    for skill in seed_skill:
        if not _UUID.match(skill):
            problems.append(
                f"{where('skill_id')}: {skill!r} is not a Genesys skill id (a UUID); put names under 'skills:'"
            )
    named_skills = strings("skills")
    if not seed_skill and not named_skills and "skill_id" not in raw and "skills" not in raw:
        problems.append(f"{where()}: missing 'skill_id' (or 'skills')")
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
    if recipients > MAX_RECIPIENTS:
        key = "notify" if "notify" in raw else "supervisor_email"
        problems.append(
            f"{where(key)}: {recipients} recipients; an email goes to at most {MAX_RECIPIENTS} "
            "(SES's limit per message): name a distribution list instead"
        )
    attribute = raw.get("attribute")
    if attribute is not None and (not isinstance(attribute, str) or not attribute.strip()):
        problems.append(f"{where('attribute')}: expected a participant attribute name")
        attribute = None
    rule_id = raw.get("id")
    if rule_id is not None and (not isinstance(rule_id, str | int) or not str(rule_id).strip()):
        problems.append(f"{where('id')}: expected a short name")
    if len(problems) > before:
        return None
    first = re.sub(r"[^a-z0-9]+", "-", keywords[0].lower()).strip("-") if keywords else "rule"
    return Rule(
        id=str(rule_id) if rule_id is not None else f"{position}-{first}"[:64],
        position=position,
        line=raw.line,
        keywords=tuple(k.casefold() for k in keywords),
        match=match,
        attribute=attribute.strip() if isinstance(attribute, str) else None,
        skill_ids=tuple(dict.fromkeys(s.lower() for s in skill_ids)),
        urgency=urgency,
        routing_priority=routing_priority,
        notify=tuple(dict.fromkeys(notify)),
        queues=tuple(strings("queues")),
        patterns=tuple(patterns),
        skill_names=tuple(dict.fromkeys(skill_names)),
        notify_users=tuple(dict.fromkeys(notify_users)),
    )


def resolve_matrix(
    matrix: Matrix,
    skill_ids_by_name: Callable[[Sequence[str]], Mapping[str, str]],
    user_email: Callable[[str], str | None],
) -> Matrix:
    """Turn skill names into ids and user ids into emails, through Genesys; an unknown name or
    user is a validation error (file:line), found when the matrix loads, not when a caller waits."""
    if not matrix.unresolved:
        return matrix
    names = sorted({n for r in matrix.rules for n in r.skill_names})
    found = skill_ids_by_name(names) if names else {}
    emails: dict[str, str | None] = {}
    problems: list[str] = []
    rules = []
    for rule in matrix.rules:
        where = f"{matrix.source}:{rule.line} rule {rule.position}"
        ids = list(rule.skill_ids)
        for name in rule.skill_names:
            if name in found:
                ids.append(found[name].lower())
            else:
                problems.append(f"{where} 'skills': no routing skill named {name!r} in this Genesys org")
        notify = list(rule.notify)
        for user in rule.notify_users:
            if user not in emails:
                emails[user] = user_email(user)
            email = emails[user]
            if email:
                notify.append(email)
            else:
                problems.append(f"{where} 'notify': no Genesys user {user!r}, or the user has no email")
        rules.append(
            replace(
                rule,
                skill_ids=tuple(dict.fromkeys(ids)),
                notify=tuple(dict.fromkeys(notify)),
                skill_names=(),
                notify_users=(),
            )
        )
    if problems:
        raise MatrixError(matrix.source, problems)
    return replace(matrix, rules=tuple(rules))


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


def _shadowed(rules: list[Rule], source: str) -> list[str]:
    """Warn about contains-rules that an earlier rule on the same attribute always pre-empts."""
    warnings = []
    for i, later in enumerate(rules):
        if later.match != "contains":
            continue
        for earlier in rules[:i]:
            if earlier.match != "contains" or earlier.attribute != later.attribute or earlier.queues:
                continue
            if all(any(e in k for e in earlier.keywords) for k in later.keywords):
                warnings.append(
                    f"{source}:{later.line} rule {later.position} can never match: rule {earlier.position} "
                    f"(line {earlier.line}) matches every keyword it has"
                )
                break
    return warnings
