"""`skill-router doctor --stack`: the deployed function's settings and the stack's parameters are what it checks."""

from __future__ import annotations

import io
import json
import zipfile

import boto3
import pytest
from moto import mock_aws

from skill_router.cli import main
from skill_router.cli.doctor import stack_environment

TEMPLATE = {
    "Resources": {"Queue": {"Type": "AWS::SQS::Queue"}},
    "Parameters": {"GenesysEventSourceName": {"Type": "String"}, "ScheduleState": {"Type": "String"}},
    "Outputs": {"PollFunctionName": {"Value": "prod-router-PollFunction"}},
}


def deploy(env: dict[str, str]) -> None:
    iam = boto3.client("iam")
    role = iam.create_role(RoleName="r", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("index.py", "def handler(e, c): pass\n")
    boto3.client("lambda").create_function(
        FunctionName="prod-router-PollFunction",
        Runtime="python3.13",
        Role=role,
        Handler="index.handler",
        Code={"ZipFile": code.getvalue()},
        Environment={"Variables": env},
    )
    boto3.client("cloudformation").create_stack(
        StackName="prod-router",
        TemplateBody=json.dumps(TEMPLATE),
        Parameters=[
            {"ParameterKey": "GenesysEventSourceName", "ParameterValue": "aws.partner/genesys.com/cloud/o/s"},
            {"ParameterKey": "ScheduleState", "ParameterValue": "DISABLED"},
        ],
    )


def test_the_stacks_function_environment_and_parameters_are_read():
    with mock_aws():
        deploy({"STATE_TABLE": "prod-table", "NOTIFY_CHANNEL": "none"})
        env, parameters = stack_environment("prod-router")
    assert env == {"STATE_TABLE": "prod-table", "NOTIFY_CHANNEL": "none"}
    assert parameters["ScheduleState"] == "DISABLED"
    assert parameters["GenesysEventSourceName"] == "aws.partner/genesys.com/cloud/o/s"


def test_a_stack_that_does_not_exist_is_one_line(capsys: pytest.CaptureFixture[str]):
    with mock_aws():
        assert main(["doctor", "--stack", "no-such-stack", "--region", "us-east-1"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "reading stack 'no-such-stack'" in err[0] and "--region" in err[0]


def test_a_stack_whose_function_lacks_settings_names_them(capsys: pytest.CaptureFixture[str]):
    with mock_aws():
        deploy({"NOTIFY_CHANNEL": "none"})
        assert main(["doctor", "--stack", "prod-router"]) == 1
    out = capsys.readouterr().out
    assert out.startswith("FIX  settings:") and "STATE_TABLE is not set" in out
