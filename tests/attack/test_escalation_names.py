"""Attacks on "a language is requested by its exact name": look-alikes a real org has."""

from __future__ import annotations

import re

from skill_router.runtime import build_runtime
from tests.integration.conftest import App

MATRIX = """
skill_matrix:
  - intent_keyword: billing
    skills: [Billing]
    language: English
"""


def test_a_deleted_namesake_or_a_longer_name_is_never_taken_for_the_language(app: App, queue: str):
    app.sim.add_language("English", state="deleted")
    app.sim.add_language("English (UK)")
    app.sim.add_language("english (us)")
    app.upload_matrix(MATRIX)
    (rule,) = build_runtime().matrix_source.current().broken_rules  # the rule fails, not the matrix
    assert re.search(r"yaml:5 rule 1 .language.: no routing language named .English.", " ".join(rule.broken))


def test_two_live_languages_differing_only_in_case_are_not_guessed_between(app: App, queue: str):
    app.sim.add_language("ENGLISH")
    app.sim.add_language("english")
    app.upload_matrix(MATRIX)
    (rule,) = build_runtime().matrix_source.current().broken_rules
    assert "no routing language named 'English'" in " ".join(rule.broken)
    exact = app.sim.add_language("English")
    assert build_runtime().matrix_source.current().rules[0].language_id == exact
