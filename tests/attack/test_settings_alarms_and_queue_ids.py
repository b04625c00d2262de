"""Review: "one name for one thing; every variable documented once" (GUIDE, issue 14) after the
merges: each variable settings.py reads has exactly one row in the README's tables."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).parents[2]


def test_every_setting_has_exactly_one_row_in_the_readme():
    source = (ROOT / "functions" / "skill_router" / "settings.py").read_text()
    names = set(re.findall(r'r\.(?:text|integer|number|flag|choice)\("([A-Z_]+)"', source))
    rows = [line for line in (ROOT / "README.md").read_text().splitlines() if line.startswith("| `")]
    first_cells = [line.split("|")[1] for line in rows]
    counts = {n: sum(f"`{n}`" in cell for cell in first_cells) for n in names}
    assert {n: c for n, c in counts.items() if c != 1} == {}


def test_polls_that_stop_completing_are_alarmed_within_ten_minutes():
    """Issue 11 made the watermark the time of the last complete poll (a waiting caller no longer
    holds it back), but the lag alarm kept the default sized for the old window (5400 s = the
    pending age plus the overlap): a discovery query failing on every poll (a run that still
    succeeds, so no Errors alarm) left every new caller unserved for 95 minutes before an alarm."""
    from scripts.local_aws import load_template

    template = load_template()
    alarm = template["Resources"]["WatermarkLagAlarm"]["Properties"]
    threshold = template["Parameters"]["WatermarkLagAlarmSeconds"]["Default"]
    detection = int(threshold) + alarm["Period"] * alarm["EvaluationPeriods"]
    assert detection <= 600, f"callers unserved for {detection} s before the lag alarm"


def test_a_queue_id_written_in_capitals_in_the_matrix_still_restricts_its_rule():
    """Skill ids in the matrix are compared case-insensitively (folded to Genesys' lower case), but
    `queues:` were compared as written: a rule for `AB1C...` never matched the caller in queue
    `ab1c...` (how discovery, the GET and events spell it), and validate said nothing."""
    from skill_router.matrix import parse_matrix

    queue = "ab1c2f7e-0000-4000-8000-0000000000aa"
    matrix = parse_matrix(
        "skill_matrix:\n  - intent_keyword: billing\n    skill_id: 5b1c2f7e-0000-4000-8000-000000000001\n"
        f"    queues: [{queue.upper()}]\n",
        "m.yaml",
    )
    assert matrix.match({"intent": "billing"}, "intent", queue) is not None
    assert matrix.match({"intent": "billing"}, "intent", "5b1c2f7e-0000-4000-8000-0000000000bb") is None
