"""A caller whose routing carries a skill expression (Architect's "Set Skill Expression Filters", a
person): skill-router reads it (LiveConversation.skill_expression) and never sends
`skillExpression`, so its skillIds PATCH leaves the expression intact (SDK
RoutingConversationAttributesRequest: a field left out is left as it is). The expression takes
priority over skills, so the rule is recorded `shadowed`, never `applied` (issue 28)."""

from __future__ import annotations

from skill_router import runtime
from tests.integration.conftest import BILLING, ENGLISH, PATCH, App, queued

EXPRESSION = 'Skill("iPhone") >= 5 & LanguageSkill("English") >= 2'


def test_the_expression_is_read_and_kept_by_the_rule_s_patch(app: App, queue: str):
    caller = queued(app, queue, "billing please", skills=(ENGLISH,))
    app.sim.set_skill_expression(caller, EXPRESSION)
    report = app.invoke()["polls"][0]
    assert report["shadowed"] == 1 and report["applied"] == 0
    assert app.sim.routing(caller)[0] == [ENGLISH, BILLING]
    assert app.sim.skill_expression(caller) == EXPRESSION  # kept, word for word
    sent = [r.body for r in app.sim.requests if r.method == "PATCH" and r.path.startswith(PATCH)]
    assert sent and all("skillExpression" not in body for body in sent)
    live = runtime.current().genesys.get_conversation(caller)
    assert live is not None and live.skill_expression == EXPRESSION


def test_a_caller_without_an_expression_reads_none(app: App, queue: str):
    caller = queued(app, queue, "billing please")
    app.invoke()
    live = runtime.current().genesys.get_conversation(caller)
    assert live is not None and live.skill_expression is None
