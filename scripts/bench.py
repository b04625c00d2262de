"""`make bench`: the real handler against the Genesys simulator and moto server, and its figures.

Minutes of contact-centre traffic run in seconds on an accelerated clock: one virtual clock,
running SPEED times faster than the wall clock, drives the simulator (conversation times, its
300-requests-a-minute limit), the rate budget, the poller's clock and sleeps, and the Lambda
context's remaining time. Everything else (HTTP, DynamoDB, the SDK) runs for real, so the
machine's speed still shows where it matters: if the code could not keep up, the virtual
minutes would pass and the figures would get worse.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "ERROR")
os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")

from scripts.lambda_runner import LambdaContext  # noqa: E402
from scripts.local_aws import client, create_resources, put_credentials, start_moto_server  # noqa: E402
from tests.simulator import GenesysSimulator  # noqa: E402

TECH = "5b1c2f7e-0000-4000-8000-000000000002"
BILLING = "5b1c2f7e-0000-4000-8000-000000000001"
MATRIX = f"""
skill_matrix:
  - intent_keyword: billing
    skill_id: {BILLING}
    priority: medium
  - intent_keyword: technical
    skill_id: {TECH}
    priority: medium
"""
EVENT = json.loads((ROOT / "events" / "scheduled.json").read_text())
PATCH = "/api/v2/routing/conversations/"


class VirtualClock:
    """Epoch seconds running `speed` times faster than the wall clock."""

    def __init__(self, speed: float) -> None:
        self.speed = speed
        self._epoch = time.time()
        self._started = time.monotonic()

    def __call__(self) -> float:
        return self._epoch + (time.monotonic() - self._started) * self.speed

    def sleep(self, seconds: float) -> None:
        time.sleep(max(seconds, 0.0) / self.speed)

    def sleep_until(self, moment: float) -> None:
        self.sleep(moment - self())


class VirtualContext(LambdaContext):
    def __init__(self, clock: VirtualClock, timeout: float) -> None:
        super().__init__(timeout, 256)
        self._clock = clock
        self._ends = clock() + timeout

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._ends - self._clock()) * 1000))


@dataclass
class Deployment:
    sim: GenesysSimulator
    clock: VirtualClock
    queue: str
    env: dict[str, str]
    runtime: Any

    def invoke(self, timeout: float = 58.0) -> dict[str, Any]:  # the template's Timeout (PollFunction)
        from skill_router import runtime
        from skill_router.handlers import poll

        runtime.use(self.runtime)
        result: dict[str, Any] = poll.handler(EVENT, VirtualContext(self.clock, timeout))
        return result

    def aws_calls(self) -> int:
        rt = self.runtime
        return int(rt.store.calls + rt.matrix_source.calls + rt.secrets.calls)


def deploy(endpoint: str, speed: float, per_minute: int | None, **settings: str) -> Deployment:
    """A fresh local deployment (its own table, bucket, secrets) and its runtime on the virtual clock."""
    from skill_router.genesys.budget import RateBudget
    from skill_router.runtime import build_runtime

    clock = VirtualClock(speed)
    sim = GenesysSimulator(clock=clock).start()
    sim.rate_limit_per_minute = per_minute
    sim.add_client("bench", "bench-secret")
    for name, skill_id in (("Billing", BILLING), ("Technical", TECH)):
        sim.add_skill(name, skill_id=skill_id)
    queue = sim.add_queue("Support")
    resources = create_resources(endpoint, prefix=f"b{uuid.uuid4().hex[:8]}")
    put_credentials(endpoint, "us-east-1", resources.credentials_secret_id, "bench", "bench-secret")
    client("s3", endpoint).put_object(Bucket=resources.bucket_name, Key="skill_matrix.yaml", Body=MATRIX)
    env = {
        **resources.env(),
        "GENESYS_API_URL": sim.base_url,
        "GENESYS_LOGIN_URL": sim.base_url,
        "GENESYS_ENVIRONMENT": "mypurecloud.com",
        "NOTIFY_CHANNEL": "none",
        **settings,
    }
    os.environ.update(env)
    runtime = build_runtime()
    # The same objects production builds, on the virtual clock.
    runtime.genesys.budget = RateBudget(runtime.settings.requests_per_minute, clock=clock, sleep=clock.sleep)
    runtime.genesys._sleep = clock.sleep
    runtime.poller.clock = clock
    runtime.poller.sleep = clock.sleep
    return Deployment(sim, clock, queue, env, runtime)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * (len(ordered) - 1))))]


def calls_per_assignment(endpoint: str) -> dict[str, float]:
    d = deploy(endpoint, 1.0, None, GENESYS_REQUESTS_PER_MINUTE="100000")
    now = d.clock()
    for i in range(200):
        d.sim.add_conversation(queue_id=d.queue, attributes={"intent": "technical issue"}, start=now - 300 + i)
    d.sim.clear_log()
    report = d.invoke()["polls"][0]
    assigned_calls = d.sim.count(path_prefix="/api/v2/")
    # A realistic mix: most callers match, some do not, some already carry the skill, some are
    # in a queue no rule covers, and every one is seen again by the next overlapping poll.
    d2 = deploy(endpoint, 1.0, None, GENESYS_REQUESTS_PER_MINUTE="100000")
    other = d2.sim.add_queue("Sales")
    d2.runtime.matrix_source.client.put_object(
        Bucket=d2.env["SKILL_MATRIX_BUCKET"],
        Key="skill_matrix.yaml",
        Body=MATRIX.replace("priority: medium", f"priority: medium\n    queues: [{d2.queue}]"),
    )
    now = d2.clock()
    for i in range(200):
        kind = i % 10
        queue = other if kind == 9 else d2.queue
        intent = "billing" if kind < 6 else ("sales" if kind < 8 else "technical")
        skills = (TECH,) if kind == 8 else ()
        d2.sim.add_conversation(queue_id=queue, attributes={"intent": intent}, skills=skills, start=now - 300 + i)
    d2.sim.clear_log()
    sightings = sum(d2.invoke()["polls"][0]["seen"] for _ in range(2))
    mixed_calls = d2.sim.count(path_prefix="/api/v2/")
    return {
        "calls_per_assigned": assigned_calls / max(report["applied"], 1),
        "assigned": report["applied"],
        # Per distinct conversation: both overlapping polls see each of the 200.
        "calls_per_conversation": mixed_calls / 200,
        "sightings": sightings,
    }


def backlog(endpoint: str, speed: float, size: int = 1000) -> dict[str, float]:
    d = deploy(endpoint, speed, 300, GENESYS_REQUESTS_PER_MINUTE="300", SETTLE_LAG_SECONDS="3")
    now = d.clock()
    ids = [
        d.sim.add_conversation(queue_id=d.queue, attributes={"intent": "technical"}, start=now - 600 + i * 0.5)
        for i in range(size)
    ]
    d.sim.clear_log()
    began = d.clock()
    invocations = 0
    while invocations < 30:
        start = began + invocations * 60
        d.clock.sleep_until(start)
        d.invoke()
        invocations += 1
        if all(d.sim.routing(c)[0] == [TECH] for c in ids):
            break
    patches = [r for r in d.sim.requests if r.method == "PATCH" and r.status == 200]
    api = [r for r in d.sim.requests if r.path.startswith("/api/v2/")]
    span = (max(r.at for r in api) - min(r.at for r in api)) / 60
    per_conversation = {r.path for r in patches}
    return {
        "minutes": (max(r.at for r in patches) - began) / 60,
        "invocations": invocations,
        "budget_used": len(api) / (300 * max(span, 1e-9)),
        "throttled": d.sim.throttled,
        "lost": sum(1 for c in ids if d.sim.routing(c)[0] != [TECH]),
        "duplicate_patches": len(patches) - len(per_conversation),
        "calls": len(api),
    }


TEMPLATE_TIMEOUT_SECONDS = 58.0  # PollFunction's Timeout in template.yaml


def large_backlog(endpoint: str, speed: float, size: int = 5000, share: float = 0.10) -> dict[str, float]:
    """`size` queued callers at once (one scheduled invocation a minute, 300 requests/min enforced by
    the simulator): time to clear, budget use, calls per assignment, and what discovery spent:
    analytics queries in any 60 s window (the discovery share's promise) and per poll."""
    d = deploy(endpoint, speed, 300, GENESYS_REQUESTS_PER_MINUTE="300", SETTLE_LAG_SECONDS="3")
    now = d.clock()
    ids = [
        d.sim.add_conversation(queue_id=d.queue, attributes={"intent": "technical"}, start=now - 3000 + i * 0.5)
        for i in range(size)
    ]
    d.sim.clear_log()
    began = d.clock()
    invocations = polls = 0
    applied: list[int] = []
    stalled = 0
    while invocations < 60:
        d.clock.sleep_until(began + invocations * 60)
        result = d.invoke(timeout=TEMPLATE_TIMEOUT_SECONDS)
        invocations += 1
        polls += len(result.get("polls", []))
        applied.append(sum(p.get("applied", 0) for p in result.get("polls", [])))
        if all(d.sim.routing(c)[0] == [TECH] for c in ids):
            break
        # A stall: a whole invocation that assigned nobody while callers still wait unassigned.
        stalled += int(applied[-1] == 0)
    patches = [r for r in d.sim.requests if r.method == "PATCH" and r.status == 200]
    api = [r for r in d.sim.requests if r.path.startswith("/api/v2/")]
    queries = sorted(r.at for r in api if r.method == "POST" and r.path.startswith("/api/v2/analytics/"))
    span = (max(r.at for r in api) - min(r.at for r in api)) / 60
    busiest, j = 0, 0
    for i, at in enumerate(queries):  # the most analytics queries in any 60 s window
        while queries[j] <= at - 60:
            j += 1
        busiest = max(busiest, i - j + 1)
    return {
        "minutes": (max(r.at for r in patches) - began) / 60,
        "invocations": invocations,
        "budget_used": len(api) / (300 * max(span, 1e-9)),
        "calls_per_assignment": len(api) / max(len({r.path for r in patches}), 1),
        "queries": len(queries),
        "queries_per_poll": len(queries) / max(polls, 1),
        "busiest_minute_queries": busiest,
        "share_cap": 300 * share,
        "stalled_invocations": stalled,
        "min_applied": min(applied[:-1] or applied),
        "throttled": d.sim.throttled,
        "lost": sum(1 for c in ids if d.sim.routing(c)[0] != [TECH]),
        "duplicate_patches": len(patches) - len({r.path for r in patches}),
        "calls": len(api),
    }


def report_large_backlog(endpoint: str, speed: float, size: int = 5000) -> None:
    section(f"Backlog: {size:,} queued callers, 300 requests/min enforced, discovery share 10 % (clock x{speed:g})")
    b = large_backlog(endpoint, speed, size)
    cleared = b["lost"] == 0
    row(
        f"minutes to clear ({b['invocations']:.0f} invocations)",
        f"{b['minutes']:.1f}" if cleared else f"not in {b['invocations']:.0f}",
        "",
    )
    row(
        f"share of the budget used ({b['calls']:.0f} calls)",
        f"{b['budget_used']:.0%}",
        ">= 90%",
        b["budget_used"] >= 0.9,
    )
    row(
        "Genesys calls per assignment", f"{b['calls_per_assignment']:.3f}", "<= 2.10", b["calls_per_assignment"] <= 2.10
    )
    row(
        "invocations that assigned nobody (stall) / fewest assigned",
        f"{b['stalled_invocations']:.0f} / {b['min_applied']:.0f}",
        "0",
        b["stalled_invocations"] == 0,
    )
    row(f"analytics queries: total / per poll ({b['queries']:.0f})", f"{b['queries_per_poll']:.2f}", "")
    row(
        "analytics queries in the busiest 60 s",
        f"{b['busiest_minute_queries']:.0f}",
        f"<= {b['share_cap']:.0f}",
        b["busiest_minute_queries"] <= b["share_cap"],
    )
    row("429s received", f"{b['throttled']:.0f}", "0", b["throttled"] == 0)
    row(
        "callers lost / PATCHed twice",
        f"{b['lost']:.0f} / {b['duplicate_patches']:.0f}",
        "0 / 0",
        b["lost"] == 0 and b["duplicate_patches"] == 0,
    )


# The cadences the template offers, its defaults first: the one place to change.
CADENCES: list[tuple[str, dict[str, str] | None]] = [
    ("template defaults (a poll every 30 s, settle lag 10 s)", {}),
    ("a poll every 60 s", {"POLL_INTERVAL_SECONDS": "60"}),
    ("a poll every 10 s", {"POLL_INTERVAL_SECONDS": "10"}),
]
ANALYTICS_LAG_SECONDS = 3.0  # the simulator's: how long a new conversation takes to show in analytics


def latency(endpoint: str, speed: float, settings: dict[str, str], minutes: int = 5) -> dict[str, float]:
    """Detection to assignment for callers arriving 1-7 s apart, one scheduled invocation a minute."""
    d = deploy(endpoint, speed, 300, GENESYS_REQUESTS_PER_MINUTE="300", **settings)
    d.sim.analytics_lag_seconds = ANALYTICS_LAG_SECONDS
    began = d.clock()
    arrivals: dict[str, float] = {}
    stop = threading.Event()
    rng = random.Random(7)  # nosec B311

    def callers() -> None:
        while not stop.is_set() and d.clock() < began + minutes * 60:
            d.clock.sleep(rng.uniform(1.0, 7.0))
            at = d.clock()
            cid = d.sim.add_conversation(queue_id=d.queue, attributes={"intent": "technical"}, start=at)
            arrivals[cid] = at

    thread = threading.Thread(target=callers, daemon=True)
    thread.start()
    for n in range(minutes + 1):
        d.clock.sleep_until(began + n * 60)
        d.invoke()
    stop.set()
    thread.join()
    patched = {r.path.rsplit("/", 1)[1]: r.at for r in d.sim.requests if r.method == "PATCH" and r.status == 200}
    delays = [patched[c] - at for c, at in arrivals.items() if c in patched]
    return {
        "callers": len(arrivals),
        "assigned": len(delays),
        "p50": statistics.median(delays),
        "p95": percentile(delays, 0.95),
    }


def report_escalation(endpoint: str, speed: float) -> None:
    section("Escalation at a 10 s cadence (callers arriving for 2 minutes, ladder 60 s / 120 s / 5 min)")
    e = escalation(endpoint, speed)
    row(
        f"Genesys calls per escalation step ({e['steps']:.0f} of {e['expected_steps']:.0f} steps)",
        f"{e['calls_per_step']:.2f}",
        "1",
        e["calls_per_step"] <= 1.0 and e["steps"] == e["expected_steps"],
    )
    row("step lateness after due: p50 / p95", f"{e['p50']:.1f} / {e['p95']:.1f} s", "p95 <= 15 s", e["p95"] <= 15)
    idle = idle_minute(endpoint, speed)
    row(
        f"query calls per idle minute at 10 s ({idle['polls']:.0f} polls)",
        f"{idle['queries']:.0f}",
        "<= 6",
        idle["queries"] <= 6,
    )


def report_latency(endpoint: str, speed: float) -> None:
    section(
        "Detection to assignment, callers arriving for 5 minutes "
        f"(simulator's analytics lag {ANALYTICS_LAG_SECONDS:g} s), at each cadence offered"
    )
    for label, settings in CADENCES:
        if settings is None:
            row(f"{label}: p50 / p95", "not offered yet", "")
            continue
        lat = latency(endpoint, speed, settings)
        ten = settings.get("POLL_INTERVAL_SECONDS") == "10"
        row(
            f"{label}: p50 / p95 ({lat['assigned']:.0f} of {lat['callers']:.0f})",
            f"{lat['p50']:.1f} / {lat['p95']:.1f} s",
            "p95 <= 15 s" if ten else "",
            lat["p95"] <= 15 if ten else None,
        )


def idle_warm(endpoint: str) -> dict[str, float]:
    d = deploy(endpoint, 1.0, None)
    d.invoke()  # cold: token, matrix, first window
    aws, genesys = d.aws_calls(), d.sim.count(path_prefix="/api/v2/")
    began = time.perf_counter()
    d.invoke()
    wall = time.perf_counter() - began
    return {
        "aws_calls": d.aws_calls() - aws,
        "genesys_calls": d.sim.count(path_prefix="/api/v2/") - genesys,
        "wall": wall,
    }


def idle_with_live_mix(endpoint: str, live: int = 1000) -> dict[str, float]:
    """Query calls of an idle poll while `live` conversations that are not waiting in a queue
    (IVR, outbound, internal, messages, agentless emails) started earlier today: the analytics
    interval matches by UTC day, so only the segment filters keep them off the pages."""
    d = deploy(endpoint, 1.0, None, GENESYS_REQUESTS_PER_MINUTE="100000")
    now = d.clock()
    midnight = now - now % 86400
    d.sim.add_live_mix(live, start=max(midnight + 1, now - 3 * 3600))
    d.invoke()  # cold: token, matrix
    d.sim.clear_log()
    polls = 5
    for _ in range(polls):
        d.invoke()
    return {
        "queries_per_poll": d.sim.count("POST", "/api/v2/analytics/") / polls,
        "gets": d.sim.count("GET", "/api/v2/conversations/"),
    }


def intent_wait(endpoint: str, speed: float = 60.0, cadence: float = 10.0) -> dict[str, float]:
    """GETs spent on one caller who waits in queue without an intent for 10 minutes, polled
    every `cadence` seconds (the fastest cadence the product offers)."""
    d = deploy(endpoint, speed, None, GENESYS_REQUESTS_PER_MINUTE="100000")
    cid = d.sim.add_conversation(queue_id=d.queue, attributes={})
    began = d.clock()
    polls = 0
    while d.clock() < began + 600:
        d.clock.sleep_until(began + polls * cadence)
        d.invoke()
        polls += 1
    return {"gets": d.sim.count("GET", f"/api/v2/conversations/{cid}"), "polls": polls}


ESCALATION_MATRIX = f"""
skill_matrix:
  - id: technical
    intent_keyword: technical
    skills: [{TECH}]
    routing_priority: 10
    escalate:
      - after: 60
        add_skills: [{BILLING}]
      - after: 120
        remove_skills: [{TECH}]
      - after: 300
        routing_priority: 50
"""
ESCALATION_AFTERS = (60, 120, 300)


def escalation(endpoint: str, speed: float, cadence: int = 10, arrivals_for: float = 120.0) -> dict[str, float]:
    """Callers arriving 1-7 s apart for two minutes, each with a three-step ladder (60 s, 120 s,
    5 min), polled every `cadence` seconds by one scheduled invocation a minute, until every
    ladder is done: the Genesys calls each step costs once the rule is applied, and how late each
    step's PATCH reached Genesys after the step fell due (both on the simulator's clock)."""
    d = deploy(endpoint, speed, 300, GENESYS_REQUESTS_PER_MINUTE="300", POLL_INTERVAL_SECONDS=str(cadence))
    client("s3", endpoint).put_object(
        Bucket=d.env["SKILL_MATRIX_BUCKET"], Key=d.env["SKILL_MATRIX_KEY"], Body=ESCALATION_MATRIX
    )
    d.sim.analytics_lag_seconds = ANALYTICS_LAG_SECONDS
    began = d.clock()
    arrivals: dict[str, float] = {}
    stop = threading.Event()
    rng = random.Random(11)  # nosec B311

    def callers() -> None:
        while not stop.is_set() and d.clock() < began + arrivals_for:
            d.clock.sleep(rng.uniform(1.0, 7.0))
            at = d.clock()
            cid = d.sim.add_conversation(queue_id=d.queue, attributes={"intent": "technical"}, start=at)
            arrivals[cid] = at

    thread = threading.Thread(target=callers, daemon=True)
    thread.start()
    minutes = int((arrivals_for + max(ESCALATION_AFTERS)) // 60) + 3
    for n in range(minutes):
        d.clock.sleep_until(began + n * 60)
        d.invoke(timeout=58.0)  # the template's Timeout
    stop.set()
    thread.join()
    by_conversation: dict[str, list[Any]] = {}
    for r in d.sim.requests:
        cid = r.path.rsplit("/", 1)[-1]
        if (
            cid in arrivals
            and r.status == 200
            and (r.method == "PATCH" or (r.method == "GET" and r.path.startswith("/api/v2/conversations/")))
        ):
            by_conversation.setdefault(cid, []).append(r)
    lateness: list[float] = []
    step_calls = steps = 0
    for cid, requests in by_conversation.items():
        patches = [r for r in requests if r.method == "PATCH"]
        if not patches:
            continue
        first = patches[0].at  # the rule's PATCH: everything after it is the ladder's
        later_calls = [r for r in requests if r.at > first]
        step_patches = [r for r in later_calls if r.method == "PATCH"]
        step_calls += len(later_calls)
        steps += len(step_patches)
        for after, patch in zip(ESCALATION_AFTERS, step_patches, strict=False):
            lateness.append(patch.at - (arrivals[cid] + after))
    return {
        "callers": len(arrivals),
        "steps": steps,
        "expected_steps": len(arrivals) * len(ESCALATION_AFTERS),
        "calls_per_step": step_calls / max(steps, 1),
        "p50": statistics.median(lateness) if lateness else float("nan"),
        "p95": percentile(lateness, 0.95) if lateness else float("nan"),
    }


def idle_minute(endpoint: str, speed: float, cadence: int = 10) -> dict[str, float]:
    """Query calls of one scheduled invocation (a minute, the template's 58 s Timeout) polling
    every `cadence` seconds while nothing waits."""
    d = deploy(endpoint, speed, None, GENESYS_REQUESTS_PER_MINUTE="100000", POLL_INTERVAL_SECONDS=str(cadence))
    d.invoke(timeout=58.0)  # cold: token, matrix
    d.sim.clear_log()
    polls = len(d.invoke(timeout=58.0)["polls"])
    return {"queries": d.sim.count("POST", "/api/v2/analytics/"), "polls": polls}


def genesys_event(kind: str, conversation_id: str, **body: Any) -> dict[str, Any]:
    envelope: dict[str, Any] = json.loads((ROOT / "events" / f"{kind}.json").read_text())
    envelope["detail"]["eventBody"].update(conversationId=conversation_id, eventTime=int(time.time() * 1000), **body)
    return envelope


def event_mode(endpoint: str, cold_runs: int = 5, warm_runs: int = 40) -> dict[str, float]:
    """Event-to-PATCH latency (cold: a fresh process, import included; warm: a reused container)."""
    from skill_router.handlers import conversation_event

    d = deploy(endpoint, 1.0, None)
    patched_at: dict[str, float] = {}

    def patch_time(cid: str) -> float:
        if cid not in patched_at:
            times = [r.at for r in d.sim.requests if r.method == "PATCH" and r.path.endswith(cid) and r.status == 200]
            patched_at[cid] = min(times)
        return patched_at[cid]

    def caller() -> tuple[str, dict[str, Any]]:
        cid = d.sim.add_conversation(queue_id=d.queue, attributes={"intent": "technical"})
        return cid, genesys_event(
            "acd_start",
            cid,
            queueId=d.queue,
            requestedRoutingSkillIds=[],
            participantId=d.sim.acd_participant(cid),
        )

    cold = []
    for _ in range(cold_runs):
        cid, envelope = caller()
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
            json.dump(envelope, f)
        began = time.time()
        subprocess.run(
            [
                sys.executable,
                str(ROOT / "scripts" / "lambda_runner.py"),
                f.name,
                "--handler",
                "skill_router.handlers.conversation_event.handler",
            ],
            env={**os.environ, **d.env},
            cwd=ROOT,
            check=True,
            capture_output=True,
        )
        cold.append(patch_time(cid) - began)
    from skill_router import runtime

    runtime.use(d.runtime)
    warm: list[float] = []
    calls_get: list[int] = []
    calls_fast: list[int] = []
    for i in range(warm_runs):
        cid, envelope = caller()
        if i % 2:  # the intent event first, then the queue (acd.start still reads first: GET + PATCH)
            intent = genesys_event("attributes", cid, attributes={"intent": "technical"})
            conversation_event.handler(intent, LambdaContext(30, 256))
        began = time.time()
        result = conversation_event.handler(envelope, LambdaContext(30, 256))
        warm.append(patch_time(cid) - began)
        (calls_fast if i % 2 else calls_get).append(result["genesys_calls"])
    return {
        "cold_p95": percentile(cold, 0.95),
        "warm_p95": percentile(warm, 0.95),
        "calls_get_path": statistics.mean(calls_get),
        "calls_fast_path": statistics.mean(calls_fast),
    }


def matrix_load(rules: int = 10_000, runs: int = 3) -> dict[str, float]:
    """parse_matrix on a 10,000-rule file (the documented limit), and on a quarter of it: the ratio
    shows how load time grows (4 for linear; the old shadowed-rule check made it 16)."""
    from skill_router.matrix import parse_matrix

    def text(count: int) -> str:
        lines = [
            f"  - {{intent_keyword: kw{i:05d}x, skill_id: 5b1c2f7e-0000-4000-8000-000000000001}}" for i in range(count)
        ]
        return "skill_matrix:\n" + "\n".join(lines) + "\n"

    def best(document: str) -> float:
        times = []
        for _ in range(runs):
            began = time.perf_counter()
            parse_matrix(document, "bench.yaml")
            times.append(time.perf_counter() - began)
        return min(times)

    full, quarter = best(text(rules)), best(text(rules // 4))
    return {"full": full, "ratio": full / quarter}


def event_throughput(
    endpoint: str, speed: float, intent_first: bool, containers: int = 2, minutes: float = 2.0
) -> dict[str, float]:
    """Event mode at a 300/min token: assignments a minute when events arrive faster than the
    budget allows, `containers` event containers at once (each handling one event at a time, as
    Lambda does), the poller idle. Every container is configured with the token's whole budget
    and paces from the count the simulator reports per token (issue #15 item 4)."""
    from skill_router import runtime as runtime_module
    from skill_router.genesys.budget import RateBudget
    from skill_router.handlers import conversation_event
    from skill_router.runtime import build_runtime

    d = deploy(endpoint, speed, 300, GENESYS_REQUESTS_PER_MINUTE="300", EVENT_MODE="true")
    d.runtime.genesys.tokens.token()  # one login, cached in the secret: every container shares the token
    runtimes = [d.runtime]
    for _ in range(containers - 1):
        rt = build_runtime()
        rt.genesys.budget = RateBudget(rt.settings.requests_per_minute, clock=d.clock, sleep=d.clock.sleep)
        rt.genesys._sleep = d.clock.sleep
        runtimes.append(rt)
    mine = threading.local()
    original = runtime_module.current
    runtime_module.current = lambda: mine.runtime  # one runtime per container thread
    capacity = 300 * minutes * (1 if intent_first else 0.5)  # assignments the budget allows at most
    callers = [
        d.sim.add_conversation(queue_id=d.queue, attributes={"intent": "technical"}) for _ in range(int(capacity * 3))
    ]
    pending = list(reversed(callers))
    lock = threading.Lock()
    errors: list[str] = []
    deferred = [0]
    began = d.clock()
    ends = began + minutes * 60

    def container(rt: Any) -> None:
        mine.runtime = rt
        while d.clock() < ends:
            with lock:
                if not pending:
                    return
                cid = pending.pop()
            at = int(d.clock() * 1000)
            try:
                if intent_first:
                    intent = genesys_event("attributes", cid, attributes={"intent": "technical"})
                    intent["detail"]["eventBody"]["eventTime"] = at
                    conversation_event.handler(intent, VirtualContext(d.clock, 30))
                start = genesys_event("acd_start", cid, queueId=d.queue, requestedRoutingSkillIds=[], routingPriority=0)
                start["detail"]["eventBody"]["eventTime"] = at
                result = conversation_event.handler(start, VirtualContext(d.clock, 30))
                if result.get("outcome") == "pending":
                    deferred[0] += 1
            except Exception as exc:  # counted: the target is none
                errors.append(type(exc).__name__)

    try:
        threads = [threading.Thread(target=container, args=(rt,)) for rt in runtimes]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        runtime_module.current = original
    elapsed = minutes * 60  # the whole window, even if the events ran out early: can only lower the figure
    assigned = sum(
        1 for r in d.sim.requests if r.method == "PATCH" and r.status == 200 and began <= r.at <= began + elapsed
    )
    d.sim.stop()
    return {
        "per_minute": assigned / (elapsed / 60),
        "errors": len(errors),
        "deferred": deferred[0],
        "throttled": d.sim.throttled,
    }


def peak_rss_after_poll(endpoint: str) -> float:
    d = deploy(endpoint, 1.0, None)
    now = d.clock()
    for i in range(100):
        d.sim.add_conversation(queue_id=d.queue, attributes={"intent": "billing"}, start=now - 120 + i)
    with tempfile.TemporaryDirectory() as folder:
        result = Path(folder) / "r.json"
        subprocess.run(
            [
                sys.executable,
                str(ROOT / "scripts" / "lambda_runner.py"),
                str(ROOT / "events" / "scheduled.json"),
                "--result-file",
                str(result),
            ],
            env={**os.environ, **d.env},
            cwd=ROOT,
            check=True,
            capture_output=True,
        )
        report = json.loads(result.read_text())
    if report["invocations"][0]["result"]["polls"][0]["applied"] != 100:
        raise RuntimeError(f"the poll did not assign the 100 callers: {report}")
    return float(report["max_rss_mb"])


def folder_size(folder: Path) -> tuple[float, float]:
    """Unzipped and zipped size in MB (Lambda's limits count the unzipped bytes)."""
    unzipped = sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())
    with tempfile.TemporaryDirectory() as scratch:
        archive = Path(scratch) / "a.zip"
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
            for f in folder.rglob("*"):
                if f.is_file():
                    zf.write(f, f.relative_to(folder))
        return unzipped / 1e6, archive.stat().st_size / 1e6


# --- Where users run: the built layer and function, read-only, under Lambda's Python -------------
LAMBDA_PYTHON_VERSION = (3, 13)  # template.yaml: Runtime: python3.13


def lambda_python() -> str | None:
    """A python3.13 to run as Lambda would: $LAMBDA_PYTHON, python3.13 on PATH, or pyenv's."""
    candidates = [os.environ.get("LAMBDA_PYTHON", ""), shutil.which("python3.13") or ""]
    candidates += sorted(map(str, Path.home().glob(".pyenv/versions/3.13*/bin/python3.13")), reverse=True)
    wanted = f"import sys; sys.exit(sys.version_info[:2] != {LAMBDA_PYTHON_VERSION})"
    for candidate in filter(None, candidates):
        if subprocess.run([candidate, "-c", wanted], capture_output=True, check=False).returncode == 0:  # nosec B603
            return candidate
    return None


@dataclass
class LambdaBuild:
    """The layer (opt/python) and function package (task) as `sam build` makes them."""

    root: Path
    python: str

    @property
    def opt(self) -> Path:
        return self.root / "opt"

    @property
    def task(self) -> Path:
        return self.root / "task"

    def remove(self) -> None:
        for path in (self.root, *self.root.rglob("*")):
            if not path.is_symlink():
                path.chmod(path.stat().st_mode | 0o200)
        shutil.rmtree(self.root, ignore_errors=True)


def build_for_lambda(python: str) -> LambdaBuild | str:
    """`make` the two BuildMethod: makefile targets sam build runs, into a scratch folder."""
    built = LambdaBuild(Path(tempfile.mkdtemp(prefix="skill-router-lambda-")), python)
    for folder, target, out in (
        ("layers/deps", "build-DependencyLayer", built.opt),
        ("functions", "build-PollFunction", built.task),
    ):
        done = subprocess.run(  # nosec B603 B607
            ["make", "-s", "-C", str(ROOT / folder), target, f"ARTIFACTS_DIR={out}", f"PYTHON313={python}"],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode:
            built.remove()
            return f"{folder}: {target} failed: {done.stderr.strip().splitlines()[-1:]}"
    return built


def _cached_install(python: str, name: str, spec: str) -> Path:
    """`pip install --target` with `python`, kept in .venv/bench-lambda (pip writes its pycs)."""
    target = ROOT / ".venv" / "bench-lambda" / name
    if not (target / ".complete").exists():
        shutil.rmtree(target, ignore_errors=True)
        subprocess.run(  # nosec B603
            [python, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target), *spec.split()],
            check=True,
            capture_output=True,
        )
        (target / ".complete").touch()
    return target


def runtime_packages(python: str) -> Path:
    """boto3/botocore as the python3.13 runtime ships them (compiled, outside the layer), at the
    version the tests use."""
    from importlib.metadata import version

    pins = " ".join(f"{p}=={version(p)}" for p in ("boto3", "botocore", "s3transfer", "jmespath"))
    pins += f" urllib3=={version('urllib3')} python-dateutil=={version('python-dateutil')} six=={version('six')}"
    return _cached_install(python, f"runtime-boto3-{version('boto3')}", pins)


def fully_compiled_sdk(python: str, opt: Path) -> Path:
    """A copy of the layer's SDK with every module compiled: the denominator of the import ratio
    (`import PureCloudPlatformClientV2` loads all ~6,600 models, which the layer leaves uncompiled)."""
    from importlib.metadata import version

    target = ROOT / ".venv" / "bench-lambda" / f"sdk-{version('PureCloudPlatformClientV2')}-all-compiled"
    if not (target / ".complete").exists():
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(
            opt / "python" / "PureCloudPlatformClientV2",
            target / "PureCloudPlatformClientV2",
            ignore=shutil.ignore_patterns("__pycache__"),
        )
        subprocess.run(  # nosec B603
            [python, "-m", "compileall", "-q", "-j0", "--invalidation-mode", "unchecked-hash", str(target)],
            check=True,
            capture_output=True,
        )
        (target / ".complete").touch()
    return target


# Runs in the sandbox: one import, then optional work, timed; then which modules came from
# source without a cpython-313 pyc beside them (compiled again in memory at every cold start).
SANDBOX_PROBE = """
import importlib.util, json, os, sys, time
began, began_cpu = time.perf_counter(), time.process_time()
import {module}
imported, imported_cpu = time.perf_counter(), time.process_time()
{then}
done, done_cpu = time.perf_counter(), time.process_time()
missing = sorted(
    m.__name__ for m in list(sys.modules.values())
    if (o := getattr(getattr(m, "__spec__", None), "origin", None)) and o.endswith(".py")
    and not os.path.exists(importlib.util.cache_from_source(o))
)
print(json.dumps({{
    "import": imported - began, "then": done - imported, "missing": missing,
    "import_cpu": imported_cpu - began_cpu, "then_cpu": done_cpu - imported_cpu,
}}))
"""

FIRST_POLL = """
from skill_router.handlers import poll
class Context:
    function_name = "skill-router-PollFunction"; function_version = "$LATEST"; memory_limit_in_mb = 256
    aws_request_id = "c0ffee00-0000-4000-8000-000000000000"; log_stream_name = log_group_name = "local"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:skill-router-PollFunction"
    def get_remaining_time_in_millis(self): return 55000
result = poll.handler({event}, Context())
assert result["polls"][0]["applied"] == {callers}, result
"""


@dataclass
class Sandbox:
    """Lambda's layout, read-only: /var/task, /opt/python, the runtime's boto3; Lambda's variables."""

    python: str
    paths: list[Path]
    env: dict[str, str]

    def probe(self, module: str, then: str = "", extra_env: dict[str, str] | None = None) -> dict[str, Any]:
        code = SANDBOX_PROBE.format(module=module, then=then)
        done = subprocess.run(  # nosec B603
            [self.python, "-s", "-c", code],
            env={**self.env, **(extra_env or {})},
            cwd=self.paths[0],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode:
            raise RuntimeError(f"sandbox probe of {module} failed: {done.stderr.strip()[-800:]}")
        result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
        return result

    def median(self, module: str, then: str = "", runs: int = 5) -> dict[str, Any]:
        """Medians of wall and CPU seconds over `runs` fresh processes, and the last one's `missing`."""
        results = [self.probe(module, then) for _ in range(runs)]
        medians: dict[str, Any] = {k: statistics.median(r[k] for r in results) for k in results[0] if k != "missing"}
        return {**medians, "missing": results[-1]["missing"]}


def make_sandbox(python: str, paths: list[Path], function_env: dict[str, str]) -> Sandbox:
    """Files read-only (a-w) and PYTHONDONTWRITEBYTECODE=1, as on Lambda's read-only /var/task and /opt."""
    for folder in paths:
        for path in (folder, *folder.rglob("*")):
            if not path.is_symlink():
                path.chmod(path.stat().st_mode & ~0o222)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "en_US.UTF-8",
        "TZ": ":UTC",
        **function_env,
        "LAMBDA_TASK_ROOT": str(paths[0]),
        "AWS_LAMBDA_FUNCTION_NAME": "skill-router-PollFunction",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
        "AWS_EXECUTION_ENV": "AWS_Lambda_python3.13",
        "PYTHONPATH": os.pathsep.join(map(str, paths)),
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    for name in ("POWERTOOLS_TRACE_DISABLED", "POWERTOOLS_METRICS_DISABLED", "HOME"):
        env.pop(name, None)  # Tracing: Active in the template; Lambda sets no HOME
    return Sandbox(python, paths, env)


def file_count(paths: list[Path]) -> int:
    return sum(1 for folder in paths for f in folder.rglob("*") if f.is_file())


def lambda_cold_start(endpoint: str, built: LambdaBuild) -> dict[str, Any]:
    """Handler import, runtime build and the bare SDK import, each in fresh processes of Lambda's
    Python with the built layer and package read-only; the same with the bytecode removed; and a
    first poll (100 callers) to list any module it loads without bytecode."""
    d = deploy(endpoint, 1.0, None)
    now = d.clock()
    for i in range(100):
        d.sim.add_conversation(queue_id=d.queue, attributes={"intent": "billing"}, start=now - 120 + i)
    runtime_dir = built.root / "runtime"
    shutil.copytree(runtime_packages(built.python), runtime_dir, ignore=shutil.ignore_patterns(".complete"))
    sdk_dir = built.root / "sdk-all-compiled"
    shutil.copytree(fully_compiled_sdk(built.python, built.opt), sdk_dir, ignore=shutil.ignore_patterns(".complete"))
    source_only = built.root / "no-bytecode"
    for name, folder in (("task", built.task), ("opt", built.opt)):
        shutil.copytree(folder, source_only / name, ignore=shutil.ignore_patterns("__pycache__"))
    paths = [built.task, built.opt / "python", runtime_dir]
    box = make_sandbox(built.python, paths, d.env)
    bare_box = make_sandbox(built.python, [sdk_dir, built.opt / "python", runtime_dir], d.env)
    old_box = make_sandbox(built.python, [source_only / "task", source_only / "opt" / "python", runtime_dir], d.env)
    files = file_count([built.root])
    build_runtime = "from skill_router import runtime; runtime.current()"
    handler = box.median("skill_router.handlers.poll", build_runtime)
    event_handler = box.median("skill_router.handlers.conversation_event")
    bare = bare_box.median("PureCloudPlatformClientV2")
    xray = box.median("aws_xray_sdk.core")
    old_handler = old_box.median("skill_router.handlers.poll", build_runtime, runs=3)
    first = box.probe(
        "skill_router.handlers.poll",
        FIRST_POLL.format(event=EVENT, callers=100),
        extra_env={"POWERTOOLS_TRACE_DISABLED": "true"},  # no X-Ray daemon or trace header here
    )
    return {
        "python": subprocess.run([built.python, "-V"], capture_output=True, text=True, check=True).stdout.strip(),  # nosec B603
        "handler": handler,
        "event_handler": event_handler,
        "bare": bare,
        "xray": xray,
        "old_handler": old_handler,
        "missing_at_init": handler["missing"],
        "first_poll": first["then"],
        "missing_after_poll": first["missing"],
        "written": file_count([built.root]) - files,
    }


def row(name: str, value: str, target: str = "", met: bool | None = None) -> None:
    verdict = "" if met is None else ("met" if met else "MISSED")
    print(f"  {name:<58} {value:>16}  {target:<14} {verdict}")


def report_lambda_build(endpoint: str) -> None:
    section("Lambda build: layer and function package as `sam build` makes them (bytecode by python3.13)")
    python = lambda_python()
    if python is None:
        row("not measured", "no python3.13 (set LAMBDA_PYTHON)")
        return
    built = build_for_lambda(python)
    if isinstance(built, str):
        row("not built", built[:60])
        return
    try:
        layer, function = folder_size(built.opt), folder_size(built.task)
        row("dependency layer, unzipped / zipped", f"{layer[0]:.1f} / {layer[1]:.1f} MB")
        row("function package, unzipped / zipped", f"{function[0]:.2f} / {function[1]:.2f} MB")
        together = layer[0] + function[0]
        row("layer + function, unzipped", f"{together:.1f} MB", "<= 150 MB", together <= 150)
        cold = lambda_cold_start(endpoint, built)
        section(
            f"Cold start where Lambda runs it ({cold['python']}, LAMBDA_TASK_ROOT set, layer and package "
            f"read-only; median of 5 fresh processes, CPU / wall; load average {os.getloadavg()[0]:.1f})"
        )
        h, bare, old = cold["handler"], cold["bare"], cold["old_handler"]
        ratio = h["import_cpu"] / bare["import_cpu"]
        row("poll handler import (CPU / wall)", seconds(h), "<= 0.35 s", h["import_cpu"] <= 0.35)
        row("  then the runtime build (settings, clients)", seconds(h, "then"), "")
        row("  of the import: the X-Ray SDK alone (`import aws_xray_sdk.core`)", seconds(cold["xray"]), "")
        row("event handler import", seconds(cold["event_handler"]), "")
        row("bare `import PureCloudPlatformClientV2` (all of it compiled)", seconds(bare), "")
        row("ratio handler import / bare SDK import (CPU)", f"{ratio:.2f}", "<= 0.25", ratio <= 0.25)
        row("without bytecode (before): handler import", seconds(old), "")
        row("without bytecode (before): then the runtime build", seconds(old, "then"), "")
        row("first poll after the cold start (100 callers assigned)", f"{cold['first_poll']:.2f} s", "")
        missing = sorted({*cold["missing_at_init"], *cold["missing_after_poll"]})
        row(
            "modules loaded without bytecode (init + first poll)",
            f"{len(missing)}",
            "0",
            not missing,
        )
        for name in missing[:10]:
            print(f"    {name}")
        row("files written to the read-only tree", f"{cold['written']}", "0", cold["written"] == 0)
    finally:
        built.remove()


def seconds(figures: dict[str, Any], key: str = "import") -> str:
    return f"{figures[key + '_cpu']:.2f} / {figures[key]:.2f} s"


def section(title: str) -> None:
    print(f"\n{title}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--speed", type=float, default=10.0, help="virtual seconds per wall-clock second")
    parser.add_argument("--skip-layer", action="store_true", help="do not build the layer (needs PyPI)")
    parser.add_argument("--lambda-only", action="store_true", help="only the Lambda build, sizes and cold start")
    parser.add_argument("--backlog-only", type=int, metavar="CALLERS", help="only the large backlog, of CALLERS")
    parser.add_argument(
        "--escalation-only", action="store_true", help="only escalation and detection to assignment at 10 s"
    )
    args = parser.parse_args(argv)
    moto, endpoint = start_moto_server()
    started = time.perf_counter()
    try:
        print(f"skill-router benchmark (clock x{args.speed:g}; Python {sys.version.split()[0]}, {os.cpu_count()} CPUs)")
        if args.lambda_only:
            report_lambda_build(endpoint)
            return 0
        if args.backlog_only:
            report_large_backlog(endpoint, args.speed, args.backlog_only)
            return 0
        if args.escalation_only:
            lat = latency(endpoint, args.speed, {"POLL_INTERVAL_SECONDS": "10"})
            row(
                f"detection to assignment at 10 s: p50 / p95 ({lat['assigned']:.0f} of {lat['callers']:.0f})",
                f"{lat['p50']:.1f} / {lat['p95']:.1f} s",
                "p95 <= 15 s",
                lat["p95"] <= 15,
            )
            report_escalation(endpoint, args.speed)
            return 0
        section("Genesys calls")
        calls = calls_per_assignment(endpoint)
        row(
            f"per assigned conversation ({calls['assigned']:.0f} assigned)",
            f"{calls['calls_per_assigned']:.3f}",
            "<= 2.05",
            calls["calls_per_assigned"] <= 2.05,
        )
        row(
            f"per distinct conversation (mix of 200, 2 polls, {calls['sightings']:.0f} sightings)",
            f"{calls['calls_per_conversation']:.3f}",
        )
        section("Discovery (the interval matches whole UTC days)")
        mix = idle_with_live_mix(endpoint)
        row(
            "query calls per idle poll, 1,000 live non-queued conversations",
            f"{mix['queries_per_poll']:.2f}",
            "1",
            mix["queries_per_poll"] == 1 and mix["gets"] == 0,
        )
        wait = intent_wait(endpoint)
        row(
            f"GETs per caller without intent, first 10 min ({wait['polls']:.0f} polls)",
            f"{wait['gets']:.0f}",
            "<= 6",
            wait["gets"] <= 6,
        )
        section("Backlog: 1,000 queued callers, 300 requests/min enforced by the simulator")
        b = backlog(endpoint, args.speed)
        row("minutes to clear", f"{b['minutes']:.1f}", "")
        row(
            f"share of the budget used ({b['calls']:.0f} calls)",
            f"{b['budget_used']:.0%}",
            ">= 90%",
            b["budget_used"] >= 0.9,
        )
        row("429s received", f"{b['throttled']:.0f}", "0", b["throttled"] == 0)
        row(
            "callers lost / PATCHed twice",
            f"{b['lost']:.0f} / {b['duplicate_patches']:.0f}",
            "0 / 0",
            b["lost"] == 0 and b["duplicate_patches"] == 0,
        )
        report_large_backlog(endpoint, args.speed)
        report_latency(endpoint, args.speed)
        report_escalation(endpoint, args.speed)
        section("Event mode (Genesys EventBridge events)")
        ev = event_mode(endpoint)
        row(
            "event to PATCH p95, cold start (fresh process, import included)",
            f"{ev['cold_p95'] * 1000:.0f} ms",
            "<= 2000 ms",
            ev["cold_p95"] <= 2.0,
        )
        row("event to PATCH p95, warm", f"{ev['warm_p95'] * 1000:.0f} ms", "<= 300 ms", ev["warm_p95"] <= 0.3)
        row("Genesys calls per assignment: acd.start alone", f"{ev['calls_get_path']:.2f}", "")
        row("Genesys calls per assignment: intent event first", f"{ev['calls_fast_path']:.2f}", "")
        section("Matrix load (parse and validate)")
        load = matrix_load()
        row("10,000 rules (the limit), best of 3", f"{load['full']:.2f} s", "<= 3 s", load["full"] <= 3)
        row("growth from 2,500 to 10,000 rules", f"x{load['ratio']:.1f}", "~4 (linear)")
        # In real time (x1): an event's cost is its AWS and Genesys round trips, which a faster
        # clock would inflate; one minute each, events arriving faster than the budget allows.
        # Intent first costs GET + PATCH like acd.start: the one-PATCH shortcut wrote from the event's
        # snapshot (issue 12 class 8), so the old >= 270 target is narrowed (docs/performance.md).
        for intent_first, target in ((False, 135), (True, 135)):
            tp = event_throughput(endpoint, 1.0, intent_first, minutes=1.0)
            row(
                f"assignments a minute, 2 containers, 300/min token, {'intent first' if intent_first else 'acd.start'}"
                f" ({tp['errors']:.0f} errors, {tp['throttled']:.0f} 429s, {tp['deferred']:.0f} left to the poller)",
                f"{tp['per_minute']:.0f}",
                f">= {target}, 0 errors",
                tp["per_minute"] >= target and tp["errors"] == 0,
            )
        section("Idle warm invocation")
        idle = idle_warm(endpoint)
        row("AWS calls", f"{idle['aws_calls']:.0f}", "<= 3", idle["aws_calls"] <= 3)
        row("Genesys calls", f"{idle['genesys_calls']:.0f}", "<= 1", idle["genesys_calls"] <= 1)
        row("wall time", f"{idle['wall'] * 1000:.0f} ms", "")
        section("Memory")
        rss = peak_rss_after_poll(endpoint)
        row("peak RSS after a full poll (100 callers assigned)", f"{rss:.0f} MB", "<= 100 MB", rss <= 100)
        if args.skip_layer:
            section("Lambda build and cold start: skipped (--skip-layer)")
        else:
            report_lambda_build(endpoint)
    finally:
        moto.stop()
    print(f"\n({time.perf_counter() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
