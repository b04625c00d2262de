"""The simulator's POST /api/v2/routing/skillexpressions/validate: what Genesys documents of it,
and, where it is silent, a choice of ours named as such and kept configurable (ExpressionRules).

Documented (each with its source):
- Request: SkillExpressionData {expression: "The skill expression in raw format to validate"};
  the SDK's setter refuses more than 4,096 characters (PureCloudPlatformClientV2 269.0.0,
  models/skill_expression_data.py). Its example: `Skill("iPhone") >= 5 & LanguageSkill("English") >= 2`.
- Answer: SkillExpressionValidationResult {valid: "Whether the expression is valid", expression:
  "Normalized SpEL expression (null if validation failed)", skills: "List of skill references
  extracted from the expression (empty if no skills found and/or invalid expression)" (SkillReference
  {id, name, isLanguageSkill}), errors: "List of validation errors (empty if valid)"
  (SkillExpressionValidationError {code: "Error code", message: "Human-readable error message",
  position: "Position in the expression where the error occurred (null if not applicable)"}),
  hint: "Optional hint message"} (same SDK, models/skill_expression_validation_*.py).
- Permission: routing:skillExpressions:add (MyPureCloud/platform-client-sdk-cli,
  build/gc/cmd/routing_skillexpressions_validate: FormatPermissions).
- Operators: AND, OR, NOT and = != < > <= >= (help.genesys.cloud, "Evaluate Skill Expression
  Filters action"); `&` in the SDK's example above.

Not documented (our choices, ExpressionRules): whether `|` and `!` and the words AND/OR/NOT are
all accepted (both spellings are, by default); that an unknown skill or language name makes the
expression invalid rather than a 400 (the issue's reading of "valid ... errors with a position";
the position is then the term's first character); the error codes; the exact SpEL of the
normalised form (ours names ids: `skill['<id>'] >= 3 and language['<id>'] >= 2`); whether names
match case-insensitively (they do here, like the skill listing's name filter); an expression over
4,096 characters sent past the SDK (answered 400 here, as a body the SDK's own model refuses).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

MAX_EXPRESSION_CHARS = 4096  # SkillExpressionData.expression: "length must be less than `4096`" (checks > 4096)
COMPARISONS = ("<=", ">=", "!=", "=", "<", ">")  # longest first: "<=" before "<"
SPEL = {"=": "==", "!=": "!=", "<": "<", ">": ">", "<=": "<=", ">=": ">="}


@dataclass
class ExpressionRules:
    """What the docs leave open; tests may change it."""

    words: bool = True  # AND / OR / NOT (the help article's spelling)
    symbols: bool = True  # & / | / ! (the SDK example's spelling)
    unknown_name_invalid: bool = True  # False: an unknown name is accepted (normalised with no id)


class Invalid(Exception):
    def __init__(self, code: str, message: str, position: int | None) -> None:
        super().__init__(message)
        self.code, self.message, self.position = code, message, position


class _Parser:
    def __init__(self, text: str, rules: ExpressionRules, lookup: Callable[[str, bool], str | None]) -> None:
        self.text, self.rules, self.lookup = text, rules, lookup
        self.at = 0
        self.skills: list[dict[str, Any]] = []
        self.depth = 0

    def blank(self) -> None:
        while self.at < len(self.text) and self.text[self.at].isspace():
            self.at += 1

    def word(self, word: str) -> bool:
        self.blank()
        end = self.at + len(word)
        if self.text[self.at : end].upper() == word and (end >= len(self.text) or not self.text[end].isalnum()):
            self.at = end
            return True
        return False

    def symbol(self, symbol: str) -> bool:
        self.blank()
        if self.text.startswith(symbol, self.at):
            self.at += len(symbol)
            return True
        return False

    def operator(self, word: str, symbol: str) -> bool:
        return (self.rules.words and self.word(word)) or (self.rules.symbols and self.symbol(symbol))

    def parse(self) -> str:
        spel = self.either()
        self.blank()
        if self.at != len(self.text):
            raise Invalid("syntax.error", f"unexpected {self.text[self.at]!r}", self.at)
        return spel

    def either(self) -> str:
        parts = [self.both()]
        while self.operator("OR", "|"):
            parts.append(self.both())
        return " or ".join(parts)

    def both(self) -> str:
        parts = [self.negated()]
        while self.operator("AND", "&"):
            parts.append(self.negated())
        return " and ".join(parts)

    def negated(self) -> str:
        self.blank()
        start = self.at
        if self.text.startswith("!=", self.at):  # not a NOT
            raise Invalid("syntax.error", "expected a term", start)
        if self.operator("NOT", "!"):
            return f"!({self.negated()})"
        return self.primary()

    def primary(self) -> str:
        self.blank()
        if self.symbol("("):
            self.depth += 1
            inner = self.either()
            if not self.symbol(")"):
                raise Invalid("syntax.error", "expected ')'", self.at)
            self.depth -= 1
            return f"({inner})"
        return self.term()

    def term(self) -> str:
        self.blank()
        start = self.at
        if self.text.startswith("LanguageSkill(", self.at):
            language, self.at = True, self.at + len("LanguageSkill(")
        elif self.text.startswith("Skill(", self.at):
            language, self.at = False, self.at + len("Skill(")
        else:
            raise Invalid("syntax.error", 'expected Skill("name") or LanguageSkill("name")', start)
        self.blank()
        if not self.symbol('"'):
            raise Invalid("syntax.error", "expected a quoted name", self.at)
        end = self.text.find('"', self.at)
        if end < 0:
            raise Invalid("syntax.error", "unterminated name", self.at)
        name, self.at = self.text[self.at : end], end + 1
        if not self.symbol(")"):
            raise Invalid("syntax.error", "expected ')'", self.at)
        self.blank()
        comparison = next((c for c in COMPARISONS if self.text.startswith(c, self.at)), None)
        if comparison is None:
            raise Invalid("syntax.error", "expected a comparison (= != < > <= >=)", self.at)
        self.at += len(comparison)
        self.blank()
        digits = self.at
        while self.at < len(self.text) and self.text[self.at].isdigit():
            self.at += 1
        if digits == self.at:
            raise Invalid("syntax.error", "expected a proficiency (a whole number)", digits)
        entity_id = self.lookup(name, language)
        kind = "language" if language else "skill"
        if entity_id is None and self.rules.unknown_name_invalid:
            raise Invalid(f"{kind}.not.found", f"{'LanguageSkill' if language else 'Skill'} {name!r} not found", start)
        self.skills.append({"id": entity_id, "name": name, "isLanguageSkill": language})
        return f"{kind}['{entity_id or name}'] {SPEL[comparison]} {self.text[digits : self.at]}"


def validate(text: str, rules: ExpressionRules, lookup: Callable[[str, bool], str | None]) -> dict[str, Any]:
    """SkillExpressionValidationResult for `text`; `lookup(name, is_language)` gives an id or None."""
    parser = _Parser(text, rules, lookup)
    try:
        normalised = parser.parse()
    except Invalid as error:
        return {
            "valid": False,
            "expression": None,
            "skills": [],
            "errors": [{"code": error.code, "message": error.message, "position": error.position}],
        }
    return {"valid": True, "expression": normalised, "skills": parser.skills, "errors": []}
