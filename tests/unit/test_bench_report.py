"""`make bench` names only settings that exist, and its log summary says what the ERROR lines were.

The report's rows and docs/performance.md (regenerated from it) are read by people deciding
what to set: a row labelled with a setting that no longer exists (a settle lag, polls per
invocation) misleads them, so every setting the bench sets or names is checked against what
load_settings reads and what template.yaml declares.
"""

from __future__ import annotations

import ast
import contextlib
import os
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from scripts.local_aws import load_template
from skill_router.errors import ConfigurationError
from skill_router.settings import load_settings

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "scripts" / "bench.py"
PERFORMANCE = ROOT / "docs" / "performance.md"
# Retired: read nowhere (or read and ignored), so a figure labelled with them measures nothing.
RETIRED = ("SETTLE_LAG", "settle lag", "PollsPerInvocation", "POLLS_PER_INVOCATION", "SECONDS_BETWEEN_POLLS")
# Environment names the bench sets that are not the product's settings (Lambda's, Python's, its own).
NOT_SETTINGS = {
    "PATH", "LANG", "TZ", "HOME", "PYTHONPATH", "PYTHONDONTWRITEBYTECODE", "LAMBDA_TASK_ROOT",
    "AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_EXECUTION_ENV", "LAMBDA_PYTHON",
    "SKILL_ROUTER_BENCH_CACHE", "XDG_CACHE_HOME", "POWERTOOLS_LOG_LEVEL", "POWERTOOLS_METRICS_DISABLED",
    "POWERTOOLS_TRACE_DISABLED", "ARTIFACTS_DIR", "PYTHON313",
    "OFF_QUEUE", "NOT_RESPONDING",  # Genesys routing statuses (SDK RoutingStatus.status), not settings
}  # fmt: skip


class _Recording(dict[str, str]):
    def __init__(self, values: dict[str, str]) -> None:
        super().__init__(values)
        self.read: set[str] = set()

    def get(self, key: str, default: Any = None) -> Any:
        self.read.add(key)
        return super().get(key, default)


def settings_read() -> set[str]:
    env = _Recording({"GENESYS_CREDENTIALS_SECRET": "c", "GENESYS_TOKEN_SECRET": "t", "STATE_TABLE": "s"})
    with contextlib.suppress(ConfigurationError):
        load_settings(env)
    return env.read


def template_names() -> tuple[set[str], set[str]]:
    """(the template's parameters, every environment variable its functions declare)"""
    template = load_template()
    variables = set(template["Globals"]["Function"]["Environment"]["Variables"])
    for resource in template["Resources"].values():
        variables |= set(((resource.get("Properties") or {}).get("Environment") or {}).get("Variables") or {})
    return set(template["Parameters"]), variables


def bench_strings() -> list[str]:
    """Every string constant of scripts/bench.py, f-strings' literal parts included."""
    return [
        n.value
        for n in ast.walk(ast.parse(BENCH.read_text()))
        if isinstance(n, ast.Constant) and isinstance(n.value, str)
    ]


def test_the_bench_sets_only_settings_the_product_reads() -> None:
    known = settings_read() | template_names()[1]
    tree = ast.parse(BENCH.read_text())
    named = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            callee = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            if callee in ("deploy", "new_container"):
                named |= {k.arg for k in node.keywords if k.arg and k.arg.isupper()}
    assert "POLL_INTERVAL_SECONDS" in named and "DISCOVERY_BUDGET_SHARE" in named
    assert named - known == set(), "the bench sets settings the product does not read"


def bench_constants() -> set[str]:
    """The bench's own module-level names (RATE_LIMIT, ...), which its docstrings mention."""
    names = set()
    for node in ast.parse(BENCH.read_text()).body:
        targets = (
            node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) else []
        )
        names |= {t.id for t in targets if isinstance(t, ast.Name)}
    return names


def test_every_setting_a_report_row_or_the_performance_page_names_exists() -> None:
    parameters, variables = template_names()
    known = settings_read() | variables | NOT_SETTINGS | bench_constants()
    texts = [*bench_strings(), PERFORMANCE.read_text()]
    for text in texts:
        for name in re.findall(r"\b[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+\b", text):
            assert name in known, f"{name!r} is no setting of the product"
        for name in re.findall(r"\b([A-Z][a-z]+(?:[A-Z][a-z0-9]+)+)=", text):
            assert name in parameters, f"{name}= is no parameter of template.yaml"
        for retired in RETIRED:
            assert retired not in text, f"{retired!r} no longer exists"
    assert not re.search(r"\b(1|one|2|two) polls? a minute\b", PERFORMANCE.read_text())


@pytest.fixture(scope="module")
def bench() -> Any:
    """scripts/bench.py, imported without leaving its environment defaults to later tests."""
    saved = dict(os.environ)
    import scripts.bench as module

    os.environ.clear()
    os.environ.update(saved)
    return module


def test_the_template_defaults_the_bench_measures_at_are_read_from_the_template(bench: Any) -> None:
    template = load_template()
    assert int(template["Parameters"]["PollIntervalSeconds"]["Default"]) == bench.DEFAULT_INTERVAL
    assert float(template["Resources"]["PollFunction"]["Properties"]["Timeout"]) == bench.POLL_TIMEOUT
    assert bench.CADENCES[0][1] == {}, "the defaults come first"


def test_the_log_summary_counts_errors_and_says_what_a_status_0_failure_was(bench: Any, tmp_path: Path) -> None:
    log = tmp_path / "bench.log"
    failed = (
        '{"level":"ERROR","message":"conversation failed; retried on the next poll","status":0,'
        '"operation":"GET /api/v2/conversations/{conversationId}","attempts":%d,"conversation_id":"c%d"}'
    )
    log.write_text(
        "\n".join(
            [
                "=== bench scenario: backlog ===",
                failed % (1, 1),
                failed % (2, 1),
                '{"level":"WARNING","message":"Genesys call failed; retrying"}',
                "Traceback (most recent call last):",
                '  File "socketserver.py", line 1, in handle',
                "BrokenPipeError: [Errno 32] Broken pipe",
            ]
        )
    )
    transport = Counter({("backlog", "RequestTooSlow: no time left in the invocation for another request"): 2})
    lines = bench.summarise_log(log, transport)
    assert lines[0].startswith("log: 2 ERROR lines, 1 tracebacks, 2 Genesys requests without an answer")
    text = "\n".join(lines)
    assert "status 0 is a transport error" in text
    assert "cost 1 callers an attempt" in text and "2 of MAX_ATTEMPTS" in text
    assert "RequestTooSlow" in text and "BrokenPipeError" in text and "[backlog]" in text
