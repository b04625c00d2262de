"""Resolve the names a matrix may use (skills, languages, user ids for emails) through Genesys,
once per matrix version, when the function loads it."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace

from skill_router.errors import MatrixError
from skill_router.expression import Expr
from skill_router.matrix.model import Matrix, Rule, Step


def resolve_matrix(
    matrix: Matrix,
    skill_ids_by_name: Callable[[Sequence[str]], Mapping[str, str]],
    user_email: Callable[[str], str | None],
    language_ids_by_name: Callable[[Sequence[str]], Mapping[str, str]] | None = None,
    strict: bool = False,
) -> Matrix:
    """Turn skill and language names into ids and user ids into emails, through Genesys. An
    unknown name or user fails the rule that names it (file:line, in `Rule.broken`), found when
    the matrix loads, not when a caller waits; the other rules route as written (a name deleted in
    Genesys must not stop callers of unrelated rules). Each name is looked up once, however many
    rules and steps use it. `strict`: raise MatrixError with every problem instead."""
    if not matrix.unresolved:
        return matrix
    steps = [s for r in matrix.rules for s in r.escalate]
    requirements = [
        e for e in (*(r.requirement for r in matrix.rules), *(s.requirement for s in steps)) if e is not None
    ]
    terms = [t for e in requirements for t in e.terms() if t.label is None]
    names = sorted(
        {n for r in matrix.rules for n in r.skill_names}
        | {n for s in steps for n in (*s.add_skill_names, *s.remove_skill_names)}
        | {t.name for t in terms if t.kind == "skill"}
    )
    found = skill_ids_by_name(names) if names else {}
    language_names = sorted(
        {r.language_name for r in matrix.rules if r.language_name}
        | {s.language_name for s in steps if s.language_name}
        | {t.name for t in terms if t.kind == "language"}
    )
    languages: Mapping[str, str] = {}
    if language_names:
        if language_ids_by_name is None:
            raise MatrixError(matrix.source, [f"{matrix.source}: language names need a Genesys connection to resolve"])
        languages = language_ids_by_name(language_names)
    emails: dict[str, str | None] = {}
    problems: list[str] = []

    def skills(names: Sequence[str], where: str) -> list[str]:  # where: "file:line rule N ... 'key'"
        ids = []
        for name in names:
            if name in found:
                ids.append(found[name].lower())
            else:
                problems.append(f"{where}: no routing skill named {name!r} in this Genesys org")
        return ids

    def language(name: str | None, current: str | None, where: str) -> str | None:
        if name is None:
            return current
        if name in languages:
            return languages[name].lower()
        problems.append(f"{where}: no routing language named {name!r} in this Genesys org")
        return current

    def recipients(users: Sequence[str], where: str) -> list[str]:
        result = []
        for user in users:
            if user not in emails:
                emails[user] = user_email(user)
            email = emails[user]
            if email:
                result.append(email)
            else:
                problems.append(f"{where}: no Genesys user {user!r}, or the user has no email")
        return result

    def requirement(expr: Expr | None, where: str) -> Expr | None:
        """The requirement with each skill and language name turned into its id (lower case)."""
        if expr is None:
            return None

        def lookup(kind: str, name: str) -> str:
            if kind == "skill":
                if name in found:
                    return found[name].lower()
                problems.append(f"{where}: no routing skill named {name!r} in this Genesys org")
            else:
                if name in languages:
                    return languages[name].lower()
                problems.append(f"{where}: no routing language named {name!r} in this Genesys org")
            return name

        return expr.resolved(lookup)

    rules = []
    for rule in matrix.rules:
        before = len(problems)

        def where(key: str, rule: Rule = rule) -> str:
            return f"{matrix.source}:{rule.line_of(key)} rule {rule.position} '{key}'"

        ladder = []
        for step in rule.escalate:

            def at(key: str, step: Step = step, rule: Rule = rule) -> str:
                return f"{matrix.source}:{step.line_of(key)} rule {rule.position} escalate step {step.position} '{key}'"

            ladder.append(
                replace(
                    step,
                    add_skill_ids=tuple(
                        dict.fromkeys([*step.add_skill_ids, *skills(step.add_skill_names, at("add_skills"))])
                    ),
                    remove_skill_ids=tuple(
                        dict.fromkeys([*step.remove_skill_ids, *skills(step.remove_skill_names, at("remove_skills"))])
                    ),
                    language_id=language(step.language_name, step.language_id, at("language")),
                    notify=tuple(dict.fromkeys([*step.notify, *recipients(step.notify_users, at("notify"))])),
                    requirement=requirement(
                        step.requirement, at("require" if "require" in step.key_lines else "expression")
                    ),
                    add_skill_names=(),
                    remove_skill_names=(),
                    language_name=None,
                    notify_users=(),
                )
            )
        skill_ids = tuple(dict.fromkeys([*rule.skill_ids, *skills(rule.skill_names, where("skills"))]))
        notify = tuple(dict.fromkeys([*rule.notify, *recipients(rule.notify_users, where("notify"))]))
        language_id = language(rule.language_name, rule.language_id, where("language"))
        required = requirement(rule.requirement, where("require" if "require" in rule.key_lines else "expression"))
        if len(problems) > before:
            rules.append(replace(rule, broken=tuple(problems[before:])))
            continue
        rules.append(
            replace(
                rule,
                skill_ids=skill_ids,
                notify=notify,
                language_id=language_id,
                skill_names=(),
                notify_users=(),
                language_name=None,
                requirement=required,
                escalate=tuple(ladder),
            )
        )
    if problems and strict:
        raise MatrixError(matrix.source, problems)
    return replace(matrix, rules=tuple(rules))
