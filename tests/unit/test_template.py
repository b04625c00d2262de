"""template.yaml keeps its promises: the contract's environment, least privilege, durable state."""

from __future__ import annotations

from typing import Any

import pytest

from scripts.local_aws import LocalResources, load_template
from skill_router.settings import GENESYS_ENVIRONMENTS, load_settings

CONTRACT_VARIABLES = {
    "GENESYS_ENVIRONMENT",
    "GENESYS_CREDENTIALS_SECRET",
    "GENESYS_TOKEN_SECRET",
    "STATE_TABLE",
    "SKILL_MATRIX_BUCKET",
    "SKILL_MATRIX_KEY",
    "NOTIFY_CHANNEL",
    "NOTIFY_FROM",
    "DRY_RUN",
    "INTENT_ATTRIBUTE",
}


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template()


def function(template: dict[str, Any]) -> dict[str, Any]:
    properties: dict[str, Any] = template["Resources"]["PollFunction"]["Properties"]
    return properties


def statements(template: dict[str, Any], name: str = "PollFunction") -> list[dict[str, Any]]:
    found = []
    for policy in template["Resources"][name]["Properties"]["Policies"]:
        for statement in policy["Statement"]:
            if "Fn::If" in statement:
                found += [s for s in statement["Fn::If"][1:] if s != {"Ref": "AWS::NoValue"}]
            else:
                found.append(statement)
    return found


def test_the_regions_offered_are_the_regions_the_function_accepts(template: dict[str, Any]):
    assert tuple(template["Parameters"]["GenesysEnvironment"]["AllowedValues"]) == GENESYS_ENVIRONMENTS


def test_the_function_gets_every_contract_variable_and_they_parse(template: dict[str, Any]):
    assert set(function(template)["Environment"]["Variables"]) >= CONTRACT_VARIABLES
    names = LocalResources("http://127.0.0.1:1", "us-east-1", "t", "b", "arn:c", "arn:t", "from@example.com")
    settings = load_settings(names.env())  # the template's defaults are a valid configuration
    assert (settings.matrix_key, settings.notify_channel, settings.dry_run) == ("skill_matrix.yaml", "ses", False)


@pytest.mark.parametrize("name", ["PollFunction", "EventFunction"])
def test_no_policy_statement_grants_every_resource_or_every_action(template: dict[str, Any], name: str):
    for statement in statements(template, name):
        resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        assert "*" not in resources, statement["Sid"]
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        assert not any(a.endswith("*") for a in actions), statement["Sid"]


def test_the_function_reads_one_matrix_key_and_writes_only_the_token_secret(template: dict[str, Any]):
    by_sid = {s["Sid"]: s for s in statements(template)}
    assert by_sid["ReadSkillMatrix"]["Resource"] == {
        "Fn::Sub": "arn:${AWS::Partition}:s3:::${SkillMatrixBucket}/${SkillMatrixKey}"
    }
    assert by_sid["ReadGenesysCredentials"]["Action"] == "secretsmanager:GetSecretValue"
    assert "secretsmanager:PutSecretValue" in by_sid["CacheGenesysToken"]["Action"]
    assert by_sid["SendSupervisorEmail"]["Condition"] == {"StringEquals": {"ses:FromAddress": {"Ref": "NotifyFrom"}}}


def test_one_run_at_a_time_and_a_failed_run_is_kept(template: dict[str, Any]):
    fn = function(template)
    schedule = fn["Events"]["EveryMinute"]["Properties"]
    assert fn["ReservedConcurrentExecutions"] == 1
    assert schedule["ScheduleExpression"] == "rate(1 minute)"
    assert fn["Timeout"] < 60, "a run must end before the next one is due"
    assert schedule["DeadLetterConfig"]["Arn"] == {"Fn::GetAtt": ["PollFailureQueue", "Arn"]}
    assert fn["EventInvokeConfig"]["DestinationConfig"]["OnFailure"]["Type"] == "SQS"


def test_state_and_matrix_are_durable_and_private(template: dict[str, Any]):
    resources = template["Resources"]
    table = resources["StateTable"]["Properties"]
    assert table["KeySchema"] == [{"AttributeName": "pk", "KeyType": "HASH"}]
    assert table["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    assert table["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    bucket = resources["SkillMatrixBucket"]["Properties"]
    assert bucket["VersioningConfiguration"]["Status"] == "Enabled"
    assert all(bucket["PublicAccessBlockConfiguration"].values())
    assert resources["StateTable"]["DeletionPolicy"] == "Retain"


def test_event_mode_is_off_unless_an_event_source_is_named_and_then_filters_two_topics(template: dict[str, Any]):
    resources = template["Resources"]
    assert template["Parameters"]["GenesysEventSourceName"]["Default"] == ""
    assert resources["EventFunction"]["Condition"] == "EventMode"
    properties = resources["EventFunction"]["Properties"]
    rule = properties["Events"]["ConversationEvents"]["Properties"]
    assert rule["EventBusName"] == {"Ref": "GenesysEventSourceName"}
    assert rule["Pattern"]["detail-type"] == [
        "v2.detail.events.conversation.{id}.acd.start",
        "v2.detail.events.conversation.{id}.attributes",
    ]
    assert rule["RetryPolicy"]["MaximumRetryAttempts"] <= 2 and "DeadLetterConfig" in rule
    # One token's 300 requests a minute, shared: every container is given all of it and paces from
    # the count Genesys reports on each answer (no static split that idles event mode's share).
    assert properties["Environment"]["Variables"]["GENESYS_REQUESTS_PER_MINUTE"] == "300"
    names = LocalResources("http://127.0.0.1:1", "us-east-1", "t", "b", "arn:c", "arn:t", "f@example.com")
    assert names.env()["EVENT_MODE"] == "false" and names.env()["GENESYS_REQUESTS_PER_MINUTE"] == "300"
    names.parameters["GenesysEventSourceName"] = "aws.partner/genesys.com/cloud/org/skill-router"
    assert names.env()["EVENT_MODE"] == "true" and names.env()["GENESYS_REQUESTS_PER_MINUTE"] == "300"


def test_alarms_and_dashboard_use_metrics_the_code_emits_and_the_dashboard_is_json(template: dict[str, Any]):
    import json
    import re
    from pathlib import Path

    source = "".join(p.read_text() for p in Path("functions/skill_router").rglob("*.py"))
    emitted = set(re.findall(r'name=f?"(\w+)"', source)) | {
        f"Conversations{n.title()}" for n in ("applied", "unchanged", "gone", "failed", "pending")
    }
    emitted |= set(re.findall(r'\("(\w+)", "\w+"\)', source))  # (metric name, stats key) pairs
    resources = template["Resources"]
    alarmed = {
        r["Properties"]["MetricName"]
        for r in resources.values()
        if r["Type"] == "AWS::CloudWatch::Alarm" and r["Properties"]["Namespace"] == "SkillRouter"
    }
    body = re.sub(r"\$\{[^}]+\}", "x", resources["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"])
    charted = set()
    for widget in json.loads(body)["widgets"]:
        namespace = ""
        for metric in widget["properties"]["metrics"]:
            namespace = namespace if metric[0] == "." else metric[0]  # "." repeats the row above
            if namespace == "SkillRouter":
                charted.add(metric[1])
    assert alarmed and charted and (alarmed | charted) <= emitted, (alarmed | charted) - emitted
