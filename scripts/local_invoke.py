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


def main(argv: list[str]) -> int:
    dry_run = "--dry-run" in argv
    argv = [a for a in argv if a != "--dry-run"]
    if len(argv) != 1 or not Path(argv[0]).is_file():
        print("usage: make invoke EVENT=events/scheduled.json [DRY_RUN=true] (a JSON event file)", file=sys.stderr)
        return 2
    moto, endpoint = start_moto_server()
    sim = GenesysSimulator()
    sim.start()
    try:
        local = set_up(endpoint, sim)
        if dry_run:  # decide and record everything, change nothing in Genesys, send nothing
            local.env["DRY_RUN"] = "true"
        event_file, handler = argv[0], "skill_router.handlers.poll.handler"
        event = json.loads(Path(event_file).read_text())
        if isinstance(event, dict) and str(event.get("detail-type", "")).startswith("v2.detail.events.conversation"):
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
