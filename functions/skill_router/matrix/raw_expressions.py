"""The skill expressions a matrix file asks for, found in its YAML by the keys issue 28 fixes
(docs/design.md, "Skill expressions"): a rule's or an escalation step's `expression:` (a string in
Genesys' raw form) and `require:` (a mapping, e.g. `{Spanish: 3, language: {English: 2}}`, written
as the expression `Skill("Spanish") >= 3 & LanguageSkill("English") >= 2`).

`skill-router matrix validate --online` and `doctor` send each to Genesys' validate endpoint. This
module reads the file itself, so that it works whatever the loader makes of those keys; once the
matrix model carries parsed expressions (expression.py's `Expr`), `render_require` gives way to
`Expr.render()` and `expressions_in` to the model's own list. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import yaml

# SkillExpressionData.expression (SDK 269.0.0): the setter refuses more than 4,096 characters.
MAX_EXPRESSION_CHARS = 4096
EXPRESSION_KEYS = ("expression", "require")
_INT = "tag:yaml.org,2002:int"
_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True)
class FoundExpression:
    """One expression of the file: where it is (as the loader names places) and its raw form."""

    line: int
    where: str  # "rule 2 'expression'", "rule 2 escalate step 1 'require'"
    text: str | None  # None: a `require:` that is not a mapping of names to whole numbers

    def place(self, source: str) -> str:
        return f"{source}:{self.line} {self.where}"

    def local_problem(self) -> str | None:
        """What is wrong before Genesys is asked, or None."""
        if self.text is None and self.where.endswith("'expression'"):
            return 'expected a string, a skill expression such as Skill("Spanish") >= 3'
        if self.text is None:
            return "expected a mapping of skill names to a proficiency (0-5), languages under 'language'"
        if not self.text.strip():
            return "the expression is empty"
        if len(self.text) > MAX_EXPRESSION_CHARS:
            return f"{len(self.text):,} characters; Genesys takes at most {MAX_EXPRESSION_CHARS:,}"
        return None


def render_require(requirement: Any) -> str | None:
    """`{Spanish: 3, language: {English: 2}}` -> `Skill("Spanish") >= 3 & LanguageSkill("English") >= 2`
    (the SDK's example form, SkillExpressionData), or None when it is not such a mapping."""
    if not isinstance(requirement, dict) or not requirement:
        return None
    terms = []
    for name, level in requirement.items():
        if name == "language":
            if not isinstance(level, dict) or not level:
                return None
            for language, at in level.items():
                if not _level(at):
                    return None
                terms.append(f'LanguageSkill("{language}") >= {at}')
        elif _level(level):
            terms.append(f'Skill("{name}") >= {level}')
        else:
            return None
    return " & ".join(terms)


def _level(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 5


def expressions_in(text: str) -> list[FoundExpression]:
    """Every `expression:` and `require:` of the file's rules and escalation steps, in file order.
    A file that is not YAML, or has no `skill_matrix:` list, has none (the loader says why)."""
    try:
        root = yaml.compose(text, Loader=_Loader)  # nosec B506: nodes only, nothing constructed
    except yaml.YAMLError:
        return []
    rules = _get(root, "skill_matrix")
    if not isinstance(rules, yaml.SequenceNode):
        return []
    found: list[FoundExpression] = []
    for position, rule in enumerate(rules.value, start=1):
        found += _found(rule, f"rule {position}")
        steps = _get(rule, "escalate")
        if isinstance(steps, yaml.SequenceNode):
            for number, step in enumerate(steps.value, start=1):
                found += _found(step, f"rule {position} escalate step {number}")
    return found


def _found(node: Any, where: str) -> Iterator[FoundExpression]:
    if not isinstance(node, yaml.MappingNode):
        return
    for key, value in node.value:
        if not isinstance(key, yaml.ScalarNode) or key.value not in EXPRESSION_KEYS:
            continue
        line = key.start_mark.line + 1
        if key.value == "expression":
            text = value.value if isinstance(value, yaml.ScalarNode) and isinstance(value.value, str) else None
            yield FoundExpression(line, f"{where} 'expression'", text)
        else:
            yield FoundExpression(line, f"{where} 'require'", render_require(_plain(value)))


def _get(node: Any, name: str) -> Any:
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode) and key.value == name:
                return value
    return None


def _plain(node: Any) -> Any:
    """A `require:` node as Python values: mappings, whole numbers (YAML int), strings."""
    if isinstance(node, yaml.MappingNode):
        return {str(_plain(k)): _plain(v) for k, v in node.value}
    if isinstance(node, yaml.ScalarNode):
        if node.tag == _INT:
            try:
                return int(node.value, 0) if not node.value.lstrip("+-").isdecimal() else int(node.value)
            except ValueError:
                return node.value
        return node.value
    return None
