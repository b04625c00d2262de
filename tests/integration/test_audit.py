"""The audit trail, read back with the CLI from the table the function wrote."""

from __future__ import annotations

import pytest

from skill_router.cli import main
from tests.integration.conftest import ENGLISH, App, queued


def test_audit_reads_back_each_decision_by_conversation_and_by_time(
    app: App, queue: str, capsys: pytest.CaptureFixture[str]
):
    billing = queued(app, queue, "I want to dispute my BILLING statement", skills=(ENGLISH,))
    other = queued(app, queue, "sales enquiry")
    app.invoke()
    capsys.readouterr()
    assert main(["audit", "--conversation", billing]) == 0
    row = capsys.readouterr().out.splitlines()[2]
    assert all(part in row for part in (billing, "applied", "billing-", ENGLISH))
    assert "dispute" not in row, "the caller's own words are not in the trail"
    assert main(["audit", "--since", "1h"]) == 0
    listing = capsys.readouterr().out
    assert billing in listing and other in listing and "no_match" in listing


def test_a_dry_run_is_audited_apart_and_changes_nothing(app: App, queue: str, capsys: pytest.CaptureFixture[str]):
    conversation = queued(app, queue, "technical")
    app.set(DRY_RUN="true")
    assert app.invoke()["polls"][0]["applied"] == 1
    assert app.sim.routing(conversation)[0] == [] and app.sim.count("PATCH") == 0
    capsys.readouterr()
    assert main(["audit", "--conversation", conversation]) == 3, "nothing real was recorded"
    assert main(["audit", "--conversation", conversation, "--dry-run"]) == 0
    assert "technical-" in capsys.readouterr().out
