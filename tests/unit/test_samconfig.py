"""The README's `sam deploy --config-env NAME` commands work as written (issue 21): SAM ignores a
config environment samconfig.toml does not have, without a word, and then asks for the S3 bucket
that the missing environment's `resolve_s3` would have created ("S3 Bucket not specified")."""

from __future__ import annotations

import re
import shlex
import subprocess
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
SAM_PYTHON = ROOT / ".venv-sam" / "bin" / "python"
SAM_INSTALLED = ROOT / ".venv-sam" / ".installed"


def samconfig() -> dict:
    return tomllib.loads((ROOT / "samconfig.toml").read_text())


def readme_sam_commands() -> list[list[str]]:
    text = (ROOT / "README.md").read_text()
    return [shlex.split(line.strip()) for line in text.splitlines() if line.strip().startswith("sam deploy")]


def option(command: list[str], name: str) -> str | None:
    return command[command.index(name) + 1] if name in command else None


def deploy_parameters(config: dict, env: str) -> dict:
    """What SAM reads for `sam deploy --config-env env`: global parameters, then deploy's."""
    section = config.get(env, {})
    return {**section.get("global", {}).get("parameters", {}), **section.get("deploy", {}).get("parameters", {})}


def test_every_config_env_the_readme_names_is_in_samconfig():
    config = samconfig()
    named = {option(c, "--config-env") for c in readme_sam_commands()} - {None}
    assert {"dev", "prod"} <= named, "the README's two stacks"
    assert named <= set(config), f"the README names {sorted(named - set(config))}, samconfig.toml has not"


@pytest.mark.parametrize("env", ["default", "dev", "prod"])
def test_each_env_deploys_without_another_question(env: str):
    parameters = deploy_parameters(samconfig(), env)
    assert parameters.get("resolve_s3") is True or parameters.get("s3_bucket"), "where SAM uploads the code"
    assert "CAPABILITY_IAM" in str(parameters.get("capabilities")), "the stack creates IAM roles"
    assert parameters.get("stack_name"), "each environment is its own stack"
    assert "DryRun=" in parameters.get("parameter_overrides", ""), "a first deploy says what it would do"


def test_dev_and_prod_are_different_stacks_and_the_readme_agrees():
    config = samconfig()
    names = {env: deploy_parameters(config, env)["stack_name"] for env in ("default", "dev", "prod")}
    assert len(set(names.values())) == 3, names
    for command in readme_sam_commands():
        env, stack = option(command, "--config-env"), option(command, "--stack-name")
        if env and stack:
            assert stack == names[env], f"README: {shlex.join(command)}; samconfig.toml: {names[env]}"


def test_a_command_line_override_does_not_silently_drop_samconfig_s_parameters():
    """`--parameter-overrides` on the command line replaces samconfig.toml's whole list (SAM does
    not merge them): the README's deploy commands leave the parameters to the config env."""
    for command in readme_sam_commands():
        if option(command, "--config-env"):
            assert "--parameter-overrides" not in command, shlex.join(command)


@pytest.mark.skipif(not SAM_INSTALLED.exists(), reason="no SAM CLI (make validate installs .venv-sam)")
@pytest.mark.parametrize("env", ["dev", "prod"])
def test_the_sam_cli_itself_reads_the_env(env: str):
    code = (
        "import sys\n"
        "from samcli.lib.config.samconfig import SamConfig\n"
        "config = SamConfig(sys.argv[1])\n"
        "print(config.get_all(['deploy'], 'parameters', env=sys.argv[2]).get('stack_name'))\n"
    )
    done = subprocess.run(
        [str(SAM_PYTHON), "-c", code, str(ROOT), env], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == deploy_parameters(samconfig(), env)["stack_name"]
    assert re.fullmatch(r"skill-router-\w+", done.stdout.strip())
