"""`make sam-local` without the stand-in image builds it with the Python 3.13 that `sam build` used
(audit of issue 21). On a pyenv machine whose global Python is not 3.13, `sam build` found pyenv's
3.13 through PYENV_VERSION but scripts/lambda_image/build.sh did not get it, so a newcomer's first
`make sam-local` ended in "no Python 3.13 at 'python3.13' ... install one" with one installed; and
LOCAL_LAMBDA_IMAGE named an image build.sh (which reads IMAGE) never built."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from scripts import sam_local

ROOT = Path(__file__).parents[2]


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[tuple[list[str], dict[str, str]]]:
    """main() with docker, the services, sam build and sam local invoke replaced by recorders;
    no Lambda image on the machine (`docker image inspect` fails)."""
    seen: list[tuple[list[str], dict[str, str]]] = []

    def run(command: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        seen.append(([str(part) for part in command], dict(kwargs.get("env") or {})))
        missing = command[1:3] == ["image", "inspect"]
        return subprocess.CompletedProcess(command, 1 if missing else 0, "", "")

    sam = tmp_path / "sam"
    sam.write_text("")
    monkeypatch.setattr(sam_local, "SAM", sam)
    monkeypatch.setattr(sam_local, "docker", lambda: "/usr/bin/docker")
    monkeypatch.setattr(sam_local, "docker_ready", lambda: None)
    monkeypatch.setattr(sam_local, "services", lambda _: {"moto_port": 5000, "simulator_port": 8080})
    monkeypatch.setattr(sam_local.subprocess, "run", run)
    monkeypatch.setattr(sam_local.subprocess, "call", lambda command, **kwargs: run(command, **kwargs).returncode)
    monkeypatch.delenv("LAMBDA_IMAGE", raising=False)
    monkeypatch.delenv("PYENV_VERSION", raising=False)
    return seen


def test_the_stand_in_image_is_built_with_the_python313_sam_build_used(calls: list[tuple[list[str], dict[str, str]]]):
    assert sam_local.main([str(ROOT / "events" / "scheduled.json"), "--build-dir", "/nonexistent"]) == 0
    (build,) = [env for command, env in calls if command[0] == str(sam_local.SAM) and command[1] == "build"]
    (image,) = [env for command, env in calls if command[-1].endswith("lambda_image/build.sh")]
    assert build["PYENV_VERSION"].startswith("3.13"), build.get("PYENV_VERSION")
    assert image.get("PYENV_VERSION") == build["PYENV_VERSION"], "build.sh must see the 3.13 sam build saw"
    # The image build.sh builds is the one passed to --invoke-image.
    (invoke,) = [command for command, _ in calls if command[1:3] == ["local", "invoke"]]
    assert image["IMAGE"] == invoke[invoke.index("--invoke-image") + 1] == sam_local.LOCAL_IMAGE
