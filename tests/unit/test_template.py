"""template.yaml keeps its promises: the contract's environment, least privilege, durable state."""

from __future__ import annotations

from typing import Any

import pytest

from scripts.local_aws import LocalResources, function_variables, load_template
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


@pytest.mark.parametrize("name", ["PollFunction", "EventFunction"])
def test_each_function_gets_every_contract_variable_and_they_parse(template: dict[str, Any], name: str):
    assert set(function_variables(template, name)) >= CONTRACT_VARIABLES
    names = LocalResources("http://127.0.0.1:1", "us-east-1", "t", "b", "arn:c", "arn:t", "")
    settings = load_settings(names.function_env(name))  # the template's defaults are a valid configuration
    assert (settings.matrix_key, settings.notify_channel, settings.dry_run) == ("skill_matrix.yaml", "none", False)


def test_what_both_functions_share_is_said_once_in_globals(template: dict[str, Any]):
    shared = template["Globals"]["Function"]
    assert set(shared["Environment"]["Variables"]) >= CONTRACT_VARIABLES
    for name in ("PollFunction", "EventFunction"):
        own = template["Resources"][name]["Properties"]
        assert not set(own) & {"Runtime", "Layers", "Tracing", "CodeUri", "Architectures"}, name
        assert not set(own["Environment"]["Variables"]) & set(shared["Environment"]["Variables"]), name


def test_a_sender_is_required_by_the_deploy_itself_when_emails_are_on(template: dict[str, Any]):
    rule = template["Rules"]["NotifySenderGiven"]
    assert rule["RuleCondition"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "NotifyChannel"}, "none"]}]}
    assert rule["Assertions"][0]["Assert"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "NotifyFrom"}, ""]}]}
    assert template["Parameters"]["NotifyChannel"]["Default"] == "none"


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
    # Reserved concurrency is optional (a new account's quota of 10 cannot reserve any): the lease serialises.
    assert template["Parameters"]["ReservedConcurrency"]["Default"] == "false"
    assert fn["ReservedConcurrentExecutions"] == {"Fn::If": ["ReservesConcurrency", 1, {"Ref": "AWS::NoValue"}]}
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
    # One parameter (GenesysRequestsPerMinute, default 300) sets it for both functions.
    assert function_variables(template, "EventFunction")["GENESYS_REQUESTS_PER_MINUTE"] == {
        "Ref": "GenesysRequestsPerMinute"
    }
    assert template["Parameters"]["GenesysRequestsPerMinute"]["Default"] == 300
    names_event = LocalResources("http://127.0.0.1:1", "us-east-1", "t", "b", "arn:c", "arn:t", "f@example.com")
    assert names_event.function_env("EventFunction")["GENESYS_REQUESTS_PER_MINUTE"] == "300"
    # ScheduleState is the one switch: DISABLED stops the event rule too.
    assert (
        rule["State"] == {"Ref": "ScheduleState"} == function(template)["Events"]["EveryMinute"]["Properties"]["State"]
    )
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


def test_event_mode_failures_alarm_and_metrics_are_scoped_by_stack(template: dict[str, Any]):
    resources = template["Resources"]
    rule = resources["EventFunction"]["Properties"]["Events"]["ConversationEvents"]["Properties"]
    assert rule["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": ["EventDeadLetterQueue", "Arn"]}}
    dead_letters = resources["EventDeadLettersAlarm"]["Properties"]
    assert dead_letters["Dimensions"] == [
        {"Name": "QueueName", "Value": {"Fn::GetAtt": ["EventDeadLetterQueue", "QueueName"]}}
    ]
    assert resources["EventErrorsAlarm"]["Properties"]["Dimensions"] == [
        {"Name": "FunctionName", "Value": {"Ref": "EventFunction"}}
    ]
    # Our metrics' service dimension is the stack (Powertools reads POWERTOOLS_SERVICE_NAME), in every alarm.
    assert template["Globals"]["Function"]["Environment"]["Variables"]["POWERTOOLS_SERVICE_NAME"] == {
        "Ref": "AWS::StackName"
    }
    ours = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::CloudWatch::Alarm"]
    ours = [p for p in ours if p["Namespace"] == "SkillRouter"]
    assert ours and all(p["Dimensions"] == [{"Name": "service", "Value": {"Ref": "AWS::StackName"}}] for p in ours)
    assert '"skill-router"]' not in resources["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]


def test_the_metrics_dimension_follows_the_environment(tmp_path):
    import subprocess
    import sys

    code = "from skill_router.observability import metrics; print(metrics.service)"
    env = {"PATH": "/usr/bin:/bin", "POWERTOOLS_SERVICE_NAME": "prod-router", "PYTHONPATH": "functions"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "prod-router"


def test_the_sam_local_env_vars_file_names_exactly_the_templates_functions_and_variables(template: dict[str, Any]):
    import json
    from pathlib import Path

    local = json.loads((Path(__file__).parents[2] / "events" / "env.local.json").read_text())
    functions = {n for n, r in template["Resources"].items() if r["Type"] == "AWS::Serverless::Function"}
    assert set(local) == functions
    for name in functions:
        # SAM only overrides variables the template declares: one missing here is silently the deployed value.
        assert set(local[name]) == set(function_variables(template, name)), name
        assert local[name]["AWS_ENDPOINT_URL"].startswith("http://host.docker.internal:")
        assert load_settings(local[name]).api_url.startswith("http://host.docker.internal:")


def test_the_env_vars_file_names_what_make_local_services_creates():
    import json
    from pathlib import Path

    from scripts.local_aws import client, create_resources, start_moto_server

    local = json.loads((Path(__file__).parents[2] / "events" / "env.local.json").read_text())["PollFunction"]
    server, endpoint = start_moto_server()
    try:
        made = create_resources(endpoint).env()  # the names scripts/local_services.py's set-up uses
        for name in ("STATE_TABLE", "SKILL_MATRIX_BUCKET", "NOTIFY_FROM", "NOTIFY_CHANNEL", "SKILL_MATRIX_KEY"):
            assert local[name] == made[name], name
        secrets = client("secretsmanager", endpoint)
        for name in ("GENESYS_CREDENTIALS_SECRET", "GENESYS_TOKEN_SECRET"):
            assert secrets.describe_secret(SecretId=local[name])["ARN"] == made[name]
    finally:
        server.stop()
