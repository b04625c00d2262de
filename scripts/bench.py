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
from collections.abc import Callable
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

    def invoke(self, timeout: float = 55.0) -> dict[str, Any]:
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
    seen = 0
    for _ in range(2):
        seen += d2.invoke()["polls"][0]["seen"]
    mixed_calls = d2.sim.count(path_prefix="/api/v2/")
    return {
        "calls_per_assigned": assigned_calls / max(report["applied"], 1),
        "assigned": report["applied"],
        "calls_per_seen": mixed_calls / max(seen, 1),
        "seen": seen,
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


def latency(endpoint: str, speed: float, minutes: int = 5) -> dict[str, float]:
    d = deploy(
        endpoint,
        speed,
        300,
        GENESYS_REQUESTS_PER_MINUTE="300",
        POLLS_PER_INVOCATION="2",
        SETTLE_LAG_SECONDS="3",
    )
    d.sim.analytics_lag_seconds = 3.0
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


def timed_import(statement: str, runs: int = 5) -> float:
    code = f"import time; t = time.perf_counter(); {statement}; print(time.perf_counter() - t)"
    env = {**os.environ, "HOME": tempfile.gettempdir()}
    values = [
        float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env).stdout)
        for _ in range(runs)
    ]
    return statistics.median(values)


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


def layer_size() -> tuple[float, float] | str:
    folder = Path(tempfile.mkdtemp())
    try:
        done = subprocess.run(  # nosec B607
            ["make", "-s", "-C", str(ROOT / "layers" / "deps"), "build-DependencyLayer", f"ARTIFACTS_DIR={folder}"],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode:
            return f"not built: {done.stderr.strip().splitlines()[-1:]}"
        unzipped = sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())
        archive = folder.with_suffix(".zip")
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
            for f in folder.rglob("*"):
                if f.is_file():
                    zf.write(f, f.relative_to(folder))
        zipped = archive.stat().st_size
        archive.unlink()
        return unzipped / 1e6, zipped / 1e6
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def row(name: str, value: str, target: str = "", met: bool | None = None) -> None:
    verdict = "" if met is None else ("met" if met else "MISSED")
    print(f"  {name:<58} {value:>16}  {target:<14} {verdict}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--speed", type=float, default=10.0, help="virtual seconds per wall-clock second")
    parser.add_argument("--skip-layer", action="store_true", help="do not build the layer (needs PyPI)")
    args = parser.parse_args(argv)
    moto, endpoint = start_moto_server()
    started = time.perf_counter()
    try:
        section: Callable[[str], None] = lambda title: print(f"\n{title}")  # noqa: E731
        print(f"skill-router benchmark (clock x{args.speed:g}; Python {sys.version.split()[0]}, {os.cpu_count()} CPUs)")
        section("Genesys calls")
        calls = calls_per_assignment(endpoint)
        row(
            f"per assigned conversation ({calls['assigned']:.0f} assigned)",
            f"{calls['calls_per_assigned']:.3f}",
            "<= 2.05",
            calls["calls_per_assigned"] <= 2.05,
        )
        row(
            f"per conversation seen (mixed, {calls['seen']:.0f} seen over 2 polls)",
            f"{calls['calls_per_seen']:.3f}",
            "<= 1.05",
            calls["calls_per_seen"] <= 1.05,
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
        section("Detection to assignment, callers arriving for 5 minutes, polls every 30 s")
        lat = latency(endpoint, args.speed)
        row(f"p50 ({lat['assigned']:.0f} of {lat['callers']:.0f} callers)", f"{lat['p50']:.1f} s", "")
        row("p95", f"{lat['p95']:.1f} s", "<= 35 s", lat["p95"] <= 35)
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
        section("Idle warm invocation")
        idle = idle_warm(endpoint)
        row("AWS calls", f"{idle['aws_calls']:.0f}", "<= 3", idle["aws_calls"] <= 3)
        row("Genesys calls", f"{idle['genesys_calls']:.0f}", "<= 1", idle["genesys_calls"] <= 1)
        row("wall time", f"{idle['wall'] * 1000:.0f} ms", "")
        section("Cold start and memory")
        handler = timed_import("import skill_router.handlers.poll")
        bare = timed_import("import PureCloudPlatformClientV2")
        xray = timed_import("import aws_xray_sdk.core")
        row("handler module import (median of 5 fresh processes)", f"{handler:.2f} s", "")
        row("  of which the X-Ray SDK that Powertools' Tracer loads", f"{xray:.2f} s", "")
        row("bare `import PureCloudPlatformClientV2`", f"{bare:.2f} s", "")
        row("ratio", f"{handler / bare:.2f}", "<= 0.25", handler / bare <= 0.25)
        row("ratio without the X-Ray SDK", f"{(handler - xray) / bare:.2f}", "")
        rss = peak_rss_after_poll(endpoint)
        row("peak RSS after a full poll (100 callers assigned)", f"{rss:.0f} MB", "<= 100 MB", rss <= 100)
        section("Dependency layer")
        size = "skipped" if args.skip_layer else layer_size()
        if isinstance(size, tuple):
            row("unzipped / zipped", f"{size[0]:.0f} / {size[1]:.0f} MB", "< 250 MB", size[0] < 250)
        else:
            row("size", size)
    finally:
        moto.stop()
    print(f"\n({time.perf_counter() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
