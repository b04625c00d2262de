"""Genesys' validate endpoint for skill expressions (issue 28, items 4 and 6): the simulator's
POST /api/v2/routing/skillexpressions/validate through the real SDK, GenesysClient's
validate_skill_expression, `skill-router matrix validate --online` and doctor's permission line."""

from __future__ import annotations

from pathlib import Path

import pytest

from skill_router import runtime
from skill_router.cli import main
from skill_router.genesys.errors import GenesysError
from tests.integration.conftest import App
from tests.integration.test_doctor import run_doctor

pytestmark = pytest.mark.integration

VALIDATE = "/api/v2/routing/skillexpressions/validate"
PERMISSION = "routing:skillExpressions:add"
GOOD = 'Skill("Spanish") >= 3 & LanguageSkill("English") >= 2'
UNKNOWN = 'Skill("Spanish") >= 3 & Skill("Klingon") >= 1'
KLINGON_AT = UNKNOWN.index('Skill("Klingon")')  # the refused term's first character


@pytest.fixture
def org(app: App) -> App:
    app.sim.add_skill("Spanish")
    app.sim.add_skill("Billing")
    app.sim.add_language("English")
    return app


def matrix_file(tmp_path: Path, expression: str) -> Path:
    path = tmp_path / "skill_matrix.yaml"
    path.write_text(
        "skill_matrix:\n"
        "  - intent_keyword: billing\n"
        "    skills: [Billing]\n"
        "  - intent_keyword: espanol\n"
        f"    expression: '{expression}'\n"
        "    escalate:\n"
        "      - after: 2m\n"
        "        require: {Spanish: 3, language: {English: 2}}\n"
    )
    return path


def validate_online(path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, list[str]]:
    status = main(["matrix", "validate", "--online", "--env", str(path)])
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    return status, (captured.out + captured.err).splitlines()


def test_the_client_reads_valid_the_normalised_form_and_the_skills(org: App):
    genesys = runtime.current().genesys
    result = genesys.validate_skill_expression(GOOD)
    assert result.valid and result.errors == ()
    assert result.normalized and "Spanish" not in result.normalized  # Genesys' form names ids
    assert set(result.skills) == {"Spanish", "English"}
    assert org.sim.count("POST", VALIDATE) == 1


def test_the_client_reads_an_unknown_skill_as_invalid_with_its_position(org: App):
    result = runtime.current().genesys.validate_skill_expression(UNKNOWN)
    assert not result.valid and result.normalized is None
    (message, position), *_ = result.errors
    assert "Klingon" in message and position == KLINGON_AT


def test_the_client_refuses_an_expression_over_4096_characters_without_a_call(org: App):
    result = runtime.current().genesys.validate_skill_expression(GOOD + " " * 4096)
    assert not result.valid and "4,096" in result.errors[0][0] and result.errors[0][1] == 4096
    assert org.sim.count("POST", VALIDATE) == 0


def test_the_client_raises_403_when_the_role_lacks_the_permission(org: App):
    org.sim.deny_skill_expressions()
    with pytest.raises(GenesysError) as raised:
        runtime.current().genesys.validate_skill_expression(GOOD)
    assert raised.value.status == 403 and raised.value.operation == "validate_skill_expression"


def test_online_accepts_a_good_expression_and_the_require_mapping(
    org: App, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    _, lines = validate_online(matrix_file(tmp_path, GOOD), capsys)  # its status: the test below
    sent = [r.body for r in org.sim.requests if r.method == "POST" and r.path == VALIDATE]
    assert {"expression": GOOD} in sent
    assert {"expression": 'Skill("Spanish") >= 3 & LanguageSkill("English") >= 2'} in sent
    assert any("Genesys accepts 2 skill expression(s)" in line for line in lines), lines
    assert not [line for line in lines if "refuse" in line or "403" in line or '"level"' in line], lines


def test_online_exits_0_on_a_good_matrix(org: App, tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    status, lines = validate_online(matrix_file(tmp_path, GOOD), capsys)
    assert status == 0, lines


def test_online_refuses_an_unknown_skill_with_file_line_and_position(
    org: App, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    path = matrix_file(tmp_path, UNKNOWN)
    status, lines = validate_online(path, capsys)
    refused = [line for line in lines if "Genesys refuses" in line]
    assert status == 1 and len(refused) == 1, lines
    assert refused[0].startswith(f"{path}:5 rule 2 'expression': ")
    assert f"position {KLINGON_AT}" in refused[0] and "Klingon" in refused[0]


def test_online_names_the_permission_on_a_403(org: App, tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    org.sim.deny_skill_expressions()
    status, lines = validate_online(matrix_file(tmp_path, GOOD), capsys)
    denied = [line for line in lines if "403" in line]
    assert status == 1 and len(denied) == 1, lines
    assert f"add {PERMISSION} to the OAuth client's role" in denied[0]


def test_an_expression_over_4096_characters_is_refused_locally_before_any_call(
    org: App, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    long = " & ".join(['Skill("Spanish") >= 3'] * 200)
    assert len(long) > 4096
    path = matrix_file(tmp_path, long)
    status, lines = validate_online(path, capsys)
    assert status == 1
    assert any(line.startswith(f"{path}:5 rule 2 'expression': ") and "4,096" in line for line in lines), lines
    assert org.sim.count("POST", VALIDATE) == 0  # nothing is sent while the file has a local problem


def test_doctor_warns_naming_the_permission_when_the_matrix_has_an_expression(
    org: App, capsys: pytest.CaptureFixture[str]
):
    org.upload_matrix(f"skill_matrix:\n  - intent_keyword: espanol\n    expression: '{GOOD}'\n")
    org.sim.deny_skill_expressions()
    _, found, out = run_doctor(org, capsys)
    warnings = [line for line in out.splitlines() if line.startswith("warn ")]
    assert found[f"permission {PERMISSION}"] == "warn" and len(warnings) == 1, out
    assert f"add {PERMISSION} to the OAuth client's role" in warnings[0] and "answered 403" in warnings[0]


def test_doctor_validates_the_matrix_expressions_online(org: App, capsys: pytest.CaptureFixture[str]):
    org.upload_matrix(f"skill_matrix:\n  - intent_keyword: espanol\n    expression: '{UNKNOWN}'\n")
    _, found, out = run_doctor(org, capsys)
    assert found[f"permission {PERMISSION}"] == "ok" and found["skill expressions"] == "FIX", out
    assert ":3 rule 1 'expression'" in out and "Klingon" in out


def test_doctor_does_not_need_the_permission_without_an_expression(org: App, capsys: pytest.CaptureFixture[str]):
    org.upload_matrix("skill_matrix:\n  - intent_keyword: espanol\n    skills: [Spanish]\n")
    org.sim.deny_skill_expressions()
    _, found, out = run_doctor(org, capsys)
    assert found[f"permission {PERMISSION}"] == "ok" and "not used by this deployment" in out
    assert org.sim.count("POST", VALIDATE) == 0


def test_online_needs_a_stack_or_the_environment_and_they_need_online(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    path = matrix_file(tmp_path, GOOD)
    assert main(["matrix", "validate", "--online", str(path)]) == 2
    assert main(["matrix", "validate", "--env", str(path)]) == 2
    err = capsys.readouterr().err
    assert "give --stack NAME" in err and "--stack and --env are for --online" in err and "Traceback" not in err
