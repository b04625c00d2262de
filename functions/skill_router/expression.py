"""Skill expressions: the grammar skill-router supports, parsed by hand (no regular expressions).

Genesys routes a waiting conversation by its `skillExpression` when one is set (SDK
RoutingConversationAttributesRequest.skill_expression; the event models: it "takes priority over
skills"). Its raw form names skills and languages: the SDK's own example (model
SkillExpressionData) is `Skill("iPhone") >= 5 & LanguageSkill("English") >= 2`; the help article
"Evaluate Skill Expression Filters" lists AND, OR, NOT and the comparisons `= != < > <= >=`.
skill-router supports exactly this, in the SDK's spelling:

    expr    := or
    or      := and ( "|" and )*
    and     := unary ( "&" unary )*
    unary   := "!" unary | "(" expr ")" | term
    term    := ( "Skill" | "LanguageSkill" ) "(" quoted ")" comparison level
    comparison := "=" | "!=" | "<" | ">" | "<=" | ">="
    quoted  := '"' characters other than '"' and '\\' '"'
    level   := a whole number from 0 to 5 (Genesys proficiencies are 0 to 5)

Bounded: at most MAX_CHARS characters (Genesys' validate endpoint takes 4,096) and MAX_DEPTH
nested parentheses or `!`. `parse` raises ExpressionError with a 0-based character offset.
A parsed Expr names skills and languages by name; `resolve` turns names into ids (staffing.Member
keys skills and languages by lower-case id), and `evaluate` answers whether a member meets it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

MAX_CHARS = 4_096
MAX_DEPTH = 16
MAX_LEVEL = 5
COMPARISONS = ("<=", ">=", "!=", "=", "<", ">")  # two-character ones first
FUNCTIONS = {"Skill": "skill", "LanguageSkill": "language"}
# How a comparison reads in plain words (`why`, `matrix explain`).
WORDS = {
    ">=": "at {} or better",
    ">": "above {}",
    "<=": "at {} or below",
    "<": "below {}",
    "=": "at exactly {}",
    "!=": "at any level but {}",
}


def written_length(text: str) -> int:
    """How long Genesys may count `text`: in UTF-16 code units, as a Java string's length() does
    (the docs say "4,096 characters" without saying how they count), so a skill or language name
    outside the Basic Multilingual Plane (an emoji) counts 2. Never less than len(text): what is
    written within this bound is within Genesys' whichever way it counts."""
    return len(text.encode("utf-16-le")) // 2


class ExpressionError(ValueError):
    def __init__(self, message: str, position: int) -> None:
        super().__init__(f"{message} (at character {position + 1})")
        self.message = message
        self.position = position


class Proficient(Protocol):
    """What an expression is evaluated against (staffing.Member)."""

    @property
    def skills(self) -> Mapping[str, float]: ...

    @property
    def languages(self) -> Mapping[str, float]: ...


@dataclass(frozen=True)
class Term:
    kind: str  # "skill" or "language"
    name: str  # a name as written, or an id once resolved
    op: str
    level: int
    label: str | None = None  # the name as written, kept once `name` is an id

    def render(self) -> str:
        function = "Skill" if self.kind == "skill" else "LanguageSkill"
        return f'{function}("{self.label or self.name}") {self.op} {self.level}'

    def evaluate(self, member: Proficient) -> bool:
        have = (member.skills if self.kind == "skill" else member.languages).get(self.name.lower())
        if have is None:
            return False  # a member without the skill meets no comparison on it
        return _compare(float(have), self.op, self.level)

    def terms(self) -> Iterator[Term]:
        yield self

    def resolved(self, lookup: Callable[[str, str], str]) -> Term:
        return Term(self.kind, lookup(self.kind, self.name), self.op, self.level, self.label or self.name)

    def words(self) -> str:
        what = self.label or self.name
        return f"{what} {WORDS[self.op].format(self.level)}"

    @property
    def precedence(self) -> int:
        return 3


@dataclass(frozen=True)
class Not:
    item: Expr

    def render(self) -> str:
        return f"!({self.item.render()})"

    def evaluate(self, member: Proficient) -> bool:
        return not self.item.evaluate(member)

    def terms(self) -> Iterator[Term]:
        yield from self.item.terms()

    def resolved(self, lookup: Callable[[str, str], str]) -> Not:
        return Not(self.item.resolved(lookup))

    def words(self) -> str:
        return f"not ({self.item.words()})"

    @property
    def precedence(self) -> int:
        return 3


@dataclass(frozen=True)
class Join:
    op: str  # "&" or "|"
    items: tuple[Expr, ...]

    def render(self) -> str:
        mine = self.precedence
        parts = [i.render() if i.precedence > mine else f"({i.render()})" for i in self.items]
        return f" {self.op} ".join(parts)

    def evaluate(self, member: Proficient) -> bool:
        if self.op == "&":
            return all(i.evaluate(member) for i in self.items)
        return any(i.evaluate(member) for i in self.items)

    def terms(self) -> Iterator[Term]:
        for item in self.items:
            yield from item.terms()

    def resolved(self, lookup: Callable[[str, str], str]) -> Join:
        return Join(self.op, tuple(i.resolved(lookup) for i in self.items))

    def words(self) -> str:
        joiner = ", and " if self.op == "&" else ", or "
        return joiner.join(i.words() if i.precedence > self.precedence else f"({i.words()})" for i in self.items)

    @property
    def precedence(self) -> int:
        return 2 if self.op == "&" else 1


Expr = Term | Not | Join


def _compare(have: float, op: str, level: int) -> bool:
    if op == ">=":
        return have >= level
    if op == ">":
        return have > level
    if op == "<=":
        return have <= level
    if op == "<":
        return have < level
    if op == "=":
        return have == level
    return have != level


def parse(text: Any) -> Expr:
    """The expression `text` in the grammar above, or ExpressionError(message, position)."""
    if not isinstance(text, str):
        raise ExpressionError("an expression is a string", 0)
    if len(text) > MAX_CHARS:
        raise ExpressionError(f"longer than {MAX_CHARS:,} characters ({len(text):,})", MAX_CHARS)
    parser = _Parser(text)
    parser.skip()
    if parser.at_end():
        raise ExpressionError("empty expression", 0)
    expr = parser.or_(0)
    parser.skip()
    if not parser.at_end():
        raise ExpressionError(f"unexpected {parser.peek_word()!r}", parser.pos)
    return expr


def from_requirement(skills: Mapping[str, int], languages: Mapping[str, int]) -> Expr:
    """`require: {Spanish: 3, language: {English: 2}}`: each skill and language at its level or better."""
    terms = [Term("skill", n, ">=", level) for n, level in skills.items()]
    terms += [Term("language", n, ">=", level) for n, level in languages.items()]
    return terms[0] if len(terms) == 1 else Join("&", tuple(terms))


def both(first: Expr | None, second: Expr | None) -> Expr | None:
    """Both requirements (either may be None)."""
    if first is None or second is None:
        return first or second
    return Join("&", (first, second))


def skills_and_language(expr: Expr) -> tuple[tuple[str, ...], str | None]:
    """A requirement without its proficiency, for a queue that does not evaluate expressions
    (NO_EXPRESSION_QUEUES): its skill terms' ids, and its first language term's id (None: none)."""
    terms = list(expr.terms())
    skills = tuple(dict.fromkeys(t.name for t in terms if t.kind == "skill"))
    language = next((t.name for t in terms if t.kind == "language"), None)
    return skills, language


def compose(theirs: str, ours: str) -> str:
    """Someone else's expression ANDed with ours, each parenthesised, theirs byte for byte first."""
    return f"({theirs}) & ({ours})"


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def at_end(self) -> bool:
        return self.pos >= len(self.text)

    def skip(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos] in " \t\r\n":
            self.pos += 1

    def peek_word(self) -> str:
        end = self.pos
        while end < len(self.text) and end - self.pos < 20 and self.text[end] not in " \t\r\n":
            end += 1
        return self.text[self.pos : end]

    def take(self, token: str) -> bool:
        self.skip()
        if self.text.startswith(token, self.pos):
            self.pos += len(token)
            return True
        return False

    def or_(self, depth: int) -> Expr:
        items = [self.and_(depth)]
        while self.take("|"):
            items.append(self.and_(depth))
        return items[0] if len(items) == 1 else Join("|", tuple(items))

    def and_(self, depth: int) -> Expr:
        items = [self.unary(depth)]
        while self.take("&"):
            items.append(self.unary(depth))
        return items[0] if len(items) == 1 else Join("&", tuple(items))

    def unary(self, depth: int) -> Expr:
        self.skip()
        if depth >= MAX_DEPTH:
            raise ExpressionError(f"nested more than {MAX_DEPTH} deep", self.pos)
        if self.at_end():
            raise ExpressionError("the expression ends where a term was expected", self.pos)
        if self.text.startswith("!", self.pos) and not self.text.startswith("!=", self.pos):
            self.pos += 1
            return Not(self.unary(depth + 1))
        if self.text.startswith("(", self.pos):
            opened = self.pos
            self.pos += 1
            inner = self.or_(depth + 1)
            if not self.take(")"):
                self.skip()
                if self.at_end():
                    raise ExpressionError("unbalanced parenthesis: '(' is never closed", opened)
                raise ExpressionError(f"expected ')' but found {self.peek_word()!r}", self.pos)
            return inner
        return self.term()

    def term(self) -> Term:
        start = self.pos
        end = start
        while end < len(self.text) and (
            (self.text[end].isascii() and self.text[end].isalnum()) or self.text[end] == "_"
        ):
            end += 1
        word = self.text[start:end]
        if not word:
            found = self.text[start]
            if found == ")":
                raise ExpressionError("unbalanced parenthesis: ')' without '('", start)
            raise ExpressionError(f'expected Skill("...") or LanguageSkill("...") but found {found!r}', start)
        kind = FUNCTIONS.get(word)
        if kind is None:
            raise ExpressionError(f"unknown function {word!r}; expected Skill or LanguageSkill", start)
        self.pos = end
        if not self.take("("):
            raise ExpressionError(f"expected '(' after {word}", self.pos)
        self.skip()
        name = self.quoted()
        if not self.take(")"):
            raise ExpressionError(f"expected ')' after the {kind} name", self.pos)
        self.skip()
        op = next((c for c in COMPARISONS if self.text.startswith(c, self.pos)), None)
        if op is None:
            raise ExpressionError("expected a comparison (= != < > <= >=) and a level", self.pos)
        self.pos += len(op)
        self.skip()
        return Term(kind, name, op, self.level())

    def quoted(self) -> str:
        if not self.text.startswith('"', self.pos):
            raise ExpressionError('expected a name in double quotes ("...")', self.pos)
        opened = self.pos
        end = self.text.find('"', opened + 1)
        if end == -1:
            raise ExpressionError("unclosed quote", opened)
        name = self.text[opened + 1 : end]
        if "\\" in name:
            raise ExpressionError("a name may not contain a backslash", opened + 1 + name.index("\\"))
        if not name.strip():
            raise ExpressionError("empty name", opened)
        self.pos = end + 1
        return name

    def level(self) -> int:
        start = self.pos
        while self.pos < len(self.text) and self.text[self.pos] in "0123456789" and self.pos - start < 3:
            self.pos += 1
        digits = self.text[start : self.pos]
        if not digits or (self.pos < len(self.text) and self.text[self.pos] in "0123456789."):
            raise ExpressionError(f"expected a whole number from 0 to {MAX_LEVEL}", start)
        if int(digits) > MAX_LEVEL:
            raise ExpressionError(f"level {int(digits)} is above {MAX_LEVEL}, the highest proficiency", start)
        return int(digits)
