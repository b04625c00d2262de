"""Shared moves of the adversarial suite: handler processes on any event, a skewed clock,
DynamoDB throttling injected at the HTTP layer of boto3 (botocore's own retry logic still runs)."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from botocore.awsrequest import AWSResponse

from scripts.lambda_runner import LambdaContext
from skill_router.handlers import conversation_event
from tests.integration.conftest import ROOT, App, Run

EVENT_HANDLER = "skill_router.handlers.conversation_event.handler"
POLL_HANDLER = "skill_router.handlers.poll.handler"
SKEWED_CLOCK = Path(__file__).parent / "skewed_clock"
SAMPLES = {name: json.loads((ROOT / "events" / f"{name}.json").read_text()) for name in ("acd_start", "attributes")}
EMAIL = "/api/v2/conversations/emails/agentless"


def event(kind: str, conversation_id: str, **body: Any) -> dict[str, Any]:
    """A sample event from events/ about this conversation, as EventBridge delivers it."""
    envelope = copy.deepcopy(SAMPLES[kind])
    envelope["detail"]["eventBody"].update(conversationId=conversation_id, eventTime=int(time.time() * 1000), **body)
    for name in [k for k, v in body.items() if v is None]:  # None: the field is absent from the event
        envelope["detail"]["eventBody"].pop(name)
    envelope["detail"]["topicName"] = f"v2.detail.events.conversation.{conversation_id}.{kind.replace('_', '.')}"
    return envelope


def acd_start(app: App, conversation_id: str, queue: str, **body: Any) -> dict[str, Any]:
    """The acd.start Genesys sends as the caller enters the queue: a snapshot of the routing then."""
    skills, priority = app.sim.routing(conversation_id)
    with app.sim.lock:
        leg = app.sim.conversations[conversation_id].open_leg()
    fields = {
        "queueId": queue,
        "requestedRoutingSkillIds": skills,
        "routingPriority": priority,
        "participantId": leg.participant_id if leg else None,
        **body,
    }
    return event("acd_start", conversation_id, **fields)


def reroute(app: App, conversation_id: str, skills: list[str] | None = None, priority: int | None = None) -> None:
    """Someone else changes the queued caller's routing (a flow, a supervisor, another integration)."""
    with app.sim.lock:
        leg = app.sim.conversations[conversation_id].open_leg()
        assert leg is not None
        if skills is not None:
            leg.skills = list(skills)
        if priority is not None:
            leg.priority = priority


def send(envelope: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = conversation_event.handler(envelope, LambdaContext(30, 256))
    return result


def spawn(
    app: App,
    envelope: dict[str, Any] | None = None,
    handler: str = POLL_HANDLER,
    timeout: float = 30.0,
    skew: float = 0.0,
    **env: str,
) -> Run:
    """A handler in its own fresh process (a Lambda container), optionally with its clock `skew` s off."""
    event_file = Path(tempfile.mkstemp(suffix=".json")[1])
    if envelope is None:
        event_file.write_text((ROOT / "events" / "scheduled.json").read_text())
    else:
        event_file.write_text(json.dumps(envelope))
    result = Path(tempfile.mkstemp(suffix=".json")[1])
    extra = dict(env)
    if skew:
        extra["SKILL_ROUTER_TEST_CLOCK_SKEW_SECONDS"] = str(skew)
        extra["PYTHONPATH"] = os.pathsep.join([str(SKEWED_CLOCK), str(ROOT), os.environ.get("PYTHONPATH", "")])
    command = [sys.executable, str(ROOT / "scripts" / "lambda_runner.py"), str(event_file), "--handler", handler]
    process = subprocess.Popen(
        [*command, "--timeout", str(timeout), "--result-file", str(result)],
        env={**os.environ, **app.env, "POWERTOOLS_METRICS_DISABLED": "true", **extra},
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    return Run(process, result)


def results(runs: list[Run]) -> list[dict[str, Any]]:
    found = []
    for run in runs:
        assert run.wait() == 0, run.output[-3000:]
        found.append(run.result())
    return found


class _Body:
    def __init__(self, data: bytes) -> None:
        self._data = data

    def stream(self, **_: Any) -> Any:
        yield self._data


def throttle_dynamodb(
    client: Any, times: int, when: Callable[[bytes], bool], operation: str = "UpdateItem"
) -> dict[str, int]:
    """Answer the next `times` matching DynamoDB calls with a real throttling error (HTTP 400
    ProvisionedThroughputExceededException), as DynamoDB does when a partition is hot."""
    state = {"left": times, "throttled": 0}
    lock = threading.Lock()

    def hook(request: Any, **_: Any) -> AWSResponse | None:
        body = request.body if isinstance(request.body, bytes) else str(request.body or "").encode()
        with lock:
            if state["left"] <= 0 or not when(body):
                return None
            state["left"] -= 1
            state["throttled"] += 1
        payload = json.dumps(
            {
                "__type": "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
                "message": "The level of configured provisioned throughput for the table was exceeded.",
            }
        ).encode()
        return AWSResponse(request.url, 400, {"Content-Type": "application/x-amz-json-1.0"}, _Body(payload))

    client.meta.events.register(f"before-send.dynamodb.{operation}", hook)
    return state
