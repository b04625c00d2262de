"""`pip install .` (the README's way to get the CLI outside this repository) into an empty venv
gives a `skill-router` whose every command runs: the package declares what it imports (issues 14, 21).

One venv for the module (the install takes ~30 s); every test runs the console script from it, in
a directory outside the repository, so nothing is imported from the work tree.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import venv
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.conftest import App

ROOT = Path(__file__).parents[2]
pytestmark = [pytest.mark.attack, pytest.mark.slow]

# Every command and subcommand of the console script: each one's --help must run.
COMMANDS = [
    [],
    ["matrix"],
    ["matrix", "validate"],
    ["matrix", "explain"],
    ["matrix", "upload"],
    ["matrix", "diff"],
    ["matrix", "init"],
    ["audit"],
    ["report"],
    ["doctor"],
    ["why"],
]


class Installed:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.python = root / "venv" / "bin" / "python"
        self.script = root / "venv" / "bin" / "skill-router"
        self.cwd = root / "elsewhere"
        self.cwd.mkdir(exist_ok=True)

    def run(
        self, *args: str, env: dict[str, str] | None = None, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.script), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=self.cwd,  # not the repository: nothing is imported from it
            env=env,
            check=False,
        )


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installed]:
    root = tmp_path_factory.mktemp("pip-install")
    venv.create(root / "venv", with_pip=True)
    here = Installed(root)
    # A copy of the sources, so the build leaves nothing in the worktree (build/, *.egg-info).
    source = root / "src"
    files = subprocess.run(["git", "-C", str(ROOT), "ls-files"], check=True, capture_output=True, text=True)
    for name in files.stdout.splitlines():
        if (ROOT / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            (source / name).write_bytes((ROOT / name).read_bytes())
    install = subprocess.run(
        [str(here.python), "-m", "pip", "install", "--quiet", "--no-compile", str(source)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert install.returncode == 0, install.stderr[-2000:]
    assert sys.executable != str(here.python)
    yield here


def test_plain_pip_install_gives_a_working_matrix_validate(installed: Installed):
    examples = sorted(str(p) for p in (ROOT / "examples").glob("*.yaml"))
    done = installed.run("matrix", "validate", *examples)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("rules OK") == len(examples) and "Traceback" not in done.stderr
    version = installed.run("--version")
    assert version.returncode == 0 and version.stdout.startswith("skill-router 0."), version.stderr
    # The console script runs from the venv alone: the other entry points import too.
    check = subprocess.run(
        [str(installed.python), "-c", "import skill_router.cli.doctor, skill_router.store, skill_router.cli"],
        capture_output=True,
        text=True,
        cwd=installed.cwd,
    )
    assert check.returncode == 0, check.stderr


def test_matrix_init_writes_the_starter_from_the_installed_package(installed: Installed):
    target = installed.cwd / "skill_matrix.yaml"
    target.unlink(missing_ok=True)
    done = installed.run("matrix", "init")
    assert done.returncode == 0 and target.is_file(), done.stderr
    check = installed.run("matrix", "validate", "skill_matrix.yaml")
    assert check.returncode == 0 and "rules OK" in check.stdout, check.stdout + check.stderr


def parser_commands(parser: argparse.ArgumentParser, prefix: list[str]) -> list[list[str]]:
    """`prefix` and every command below it in the console script's parser."""
    found = [prefix]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found += parser_commands(sub, [*prefix, name])
    return found


def test_the_list_holds_every_command_the_parser_has():
    """A command added to the CLI (report, why) is in COMMANDS, so its --help runs from the venv."""
    from skill_router.cli.commands import parser

    assert sorted(parser_commands(parser(), [])) == sorted(COMMANDS)


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "top")
def test_every_command_s_help_runs(installed: Installed, command: list[str]):
    done = installed.run(*command, "--help")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: skill-router") and not done.stderr


def test_doctor_env_prints_its_checks_from_the_installed_package(installed: Installed, app: App):
    """Deploy step 6 after `pip install .`: failing checks are fine, an import error is not."""
    env = {**os.environ, **app.env, "AWS_ENDPOINT_URL": app.endpoint, "AWS_DEFAULT_REGION": "us-east-1"}
    env.pop("PYTHONPATH", None)
    done = installed.run("doctor", "--env", env=env)
    assert "Traceback" not in done.stderr and "unexpected" not in done.stderr, done.stderr
    assert "No module named" not in done.stdout + done.stderr
    lines = done.stdout.splitlines()
    checks = [line[5:].split(": ", 1)[0] for line in lines if line[:3] in ("ok ", "FIX")]
    assert {"settings", "credentials secret", "Genesys login", "skill matrix"} <= set(checks), done.stdout
    assert any(name.startswith("permission ") for name in checks), done.stdout
    assert lines[-1].startswith(("ready:", "not ready:")), done.stdout
    assert done.returncode in (0, 1)
