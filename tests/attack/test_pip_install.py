"""`pip install .` (the README's way to get the CLI outside this repository) into an empty venv
gives a `skill-router` that works: the package declares what it imports (issue 14)."""

from __future__ import annotations

import subprocess
import sys
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
pytestmark = [pytest.mark.attack, pytest.mark.slow]


def test_plain_pip_install_gives_a_working_matrix_validate(tmp_path: Path):
    target = tmp_path / "venv"
    venv.create(target, with_pip=True)
    python = target / "bin" / "python"
    # A copy of the sources, so the build leaves nothing in the worktree (build/, *.egg-info).
    source = tmp_path / "src"
    files = subprocess.run(["git", "-C", str(ROOT), "ls-files"], check=True, capture_output=True, text=True)
    for name in files.stdout.splitlines():
        if (ROOT / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            (source / name).write_bytes((ROOT / name).read_bytes())
    install = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--no-compile", str(source)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert install.returncode == 0, install.stderr[-2000:]
    examples = sorted(str(p) for p in (ROOT / "examples").glob("*.yaml"))
    done = subprocess.run(
        [str(target / "bin" / "skill-router"), "matrix", "validate", *examples],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,  # not the repository: nothing is imported from it
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("rules OK") == len(examples) and "Traceback" not in done.stderr
    # The console script runs from the venv alone: the other entry points import too.
    check = subprocess.run(
        [str(python), "-c", "import skill_router.cli.doctor, skill_router.store, skill_router.cli"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert check.returncode == 0, check.stderr
    assert sys.executable != str(python)
