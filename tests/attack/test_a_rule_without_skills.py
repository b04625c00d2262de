"""Issue 19, class 13 (truth at the edges): a rule that only raises priority, with no skills, was
refused by the matrix ("missing 'skill_id'"), although nothing in Genesys requires a skill: the
routing PATCH's skillIds, priority and languageId are each optional (SDK
RoutingConversationAttributesRequest). A rule must do something, not necessarily add a skill."""

from __future__ import annotations

import pytest

from skill_router.errors import MatrixError
from skill_router.matrix.load import parse_matrix
from tests.integration.conftest import BILLING, PATCH, App, later, minutes_ago


def bodies(app: App, conversation: str) -> list[dict[str, object]]:
    return [r.body for r in app.sim.requests if r.method == "PATCH" and r.path == PATCH + conversation]


def test_a_rule_that_only_raises_priority_raises_it(app: App, queue: str):
    app.upload_matrix("skill_matrix:\n  - intent_keyword: vip\n    routing_priority: 50\n")
    caller = app.sim.add_conversation(queue_id=queue, attributes={"intent": "vip customer"}, start=minutes_ago(0.1))
    report = app.invoke()["polls"][0]
    assert report["applied"] == 1, report
    assert bodies(app, caller) == [{"priority": 50}], "no skillIds: the rule adds none"
    assert app.sim.routing(caller) == ([], 50)


def test_a_rule_whose_only_change_is_its_ladder_runs_it(app: App, queue: str):
    app.upload_matrix(
        "skill_matrix:\n"
        "  - intent_keyword: billing\n"
        "    escalate:\n"
        "      - after: 60\n"
        "        routing_priority: 20\n"
        "      - after: 120\n"
        f"        add_skills: [{BILLING}]\n"
    )
    caller = app.sim.add_conversation(queue_id=queue, attributes={"intent": "billing"}, start=minutes_ago(0.1))
    app.invoke()
    assert bodies(app, caller) == [], "nothing is due yet and the rule itself changes nothing"
    later(70)
    app.invoke()
    assert app.sim.routing(caller) == ([], 20)
    later(130)  # from now, as later() counts
    app.invoke()
    assert app.sim.routing(caller) == ([BILLING], 20)


def test_a_rule_that_does_nothing_is_still_refused_with_its_line():
    with pytest.raises(MatrixError) as refused:
        parse_matrix("skill_matrix:\n  - intent_keyword: vip\n    id: vip\n", "m.yaml")
    (problem,) = refused.value.problems
    assert problem.startswith("m.yaml:2 rule 1: ") and "routing_priority" in problem and "skills" in problem
