"""Every line the function writes is one JSON document (README "When something fails"): an
ordinary 404 for a caller who hung up must not bring the Genesys SDK's multi-line
`=== REQUEST === ... === RESPONSE ===` dump, nor any library's plain-text line, at any log level;
the failure is one structured line that names the conversation (issue 21)."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

from tests.integration.conftest import GET, PATCH, App, queued


def lines_of(app: App, **env: str) -> tuple[list[str], list[str]]:
    run = app.spawn(capture=True, **env)
    out, err = run.process.communicate(timeout=90)
    assert run.process.returncode == 0, err
    return out.splitlines(), err.splitlines()


def documents(lines: list[str]) -> list[dict[str, Any]]:
    found = []
    for line in lines:
        try:
            document = json.loads(line)
        except ValueError:
            pytest.fail(f"an unstructured line: {line!r}")
        assert isinstance(document, dict), line
        found.append(document)
    return found


@pytest.mark.parametrize("path", [GET, PATCH], ids=["GET answers 404", "PATCH answers 404"])
@pytest.mark.parametrize("level", ["INFO", "DEBUG"])
def test_a_caller_who_hung_up_writes_only_structured_lines(app: App, queue: str, path: str, level: str):
    conversation = queued(app, queue, "billing")
    app.sim.fail("GET" if path == GET else "PATCH", path + conversation, 404, count=None)
    out, err = lines_of(app, POWERTOOLS_LOG_LEVEL=level, AWS_LAMBDA_LOG_LEVEL=level)
    assert not any("=== REQUEST ===" in line or "=== RESPONSE ===" in line for line in out + err)
    stdout, stderr = documents(out), documents(err)
    about = [d for d in stdout + stderr if d.get("conversation_id") == conversation]
    assert about, "the failure is logged with the conversation's id"
    assert all(d.get("level") != "ERROR" for d in about), "a caller who hung up is not an error"


def test_the_sdk_s_own_error_printing_is_off():
    """Whatever our logging does, the SDK's logger neither prints nor is asked to."""
    code = (
        "import logging, skill_router.genesys.client as c\n"
        "from skill_router.genesys.sdk import sdk\n"
        "from skill_router.observability import pin_library_loggers\n"
        "pin_library_loggers()\n"
        "log = sdk.configuration.logger\n"
        "sdk_log = logging.getLogger('PureCloudPlatformClientV2')\n"
        "print(sdk_log.level > logging.CRITICAL, log.log_to_console, log.log_file_path,\n"
        "      [h for h in sdk_log.handlers if h.stream.name == '<stderr>'])\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    assert done.stdout.split() == ["True", "False", "None", "[]"], done.stdout + done.stderr


@pytest.mark.parametrize("level", ["INFO", "DEBUG"])
def test_the_staffing_guard_logs_no_member_name_token_or_caller_value(app: App, queue: str, level: str):
    """Review of issue 20: the members read brings every agent's name; the guard's lines (a skill
    withheld, a members read refused) must carry ids only, at every level."""
    from tests.integration.conftest import BILLING, CLIENT_SECRET, TECH

    app.upload_matrix(f"skill_matrix:\n  - id: billing\n    intent_keyword: billing\n    skills: [{BILLING}]\n")
    app.sim.add_member(queue, skills=(TECH,), name="Zelda Quartermain-Canary")
    conversation = app.sim.add_conversation(
        queue_id=queue, attributes={"intent": "billing", "account": "acct-canary-7731"}, start=None
    )
    out, err = lines_of(app, STAFFING_GUARD="on", POWERTOOLS_LOG_LEVEL=level, AWS_LAMBDA_LOG_LEVEL=level)
    documents(out), documents(err)
    text = "\n".join(out + err)
    assert conversation in text, "the run logged about the caller"
    for secret in ("Zelda", "Quartermain", "acct-canary-7731", CLIENT_SECRET, "Bearer "):
        assert secret not in text, f"{secret!r} in the function's log"
    assert "rule's additions withheld" in text, "the guard withheld Billing (nobody on queue has it)"
    assert app.sim.tokens and not any(token in text for token in app.sim.tokens), "a token in the log"
