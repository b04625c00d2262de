"""`make invoke EVENT=events/scheduled.json`: the docker-free twin of `sam local invoke`.

Starts moto server and the Genesys simulator, creates the resources from template.yaml and seeds
the demo's callers (scripts/demo.py), then runs the handler in a fresh process with a Lambda-like
context (scripts/lambda_runner.py), printing its log lines and its result.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from scripts.demo import set_up  # noqa: E402
from scripts.local_aws import start_moto_server  # noqa: E402
from tests.simulator import GenesysSimulator  # noqa: E402


def is_genesys_event(event: object) -> bool:
    return isinstance(event, dict) and str(event.get("detail-type", "")).startswith("v2.detail.events.conversation")


def check_event(path: str) -> str | None:
    """What is wrong with the event file, in one line, or None."""
    try:
        event = json.loads(Path(path).read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        return f"{path} is not UTF-8 text; give a JSON event file such as events/scheduled.json"
    except ValueError as exc:
        return f"{path}:{getattr(exc, 'lineno', '?')}: not JSON ({getattr(exc, 'msg', exc)}); give a JSON event file"
    if not isinstance(event, dict):
        return f"{path}: an event is a JSON object, not a {type(event).__name__}"
    if is_genesys_event(event):
        detail = event.get("detail")
        if not isinstance(detail, dict) or not isinstance(detail.get("eventBody"), dict):
            return f"{path}: a Genesys event needs detail.eventBody (an object); see events/acd_start.json"
    return None


def main(argv: list[str]) -> int:
    dry_run = "--dry-run" in argv
    argv = [a for a in argv if a != "--dry-run"]
    if len(argv) != 1:
        print("usage: make invoke EVENT=events/scheduled.json [DRY_RUN=true] (a JSON event file)", file=sys.stderr)
        return 2
    if not Path(argv[0]).is_file():
        samples = ", ".join(
            sorted(str(p.relative_to(ROOT)) for p in (ROOT / "events").glob("*.json") if p.name != "env.local.json")
        )
        what = "is a directory" if Path(argv[0]).is_dir() else "no such file"
        print(f"make invoke: EVENT={argv[0]}: {what}; give a JSON event file: {samples}", file=sys.stderr)
        return 2
    problem = check_event(argv[0])
    if problem:  # said before anything starts, in one line
        print(f"make invoke: {problem}", file=sys.stderr)
        return 1
    moto, endpoint = start_moto_server()
    sim = GenesysSimulator()
    sim.start()
    try:
        local = set_up(endpoint, sim)
        if dry_run:  # decide and record everything, change nothing in Genesys, send nothing
            local.env["DRY_RUN"] = "true"
        event_file, handler = argv[0], "skill_router.handlers.poll.handler"
        event = json.loads(Path(event_file).read_text())
        if is_genesys_event(event):
            # A Genesys event: aim it at the demo's first caller, so it has something to act on.
            handler = "skill_router.handlers.conversation_event.handler"
            body = event["detail"]["eventBody"]
            caller = local.callers[0]
            body.update(conversationId=caller.conversation_id, eventTime=int(time.time() * 1000))
            if "queueId" in body:
                skills, priority = sim.routing(caller.conversation_id)
                body.update(queueId=local.queue, requestedRoutingSkillIds=skills, routingPriority=priority)
            with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as copy:
                json.dump(event, copy)
            print(f"event aimed at the demo caller '{caller.label}' ({caller.conversation_id})", flush=True)
            event_file = copy.name
        print(f"moto server {endpoint}, Genesys simulator {sim.base_url}; invoking {handler} with {argv[0]}")
        sys.stdout.flush()
        return subprocess.call(
            [sys.executable, str(ROOT / "scripts" / "lambda_runner.py"), event_file, "--handler", handler],
            env=local.env,
            cwd=ROOT,
        )
    finally:
        sim.stop()
        moto.stop()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
