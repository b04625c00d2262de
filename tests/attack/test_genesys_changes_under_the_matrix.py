"""Issue 19, class 4: Genesys changes under a loaded matrix. A language deleted in Genesys after
the matrix loaded must fail the one rule (or step) that names it, reported and metered, never the
matrix, and a refused step must end after MAX_ATTEMPTS."""

from __future__ import annotations

from skill_router import runtime
from tests.integration.conftest import BILLING, PATCH, TECH, App, later, minutes_ago

MATRIX = f"""
skill_matrix:
  - id: french
    intent_keyword: facture
    skills: [{BILLING}]
    escalate:
      - after: 60
        routing_priority: 50
        language: French
  - id: tech
    intent_keyword: technical
    skills: [{TECH}]
"""


def bodies(app: App, conversation: str) -> list[dict[str, object]]:
    return [r.body for r in app.sim.requests if r.method == "PATCH" and r.path == PATCH + conversation]


def delete_language(app: App, language_id: str) -> None:
    with app.sim.lock:
        del app.sim.languages[language_id]


def test_a_step_refused_since_its_language_was_deleted_ends_after_max_attempts(app: App, queue: str):
    app.set(MAX_ATTEMPTS="3")
    french = app.sim.add_language("French")
    app.upload_matrix(MATRIX)
    conversation = app.sim.add_conversation(queue_id=queue, attributes={"intent": "facture"}, start=minutes_ago(0.1))
    app.invoke()
    delete_language(app, french)  # the warm container still holds its id
    for n in range(6):
        later(90 + n)
        app.invoke()
    refused = [b for b in bodies(app, conversation) if "languageId" in b]
    assert len(refused) == 3, f"the refused step was sent {len(refused)} times, not MAX_ATTEMPTS (3)"
    entry = app.ledger(conversation)
    assert entry["steps_failed"] == [60] and not entry.get("steps_applied")


def test_a_language_deleted_before_a_new_container_loads_fails_its_rule_not_the_matrix(app: App, queue: str):
    french = app.sim.add_language("French")
    app.upload_matrix(MATRIX)
    delete_language(app, french)
    runtime.use(None)  # a new container loads the matrix
    tech = app.sim.add_conversation(queue_id=queue, attributes={"intent": "technical"}, start=minutes_ago(0.1))
    facture = app.sim.add_conversation(queue_id=queue, attributes={"intent": "facture"}, start=minutes_ago(0.1))
    report = app.invoke()["polls"][0]
    assert app.sim.routing(tech)[0] == [TECH], "a caller of an unrelated rule was not routed"
    assert bodies(app, facture) == [], "a rule whose names do not resolve was applied"
    assert report["failed"] == 1 and app.ledger(facture)["outcome"] == "failed"
    assert "French" in app.ledger(facture)["reason"]
