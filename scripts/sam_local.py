"""`make sam-local EVENT=events/scheduled.json`: the function in a Lambda container, `sam local invoke`.

    make local-services                              # in one terminal: moto server + the simulator
    make sam-local EVENT=events/scheduled.json       # in another: PollFunction, two polls 30 s apart
    make sam-local EVENT=events/acd_start.json       # EventFunction, aimed at the demo's first caller

What it does, in order: `sam build` (into BUILD_DIR, default .aws-sam/build); checks that
`make local-services` answers; picks the image; then runs

    sam local invoke <PollFunction|EventFunction> -e <event> --env-vars events/env.local.json \\
        --add-host host.docker.internal:host-gateway [--invoke-image IMAGE --skip-pull-image]

`--add-host host.docker.internal:host-gateway` makes the name the env file uses resolve to the
host on Linux too (Docker Desktop on macOS and Windows defines it already; Docker 20.10+).

The image: Lambda's public python3.13 image when it is already on this machine, or when
LAMBDA_IMAGE=public (SAM then pulls it); otherwise a local stand-in built from packages by
scripts/lambda_image/build.sh (Debian bookworm, the CPython 3.13 on this machine, awslambdaric),
passed with --invoke-image. A Genesys event is aimed at the demo's first caller with the current
time (the sample's own ids and time would be rejected as another conversation, a day old).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from scripts.local_invoke import check_event, is_genesys_event  # noqa: E402
from scripts.local_services import MOTO_PORT, SIMULATOR_PORT, STATE_FILE  # noqa: E402

PUBLIC_IMAGE = "public.ecr.aws/lambda/python:3.13"
LOCAL_IMAGE = os.environ.get("LOCAL_LAMBDA_IMAGE", "skill-router/lambda-python3.13:local")
ENV_FILE = ROOT / "events" / "env.local.json"
SAM = ROOT / ".venv-sam" / "bin" / "sam"


class Stop(Exception):
    """One line saying what is missing and what to do."""


def docker() -> str:
    """The docker command, by its full path."""
    found = shutil.which("docker")
    if found is None:
        raise Stop(
            "no docker: sam local invoke runs the function in a container. Install a container engine "
            "(Debian: apt-get install docker.io; macOS/Windows: Docker Desktop), or use `make invoke`, "
            "the docker-free twin"
        )
    return found


def docker_ready() -> None:
    done = subprocess.run([docker(), "info"], capture_output=True, text=True, timeout=30, check=False)
    if done.returncode != 0:
        raise Stop("docker does not answer: start its daemon (dockerd, or Docker Desktop), then try again")


def services(state_file: Path) -> dict:
    if not state_file.is_file():
        raise Stop(f"no {state_file.name}: start `make local-services` in another terminal first")
    state = json.loads(state_file.read_text())
    for port, what in ((state["moto_port"], "moto server"), (state["simulator_port"], "the Genesys simulator")):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5).close()  # nosec B310
        except urllib.error.HTTPError:
            pass  # it answered
        except OSError:
            raise Stop(f"{what} does not answer on port {port}: start `make local-services` again") from None
    return state


def image(env: dict[str, str]) -> list[str]:
    """The --invoke-image options: none for Lambda's public image, else the local stand-in."""
    wanted = os.environ.get("LAMBDA_IMAGE", "")
    inspect = subprocess.run([docker(), "image", "inspect", PUBLIC_IMAGE], capture_output=True, check=False)
    if wanted == "public" or (wanted != "local" and inspect.returncode == 0):
        print(f"sam-local: Lambda's public image ({PUBLIC_IMAGE})", flush=True)
        return []
    script = ROOT / "scripts" / "lambda_image" / "build.sh"
    # IMAGE: build.sh builds the image this run passes to --invoke-image (LOCAL_LAMBDA_IMAGE too).
    build = subprocess.run(
        [shutil.which("bash") or "/bin/bash", str(script)], env={**env, "IMAGE": LOCAL_IMAGE}, check=False
    )
    if build.returncode != 0:
        raise Stop("the local Lambda image could not be built (see above); LAMBDA_IMAGE=public pulls AWS's instead")
    return ["--invoke-image", LOCAL_IMAGE, "--skip-pull-image"]


def aimed(event: dict, state: dict) -> dict:
    """A Genesys event about the demo's first caller, now."""
    body = event["detail"]["eventBody"]
    caller = state["callers"][0]
    body.update(conversationId=caller["conversation_id"], eventTime=int(time.time() * 1000))
    if "queueId" in body:
        routing = state["first_caller_routing"]
        body.update(queueId=state["queue"], requestedRoutingSkillIds=routing["skills"])
        body.update(routingPriority=routing["priority"])
    topic = event["detail"].get("topicName", "")
    if topic.count(".") > 4:  # v2.detail.events.conversation.<id>.acd.start: the id too
        parts = topic.split(".")
        parts[4] = caller["conversation_id"]
        event["detail"]["topicName"] = ".".join(parts)
    print(f"sam-local: the event is aimed at the demo caller '{caller['label']}' ({caller['conversation_id']})")
    return event


def env_vars(state: dict, directory: Path) -> Path:
    """events/env.local.json, with the ports local-services actually listens on."""
    text = ENV_FILE.read_text()
    if (state["moto_port"], state["simulator_port"]) == (MOTO_PORT, SIMULATOR_PORT):
        return ENV_FILE
    text = text.replace(f"host.docker.internal:{MOTO_PORT}", f"host.docker.internal:{state['moto_port']}")
    text = text.replace(f"host.docker.internal:{SIMULATOR_PORT}", f"host.docker.internal:{state['simulator_port']}")
    path = directory / "env.local.json"
    path.write_text(text)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("event", help="a JSON event file: events/scheduled.json, events/acd_start.json, ...")
    parser.add_argument("--build-dir", default=str(ROOT / ".aws-sam" / "build"))
    parser.add_argument("--no-build", action="store_true", help="use the build dir as it is (if there is one)")
    args = parser.parse_args(argv)
    started = time.monotonic()
    try:
        if not Path(args.event).is_file():
            raise Stop(f"{args.event}: no such event file; the samples are in events/ (scheduled.json, acd_start.json)")
        problem = check_event(args.event)
        if problem:
            raise Stop(problem)
        if not SAM.exists():
            raise Stop("no SAM CLI in .venv-sam: run it through make (make sam-local), which installs it")
        docker_ready()
        state = services(Path(os.environ.get("LOCAL_SERVICES_STATE") or STATE_FILE))
        env = {
            **os.environ,
            "SAM_CLI_TELEMETRY": "0",
            # moto accepts any credentials; the function's container gets these, not yours.
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",  # nosec B105
            "AWS_DEFAULT_REGION": "us-east-1",
        }
        env.pop("AWS_PROFILE", None)
        env.pop("AWS_SESSION_TOKEN", None)
        build_dir = Path(args.build_dir)
        # As `make build`: pyenv machines have a 3.13 that PYENV_VERSION makes visible, to sam build
        # and to the stand-in image's build (its `python3.13`) alike.
        build_env = {**env, "PYENV_VERSION": f"3.13.0:{platform.python_version()}"}
        if not args.no_build or not (build_dir / "template.yaml").is_file():
            built = subprocess.run(
                [str(SAM), "build", "--build-dir", str(build_dir), "--template", str(ROOT / "template.yaml")],
                cwd=ROOT,
                env=build_env,
                check=False,
            )
            if built.returncode != 0:
                raise Stop("sam build failed (see above); it needs a python3.13 on PATH")
        options = image(build_env)
        event = json.loads(Path(args.event).read_text())
        function = "EventFunction" if is_genesys_event(event) else "PollFunction"
        with tempfile.TemporaryDirectory() as scratch:
            event_file = Path(args.event)
            if is_genesys_event(event):
                event_file = Path(scratch) / "event.json"
                event_file.write_text(json.dumps(aimed(event, state)))
            command = [
                str(SAM),
                "local",
                "invoke",
                function,
                "--template",
                str(build_dir / "template.yaml"),
                "--event",
                str(event_file),
                "--env-vars",
                str(env_vars(state, Path(scratch))),
                "--add-host",
                "host.docker.internal:host-gateway",
                *options,
            ]
            print("sam-local:", " ".join(command), flush=True)
            status = subprocess.call(command, cwd=ROOT, env=env)
    except Stop as exc:
        print(f"make sam-local: {exc}", file=sys.stderr)
        return 1
    print(f"\nsam-local: {function} finished with status {status} in {time.monotonic() - started:.0f} s", flush=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
