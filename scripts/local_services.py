"""`make local-services`: moto server and the Genesys simulator on the host, for `sam local invoke`.

    make local-services        # leave it running, then in another terminal:
    make sam-local EVENT=events/scheduled.json     # sam build + sam local invoke (scripts/sam_local.py)

The demo's set-up is created (template.yaml's table, bucket and secrets in moto server, the seed
matrix, the demo's callers in the simulator) under the fixed names events/env.local.json uses.
Both listen on LOCAL_SERVICES_HOST (default 0.0.0.0, so the function's container reaches them
through host.docker.internal; nothing here is a real account or a real org), on ports
LOCAL_MOTO_PORT (5000) and LOCAL_SIMULATOR_PORT (8080). What `make sam-local` needs to know (the
ports, the demo's callers and queue) is written to LOCAL_SERVICES_STATE (.local-services.json).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import socket
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
STATE_FILE = ROOT / ".local-services.json"


def busy(host: str, port: int) -> str | None:
    """Why `port` cannot be listened on, or None. Checked first: moto's server thread would die
    on a taken port and leave this process waiting for Ctrl-C with nothing listening."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((host, port))
        except OSError as exc:
            return exc.strerror or str(exc)
    return None


def main() -> int:
    # Every interface, so the function's Docker container reaches it through host.docker.internal.
    host = os.environ.get("LOCAL_SERVICES_HOST", "0.0.0.0")  # noqa: S104 # nosec B104
    moto_port = int(os.environ.get("LOCAL_MOTO_PORT") or MOTO_PORT)
    sim_port = int(os.environ.get("LOCAL_SIMULATOR_PORT") or SIMULATOR_PORT)
    state_file = Path(os.environ.get("LOCAL_SERVICES_STATE") or STATE_FILE)
    for port, variable, what in (
        (moto_port, "LOCAL_MOTO_PORT", "moto server"),
        (sim_port, "LOCAL_SIMULATOR_PORT", "the simulator"),
    ):
        problem = busy(host, port)
        if problem:
            print(
                f"make local-services: port {port} for {what} is taken ({problem}): another `make local-services`, "
                f"or something else (macOS AirPlay listens on 5000)? Stop it, or set {variable} to a free port "
                "(`make sam-local` follows)",
                file=sys.stderr,
            )
            return 1
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one access-log line per AWS call otherwise
    moto = ThreadedMotoServer(ip_address=host, port=moto_port, verbose=False)
    moto.start()
    sim = GenesysSimulator()
    sim.start(host, sim_port)
    try:
        local = set_up(f"http://127.0.0.1:{moto_port}", sim)
        expected = json.loads(ENV_FILE.read_text())["PollFunction"]
        for name in ("STATE_TABLE", "SKILL_MATRIX_BUCKET", "NOTIFY_FROM"):
            if expected[name] != local.env[name]:
                print(f"events/env.local.json: {name} is {expected[name]!r}, the set-up made {local.env[name]!r}")
                return 1
        first = local.callers[0].conversation_id
        skills, priority = sim.routing(first)
        state = {
            "pid": os.getpid(),
            "moto_port": moto_port,
            "simulator_port": sim_port,
            "queue": local.queue,
            "callers": [{"label": c.label, "conversation_id": c.conversation_id} for c in local.callers],
            "first_caller_routing": {"skills": list(skills), "priority": priority},
        }
        state_file.write_text(json.dumps(state, indent=2) + "\n")
        print(f"moto server on {host}:{moto_port}, Genesys simulator on {host}:{sim_port}")
        print(f"the demo's set-up is in place: table {local.env['STATE_TABLE']}, {len(local.callers)} callers")
        print("now, in another terminal: make sam-local EVENT=events/scheduled.json (or events/acd_start.json)")
        print("Ctrl-C stops both", flush=True)
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        with contextlib.suppress(KeyboardInterrupt):
            stop.wait()
        return 0
    finally:
        with contextlib.suppress(OSError, NameError):
            if json.loads(state_file.read_text()).get("pid") == os.getpid():
                state_file.unlink()
        sim.stop()
        moto.stop()


if __name__ == "__main__":
    sys.exit(main())
