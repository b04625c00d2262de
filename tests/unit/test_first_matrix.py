"""A first matrix (issue 21): a fresh clone has no skill_matrix.yaml, yet the README's
`make matrix-check FILE=skill_matrix.yaml` and deploy step 5 name one. `skill-router matrix init`
writes a starter written with skill names (never over an existing file), and the README's
commands work in a fresh clone in the order it gives them."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from skill_router.cli import main
from skill_router.matrix import parse_matrix

ROOT = Path(__file__).parents[2]
README = (ROOT / "README.md").read_text()


def test_init_writes_a_starter_that_validates(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["matrix", "init"]) == 0
    written = tmp_path / "skill_matrix.yaml"
    out = capsys.readouterr().out
    assert "skill_matrix.yaml" in out and "skill names" in out
    matrix = parse_matrix(written.read_bytes(), "skill_matrix.yaml")
    assert matrix.rules and all(rule.skill_names and not rule.skill_ids for rule in matrix.rules)
    assert main(["matrix", "validate", "skill_matrix.yaml"]) == 0


def test_init_never_overwrites(tmp_path: Path, capsys):
    target = tmp_path / "mine.yaml"
    target.write_text("skill_matrix: []  # mine\n")
    assert main(["matrix", "init", str(target)]) == 1
    assert target.read_text() == "skill_matrix: []  # mine\n"
    err = capsys.readouterr().err
    assert "already exists" in err and "Traceback" not in err


def test_the_starter_is_the_one_the_readme_shows_how_to_edit():
    starter = yaml.safe_load((ROOT / "functions" / "skill_router" / "starter_skill_matrix.yaml").read_text())
    names = {name for rule in starter["skill_matrix"] for name in rule["skills"]}
    assert names and not any(re.fullmatch(r"[0-9a-f-]{36}", n) for n in names), "names, not ids"
    assert "skill-router matrix init" in README


def test_the_readme_writes_the_matrix_before_it_checks_or_uploads_it():
    init = README.index("skill-router matrix init")
    step5 = README.index("5. **Skill matrix**")
    assert "matrix init" in README[step5 : README.index("6. **Check it**")], (
        "deploy step 5 says where the file comes from"
    )
    first_check = README.index("make matrix-check FILE=skill_matrix.yaml")
    assert init < first_check, "the command table writes the file before it checks it"


@pytest.mark.slow
def test_the_readme_s_make_commands_work_in_a_fresh_clone(tmp_path: Path):
    clone = tmp_path / "clone"  # what a fresh clone holds: the tracked files
    files = subprocess.run(["git", "-C", str(ROOT), "ls-files"], check=True, capture_output=True, text=True)
    for name in files.stdout.splitlines():
        if (ROOT / name).is_file():
            (clone / name).parent.mkdir(parents=True, exist_ok=True)
            (clone / name).write_bytes((ROOT / name).read_bytes())
    venv = ROOT / ".venv"
    # This worktree's venv stands in for the one `make` would install (-o: not remade).
    make = ["make", "--no-print-directory", f"VENV={venv}", "-o", f"{venv}/.installed"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAKE")}
    missing = subprocess.run(
        [*make, "matrix-check", "FILE=skill_matrix.yaml"], cwd=clone, capture_output=True, text=True, env=env
    )
    assert missing.returncode != 0 and "matrix init" in missing.stdout + missing.stderr, missing.stderr
    done = subprocess.run([*make, "matrix-init"], cwd=clone, capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert (clone / "skill_matrix.yaml").is_file()
    check = subprocess.run(
        [*make, "matrix-check", "FILE=skill_matrix.yaml"], cwd=clone, capture_output=True, text=True, env=env
    )
    assert check.returncode == 0 and "rules OK" in check.stdout, check.stdout + check.stderr
