"""`make local-services` when a port is taken (issue 21): it said nothing and waited for Ctrl-C
with nothing listening (moto's server thread died on the taken port). Now it says which port and
what to do, and exits 1 at once."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("0.0.0.0", 0))  # noqa: S104
        return int(probe.getsockname()[1])


@pytest.mark.parametrize("variable", ["LOCAL_MOTO_PORT", "LOCAL_SIMULATOR_PORT"])
def test_a_taken_port_is_named_at_once(variable: str, tmp_path: Path):
    with socket.socket() as taken:
        taken.bind(("0.0.0.0", 0))  # noqa: S104  # what local-services binds
        taken.listen()
        port = taken.getsockname()[1]
        env = {
            **os.environ,
            "LOCAL_MOTO_PORT": str(free_port()),
            "LOCAL_SIMULATOR_PORT": str(free_port()),
            variable: str(port),
            "LOCAL_SERVICES_STATE": str(tmp_path / "state.json"),
        }
        done = subprocess.run(
            [sys.executable, str(ROOT / "scripts" / "local_services.py")],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,  # it used to hang here
            check=False,
        )
    assert done.returncode == 1
    assert f"port {port}" in done.stderr and variable in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "state.json").exists()
