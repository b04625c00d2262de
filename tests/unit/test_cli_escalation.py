"""`skill-router matrix explain --waited`, and validate/diff on the escalation fields."""

from __future__ import annotations

from pathlib import Path

import pytest

from skill_router.cli import main

EXAMPLES = Path(__file__).parents[2] / "examples"
CONTRACT = """skill_matrix:
  - intent_keyword: billing
    skills: [Billing]
    language: English
    routing_priority: 10
    escalate:
      - after: 60
        add_skills: [General]
        remove_skills: [Billing]
      - after: 5m
        routing_priority: 50
        language: none
        notify: [lead@example.com]
"""


def write(tmp_path: Path, text: str, name: str = "skill_matrix.yaml") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_explain_shows_the_ladder_and_what_a_caller_waiting_90s_gets(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    path = write(tmp_path, CONTRACT)
    assert main(["matrix", "explain", path, "--intent", "billing", "--waited", "90s"]) == 0
    out = capsys.readouterr().out
    assert "language: English" in out
    assert "step 1 (line 7) after 1m: add General; remove Billing" in out
    assert (
        "step 2 (line 10) after 5m: raise routing priority to 50; language cleared (none); email lead@example.com once"
        in out
    )
    assert "due: the rule and step 1 (1m)" in out
    assert "one PATCH: skills General; priority 10; language English" in out
    assert "next: step 2 at 5m (in 3m30s)" in out


def test_explain_for_a_caller_first_seen_after_six_minutes_sends_everything_at_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    path = write(tmp_path, CONTRACT)
    assert main(["matrix", "explain", path, "--intent", "billing", "--waited", "6m"]) == 0
    out = capsys.readouterr().out
    assert "due: the rule and step 1 (1m), step 2 (5m)" in out
    assert "one PATCH: skills General; priority 50\n" in out, "English then none: no language is sent"
    assert "email (once, for step 2): lead@example.com" in out
    assert "next: nothing; every step has fired" in out


def test_explain_without_waited_still_shows_the_ladder(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    assert main(["matrix", "explain", write(tmp_path, CONTRACT), "--intent", "billing"]) == 0
    out = capsys.readouterr().out
    assert "escalation while the caller waits" in out and "due:" not in out


def test_a_bad_waited_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    with pytest.raises(SystemExit) as exit_:
        main(["matrix", "explain", write(tmp_path, CONTRACT), "--intent", "billing", "--waited", "soon"])
    assert exit_.value.code == 2
    assert "'soon' is not a duration" in capsys.readouterr().err


def test_validate_checks_the_ladder_against_the_deployments_limits(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    path = write(tmp_path, CONTRACT)
    assert main(["matrix", "validate", path]) == 0
    assert main(["matrix", "validate", path, "--max-wait", "4m"]) == 1
    out = capsys.readouterr().out
    assert f"{path}:10 rule 1 escalate step 2 'after': 5m is beyond MAX_WAIT_SECONDS (4m)" in out


def test_validate_refuses_out_of_order_steps_with_file_and_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    path = write(tmp_path, CONTRACT.replace("after: 5m", "after: 30s"))
    assert main(["matrix", "validate", path]) == 1
    assert f"{path}:10 rule 1 escalate step 2 'after': 30s is not later than step 1 (1m)" in capsys.readouterr().out


def test_diff_reports_a_changed_step_as_a_changed_outcome(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    old = write(tmp_path, CONTRACT, "old.yaml")
    new = write(tmp_path, CONTRACT.replace("routing_priority: 50", "routing_priority: 70"), "new.yaml")
    assert main(["matrix", "diff", old, new]) == 4
    out = capsys.readouterr().out
    assert "5m: raise routing priority to 50" in out and "5m: raise routing priority to 70" in out


def test_the_realistic_example_has_an_escalation_ladder(capsys: pytest.CaptureFixture[str]):
    example = str(EXAMPLES / "realistic_skill_matrix.yaml")
    assert main(["matrix", "validate", example]) == 0
    assert main(["matrix", "explain", example, "--intent", "my invoice is wrong", "--waited", "6m"]) == 0
    assert "escalation while the caller waits" in capsys.readouterr().out
