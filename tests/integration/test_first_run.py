"""A stack deployed with the template's defaults, before the user has finished the Deploy steps.

Its resources are created from template.yaml with no parameter given (NotifyChannel, NotifyFrom,
the credentials secret's placeholder, no matrix), and the handler runs in a fresh process the way
Lambda runs it: the run must succeed and say "not configured yet", so neither the Errors alarm nor
the failure queue fires while the user is still setting up.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from scripts.local_aws import LocalResources, client, create_resources

ROOT = Path(__file__).parents[2]
RUNNER = ROOT / "scripts" / "lambda_runner.py"
pytestmark = pytest.mark.integration


def first_run(env: dict[str, str], tmp_path: Path) -> tuple[dict, str]:
    result = tmp_path / "result.json"
    done = subprocess.run(
        [sys.executable, str(RUNNER), str(ROOT / "events" / "scheduled.json"), "--result-file", str(result)],
        env={**os.environ, **env, "POWERTOOLS_METRICS_DISABLED": "true"},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    invocation = json.loads(result.read_text())["invocations"][0]
    return invocation, done.stdout + done.stderr


def defaults(moto_endpoint: str) -> tuple[dict[str, str], LocalResources]:
    resources = create_resources(moto_endpoint, prefix=f"d{uuid.uuid4().hex[:10]}")
    resources.parameters, resources.notify_from = {}, ""  # nothing given to sam deploy but the defaults
    env = resources.env()
    # Nowhere real to log in: the run must not need Genesys before it is set up.
    env.update(GENESYS_API_URL="http://127.0.0.1:9", GENESYS_LOGIN_URL="http://127.0.0.1:9")
    return env, resources


def test_the_defaults_deploy_a_function_whose_first_run_succeeds_and_says_what_is_left(moto_endpoint, tmp_path):
    env, _ = defaults(moto_endpoint)
    invocation, output = first_run(env, tmp_path)
    assert "errorMessage" not in invocation, invocation
    assert invocation["result"]["status"] == "not_configured"
    assert "no skill matrix at s3://" in invocation["result"]["problem"]
    assert "not configured yet" in output and "skill-router doctor" in output


def test_with_a_matrix_but_the_secret_still_empty_the_run_still_succeeds(moto_endpoint, tmp_path):
    env, _ = defaults(moto_endpoint)
    matrix = (ROOT / "examples" / "seed_skill_matrix.yaml").read_bytes()
    s3 = client("s3", moto_endpoint)
    s3.put_object(Bucket=env["SKILL_MATRIX_BUCKET"], Key=env["SKILL_MATRIX_KEY"], Body=matrix)
    invocation, _ = first_run(env, tmp_path)
    assert "errorMessage" not in invocation, invocation
    assert invocation["result"]["status"] == "not_configured"
    assert "still holds the empty placeholder" in invocation["result"]["problem"]


def test_a_broken_matrix_is_still_a_failure_not_a_set_up_step(moto_endpoint, tmp_path):
    env, _ = defaults(moto_endpoint)
    s3 = client("s3", moto_endpoint)
    s3.put_object(Bucket=env["SKILL_MATRIX_BUCKET"], Key=env["SKILL_MATRIX_KEY"], Body=b"skill_matrix: [")
    invocation, _ = first_run(env, tmp_path)
    assert "skill_matrix.yaml:1" in invocation.get("errorMessage", ""), invocation  # fails loudly, alarms
