"""Every bad input a newcomer hit (issue 14) against the real `skill-router` command, in a process of
its own: one line on stderr saying what to do, no traceback, and the exit code the README lists
(0 ok, 1 invalid/error, 2 usage, 3 nothing matched or recorded, 4 changes)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from scripts.local_aws import client, start_moto_server

pytestmark = pytest.mark.attack
ROOT = Path(__file__).parents[2]
SEED = str(ROOT / "examples" / "seed_skill_matrix.yaml")
CLI = str(Path(sys.executable).parent / "skill-router")
# No AWS identity and no region at all: what a fresh laptop has.
BARE = {
    "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
    "HOME": "/nonexistent",
    "AWS_CONFIG_FILE": "/dev/null",
    "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
    "AWS_EC2_METADATA_DISABLED": "true",
}
FAKE = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}


@pytest.fixture(scope="module")
def moto() -> Iterator[str]:
    server, endpoint = start_moto_server()
    yield endpoint
    server.stop()


def run(args: list[str], env: dict[str, str] | None = None, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CLI, *args], env={**BARE, **(env or {})}, cwd=cwd, capture_output=True, text=True, timeout=60, check=False
    )


def one_line(done: subprocess.CompletedProcess[str], code: int, *words: str) -> str:
    assert "Traceback" not in done.stderr + done.stdout, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert done.returncode == code, (done.returncode, done.stderr)
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


def test_explain_attribute_without_a_value(tmp_path: Path):
    done = run(["matrix", "explain", SEED, "--attribute", "botIntent"])
    one_line(done, 2, "--attribute 'botIntent'", "NAME=VALUE")


def test_explain_without_any_intent():
    one_line(run(["matrix", "explain", SEED]), 2, "--intent")


def test_diff_with_a_missing_samples_file():
    one_line(run(["matrix", "diff", SEED, SEED, "--samples", "missing.txt"]), 1, "--samples missing.txt: no such file")


def test_upload_without_credentials():
    one_line(run(["matrix", "upload", SEED, "--bucket", "b", "--region", "us-east-1"]), 1, "no AWS credentials")


def test_audit_without_credentials():
    done = run(["audit", "--table", "t", "--since", "1h", "--region", "us-east-1"])
    one_line(done, 1, "no AWS credentials")


@pytest.mark.parametrize("region", [None, ""], ids=["unset", "empty"])
def test_audit_without_a_region(region: str | None):
    env = {k: v for k, v in FAKE.items() if k != "AWS_DEFAULT_REGION"}
    if region is not None:
        env["AWS_DEFAULT_REGION"] = region
    one_line(run(["audit", "--table", "t", "--since", "1h"], env), 1, "no AWS region", "--region")


def test_audit_of_a_table_that_does_not_exist(moto: str):
    done = run(["audit", "--table", "no-such-table", "--since", "1h"], FAKE | {"AWS_ENDPOINT_URL": moto})
    one_line(done, 1, "'no-such-table'", "ResourceNotFoundException", "--region")


def test_audit_with_nothing_recorded_exits_3(moto: str):
    table = f"empty-{uuid.uuid4().hex[:8]}"
    client("dynamodb", moto).create_table(
        TableName=table,
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )
    done = run(["audit", "--table", table, "--since", "1h"], FAKE | {"AWS_ENDPOINT_URL": moto})
    assert done.returncode == 3 and "no decision recorded since" in done.stdout and not done.stderr


def test_audit_with_an_unreadable_since():
    one_line(run(["audit", "--table", "t", "--since", "yesterday"], FAKE), 2, "--since 'yesterday'")


def test_validate_names_every_missing_file_not_just_the_first(tmp_path: Path):
    done = run(["matrix", "validate", "a.yaml", SEED, "b.yaml"])
    assert "Traceback" not in done.stderr and done.returncode == 1
    assert done.stderr.splitlines() == ["skill-router: a.yaml: no such file", "skill-router: b.yaml: no such file"]
    assert "rules OK" in done.stdout  # the good file between them was still checked


def test_a_matrix_that_is_not_utf8_names_the_line(tmp_path: Path):
    path = tmp_path / "latin1.yaml"
    path.write_bytes("skill_matrix:\n  - intent_keyword: facturación\n    skill_id: x\n".encode("latin-1"))
    done = run(["matrix", "validate", str(path)])
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert f"{path}:2: byte 0xf3 at column 30 is not UTF-8" in done.stdout


@pytest.mark.parametrize(
    "args",
    [["matrix"], ["nonsense"], ["matrix", "validate"], ["audit", "--table", "t"], ["matrix", "diff", SEED]],
    ids=["no-action", "unknown-command", "no-file", "audit-without-which", "diff-one-file"],
)
def test_usage_mistakes_are_one_line_and_exit_2(args: list[str]):
    one_line(run(args), 2, "--help")


def test_doctor_without_a_stack_or_env():
    one_line(run(["doctor"]), 2, "--stack")


def test_doctor_without_credentials():
    one_line(run(["doctor", "--stack", "skill-router", "--region", "us-east-1"]), 1, "no AWS credentials")


@pytest.mark.slow
@pytest.mark.parametrize(
    ("content", "words"),
    [
        ("# skill-router\nnot json", "not JSON"),
        (json.dumps({"detail-type": "v2.detail.events.conversation.{id}.acd.start", "detail": {}}), "eventBody"),
        ("[1, 2]", "JSON object"),
    ],
    ids=["readme", "no-eventBody", "a-list"],
)
def test_make_invoke_with_a_bad_event_file(tmp_path: Path, content: str, words: str):
    event = tmp_path / "event.json"
    event.write_text(content)
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "local_invoke.py"), str(event)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=ROOT,
    )
    one_line(done, 1, words)
