"""One table of settings (skill_router/settings.py) drives parsing, the README and the template:
these tests fail when the three drift apart."""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

import pytest

from scripts import settings_table
from scripts.local_aws import function_variables, load_template
from skill_router.settings import BY_ENV, RETIRED, SETTINGS, Setting, changed_from_default, load_settings
from skill_router.staffing import ON_QUEUE

ROOT = Path(__file__).parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")
FUNCTIONS = {"both": ("PollFunction", "EventFunction"), "poll": ("PollFunction",), "event": ("EventFunction",)}
# Read by boto3 and Powertools, not by our code: README "Configuration" names them below the table.
LIBRARY_VARIABLES = {
    "AWS_ENDPOINT_URL",
    "AWS_LAMBDA_LOG_LEVEL",
    "AWS_MAX_ATTEMPTS",
    "POWERTOOLS_SERVICE_NAME",
    "POWERTOOLS_METRICS_NAMESPACE",
    "POWERTOOLS_LOG_LEVEL",
}
# Values Genesys sends that the README names (routing statuses, SDK RoutingStatus.status), not variables.
GENESYS_VALUES = set(ON_QUEUE) | {"OFF_QUEUE"}
# Read by the local tools (scripts/local_services.py), not by the function.
LOCAL_TOOL_VARIABLES = {"LOCAL_MOTO_PORT", "LOCAL_SIMULATOR_PORT"}
REQUIRED = {
    "GENESYS_CREDENTIALS_SECRET": "c",
    "GENESYS_TOKEN_SECRET": "t",
    "STATE_TABLE": "s",
    "SKILL_MATRIX_BUCKET": "b",
}


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template()


def same(template_value: Any, code_value: Any) -> bool:
    if isinstance(code_value, bool):
        return str(template_value).lower() == str(code_value).lower()
    if isinstance(code_value, int | float):
        return float(template_value) == float(code_value)
    return str(template_value) == str(code_value)


def test_the_readme_table_is_the_settings_table():
    assert settings_table.rewritten(README) == README, "run: python scripts/settings_table.py"


@pytest.mark.parametrize("setting", [s for s in SETTINGS if s.parameter], ids=lambda s: s.env)
def test_a_settable_setting_is_a_template_parameter_with_the_codes_default_and_bounds(
    template: dict[str, Any], setting: Setting
):
    parameter = template["Parameters"][setting.parameter]
    assert same(parameter.get("Default", ""), setting.default), setting.env
    if setting.low is not None:
        low = setting.deploy_low if setting.deploy_low is not None else setting.low
        assert same(parameter["MinValue"], low) and same(parameter["MaxValue"], setting.high), setting.env
    if setting.choices:
        assert set(parameter["AllowedValues"]) == set(setting.choices), setting.env
    for function in FUNCTIONS[setting.functions]:
        assert function_variables(template, function)[setting.env] == {"Ref": setting.parameter}, function


@pytest.mark.parametrize("function", ["PollFunction", "EventFunction"])
def test_every_variable_the_template_sets_is_in_the_table_or_read_by_a_library(template: dict[str, Any], function: str):
    for name in function_variables(template, function):
        assert name in BY_ENV or name in LIBRARY_VARIABLES, f"{function} sets {name}, which no code reads"
    for setting in SETTINGS:
        if setting.functions in ("both", function[:-8].lower()) and setting.set_by.startswith("the stack"):
            assert setting.env in function_variables(template, function), (function, setting.env)


def test_every_setting_is_either_a_parameter_or_said_to_be_set_otherwise():
    for setting in SETTINGS:
        assert bool(setting.parameter) != bool(setting.set_by), setting.env


def test_the_defaults_of_the_table_parse_and_are_what_settings_hold():
    settings = load_settings(REQUIRED)
    for setting in SETTINGS:
        if setting.default not in (None, "") and setting.env not in ("GENESYS_API_URL", "GENESYS_LOGIN_URL"):
            assert getattr(settings, setting.field) == setting.default, setting.env


def readme_variables() -> set[str]:
    return set(re.findall(r"`([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)`", README))


def test_the_readme_names_no_variable_the_code_does_not_read():
    unknown = readme_variables() - set(BY_ENV) - set(RETIRED) - LIBRARY_VARIABLES - LOCAL_TOOL_VARIABLES
    unknown -= GENESYS_VALUES
    assert not unknown, f"README names variables nothing reads: {sorted(unknown)}"


def test_the_retired_settings_appear_in_the_readme_only_as_refused():
    for name in RETIRED:
        for line in README.splitlines():
            if f"`{name}`" in line and "|" in line:
                pytest.fail(f"README documents retired {name} in a table: {line}")


def test_the_code_reads_no_variable_the_table_does_not_hold():
    """Every os.environ / env .get("NAME") in the package names a setting, a retired one, or a library's."""
    allowed = set(BY_ENV) | set(RETIRED) | LIBRARY_VARIABLES | {"HOME", "SKILL_ROUTER_DEBUG"}
    for path in (ROOT / "functions" / "skill_router").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "get"
                and node.args
                and isinstance(node.args[0], ast.Constant)
                and isinstance(node.args[0].value, str)
                and re.fullmatch(r"[A-Z][A-Z0-9]*(_[A-Z0-9]+)+", node.args[0].value)
            ):
                assert node.args[0].value in allowed, f"{path.name}:{node.lineno} reads {node.args[0].value}"


def test_doctor_names_the_settings_that_differ_from_the_table(capsys: pytest.CaptureFixture[str]):
    """`skill-router doctor --env` prints, from the same table, what this deployment changed."""
    from skill_router.cli import main

    env = {**REQUIRED, "MAX_ATTEMPTS": "3", "GENESYS_CONCURRENCY": "4", "DRY_RUN": "TRUE"}
    assert changed_from_default(env) == ["DRY_RUN=TRUE (default false)", "MAX_ATTEMPTS=3 (default 5)"]
    with pytest.MonkeyPatch.context() as patch:
        for name in [*BY_ENV, *RETIRED]:
            patch.delenv(name, raising=False)
        for name, value in {**env, "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL": "http://127.0.0.1:9"}.items():
            patch.setenv(name, value)
        patch.setenv("AWS_MAX_ATTEMPTS", "1")
        main(["doctor", "--env"])
    out = capsys.readouterr().out
    assert "not the defaults: DRY_RUN=TRUE (default false), MAX_ATTEMPTS=3 (default 5)" in out
