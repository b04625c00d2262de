"""Every AWS call is bounded: each boto3 client the product builds has timeouts and a retry budget
that fit the invocation's deadline (botocore's defaults wait 60 s per read inside a 58 s function)."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import pytest

from scripts.local_aws import load_template
from skill_router import aws, runtime
from skill_router.settings import load_settings

PACKAGE = Path(__file__).parents[2] / "functions" / "skill_router"
ENV = {
    "AWS_DEFAULT_REGION": "eu-west-1",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "GENESYS_CREDENTIALS_SECRET": "creds",
    "GENESYS_TOKEN_SECRET": "token",
    "STATE_TABLE": "state",
    "SKILL_MATRIX_BUCKET": "bucket",
    "NOTIFY_CHANNEL": "ses",
    "NOTIFY_FROM": "router@example.com",
}


def assert_bounded(client: Any) -> None:
    config = client.meta.config
    assert config.connect_timeout == aws.CONNECT_TIMEOUT_SECONDS, client
    assert config.read_timeout == aws.READ_TIMEOUT_SECONDS, client
    assert config.retries["mode"] == "standard", client
    assert 1 <= config.retries["total_max_attempts"] <= aws.MAX_ATTEMPTS, client


@pytest.fixture
def environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_MAX_ATTEMPTS", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)


def test_one_call_at_worst_fits_well_inside_the_poll_functions_timeout():
    timeout = load_template()["Resources"]["PollFunction"]["Properties"]["Timeout"]
    safety_margin = load_settings(ENV).safety_margin_seconds
    assert (timeout - safety_margin) / 2 > aws.WORST_CASE_SECONDS


def test_every_client_of_the_runtime_is_bounded(environment: None):
    built = runtime.build_runtime(load_settings())
    notifier = built.poller.adapters.notifier
    clients = [built.store.client, built.secrets.client, built.matrix_source.client, notifier.client]
    assert {c.meta.service_model.service_name for c in clients} == {"dynamodb", "secretsmanager", "s3", "ses"}
    for client in clients:
        assert_bounded(client)
        assert client.meta.config.retries["total_max_attempts"] == aws.MAX_ATTEMPTS


@pytest.mark.parametrize("service", ["cloudformation", "lambda", "s3", "ses", "events"])
def test_the_cli_and_doctor_clients_are_bounded(environment: None, service: str):
    assert_bounded(aws.client(service, "eu-central-1"))  # the CLI's --region
    assert_bounded(aws.client(service))


def test_aws_max_attempts_may_lower_the_attempts_never_raise_them(monkeypatch: pytest.MonkeyPatch):
    assert aws.attempts({"AWS_MAX_ATTEMPTS": "1"}) == 1
    assert aws.attempts({"AWS_MAX_ATTEMPTS": "50"}) == aws.MAX_ATTEMPTS
    assert aws.attempts({"AWS_MAX_ATTEMPTS": "lots"}) == aws.MAX_ATTEMPTS
    assert aws.attempts({}) == aws.MAX_ATTEMPTS


def test_no_module_builds_a_boto3_client_of_its_own():
    """A client built anywhere but aws.py would miss the bounds."""
    for path in PACKAGE.rglob("*.py"):
        if path.name == "aws.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "boto3":
                pytest.fail(f"{path.relative_to(PACKAGE)}:{node.lineno} uses boto3.{node.attr}: use skill_router.aws")
