"""Proficiency and skill expressions (issue 28) through the real handler, the real SDK against the
simulator over HTTP, and boto3 against moto: a `require:` rule writes `skillExpression` and no
skillIds; someone else's expression is kept byte for byte and the rule recorded shadowed;
`with_expression: and` composes, and a step with `require: none` restores the original exactly;
the guard evaluates the expression against the members cache and `why` names the term."""

from __future__ import annotations

from pathlib import Path

import pytest

from skill_router.cli import main
from tests.integration.conftest import BILLING, ENGLISH, PATCH, App, later, minutes_ago, staff

pytestmark = pytest.mark.integration

SPANISH = "5b1c2f7e-0000-4000-8000-0000000000a5"
ARCHITECT = 'Skill("iPhone") >= 5 & LanguageSkill("English") >= 2'  # the SDK's example (SkillExpressionData)
MATRIX = """
skill_matrix:
  - id: spanish
    intent_keyword: billing
    require: {{Spanish: 3, Billing: 1}}
    routing_priority: 10
{extra}"""


def waiting(app: App, queue: str, minutes: float = 0.1) -> str:
    return app.sim.add_conversation(
        queue_id=queue, attributes={"intent": "billing"}, skills=(ENGLISH,), start=minutes_ago(minutes)
    )


def bodies(app: App, conversation: str) -> list[dict[str, object]]:
    return [r.body for r in app.sim.requests if r.method == "PATCH" and r.path == PATCH + conversation]


@pytest.fixture
def spanish(app: App, queue: str) -> str:
    app.sim.add_skill("Spanish", skill_id=SPANISH)
    return queue


def test_a_proficiency_rule_writes_an_expression_and_no_skill_ids(app: App, spanish: str):
    app.upload_matrix(MATRIX.format(extra=""))
    caller = waiting(app, spanish)
    report = app.invoke()["polls"][0]
    assert report["applied"] == 1
    written = 'Skill("Spanish") >= 3 & Skill("Billing") >= 1'
    assert app.sim.skill_expression(caller) == written
    sent = bodies(app, caller)
    assert sent == [{"priority": 10, "skillExpression": written}]
    assert app.sim.routing(caller)[0] == [ENGLISH]  # requested skills untouched
    entry = app.ledger(caller)
    assert entry is not None and entry["outcome"] == "applied"
    assert entry["expression_written"] == written and not entry.get("expression_before")


def test_an_architect_expression_is_kept_byte_for_byte_and_the_rule_recorded_shadowed(app: App, spanish: str):
    app.upload_matrix(MATRIX.format(extra=""))
    caller = waiting(app, spanish)
    theirs = "  " + ARCHITECT + " "  # spacing as set, kept as set
    app.sim.set_skill_expression(caller, theirs)
    report = app.invoke()["polls"][0]
    assert report.get("applied", 0) == 0 and report["shadowed"] == 1
    assert app.sim.skill_expression(caller) == theirs
    assert all("skillExpression" not in body for body in bodies(app, caller))
    entry = app.ledger(caller)
    assert entry is not None and entry["outcome"] == "shadowed"
    assert entry["expression_before"] == theirs and "expression_written" not in entry
    assert "takes priority" in entry["reason"]


def test_a_skills_rule_on_a_caller_with_an_expression_is_shadowed_not_applied(app: App, queue: str):
    app.upload_matrix(f"skill_matrix:\n  - id: billing\n    intent_keyword: billing\n    skills: [{BILLING}]\n")
    caller = waiting(app, queue)
    app.sim.set_skill_expression(caller, ARCHITECT)
    report = app.invoke()["polls"][0]
    assert report["shadowed"] == 1 and report.get("applied", 0) == 0
    assert app.sim.skill_expression(caller) == ARCHITECT
    entry = app.ledger(caller)
    assert entry is not None and entry["outcome"] == "shadowed"


def test_with_expression_and_composes_and_a_relaxing_step_restores_the_original(app: App, spanish: str):
    steps = "    with_expression: and\n    escalate:\n      - after: 60\n        require: none\n"
    app.upload_matrix(MATRIX.format(extra=steps))
    caller = waiting(app, spanish)
    app.sim.set_skill_expression(caller, ARCHITECT)
    app.invoke()
    composed = f'({ARCHITECT}) & (Skill("Spanish") >= 3 & Skill("Billing") >= 1)'
    assert app.sim.skill_expression(caller) == composed
    entry = app.ledger(caller)
    assert entry is not None and entry["outcome"] == "applied"
    assert entry["expression_before"] == ARCHITECT and entry["expression_written"] == composed
    later(120)
    app.invoke()
    assert app.sim.skill_expression(caller) == ARCHITECT  # byte for byte
    assert bodies(app, caller)[-1] == {"skillExpression": ARCHITECT}


def test_the_guard_withholds_an_expression_nobody_on_queue_meets_and_why_names_the_term(
    app: App, spanish: str, capsys: pytest.CaptureFixture[str]
):
    app.set(STAFFING_GUARD="on")
    app.upload_matrix(MATRIX.format(extra=""))
    staff(app, spanish, 5, skills={BILLING: 2, ENGLISH: 1})
    staff(app, spanish, 2, skills={SPANISH: 2, BILLING: 4, ENGLISH: 1})
    caller = waiting(app, spanish)
    app.invoke()
    assert app.sim.skill_expression(caller) is None  # withheld: nobody on queue meets it
    assert bodies(app, caller) == [{"priority": 10}]  # the priority is raised whatever is withheld
    entry = app.ledger(caller)
    assert entry is not None and entry["outcome"] == "applied"
    capsys.readouterr()
    assert main(["why", caller, "--env"]) == 0
    out = capsys.readouterr().out
    assert "Spanish at 3 or better: none of 7 on queue; 2 have Spanish at 2" in out, out
    assert "withheld: the requirement Spanish at 3 or better, and Billing at 1 or better" in out, out


def test_an_invalid_expression_fails_matrix_validate_with_file_line_and_position(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    path = tmp_path / "m.yaml"
    path.write_text(
        "skill_matrix:\n  - id: x\n    intent_keyword: billing\n"
        '    expression: \'Skill("Spanish") >= 3 & Skil("Billing") >= 1\'\n'
    )
    assert main(["matrix", "validate", str(path)]) == 1
    out = capsys.readouterr().out
    assert f"{path}:4 rule 1 'expression'" in out, out
    assert "unknown function 'Skil'" in out and "character 25" in out


def test_the_audit_story_and_matrix_explain_say_it_in_plain_words(
    app: App, spanish: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    app.upload_matrix(MATRIX.format(extra=""))
    caller = waiting(app, spanish)
    app.sim.set_skill_expression(caller, ARCHITECT)
    app.invoke()
    capsys.readouterr()
    assert main(["audit", "--conversation", caller]) == 0
    out = capsys.readouterr().out
    assert f"skill expression set by someone else before skill-router: {ARCHITECT!r} (never replaced)" in out, out
    assert "rule spanish shadowed: that expression takes priority over skills" in out
    path = tmp_path / "m.yaml"
    path.write_text(
        MATRIX.format(extra="    with_expression: and\n    escalate:\n      - after: 2m\n        require: none\n")
    )
    assert main(["matrix", "explain", str(path), "--intent", "billing"]) == 0
    out = capsys.readouterr().out
    assert "requires: Spanish at 3 or better, and Billing at 1 or better" in out, out
    assert "ANDed into it (with_expression: and)" in out
    assert "drop the rule's requirement (someone else's expression stays, word for word)" in out


def test_a_requirement_alone_is_a_change_the_rule_can_make(app: App, spanish: str):
    """A rule with only `require:` (no priority, no steps) still reaches the caller: first sight
    must not pass it over as a rule that changes nothing."""
    app.upload_matrix("skill_matrix:\n  - id: spanish\n    intent_keyword: billing\n    require: {Spanish: 2}\n")
    caller = waiting(app, spanish)
    app.invoke()
    assert app.sim.skill_expression(caller) == 'Skill("Spanish") >= 2'
    assert bodies(app, caller) == [{"skillExpression": 'Skill("Spanish") >= 2'}]


def test_a_withheld_requirement_is_written_once_someone_on_queue_meets_it(app: App, spanish: str):
    from tests.integration.test_guard import later as later_for_the_guard

    app.set(STAFFING_GUARD="on")
    app.upload_matrix(MATRIX.format(extra=""))
    staff(app, spanish, 2, skills={SPANISH: 2, BILLING: 4, ENGLISH: 1})
    caller = waiting(app, spanish)
    app.invoke()
    assert app.sim.skill_expression(caller) is None
    staff(app, spanish, 1, skills={SPANISH: 3, BILLING: 1, ENGLISH: 1})  # someone who meets it comes on queue
    later_for_the_guard(61)
    assert app.invoke()["polls"][0]["withheld_applied"] == 1
    written = 'Skill("Spanish") >= 3 & Skill("Billing") >= 1'
    assert app.sim.skill_expression(caller) == written
    assert bodies(app, caller)[-1] == {"skillExpression": written}
    entry = app.ledger(caller)
    assert entry is not None and entry["expression_written"] == written and not entry.get("expression_withheld")


def test_the_relax_removes_the_requirement_skill_router_wrote_and_restores_the_callers_exactly(app: App, spanish: str):
    """Issue 20's "relax only what blocks" covers skill-router's requirement (issue 28): nobody on
    queue meets it for UNSTAFFED_RELAX_SECONDS, and without it someone could serve the caller ->
    it is removed once, and the caller's own expression is back byte for byte."""
    from tests.integration.test_guard import later as later_for_the_guard

    app.set(STAFFING_GUARD="on", UNSTAFFED_RELAX_SECONDS="60")
    app.upload_matrix(MATRIX.format(extra="    with_expression: and\n"))
    (expert,) = staff(app, spanish, skills={SPANISH: 3, BILLING: 1, ENGLISH: 1})
    staff(app, spanish, skills={BILLING: 2, ENGLISH: 1})
    composing = waiting(app, spanish)
    app.sim.set_skill_expression(composing, ARCHITECT)
    alone = waiting(app, spanish)  # no expression of its own: "" once relaxed
    app.invoke()
    written = 'Skill("Spanish") >= 3 & Skill("Billing") >= 1'
    assert app.sim.skill_expression(composing) == f"({ARCHITECT}) & ({written})"
    assert app.sim.skill_expression(alone) == written
    app.sim.set_member(spanish, expert, status="OFF_QUEUE")  # the only one who meets it logs off

    later_for_the_guard(61)  # the cache reads the members again: nobody meets the requirement
    assert app.invoke()["polls"][0]["requirements_relaxed"] == 0
    entry = app.ledger(alone)
    assert entry and entry["unstaffed_since"]
    later_for_the_guard(61 + 62)
    assert app.invoke()["polls"][0]["requirements_relaxed"] == 2
    assert app.sim.skill_expression(composing) == ARCHITECT  # byte for byte
    assert bodies(app, composing)[-1] == {"skillExpression": ARCHITECT}
    assert not app.sim.skill_expression(alone)
    assert bodies(app, alone)[-1] == {"skillExpression": ""}
    for caller in (composing, alone):
        entry = app.ledger(caller)
        assert entry and entry["relaxed"] == ["expression:" + written] and entry["relaxed_at"]
        assert not entry.get("requirement_after")
    later_for_the_guard(61 + 200)
    assert app.invoke()["polls"][0]["requirements_relaxed"] == 0  # once per leg
    assert len(bodies(app, alone)) == 2


def test_the_relax_never_touches_an_expression_someone_else_set_since(app: App, spanish: str):
    from tests.integration.test_guard import later as later_for_the_guard

    app.set(STAFFING_GUARD="on", UNSTAFFED_RELAX_SECONDS="60")
    app.upload_matrix(MATRIX.format(extra=""))
    (expert,) = staff(app, spanish, skills={SPANISH: 3, BILLING: 1, ENGLISH: 1})
    staff(app, spanish, skills={BILLING: 2, ENGLISH: 1})
    caller = waiting(app, spanish)
    app.invoke()
    app.sim.set_skill_expression(caller, ARCHITECT)  # a person replaces skill-router's expression
    app.sim.set_member(spanish, expert, status="OFF_QUEUE")
    later_for_the_guard(61)
    app.invoke()
    later_for_the_guard(61 + 62)
    app.invoke()
    assert app.sim.skill_expression(caller) == ARCHITECT
    assert len(bodies(app, caller)) == 1


def test_a_queue_named_in_no_expression_queues_gets_the_skills_without_proficiency(
    app: App, spanish: str, capsys: pytest.CaptureFixture[str]
):
    app.set(NO_EXPRESSION_QUEUES=spanish, STAFFING_GUARD="on")
    app.upload_matrix(MATRIX.format(extra=""))
    # Below the levels the rule requires: the guard counts members on the skills alone, as for a skills rule.
    staff(app, spanish, 1, skills={SPANISH: 1, BILLING: 1, ENGLISH: 1})
    caller = waiting(app, spanish)
    assert app.invoke()["polls"][0]["applied"] == 1
    assert app.sim.skill_expression(caller) is None
    assert bodies(app, caller) == [{"priority": 10, "skillIds": [ENGLISH, SPANISH, BILLING]}]
    entry = app.ledger(caller)
    assert entry is not None and entry["outcome"] == "applied" and entry["guard"] == "staffed"
    assert entry["expression_unsupported"] is True and "expression_written" not in entry
    capsys.readouterr()
    assert main(["audit", "--conversation", caller]) == 0
    out = capsys.readouterr().out
    assert "queue does not evaluate expressions: skills applied without proficiency" in out, out
