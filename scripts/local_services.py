"""`make local-services`: moto server and the Genesys simulator on the host, for `sam local invoke`.

    make local-services        # leave it running, then in another terminal:
    sam build && AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_DEFAULT_REGION=us-east-1 \\
      sam local invoke PollFunction -e events/scheduled.json --env-vars events/env.local.json

The demo's set-up is created (template.yaml's table, bucket and secrets in moto server, the seed
matrix, the demo's callers in the simulator) under the fixed names events/env.local.json uses.
Both listen on LOCAL_SERVICES_HOST (default 0.0.0.0, so the function's container reaches them
through host.docker.internal; nothing here is a real account or a real org).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import sys
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from moto.server import ThreadedMotoServer  # noqa: E402

from scripts.demo import set_up  # noqa: E402
from tests.simulator import GenesysSimulator  # noqa: E402

MOTO_PORT, SIMULATOR_PORT = 5000, 8080
ENV_FILE = ROOT / "events" / "env.local.json"


def main() -> int:
    # Every interface, so the function's Docker container reaches it through host.docker.internal.
    host = os.environ.get("LOCAL_SERVICES_HOST", "0.0.0.0")  # noqa: S104 # nosec B104
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one access-log line per AWS call otherwise
    moto = ThreadedMotoServer(ip_address=host, port=MOTO_PORT, verbose=False)
    moto.start()
    sim = GenesysSimulator()
    sim.start(host, SIMULATOR_PORT)
    try:
        local = set_up(f"http://127.0.0.1:{MOTO_PORT}", sim)
        expected = json.loads(ENV_FILE.read_text())["PollFunction"]
        for name in ("STATE_TABLE", "SKILL_MATRIX_BUCKET", "NOTIFY_FROM"):
            if expected[name] != local.env[name]:
                print(f"events/env.local.json: {name} is {expected[name]!r}, the set-up made {local.env[name]!r}")
                return 1
        print(f"moto server on {host}:{MOTO_PORT}, Genesys simulator on {host}:{SIMULATOR_PORT}")
        print(f"the demo's set-up is in place: table {local.env['STATE_TABLE']}, {len(local.callers)} callers")
        print("now: sam local invoke PollFunction -e events/scheduled.json --env-vars events/env.local.json")
        print("Ctrl-C stops both", flush=True)
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        with contextlib.suppress(KeyboardInterrupt):
            stop.wait()
        return 0
    finally:
        sim.stop()
        moto.stop()


if __name__ == "__main__":
    sys.exit(main())
