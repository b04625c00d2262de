"""Integration fixtures: the real handler, real boto3 against moto server, the real Genesys SDK
against the simulator. Resources come from template.yaml's own definitions (scripts/local_aws.py),
so a test cannot pass against a table or secret the template does not create.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest

from scripts.lambda_runner import LambdaContext
from scripts.local_aws import LOCAL_EVENT_SOURCE, create_resources, put_credentials, start_moto_server
from skill_router import runtime
from skill_router.handlers import poll
from skill_router.store import LONGEST_HOLD_SECONDS, SKEW_MARGIN_SECONDS, StateStore
from tests.simulator import GenesysSimulator

ROOT = Path(__file__).parents[2]
CLIENT_ID, CLIENT_SECRET = "sim-client", "sim-client-secret-canary"
SCHEDULED_EVENT = json.loads((ROOT / "events" / "scheduled.json").read_text())
# The event function's deployment (resources.env() sets it): the partner event source of events/*.json.
EVENT_SOURCE = LOCAL_EVENT_SOURCE
EVENT_ORG = LOCAL_EVENT_SOURCE.split("/")[3]


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    server, endpoint = start_moto_server()
    yield endpoint
    server.stop()


@pytest.fixture
def sim() -> Iterator[GenesysSimulator]:
    with GenesysSimulator() as simulator:
        simulator.add_client(CLIENT_ID, CLIENT_SECRET)
        yield simulator


@dataclass
class Run:
    """A handler process started by App.spawn."""

    process: subprocess.Popen[str]
    result_file: Path

    def kill(self) -> None:
        self.process.kill()

    output: str = ""

    def wait(self, timeout: float = 90.0) -> int:
        if self.process.returncode is None:
            out, err = self.process.communicate(timeout=timeout)
            self.output = (out or "") + (err or "")
        return self.process.returncode

    def result(self) -> dict[str, Any]:
        self.wait()
        result: dict[str, Any] = json.loads(self.result_file.read_text())["invocations"][0]["result"]
        return result


@dataclass
class App:
    """One deployment of skill-router, local: its resources, its environment, and how to invoke it."""

    sim: GenesysSimulator
    env: dict[str, str]
    endpoint: str
    monkeypatch: pytest.MonkeyPatch

    def client(self, service: str) -> Any:
        return boto3.client(service, endpoint_url=self.endpoint, region_name="us-east-1")

    def upload_matrix(self, text: str) -> None:
        self.client("s3").put_object(
            Bucket=self.env["SKILL_MATRIX_BUCKET"], Key=self.env["SKILL_MATRIX_KEY"], Body=text
        )

    def set(self, **overrides: str) -> None:
        """Change the function's environment (as a redeploy would): the next invoke starts cold."""
        for name, value in overrides.items():
            self.env[name] = value
            self.monkeypatch.setenv(name, value)
        runtime.use(None)

    def invoke(self, event: Any = None, timeout: float = 55.0) -> dict[str, Any]:
        return poll.handler(SCHEDULED_EVENT if event is None else event, LambdaContext(timeout, 512))

    def spawn(self, timeout: float = 55.0, capture: bool = False, **env: str) -> Run:
        """The handler in a fresh process, as Lambda runs it: for runs that are killed mid-way."""
        result = Path(tempfile.mkstemp(suffix=".json")[1])
        command = [sys.executable, str(ROOT / "scripts" / "lambda_runner.py"), str(ROOT / "events" / "scheduled.json")]
        process = subprocess.Popen(
            [*command, "--timeout", str(timeout), "--result-file", str(result)],
            env={**os.environ, **self.env, "POWERTOOLS_METRICS_DISABLED": "true", **env},
            cwd=ROOT,
            stdout=subprocess.PIPE if capture else subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        return Run(process, result)

    @property
    def store(self) -> StateStore:
        return StateStore(self.env["STATE_TABLE"], client=self.client("dynamodb"))

    def ledger(self, conversation_id: str) -> dict[str, Any] | None:
        """The conversation's latest queue-leg entry (else event mode's note on the conversation)."""
        store = self.store
        return store.latest(conversation_id) or store.entry(conversation_id)

    def legs(self, conversation_id: str) -> list[dict[str, Any]]:
        return [e for e in self.store.entries_for(conversation_id) if e.get("leg")]

    def watermark(self) -> dict[str, Any]:
        return self.store.read_watermark()

    def sent_emails(self) -> list[dict[str, Any]]:
        import requests

        data = requests.get(f"{self.endpoint}/moto-api/data.json", timeout=5).json()
        # moto server is shared by the session's tests: keep this deployment's sender only.
        return [m for m in data.get("ses", {}).get("Message", []) if m.get("source") == self.env["NOTIFY_FROM"]]


@pytest.fixture
def app(moto_endpoint: str, sim: GenesysSimulator, monkeypatch: pytest.MonkeyPatch) -> Iterator[App]:
    resources = create_resources(moto_endpoint, prefix=f"t{uuid.uuid4().hex[:10]}")
    put_credentials(moto_endpoint, "us-east-1", resources.credentials_secret_id, CLIENT_ID, CLIENT_SECRET)
    env = {
        **resources.env(),
        "GENESYS_ENVIRONMENT": "mypurecloud.com",
        "GENESYS_API_URL": sim.base_url,
        "GENESYS_LOGIN_URL": sim.base_url,
        # The simulator sets no rate limit unless a test asks for one; the budget is tested on its own.
        "GENESYS_REQUESTS_PER_MINUTE": "100000",
        # One poll per invocation (the template's default, 30, would sleep 30 s of wall clock
        # between two); tests of the cadence set their own.
        "POLL_INTERVAL_SECONDS": "60",
        # The staffing guard reads a queue's members and withholds what nobody on queue can serve:
        # these tests' queues have no members unless a test staffs them, so it is off here and on
        # where it is tested (test_guard.py, test_staffing.py: `app.set(STAFFING_GUARD="on")`).
        "STAFFING_GUARD": "off",
    }
    application = App(sim=sim, env=env, endpoint=moto_endpoint, monkeypatch=monkeypatch)
    application.set(**env)
    yield application
    runtime.use(None)
    # The worker's moto server outlives the test: forget its data, so that reading it back (sent
    # emails come from moto's whole-state dump) costs what one test wrote, not the session's.
    import requests

    requests.post(f"{moto_endpoint}/moto-api/reset", timeout=60)


class ScriptedContext(LambdaContext):
    """A Lambda context whose time is told by what the invocation has done, not by how fast this
    machine did it: `seconds` of real time until the simulator has answered `count` requests
    matching `method` and `path`, then a constant `then` seconds left (0: out of time)."""

    def __init__(self, app: App, method: str, path: str, count: int, then: float, seconds: float = 600) -> None:
        super().__init__(seconds, 512)
        self.left = count
        self.then_ms = int(then * 1000)
        app.sim.hook(method, path, self._answered, stage="after", count=count)

    def _answered(self) -> None:
        self.left -= 1

    def get_remaining_time_in_millis(self) -> int:
        return super().get_remaining_time_in_millis() if self.left > 0 else self.then_ms


# One second more than the product's own margin: each reader learns DynamoDB's time from a `Date`
# header in whole seconds, so this test's reading and the next handler's may differ by up to one.
HEADER_ROUNDING_SECONDS = 1


def holds(app: App) -> dict[str, float]:
    """Every lease and claim the table records (`<item>.<attribute>`: its expiry, epoch seconds
    on DynamoDB's clock): the lease, the caller claims, the step claims, the email claims."""
    found: dict[str, float] = {}
    request: dict[str, Any] = {"TableName": app.env["STATE_TABLE"], "ConsistentRead": True}
    client = app.client("dynamodb")
    while True:
        page = client.scan(**request)
        for item in page.get("Items", []):
            for name, typed in item.items():
                is_hold = (name.endswith("_expires") and name != "expires_at") or name.startswith("notify_claim_")
                if is_hold and "N" in typed:
                    found[f"{item['pk']['S']}.{name}"] = float(typed["N"])
        if "LastEvaluatedKey" not in page:
            return found
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def await_holds_lapsed(app: App) -> None:
    """Wait until every lease and claim in the table has lapsed as the product judges it: more than
    SKEW_MARGIN_SECONDS after DynamoDB's time passed its expiry (store/claims.py), or written absurdly far
    ahead. A killed handler's holds end with its invocation; how long that is comes from the table,
    so the wait is bounded by the expiries themselves, never by a sleep tuned to one machine."""
    store = app.store

    def held(now: float) -> dict[str, float]:
        absurd = int(now) + LONGEST_HOLD_SECONDS + SKEW_MARGIN_SECONDS
        lapsed_before = int(now) - SKEW_MARGIN_SECONDS - HEADER_ROUNDING_SECONDS
        return {name: at for name, at in holds(app).items() if lapsed_before <= at <= absurd}

    now = store.now()
    waiting = held(now)
    bound = max(waiting.values(), default=now) + SKEW_MARGIN_SECONDS + HEADER_ROUNDING_SECONDS + 5
    while waiting:
        assert now < bound, f"still held on DynamoDB's clock at {now:.1f}: {waiting}"
        time.sleep(0.2)
        now = store.now()
        waiting = held(now)


def minutes_ago(minutes: float) -> datetime:
    return datetime.now(UTC) - timedelta(minutes=minutes)


BILLING = "5b1c2f7e-0000-4000-8000-000000000001"
TECH = "5b1c2f7e-0000-4000-8000-000000000002"
ENGLISH = "5b1c2f7e-0000-4000-8000-0000000000e1"
SEED_MATRIX = f"""
skill_matrix:
  - intent_keyword: Billing
    skill_id: {BILLING}
    priority: high
    supervisor_email: billing.lead@example.com
  - intent_keyword: technical
    skill_id: {TECH}
    priority: medium
    supervisor_email: tech.lead@example.com
"""
PATCH = "/api/v2/routing/conversations/"
GET = "/api/v2/conversations/"


@pytest.fixture
def queue(app: App) -> str:
    for name, skill_id in (("Billing", BILLING), ("Technical", TECH), ("English", ENGLISH)):
        app.sim.add_skill(name, skill_id=skill_id)
    app.upload_matrix(SEED_MATRIX)
    return app.sim.add_queue("General")


def queued(app: App, queue: str, intent: str | None, skills: tuple[str, ...] = (), minutes: float = 2) -> str:
    attributes = {"intent": intent} if intent is not None else {}
    return app.sim.add_conversation(queue_id=queue, attributes=attributes, skills=skills, start=minutes_ago(minutes))


def later(seconds: float) -> None:
    """The next polls run `seconds` from now on the poller's clock (a caller waiting for an
    intent is read again on a backoff, not on every poll)."""
    runtime.current().poller.clock = lambda: time.time() + seconds


def patches(app: App, conversation_id: str | None = None) -> int:
    return app.sim.count("PATCH", PATCH + (conversation_id or ""))


MEMBERS = "/api/v2/routing/queues/"  # + {queueId}/members: the staffing guard's reads


def staff(
    app: App,
    queue: str,
    count: int = 1,
    skills: tuple[str, ...] | dict[str, float] = (),
    languages: tuple[str, ...] | dict[str, float] = (),
    status: str = "IDLE",
    joined: bool = True,
) -> list[str]:
    """`count` members of `queue` with these skills and languages (ids, or id -> proficiency), in
    routing status `status` (IDLE, INTERACTING, COMMUNICATING, NOT_RESPONDING are on queue;
    OFF_QUEUE is not). Change them while a caller waits with app.sim.set_member()."""
    return [
        app.sim.add_member(queue, skills=skills, languages=languages, status=status, joined=joined)
        for _ in range(count)
    ]


def member_pages(app: App, queue: str | None = None) -> int:
    """Members pages read from Genesys (one call each in the simulator's request log)."""
    return app.sim.member_requests(queue)
