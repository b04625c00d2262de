"""The parts of escalation that stand before the cycle applies steps: languages resolved by name
through the real SDK against the simulator, and a PATCH that sends only the fields it is given."""

from __future__ import annotations

import pytest

from skill_router.deadline import Deadline
from skill_router.errors import MatrixError
from skill_router.runtime import build_runtime
from tests.integration.conftest import BILLING, PATCH, App, queued

LANGUAGES = "/api/v2/routing/languages"
LADDER = f"""
skill_matrix:
  - id: billing
    intent_keyword: billing
    skills: [{BILLING}]
    language: English
    escalate:
      - after: 60
        add_skills: [Technical]
      - after: 5m
        language: Spanish
"""


@pytest.fixture
def languages(app: App) -> dict[str, str]:
    # Prefix look-alikes and a deleted namesake, as a real org has them.
    app.sim.add_language("English (UK)")
    app.sim.add_language("English", state="deleted")
    ids = {name: app.sim.add_language(name) for name in ("English", "Spanish", "Spanish (Latin America)")}
    for n in range(120):  # more than one page of "E..." names
        app.sim.add_language(f"Esperanto {n:03d}")
    return ids


def test_language_names_resolve_to_the_exact_live_language_once_per_matrix_version(
    app: App, queue: str, languages: dict[str, str]
):
    app.upload_matrix(LADDER)
    queued(app, queue, "billing")
    rt = build_runtime()
    matrix = rt.matrix_source.current()
    rule = matrix.rules[0]
    assert rule.language_id == languages["English"]
    assert rule.escalate[0].add_skill_ids and rule.escalate[1].language_id == languages["Spanish"]
    # One look-up per name (paged: GET ?name= is not an exact match), none on the next poll.
    assert app.sim.count("GET", LANGUAGES) == 2
    app.sim.clear_log()
    assert rt.matrix_source.current() is matrix
    assert app.sim.count("GET", LANGUAGES) == 0


def test_an_unknown_language_name_fails_its_rule_at_load_with_its_line(app: App, queue: str, languages: dict[str, str]):
    app.upload_matrix(LADDER.replace("language: Spanish", "language: Klingon"))
    conversation = queued(app, queue, "billing")
    assert app.invoke()["polls"][0]["rules_failed"] == 1
    assert app.sim.count("PATCH", PATCH) == 0
    reason = app.ledger(conversation)["reason"]
    assert "skill_matrix.yaml:11 rule 1 escalate step 2 'language': no routing language" in reason


def test_the_patch_sends_only_the_fields_given(app: App, queue: str):
    english = app.sim.add_language("English", language_id="5b1c2f7e-0000-4000-8000-0000000000e1")
    conversation = queued(app, queue, None, skills=(BILLING,))
    rt = build_runtime()
    rt.genesys.begin(Deadline.fixed(30))
    assert rt.genesys.patch_routing(conversation, None, 40)
    assert rt.genesys.patch_routing(conversation, None, None, language_id="")
    assert rt.genesys.patch_routing(conversation, [BILLING], None, language_id="5b1c2f7e-0000-4000-8000-0000000000e1")
    bodies = [r.body for r in app.sim.requests if r.method == "PATCH"]
    assert bodies == [
        {"priority": 40},  # no skillIds: Genesys would replace the requested skills with them
        {"languageId": ""},  # "" clears the language requirement
        {"skillIds": [BILLING], "languageId": "5b1c2f7e-0000-4000-8000-0000000000e1"},
    ]
    assert app.sim.routing(conversation) == ([BILLING], 40) and app.sim.language(conversation) == english


def test_the_deployments_max_wait_bounds_the_ladder_when_the_function_loads_it(
    app: App, queue: str, languages: dict[str, str]
):
    app.set(MAX_WAIT_SECONDS="120")
    app.upload_matrix(LADDER)
    with pytest.raises(MatrixError, match=r"escalate step 2 'after': 5m is beyond MAX_WAIT_SECONDS \(2m\)"):
        app.invoke()
