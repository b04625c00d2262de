"""The matrix as staff edit it: hot reload from S3, names resolved through Genesys, loud rejections."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest

from skill_router import runtime
from skill_router.observability import logger
from tests.integration.conftest import BILLING, SEED_MATRIX, TECH, App, queued


def emitted_metrics(output: str) -> dict[str, float]:
    """The EMF metrics Powertools printed (one JSON document per line)."""
    found: dict[str, float] = {}
    for line in output.splitlines():
        if line.startswith('{"_aws"'):
            document = json.loads(line)
            for definition in document["_aws"]["CloudWatchMetrics"][0]["Metrics"]:
                name = definition["Name"]
                values = document[name] if isinstance(document[name], list) else [document[name]]
                found[name] = found.get(name, 0) + sum(values)
    return found


@pytest.fixture
def log_records() -> Iterator[list[logging.LogRecord]]:
    """What the function logs, as records (Powertools' logger writes to the real stdout)."""
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    handler = Keep()
    logger._logger.addHandler(handler)
    yield records
    logger._logger.removeHandler(handler)


def test_a_changed_matrix_is_in_force_on_the_next_poll_and_recorded_in_the_ledger(app: App, queue: str):
    app.invoke()
    app.upload_matrix(SEED_MATRIX.replace("intent_keyword: technical", "intent_keyword: router"))
    conversation = queued(app, queue, "my router is broken")
    report = app.invoke()["polls"][0]
    assert app.sim.routing(conversation)[0] == [TECH]
    version = app.client("s3").head_object(Bucket=app.env["SKILL_MATRIX_BUCKET"], Key=app.env["SKILL_MATRIX_KEY"])
    assert app.ledger(conversation)["matrix_version"] == version["VersionId"] == report["matrix_version"]


def test_an_unchanged_matrix_is_not_downloaded_again(app: App, queue: str):
    app.invoke()
    source = runtime.current().matrix_source
    matrix = source.matrix
    app.invoke()
    assert source.matrix is matrix, "304 Not Modified: the parsed matrix is reused"


def test_a_broken_change_keeps_the_old_rules_and_emits_matrix_rejected(
    app: App, queue: str, capsys: pytest.CaptureFixture[str], log_records: list[logging.LogRecord]
):
    app.invoke()
    capsys.readouterr()
    app.upload_matrix(SEED_MATRIX + "  - intent_keyword: sales\n    skill_id: nope\n")
    conversation = queued(app, queue, "billing")
    app.invoke()
    assert app.sim.routing(conversation)[0] == [BILLING]
    assert emitted_metrics(capsys.readouterr().out).get("MatrixRejected") == 1
    (rejected,) = [r for r in log_records if r.getMessage().startswith("new skill matrix rejected")]
    assert rejected.levelno == logging.ERROR
    assert any(p.startswith("s3://") and ":12 rule 3 'skill_id'" in p for p in rejected.problems)  # type: ignore[attr-defined]


def test_skill_names_and_supervisor_user_ids_are_resolved_through_genesys(app: App, queue: str):
    lead = app.sim.add_user("Billing Lead", "bill.lead@example.com")
    app.upload_matrix(
        f"""
priorities: {{high: 500}}
skill_matrix:
  - id: billing
    keywords: [bill, invoice]
    skills: [Billing]
    priority: high
    notify: [{lead}]
"""
    )
    conversation = queued(app, queue, "question about my invoice")
    report = app.invoke()["polls"][0]
    assert app.sim.routing(conversation) == ([BILLING], 500)
    assert [m["destinations"]["ToAddresses"] for m in app.sent_emails()] == [["bill.lead@example.com"]]
    assert app.sim.count("GET", "/api/v2/routing/skills") == 1 and report["applied"] == 1
    app.sim.clear_log()
    queued(app, queue, "another bill")
    app.invoke()
    assert app.sim.count("GET", "/api/v2/routing/skills") == 0, "names are resolved once per matrix version"
    assert app.sim.count("GET", "/api/v2/users/") == 0


def test_an_unknown_skill_name_fails_its_rule_at_load_time_with_the_line(app: App, queue: str):
    app.upload_matrix("skill_matrix:\n  - intent_keyword: spanish\n    skills: [Spansh]\n")
    conversation = queued(app, queue, "spanish please")
    report = app.invoke()["polls"][0]
    assert report["rules_failed"] == 1 and report["failed"] == 1 and app.sim.count("PATCH") == 0
    reason = app.ledger(conversation)["reason"]
    assert "skill_matrix.yaml:3 rule 1 'skills': no routing skill named 'Spansh'" in reason
