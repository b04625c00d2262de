"""Genesys' own check of a matrix's skill expressions, for `matrix validate --online` and `doctor`.

Each expression the matrix carries (a rule's or a step's `require:` / `expression:`, parsed by
expression.py and written back in Genesys' raw form by `Expr.render`, names and not ids) is first
checked here (its length: the SDK refuses more than 4,096 characters), and only a file without
such a problem is sent: one
POST /api/v2/routing/skillexpressions/validate per expression, through the rate budget and
bounded by the deadline like every Genesys call. A refusal is one line with the file, the line
and the position Genesys gave; a 403 is one line naming routing:skillExpressions:add.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from skill_router.errors import OutOfTime
from skill_router.genesys.client import MAX_EXPRESSION_CHARS
from skill_router.matrix import Matrix

ENDPOINT = "POST /api/v2/routing/skillexpressions/validate"
PERMISSION = "routing:skillExpressions:add"  # the Genesys CLI's command for the endpoint names it
TIME_BUDGET_SECONDS = 60.0  # every wait and retry of one `matrix validate --online` ends by then


@dataclass(frozen=True)
class FoundExpression:
    """One requirement of the matrix: where it is (as the loader names places) and its raw form."""

    line: int
    where: str  # "rule 2 'require'", "rule 2 escalate step 1 'expression'"
    text: str

    def place(self, source: str) -> str:
        return f"{source}:{self.line} {self.where}"

    def local_problem(self) -> str | None:
        """What is wrong before Genesys is asked, or None."""
        if len(self.text) > MAX_EXPRESSION_CHARS:
            return f"{len(self.text):,} characters; Genesys takes at most {MAX_EXPRESSION_CHARS:,}"
        return None


def expressions_of(matrix: Matrix) -> list[FoundExpression]:
    """Every requirement of the matrix's rules and escalation steps, in file order."""
    found = []
    for rule in matrix.rules:
        places = [(f"rule {rule.position}", rule.requirement, rule.key_lines)]
        places += [
            (f"rule {rule.position} escalate step {step.position}", step.requirement, step.key_lines)
            for step in rule.escalate
        ]
        for where, requirement, lines in places:
            if requirement is None:
                continue
            key = "require" if "require" in lines else "expression"
            found.append(FoundExpression(lines.get(key, rule.line), f"{where} '{key}'", requirement.render()))
    return found


@dataclass
class Checked:
    problems: list[str] = field(default_factory=list)
    accepted: int = 0
    denied: bool = False  # 403: the OAuth client's role lacks PERMISSION


def local_problems(found: Sequence[FoundExpression], source: str) -> list[str]:
    """What is wrong before Genesys is asked (nothing of the file is sent while there is any)."""
    return [f"{f.place(source)}: {problem}" for f in found if (problem := f.local_problem()) is not None]


def denied_line() -> str:
    return f"{ENDPOINT} answered 403: add {PERMISSION} to the OAuth client's role (README Deploy step 1)"


def check_online(found: Sequence[FoundExpression], source: str, genesys: Any) -> Checked:
    """Ask Genesys about each expression (the same text once). Stops at a 403 or a failure to answer."""
    from skill_router.genesys.errors import GenesysError

    checked = Checked()
    answers: dict[str, Any] = {}
    for expression in found:
        text = expression.text or ""
        try:
            if text not in answers:
                answers[text] = genesys.validate_skill_expression(text)
        except GenesysError as exc:
            if exc.status == 403:
                checked.denied = True
                checked.problems.append(denied_line())
            else:
                checked.problems.append(f"{expression.place(source)}: Genesys could not check it ({exc}); try again")
            return checked
        except OutOfTime:
            checked.problems.append(
                f"{expression.place(source)}: Genesys did not answer within {TIME_BUDGET_SECONDS:.0f} s; try again"
            )
            return checked
        result = answers[text]
        if result.valid:
            checked.accepted += 1
            continue
        for message, position in result.errors:
            at = f" at position {position}" if position is not None else ""
            checked.problems.append(f"{expression.place(source)}: Genesys refuses it{at}: {message}")
    return checked
