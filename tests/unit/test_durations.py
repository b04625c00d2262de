"""One duration grammar (skill_router/durations.py) for the matrix's `after:`, `skill-router matrix
explain --waited` and `skill-router audit --since`: what one accepts, the others accept."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from skill_router.cli import main
from skill_router.cli.audit import parse_since
from skill_router.durations import parse_duration
from skill_router.matrix import parse_matrix

BILLING = "5b1c2f7e-0000-4000-8000-000000000001"
NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize("written", ["90", "90s", "2m", "1h", "2d", " 3H "])
def test_every_place_a_user_writes_a_duration_reads_it_the_same(written: str, tmp_path: Path):
    seconds = parse_duration(written)
    assert seconds is not None
    assert parse_since(written, NOW) == NOW - timedelta(seconds=seconds)
    matrix = parse_matrix(
        f"skill_matrix:\n  - intent_keyword: x\n    skill_id: {BILLING}\n    escalate:\n"
        f"      - after: '{written}'\n        routing_priority: 5\n",
        "m.yaml",
        max_wait_seconds=7 * 86400,
    )
    assert matrix.rules[0].escalate[0].after == seconds
    path = tmp_path / "m.yaml"
    path.write_text(f"skill_matrix:\n  - intent_keyword: x\n    skill_id: {BILLING}\n")
    assert main(["matrix", "explain", str(path), "--intent", "x", "--waited", written]) == 0


@pytest.mark.parametrize("written", ["2w", "-5", "soon", "1.5h"])
def test_what_one_refuses_the_others_refuse(written: str, capsys: pytest.CaptureFixture[str], tmp_path: Path):
    assert parse_duration(written) is None
    with pytest.raises(ValueError, match="use a duration like 30m, 1h, 2d or an ISO-8601 time"):
        parse_since(written, NOW)
    path = tmp_path / "m.yaml"
    path.write_text(f"skill_matrix:\n  - intent_keyword: x\n    skill_id: {BILLING}\n")
    with pytest.raises(SystemExit) as usage:
        main(["matrix", "explain", str(path), "--intent", "x", f"--waited={written}"])
    assert usage.value.code == 2 and "is not a duration" in capsys.readouterr().err


def test_since_still_takes_an_iso_time():
    assert parse_since("2026-12-05T10:00:00Z", NOW) == datetime(2026, 12, 5, 10, 0, tzinfo=UTC)
