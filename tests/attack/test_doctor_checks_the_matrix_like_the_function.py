"""Review: `skill-router doctor` (onboarding-14) checks the matrix differently from the function
that loads it (escalation-13 added languages and per-channel recipient limits to matrix.py), so
doctor says FIX for a stack that works, and ok for one whose function rejects its matrix."""

from __future__ import annotations

import pytest

from skill_router.cli import main
from tests.integration.conftest import BILLING, App


def doctor(capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    status = main(["doctor", "--env"])
    return status, capsys.readouterr().out


def matrix_line(out: str) -> str:
    return next(line for line in out.splitlines() if "skill matrix:" in line)


def test_doctor_resolves_a_rule_language_like_the_function(app: App, queue: str, capsys):
    app.sim.add_language("English")
    app.upload_matrix(f"skill_matrix:\n  - intent_keyword: billing\n    skills: [{BILLING}]\n    language: English\n")
    status, out = doctor(capsys)
    assert matrix_line(out).startswith("ok") and status == 0, out


def test_doctor_refuses_a_matrix_the_function_refuses_on_its_channel(app: App, queue: str, capsys):
    # Genesys agentless email takes at most 10 recipients a rule (matrix.NOTIFY_RECIPIENT_LIMITS).
    app.set(NOTIFY_CHANNEL="genesys", NOTIFY_FROM="router@example.com")
    recipients = ", ".join(f"lead{n}@example.com" for n in range(11))
    app.upload_matrix(
        f"skill_matrix:\n  - intent_keyword: billing\n    skills: [{BILLING}]\n    priority: high\n"
        f"    notify: [{recipients}]\n"
    )
    status, out = doctor(capsys)
    assert matrix_line(out).startswith("FIX") and "11 recipients" in out and status == 1, out


def test_doctor_env_reads_the_event_source_under_the_functions_own_name(app: App, queue: str, capsys):
    """The event function's variable is GENESYS_EVENT_SOURCE (settings, template, env.local.json);
    `doctor --env` read only an undocumented GENESYS_EVENT_SOURCE_NAME and said the source was unknown."""
    source = "aws.partner/genesys.com/cloud/8a4c3fa7-2c1d-4e5f-9a0b-1c2d3e4f5a6b/skill-router"
    app.set(EVENT_MODE="true", GENESYS_EVENT_SOURCE=source)
    _, out = doctor(capsys)
    line = next(line for line in out.splitlines() if "event source:" in line)
    assert "unknown" not in line and source in line, out
