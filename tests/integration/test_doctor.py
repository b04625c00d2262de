"""`skill-router doctor` against moto server and the simulator: ok on the demo's set-up, and each
thing a new deployment misses named on its own line with what to do (issue 14)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from skill_router.cli import main
from tests.integration.conftest import App

ROOT = Path(__file__).parents[2]
pytestmark = pytest.mark.integration


def make_doctor(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "doctor_local.py"), *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        check=False,
    )


def checks(out: str) -> dict[str, str]:
    return {
        line[5:].split(": ", 1)[0]: line[:4].strip()
        for line in out.splitlines()
        if line[:3] in ("ok ", "FIX") or line.startswith("warn ")
    }


def test_make_doctor_on_the_demo_set_up_is_all_ok():
    done = make_doctor()
    assert done.returncode == 0, done.stdout + done.stderr
    found = checks(done.stdout)
    assert {"credentials secret", "Genesys login", "skill matrix", "SES sender"} <= set(found)
    assert sum(name.startswith("permission ") for name in found) == 10  # one per row of README Deploy step 1
    assert set(found.values()) == {"ok"} and "ready: every check is ok" in done.stdout


@pytest.mark.parametrize("permission", ["analytics:conversationDetail:view", "routing:conversation:edit"])
def test_a_403_on_one_endpoint_names_the_missing_permission(permission: str):
    done = make_doctor("--deny", permission)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    fixes = [line for line in done.stdout.splitlines() if line.startswith("FIX")]
    assert len(fixes) == 1, done.stdout
    assert f"add {permission} to the OAuth client's role" in fixes[0] and "answered 403" in fixes[0]


def test_a_missing_members_permission_is_a_warning_naming_it_and_the_stack_stays_ready():
    """Issue 20: without routing:queue:view the staffing guard stays off (one warning per
    invocation in the function), never a failure: doctor names it, and the stack is still ready."""
    done = make_doctor("--deny", "routing:queue:view")
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stdout + done.stderr
    warnings = [line for line in done.stdout.splitlines() if line.startswith("warn ")]
    assert len(warnings) == 1 and not [line for line in done.stdout.splitlines() if line.startswith("FIX")]
    assert "add routing:queue:view to the OAuth client's role" in warnings[0]
    assert "staffing guard stays off" in warnings[0] and "answered 403" in warnings[0]
    assert done.stdout.splitlines()[-1].startswith("ready: every check is ok, with 1 warning(s)")


def test_the_members_permission_is_not_needed_with_the_guard_off(app: App, capsys: pytest.CaptureFixture[str]):
    app.set(STAFFING_GUARD="off")
    app.sim.deny_queue_members()
    _, found, out = run_doctor(app, capsys)
    assert found["permission routing:queue:view"] == "ok" and "not used by this deployment" in out
    assert app.sim.member_requests() == 0


def run_doctor(app: App, capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, str], str]:
    status = main(["doctor", "--env"])
    out = capsys.readouterr().out
    return status, checks(out), out


def test_a_fresh_stack_is_not_ready_and_says_which_deploy_step_is_left(app: App, capsys: pytest.CaptureFixture[str]):
    secrets = app.client("secretsmanager")
    secrets.put_secret_value(
        SecretId=app.env["GENESYS_CREDENTIALS_SECRET"], SecretString='{"client_id": "", "client_secret": ""}'
    )
    status, found, out = run_doctor(app, capsys)
    assert status == 1 and found["credentials secret"] == "FIX"
    assert "empty placeholder" in out and "Deploy step 3" in out


def test_a_missing_matrix_and_an_unknown_skill_name_are_named(app: App, capsys: pytest.CaptureFixture[str]):
    app.client("s3").delete_object(Bucket=app.env["SKILL_MATRIX_BUCKET"], Key=app.env["SKILL_MATRIX_KEY"])
    status, found, out = run_doctor(app, capsys)
    assert status == 1 and found["skill matrix"] == "FIX" and "no skill matrix at s3://" in out
    app.upload_matrix("skill_matrix:\n  - intent_keyword: billing\n    skills: [No Such Skill]\n")
    status, found, out = run_doctor(app, capsys)
    assert status == 1 and "no routing skill named 'No Such Skill'" in out


def test_an_unverified_ses_sender_is_named(app: App, capsys: pytest.CaptureFixture[str]):
    app.set(NOTIFY_FROM="nobody@unverified.example.org")
    status, found, out = run_doctor(app, capsys)
    assert status == 1 and found["SES sender"] == "FIX" and "Deploy step 4" in out


def test_event_mode_needs_the_topics_for_eventbridge_and_the_associated_source(
    app: App, capsys: pytest.CaptureFixture[str]
):
    app.set(
        EVENT_MODE="true",
        GENESYS_EVENT_SOURCE="aws.partner/genesys.com/cloud/8a4c3fa7-2c1d-4e5f-9a0b-1c2d3e4f5a6b/never-associated",
    )
    app.sim.topic_transports = {"v2.detail.events.conversation.{id}.acd.start": ["Websocket"]}
    status, found, out = run_doctor(app, capsys)
    assert status == 1 and found["event topics"] == "FIX" and found["event source"] == "FIX"
    assert "v2.detail.events.conversation.{id}.attributes" in out and "Event mode step 2" in out


def test_agentless_email_permission_is_probed_without_sending_anything(app: App, capsys: pytest.CaptureFixture[str]):
    """Issue 21: doctor checked 5 of the README's 8 permission rows; the agentless email row is
    probed with a request that has no recipient (400 when permitted), so nothing is ever sent."""
    app.set(NOTIFY_CHANNEL="genesys", NOTIFY_FROM="router@campaign.example.com")
    _, found, out = run_doctor(app, capsys)
    assert found["permission conversation:agentlessEmail:send"] == "ok", out
    assert found["permission none (GET /api/v2/routing/languages)"] == "ok", out
    assert app.sim.emails == []
    app.sim.fail("POST", "/api/v2/conversations/emails/agentless", 403, count=None)
    _, found, out = run_doctor(app, capsys)
    assert found["permission conversation:agentlessEmail:send"] == "FIX"
    assert "add conversation:agentlessEmail:send to the OAuth client's role" in out


def test_a_403_where_no_permission_is_needed_points_at_divisions(app: App, capsys: pytest.CaptureFixture[str]):
    app.sim.fail("GET", r"/api/v2/users/[^/]+$", 403, count=None)
    _, found, out = run_doctor(app, capsys)
    assert found["permission none (GET /api/v2/users/{id})"] == "FIX"
    assert "needs no permission" in out and "divisions" in out and "directory:user:view" not in out
