"""`make doctor`: `skill-router doctor` against the demo's set-up, locally (moto server + the simulator).

    python scripts/doctor_local.py [--deny PERMISSION] [--event-mode]

--deny makes the simulator answer 403 on the endpoint that needs PERMISSION (as Genesys does when the
OAuth client's role lacks it), so you can see doctor name it. --event-mode turns event mode on and
creates the partner event bus in moto server. The exit code is doctor's.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from scripts.demo import set_up  # noqa: E402
from scripts.local_aws import client, start_moto_server  # noqa: E402
from skill_router.cli.doctor import PERMISSIONS  # noqa: E402
from tests.simulator import GenesysSimulator  # noqa: E402

EVENT_SOURCE = "aws.partner/genesys.com/cloud/8a4c3fa7-2c1d-4e5f-9a0b-1c2d3e4f5a6b/skill-router"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="make doctor")
    parser.add_argument("--deny", choices=[p for _, p, _ in PERMISSIONS if p], help="a permission the role lacks")
    parser.add_argument("--event-mode", action="store_true")
    args = parser.parse_args(argv)
    moto, endpoint = start_moto_server()
    sim = GenesysSimulator()
    sim.start()
    try:
        local = set_up(endpoint, sim)
        env = {**local.env, "POWERTOOLS_METRICS_DISABLED": "true"}
        if args.deny:
            method, path = next(e for e, p, _ in PERMISSIONS if p == args.deny).split(" ", 1)
            sim.fail(method, "^" + re.sub(r"\\\{id\\\}", "[^/]+", re.escape(path)) + "$", 403, count=None)
        if args.event_mode:
            # What the Genesys integration and the "associate" step in the EventBridge console do.
            events = client("events", endpoint)
            events.create_partner_event_source(Name=EVENT_SOURCE, Account="123456789012")
            events.create_event_bus(Name=EVENT_SOURCE, EventSourceName=EVENT_SOURCE)
            env.update(EVENT_MODE="true", GENESYS_EVENT_SOURCE=EVENT_SOURCE)
        print(f"$ skill-router doctor --env   (moto server {endpoint}, Genesys simulator {sim.base_url})", flush=True)
        return subprocess.call([str(Path(sys.executable).parent / "skill-router"), "doctor", "--env"], env=env)
    finally:
        sim.stop()
        moto.stop()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
