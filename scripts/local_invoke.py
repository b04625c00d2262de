"""`make invoke EVENT=events/scheduled.json`: the docker-free twin of `sam local invoke`.

Starts moto server and the Genesys simulator, creates the resources from template.yaml and seeds
the demo's callers (scripts/demo.py), then runs the handler in a fresh process with a Lambda-like
context (scripts/lambda_runner.py), printing its log lines and its result.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from scripts.demo import set_up  # noqa: E402
from scripts.local_aws import start_moto_server  # noqa: E402
from tests.simulator import GenesysSimulator  # noqa: E402


def main(argv: list[str]) -> int:
    if len(argv) != 1 or not Path(argv[0]).is_file():
        print("usage: make invoke EVENT=events/scheduled.json (a JSON event file)", file=sys.stderr)
        return 2
    moto, endpoint = start_moto_server()
    sim = GenesysSimulator()
    sim.start()
    try:
        local = set_up(endpoint, sim)
        print(f"moto server {endpoint}, Genesys simulator {sim.base_url}; invoking with {argv[0]}", flush=True)
        return subprocess.call(
            [sys.executable, str(ROOT / "scripts" / "lambda_runner.py"), argv[0]], env=local.env, cwd=ROOT
        )
    finally:
        sim.stop()
        moto.stop()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
