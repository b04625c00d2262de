"""The AWS side of skill-router on this machine: moto server, and template.yaml's resources in it.

The table, bucket and secrets are created from their definitions in template.yaml (key schema, TTL
attribute, versioning, the secrets' initial values), and the function's environment is resolved
from the template's own `Environment.Variables`, so the demo and the integration tests run against
what `sam deploy` would create, not against a second description of it.
"""

from __future__ import annotations

import functools
import json
import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import yaml
from moto.server import ThreadedMotoServer

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "template.yaml"
LOCAL_EVENT_SOURCE: str = json.loads((ROOT / "events" / "acd_start.json").read_text())["source"]
# moto's conventional fake credentials: nothing here reaches a real AWS account.
FAKE_CREDENTIALS = {  # nosec B105
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
}


class _TemplateLoader(yaml.SafeLoader):
    """Reads CloudFormation's short-form intrinsics (!Ref, !Sub, ...) as their long form."""


def _intrinsic(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        if suffix == "GetAtt":
            value = str(value).split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    return {name: value}


_TemplateLoader.add_multi_constructor("!", _intrinsic)


def load_template(path: Path = TEMPLATE) -> dict[str, Any]:
    # _TemplateLoader is a SafeLoader subclass that reads !Ref and friends.
    template: dict[str, Any] = yaml.load(path.read_text(), Loader=_TemplateLoader)  # noqa: S506 # nosec B506
    return template


_WRITES_SERIALIZED = False


def _serialize_dynamodb_writes() -> None:
    """DynamoDB applies each write atomically: a conditional write's check and change are one step,
    so of two handlers claiming one item at once exactly one wins (developer guide, "Condition
    expressions"). moto's in-memory backend takes no lock, and its threaded server lets two
    requests both pass the same condition (seen: 3 races in 30 with six writers). One lock around
    moto's writes gives the local stack DynamoDB's semantics, so tests of our claims test our code."""
    global _WRITES_SERIALIZED
    if _WRITES_SERIALIZED:
        return
    from moto.dynamodb.models import DynamoDBBackend

    lock = threading.RLock()
    for name in ("put_item", "update_item", "delete_item", "transact_write_items"):
        original = getattr(DynamoDBBackend, name)

        @functools.wraps(original)
        def locked(*args: Any, __original: Any = original, **kwargs: Any) -> Any:
            with lock:
                return __original(*args, **kwargs)

        setattr(DynamoDBBackend, name, locked)
    _WRITES_SERIALIZED = True


def start_moto_server() -> tuple[ThreadedMotoServer, str]:
    """moto server on a free loopback port; returns the server (call .stop()) and its endpoint URL."""
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one access-log line per AWS call otherwise
    _serialize_dynamodb_writes()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    return server, f"http://{host}:{port}"


def client(service: str, endpoint: str, region: str = "us-east-1") -> Any:
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name=region,
        aws_access_key_id=FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=FAKE_CREDENTIALS["AWS_SESSION_TOKEN"],
    )


@dataclass
class LocalResources:
    """One local deployment: the physical names CloudFormation would have generated, and the endpoint."""

    endpoint: str
    region: str
    table_name: str
    bucket_name: str
    credentials_secret_id: str
    token_secret_id: str
    notify_from: str
    parameters: dict[str, str] = field(default_factory=dict)

    def env(self) -> dict[str, str]:
        """The poll function's environment, resolved from template.yaml, plus the local AWS endpoint."""
        return self.function_env("PollFunction")

    def function_env(self, function: str) -> dict[str, str]:
        """A function's environment (Globals first, then its own), resolved, plus the local AWS endpoint."""
        template = load_template()
        variables = function_variables(template, function)
        physical = {
            "StateTable": self.table_name,
            "SkillMatrixBucket": self.bucket_name,
            "GenesysCredentialsSecret": self.credentials_secret_id,
            "GenesysTokenSecret": self.token_secret_id,
        }
        defaults = {name: str(spec.get("Default", "")) for name, spec in template["Parameters"].items()}
        pseudo = {"AWS::StackName": "skill-router", "AWS::Region": self.region}
        values = {**defaults, "NotifyFrom": self.notify_from, **self.parameters, **physical, **pseudo}
        conditions = template.get("Conditions", {})
        env = {name: _resolve(value, values, conditions) for name, value in variables.items()}
        return {
            **env,
            **FAKE_CREDENTIALS,
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_REGION": self.region,
            # The event function's own two: the partner event source (and its org) of events/*.json,
            # so `make invoke EVENT=events/acd_start.json` and the bench's events are accepted.
            "GENESYS_EVENT_SOURCE": LOCAL_EVENT_SOURCE,
            "GENESYS_ORG_ID": LOCAL_EVENT_SOURCE.split("/")[3],
        }


def function_variables(template: dict[str, Any], function: str) -> dict[str, Any]:
    """What SAM gives the function: Globals' environment variables, then its own (which win)."""
    shared = template.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {})
    own = template["Resources"][function]["Properties"].get("Environment", {}).get("Variables", {})
    return {**shared, **own}


def _condition(expression: Any, values: dict[str, str], conditions: dict[str, Any]) -> bool:
    """The few condition functions template.yaml uses: Equals, Not, And, Or, Condition, Ref."""
    if isinstance(expression, dict) and len(expression) == 1:
        ((name, args),) = expression.items()
        if name == "Fn::Equals":
            left, right = (_resolve(a, values, conditions) for a in args)
            return left == right
        if name == "Fn::Not":
            return not _condition(args[0], values, conditions)
        if name == "Fn::And":
            return all(_condition(a, values, conditions) for a in args)
        if name == "Fn::Or":
            return any(_condition(a, values, conditions) for a in args)
        if name == "Condition":
            return _condition(conditions[args], values, conditions)
    raise ValueError(f"template.yaml: condition {expression!r} cannot be evaluated locally")


def _resolve(value: Any, values: dict[str, str], conditions: dict[str, Any] | None = None) -> str:
    conditions = conditions or {}
    if isinstance(value, dict) and set(value) == {"Fn::If"}:
        name, if_true, if_false = value["Fn::If"]
        return _resolve(if_true if _condition(conditions[name], values, conditions) else if_false, values, conditions)
    if isinstance(value, dict) and set(value) == {"Ref"}:
        try:
            return values[value["Ref"]]
        except KeyError:
            raise ValueError(f"template.yaml: a function refers to {value['Ref']!r}, unknown locally") from None
    if isinstance(value, str | int | float):
        return str(value)
    raise ValueError(f"template.yaml: a function environment value {value!r} cannot be resolved locally")


def create_resources(
    endpoint: str, region: str = "us-east-1", prefix: str = "skill-router", parameters: dict[str, str] | None = None
) -> LocalResources:
    """Create the template's table, bucket and secrets in moto server, and a verified SES sender."""
    resources = load_template()["Resources"]
    table = resources["StateTable"]["Properties"]
    bucket = resources["SkillMatrixBucket"]["Properties"]
    names = LocalResources(
        endpoint=endpoint,
        region=region,
        table_name=f"{prefix}-StateTable",
        bucket_name=f"{prefix}-skillmatrixbucket".lower(),
        credentials_secret_id="",
        token_secret_id="",  # nosec B106
        notify_from=f"skill-router@{prefix}.example.com".lower(),
        # The demo's set-up emails through SES from a verified sender (the template's default is none).
        parameters={"NotifyChannel": "ses", **(parameters or {})},
    )

    dynamodb = client("dynamodb", endpoint, region)
    dynamodb.create_table(
        TableName=names.table_name,
        AttributeDefinitions=table["AttributeDefinitions"],
        KeySchema=table["KeySchema"],
        BillingMode=table["BillingMode"],
    )
    dynamodb.update_time_to_live(TableName=names.table_name, TimeToLiveSpecification=table["TimeToLiveSpecification"])

    s3 = client("s3", endpoint, region)
    if region == "us-east-1":
        s3.create_bucket(Bucket=names.bucket_name)
    else:
        s3.create_bucket(Bucket=names.bucket_name, CreateBucketConfiguration={"LocationConstraint": region})
    s3.put_bucket_versioning(Bucket=names.bucket_name, VersioningConfiguration=bucket["VersioningConfiguration"])
    s3.put_bucket_encryption(
        Bucket=names.bucket_name,
        ServerSideEncryptionConfiguration={
            "Rules": [
                {"ApplyServerSideEncryptionByDefault": rule["ServerSideEncryptionByDefault"]}
                for rule in bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
            ]
        },
    )
    s3.put_public_access_block(
        Bucket=names.bucket_name, PublicAccessBlockConfiguration=bucket["PublicAccessBlockConfiguration"]
    )

    secrets = client("secretsmanager", endpoint, region)
    for logical, attribute in (
        ("GenesysCredentialsSecret", "credentials_secret_id"),
        ("GenesysTokenSecret", "token_secret_id"),
    ):
        properties = resources[logical]["Properties"]
        arn = secrets.create_secret(
            Name=f"{prefix}-{logical}",
            Description=properties["Description"],
            SecretString=properties["SecretString"],
        )["ARN"]
        setattr(names, attribute, arn)  # !Ref of a secret is its ARN

    client("ses", endpoint, region).verify_email_identity(EmailAddress=names.notify_from)
    return names


def put_credentials(endpoint: str, region: str, secret_id: str, client_id: str, client_secret: str) -> None:
    """What the README asks the engineer to do after deploy: put the OAuth client in the secret."""
    client("secretsmanager", endpoint, region).put_secret_value(
        SecretId=secret_id, SecretString=json.dumps({"client_id": client_id, "client_secret": client_secret})
    )
