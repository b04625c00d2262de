"""Run a Lambda handler in this (fresh) process the way the Lambda Python runtime would.

Used by `make invoke` and `make demo` as the docker-free twin of `sam local invoke`: the
handler module is imported cold, called with the event and a context that counts down the
function's timeout, and its return value (or Lambda's errorType/errorMessage shape) is written
as JSON. `--repeat N` invokes N times in the same process, so the later ones are warm.

    python scripts/lambda_runner.py events/scheduled.json --result-file out.json
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import resource
import sys
import time
import traceback
import uuid
from pathlib import Path
from typing import Any

FUNCTION_NAME = "skill-router-PollFunction"


class LambdaContext:
    """The attributes and method of the runtime's context object that handlers use."""

    def __init__(self, timeout_seconds: float, memory_mb: int) -> None:
        self.function_name = FUNCTION_NAME
        self.function_version = "$LATEST"
        self.memory_limit_in_mb = memory_mb
        self.aws_request_id = str(uuid.uuid4())
        region = os.environ.get("AWS_DEFAULT_REGION", "us-east-1")
        self.invoked_function_arn = f"arn:aws:lambda:{region}:123456789012:function:{FUNCTION_NAME}"
        self.log_group_name = f"/aws/lambda/{FUNCTION_NAME}"
        self.log_stream_name = time.strftime("%Y/%m/%d/[$LATEST]") + uuid.uuid4().hex
        self._deadline = time.monotonic() + timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def peak_rss_mb() -> float:
    """This process's peak resident memory. VmHWM where Linux has it: ru_maxrss survives exec, so a
    child started by a big parent would report the parent's size."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("event", type=Path, help="JSON event file")
    parser.add_argument("--handler", default="skill_router.handlers.poll.handler")
    parser.add_argument("--timeout", type=float, default=58.0, help="function timeout in seconds (template: 58)")
    parser.add_argument("--memory", type=int, default=512)
    parser.add_argument("--repeat", type=int, default=1, help="invocations in this process (later ones are warm)")
    parser.add_argument("--result-file", type=Path, help="write the JSON result here instead of stdout")
    args = parser.parse_args(argv)

    event: Any = json.loads(args.event.read_text())
    os.environ.setdefault("AWS_LAMBDA_FUNCTION_NAME", FUNCTION_NAME)
    os.environ.setdefault("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", str(args.memory))
    os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")  # no X-Ray daemon locally

    started = time.perf_counter()
    module_name, _, function_name = args.handler.rpartition(".")
    handler = getattr(importlib.import_module(module_name), function_name)
    import_seconds = time.perf_counter() - started

    invocations = []
    failed = False
    for _ in range(args.repeat):
        context = LambdaContext(args.timeout, args.memory)
        began = time.perf_counter()
        try:
            outcome: dict[str, Any] = {"result": handler(event, context)}
        except Exception as exc:
            failed = True
            outcome = {
                "errorType": type(exc).__name__,
                "errorMessage": str(exc),
                "stackTrace": traceback.format_exc().splitlines()[-6:],
            }
        outcome["duration_seconds"] = round(time.perf_counter() - began, 3)
        invocations.append(outcome)
    sys.stdout.flush()
    report = {
        "handler": args.handler,
        "import_seconds": round(import_seconds, 3),
        "max_rss_mb": round(peak_rss_mb(), 1),
        "invocations": invocations,
    }
    text = json.dumps(report, indent=2, default=str)
    if args.result_file:
        args.result_file.write_text(text)
    else:
        print(text)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
