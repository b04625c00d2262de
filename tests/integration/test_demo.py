"""`make demo` says what it shows (issue 21): as many callers as the README says, a dry run that
does not count the caller who hung up, and figures whose sums add up to the polls' own counts."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
pytestmark = [pytest.mark.integration, pytest.mark.slow]
WORDS = {"six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10}


@pytest.fixture(scope="module")
def demo() -> str:
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "demo.py")], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return done.stdout


def table_rows(out: str, title: str) -> list[str]:
    block = out[out.index(title) :].split("\n\n", 1)[0].splitlines()
    return [line for line in block[3:] if line.startswith("  ") and not line.startswith("  outcome")]


def test_the_readme_counts_the_callers_the_demo_shows(demo: str):
    said = re.search(r"seeds (\w+) callers", (ROOT / "README.md").read_text())
    assert said, "the README says how many callers the demo seeds"
    assert WORDS[said.group(1)] == len(table_rows(demo, "Poll 1:"))


def test_the_dry_run_does_not_count_the_caller_who_hung_up(demo: str):
    would = re.search(r"would apply (\d+)", demo)
    assert would and int(would.group(1)) == 1, "only the new caller: the one who hung up is gone from Genesys"


def test_the_figures_add_up_to_the_polls_own_counts(demo: str):
    calls = [int(n) for n in re.findall(r"outcome: .*Genesys calls (\d+)", demo)]
    applied = [int(n) for n in re.findall(r"outcome: applied (\d+)", demo)]
    figure = re.search(r"\((\d+) \+ (\d+) = (\d+) calls in polls 1 and 2, (\d+) \+ (\d+) = (\d+) assigned", demo)
    assert figure, demo[demo.index("Figures") :]
    a, b, total, x, y, assigned = (int(n) for n in figure.groups())
    assert [a, b] == calls[:2] and a + b == total
    assert [x, y] == applied[:2] and x + y == assigned
    seen = re.search(r"Poll 1: .*, (\d+) seen\]", demo)
    handled = re.search(r"first invocation \(cold, (\d+) callers handled\)", demo)
    assert seen and handled and seen.group(1) == handled.group(1)


def test_the_demo_shows_the_stranded_caller_the_readme_describes(demo: str):
    said = re.search(r"withheld (\d+), applied later (\d+)", (ROOT / "README.md").read_text())
    shown = re.search(r"stranded callers avoided: withheld (\d+), applied later (\d+)", demo)
    assert said and shown, "the README and the demo both state the staffing guard's counts"
    assert said.groups() == shown.groups() and int(shown.group(1)) >= 1
