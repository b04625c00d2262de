"""The smaller things a newcomer met on the second day (issue 21), each as they met it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from skill_router import __version__
from skill_router.cli import main
from skill_router.errors import MatrixError
from skill_router.matrix import parse_matrix

ROOT = Path(__file__).parents[2]
NO_PY313 = {"PATH": "/usr/bin:/bin", "HOME": os.environ.get("HOME", "/root")}  # Debian: no python3.13 there


def problems_of(text: str) -> list[str]:
    with pytest.raises(MatrixError) as caught:
        parse_matrix(text, "skill_matrix.yaml")
    return caught.value.problems


# --- make build without a python3.13 --------------------------------------------------------------


@pytest.mark.skipif(Path("/usr/bin/python3.13").exists(), reason="this machine has python3.13 in /usr/bin")
def test_make_build_without_python313_says_what_to_do():
    done = subprocess.run(
        ["make", "--no-print-directory", "-o", ".venv-sam/.installed", "build"],
        cwd=ROOT,
        env=NO_PY313,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode != 0
    assert "no python3.13 on PATH" in done.stderr and "--use-container" in done.stderr, done.stderr
    assert "No such file or directory" not in done.stderr


@pytest.mark.skipif(Path("/usr/bin/python3.13").exists(), reason="this machine has python3.13 in /usr/bin")
@pytest.mark.parametrize(
    ("makefile", "target"),
    [("functions/Makefile", "build-PollFunction"), ("layers/deps/Makefile", "build-DependencyLayer")],
)
def test_sam_build_s_makefiles_without_python313_say_what_to_do(makefile: str, target: str, tmp_path: Path):
    done = subprocess.run(
        ["make", "--no-print-directory", "-f", makefile, target, f"ARTIFACTS_DIR={tmp_path}"],
        cwd=ROOT,
        env=NO_PY313,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode != 0 and "no python3.13 on PATH" in done.stderr and "--use-container" in done.stderr
    assert not any(tmp_path.iterdir()), "nothing half-built"


# --- make invoke EVENT=<missing> ------------------------------------------------------------------


@pytest.mark.parametrize("event", ["events/scheduld.json", "events"])
def test_make_invoke_with_a_missing_event_names_it_and_the_samples(event: str):
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "local_invoke.py"), event],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2 and not done.stdout
    assert f"EVENT={event}" in done.stderr and "events/scheduled.json" in done.stderr
    assert "events/acd_start.json" in done.stderr and "Traceback" not in done.stderr


# --- matrix mistakes ------------------------------------------------------------------------------


def test_a_directory_given_as_a_matrix_is_called_a_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    assert main(["matrix", "validate", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "is a directory" in err and "no such file" not in err


def test_a_tab_in_the_indentation_is_named_without_yaml_jargon():
    problems = problems_of("skill_matrix:\n\t- intent_keyword: billing\n    skill_id: x\n")
    assert problems == [
        "skill_matrix.yaml:2: a tab in the indentation at column 1; YAML indents with spaces only: "
        "replace the tab with spaces"
    ]
    later = problems_of("skill_matrix:\n  - intent_keyword: billing\n    skill_id: x\n\tpriority: high\n")
    assert later[0].startswith("skill_matrix.yaml:4: a tab in the indentation")


@pytest.mark.parametrize(
    ("text", "line", "key", "mine", "theirs"),
    [
        ("skill_matrix:\n  - intent_keyword: billing\n   skill_id: x\n", 3, "skill_id", 4, 5),
        ("skill_matrix:\n  - intent_keyword: billing\n    skill_id: x\n      priority: high\n", 4, "priority", 7, 5),
        ("skill_matrix:\n  - intent_keyword: billing\n  skill_id: x\n", 3, "skill_id", 3, 5),
    ],
)
def test_a_key_out_of_line_is_named_with_its_columns(text: str, line: int, key: str, mine: int, theirs: int):
    (problem,) = problems_of(text)
    assert problem.startswith(f"skill_matrix.yaml:{line}: '{key}' starts in column {mine}")
    assert f"the key above starts in column {theirs}" in problem
    jargon = ("indicator", "token", "mapping values", "block end", "not allowed in this context")
    assert not any(word in problem for word in jargon), problem


def test_a_misspelt_top_level_key_is_named():
    problems = problems_of("skill_matrx:\n  - intent_keyword: billing\n    skill_id: x\n")
    assert "skill_matrix.yaml:1 unknown top-level key 'skill_matrx' (did you mean 'skill_matrix'?)" in problems
    beside = problems_of("prioritis:\n  high: 1\nskill_matrix:\n  - intent_keyword: billing\n    skill_idd: x\n")
    assert "skill_matrix.yaml:1 unknown top-level key 'prioritis' (did you mean 'priorities'?)" in beside


# --- versions -------------------------------------------------------------------------------------


def test_version_is_printed_and_matches_the_changelog(capsys: pytest.CaptureFixture[str]):
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0 and capsys.readouterr().out.strip() == f"skill-router {__version__}"
    assert tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"] == __version__
    headings = re.findall(r"^## (.+)$", (ROOT / "CHANGELOG.md").read_text(), re.MULTILINE)
    released = [h for h in headings if h != "Unreleased"]
    assert headings.count("Unreleased") <= 1 and headings[0] in ("Unreleased", released[0])
    numbers = [tuple(int(n) for n in re.match(r"(\d+)\.(\d+)\.(\d+)", h).groups()) for h in released]  # type: ignore[union-attr]
    assert all(re.fullmatch(r"\d+\.\d+\.\d+ \(\d{4}-\d\d-\d\d\)", h) for h in released), released
    assert numbers == sorted(numbers, reverse=True) and len(set(numbers)) == len(numbers)
    base = tuple(int(n) for n in __version__.split(".dev")[0].split("."))
    if headings[0] == "Unreleased":
        assert ".dev" in __version__ and base > numbers[0], "the unreleased work is the next version's"
    else:
        assert base == numbers[0]
    template = (ROOT / "template.yaml").read_text()
    assert f"SemanticVersion: {'.'.join(map(str, base))}" in template


def test_the_cost_section_says_agentless_email_is_billed_and_licence_gated():
    readme = (ROOT / "README.md").read_text()
    costs = readme[readme.index("### What it costs") : readme.index("## Audit trail")]
    assert "agentless" in costs and "per use" in costs and "licence" in costs
