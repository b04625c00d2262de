"""The skill matrix as the function uses it: rules, escalation steps, and first-match on a
caller's attributes. Built only by `load.parse_matrix` (and `resolve.resolve_matrix`)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from skill_router.expression import Expr

# Attribute values are caller- or bot-controlled: bound what is ever matched.
MAX_MATCHED_CHARS = 1_000
MATCH_MODES = ("contains", "exact", "regex")
URGENCIES = ("high", "medium", "low")
PRIORITY_BOUND = 25_000_000  # Genesys rejects routing priorities outside +/- this
# The latest an escalation step may fall due, in seconds of waiting (setting MAX_WAIT_SECONDS).
DEFAULT_MAX_WAIT_SECONDS = 86_400
# Recipients one email may have, per NOTIFY_CHANNEL: SES SendEmail takes at most 50 (AWS SES API
# reference, "Destination"); Genesys agentless email takes one recipient per send (SDK model
# AgentlessEmailSendRequestDto.to_addresses), so each is one API call from the rate budget: 10.
NOTIFY_RECIPIENT_LIMITS = {"ses": 50, "genesys": 10}
LANGUAGE_NONE = "none"  # `language: none` clears the requested language (languageId "")
# The staffing guard (guard.py): what a rule does when nobody on queue could serve what it adds.
WHEN_UNSTAFFED = ("skip", "next_step", "apply")
DEFAULT_MIN_STAFFED = 1
_SURROGATE = re.compile("[\ud800-\udfff]")


@dataclass(frozen=True)
class Step:
    """One rung of a rule's escalation ladder: what changes once the caller has waited `after`
    seconds in the queue (this ACD leg). `after` is the step's identity within its rule."""

    position: int  # 1-based, in the order of the file (which is increasing `after`)
    line: int
    after: int
    add_skill_ids: tuple[str, ...] = ()
    remove_skill_ids: tuple[str, ...] = ()
    routing_priority: int | None = None  # raise to; never lowers
    language_id: str | None = None  # None: leave it; "": clear it
    notify: tuple[str, ...] = ()
    # Named in the file, resolved through Genesys when the function loads the matrix.
    add_skill_names: tuple[str, ...] = ()
    remove_skill_names: tuple[str, ...] = ()
    language_name: str | None = None
    notify_users: tuple[str, ...] = ()
    key_lines: Mapping[str, int] = field(default_factory=dict, compare=False, repr=False)
    # `require:` / `expression:` (expression.py): skill-router's requirement from this step on,
    # replacing the rule's; `require: none` drops it (someone else's expression is left as it was).
    requirement: Expr | None = None
    drops_requirement: bool = False

    def line_of(self, key: str) -> int:
        return self.key_lines.get(key, self.line)

    @property
    def unresolved(self) -> bool:
        return bool(
            self.add_skill_names
            or self.remove_skill_names
            or self.language_name
            or self.notify_users
            or unresolved(self.requirement)
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
    # Regex keywords, compiled by RE2 (google-re2): no backtracking, so no caller's value can stall a match.
    patterns: tuple[Pattern, ...] = field(default=(), compare=False, repr=False)
    # Named in the file, resolved through Genesys when the function loads the matrix.
    skill_names: tuple[str, ...] = ()
    notify_users: tuple[str, ...] = ()
    language_id: str | None = None  # None: leave the caller's language; "": clear it
    language_name: str | None = None
    escalate: tuple[Step, ...] = ()
    key_lines: Mapping[str, int] = field(default_factory=dict, compare=False, repr=False)
    # A rule without an explicit `id` was named by its position until issue 19 (`2-billing`):
    # ledger entries written then still name it so (Matrix.rule).
    legacy_id: str | None = None
    # Names Genesys no longer resolves (a language or skill deleted after the file was written):
    # the rule fails (its callers are recorded `failed`, its steps do not fire), never the matrix.
    broken: tuple[str, ...] = ()
    # The staffing guard: at least `min_staffed` members on queue must meet the caller's whole
    # requirement after a skill or language is added (0: the guard is off for this rule), else
    # `when_unstaffed` decides: skip (withhold the unstaffed part), next_step, or apply anyway.
    min_staffed: int = DEFAULT_MIN_STAFFED
    when_unstaffed: str = "skip"
    # `require:` / `expression:` (expression.py): written as the caller's skillExpression (no
    # skillIds); names resolved to ids when the matrix loads (each Term keeps its name as label).
    requirement: Expr | None = None
    # `with_expression: and`: AND the requirement into someone else's expression ("and"); None:
    # never touch it (the rule is recorded shadowed).
    with_expression: str | None = None

    def line_of(self, key: str) -> int:
        """The line of one of the rule's keys in the file (for errors found after parsing)."""
        return self.key_lines.get(key, self.line)

    @property
    def high_priority(self) -> bool:
        return self.urgency == "high"

    def matches(self, value: str) -> bool:
        return self.matching_keyword(value) is not None

    def matching_keyword(self, value: str) -> str | None:
        """The rule's keyword (or pattern) that matches `value`: the matrix's words, not the caller's."""
        return self.matching(prepare(value))

    def matching(self, text: Text) -> str | None:
        """The keyword (a regex as written) that matches a prepared value, or None."""
        if self.match == "regex":
            return next((p.written for p in self.patterns if p.search(text)), None)
        folded = text.folded
        if self.match == "exact":
            return folded.strip() if folded.strip() in self.keywords else None
        return next((k for k in self.keywords if k in folded), None)


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
        """The rule with this id, if the matrix (still) has one. An id a ledger entry recorded
        before rules without an `id` got stable ones names the rule now at that position with that
        first keyword (README "Upgrade")."""
        if not rule_id:
            return None
        found = next((r for r in self.rules if r.id == rule_id), None)
        return found or next((r for r in self.rules if r.legacy_id == rule_id), None)

    @property
    def broken_rules(self) -> tuple[Rule, ...]:
        """Rules that cannot be applied: a name in them did not resolve when the matrix loaded."""
        return tuple(r for r in self.rules if r.broken)

    @property
    def unresolved(self) -> bool:
        """Some rule names a skill or a user that only Genesys can turn into an id or an email."""
        return any(
            not r.broken
            and (
                r.skill_names
                or r.notify_users
                or r.language_name
                or unresolved(r.requirement)
                or any(s.unresolved for s in r.escalate)
            )
            for r in self.rules
        )

    def match(
        self, attributes: Mapping[str, str], default_attribute: str, queue_id: str | None = None
    ) -> tuple[Rule, str] | None:
        """First rule whose keyword matches; returns the rule and the value it matched."""
        prepared: dict[str, Text] = {}  # each value bounded and folded once, not once per rule
        for rule in self.rules:
            if rule.queues and (queue_id or "").lower() not in rule.queues:
                continue
            name = rule.attribute or default_attribute
            value = attributes.get(name)
            if not isinstance(value, str) or not value:
                continue
            if name not in prepared:
                prepared[name] = prepare(value)
            if rule.matching(prepared[name]) is not None:
                return rule, value
        return None


def unresolved(requirement: Expr | None) -> bool:
    """A requirement that still names skills or languages (resolved terms keep the name as label)."""
    return requirement is not None and any(t.label is None for t in requirement.terms())


def fold(value: str) -> str:
    """What a rule matches: the value's first MAX_MATCHED_CHARS, case-folded, as valid Unicode (a
    lone surrogate, which JSON can carry, becomes U+FFFD: RE2 matches UTF-8 and would raise)."""
    text = value[:MAX_MATCHED_CHARS].casefold()
    return text if text.isascii() else _SURROGATE.sub("\ufffd", text)


class Text(NamedTuple):
    """A value as rules match it: bounded and case-folded (every keyword), and, when it is not
    ASCII, bounded as written too (a regex is also tried on that: `stra.e` matches `Straße`,
    whose folded form `strasse` has one letter more)."""

    folded: str
    written: str | None = None


def prepare(value: str) -> Text:
    folded = fold(value)
    if value[:MAX_MATCHED_CHARS].isascii():
        return Text(folded)  # RE2's case-insensitive match on ASCII is the same on either form
    return Text(folded, _SURROGATE.sub("\ufffd", value[:MAX_MATCHED_CHARS]))


@dataclass(frozen=True)
class Pattern:
    """A regex keyword as written (what `explain` shows) and compiled by RE2, case-insensitive,
    from its folded form (fold_pattern), so it matches what a contains keyword would."""

    written: str
    compiled: Any

    def search(self, text: Text) -> bool:
        if self.compiled.search(text.folded):
            return True
        return text.written is not None and self.compiled.search(text.written) is not None


def fold_pattern(pattern: str) -> str:
    """The pattern folded the way values are: a literal character whose case folding is longer
    than one character (ß -> ss, ẞ, ligatures like ﬁ) becomes `(?:ß|ss)`, so `straße` matches
    the folded `strasse` as a contains keyword `straße` does. RE2's case-insensitive mode already
    covers one-to-one folds (the Kelvin sign, the long s, final sigma). Escapes are kept as
    written, and a character class is left alone: one class character cannot match two."""
    out: list[str] = []
    i, in_class, quoted = 0, False, False
    while i < len(pattern):
        c = pattern[i]
        folded = c.casefold()
        if quoted:  # \Q...\E: literal text
            if pattern.startswith("\\E", i):
                quoted = False
                out.append("\\E")
                i += 2
                continue
            out.append(f"\\E{_either(c, folded)}\\Q" if len(folded) > 1 else c)
        elif c == "\\":
            quoted = pattern.startswith("\\Q", i) and not in_class
            out.append(pattern[i : i + 2])
            i += 2
            continue
        elif in_class:
            if pattern.startswith("[:", i) and (end := pattern.find(":]", i + 2)) != -1:
                out.append(pattern[i : end + 2])  # [:alpha:]
                i = end + 2
                continue
            in_class = c != "]"
            out.append(c)
        elif c == "[":
            in_class = True
            start = i + 1 + (pattern.startswith("^", i + 1))
            start += pattern.startswith("]", start)  # a ] first in a class is literal
            out.append(pattern[i:start])
            i = start
            continue
        else:
            out.append(_either(c, folded) if len(folded) > 1 else c)
        i += 1
    return "".join(out)


def _either(written: str, folded: str) -> str:
    return f"(?:{written}|{re.escape(folded)})"
