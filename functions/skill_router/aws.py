"""Every boto3 client the product builds, bounded to fit an invocation.

Without a `Config`, botocore waits up to 60 s to connect and 60 s for each read, and retries on
its legacy schedule (10 attempts for DynamoDB): one slow AWS call could outlast the poller's 58 s
timeout. Here each attempt is bounded by CONNECT_TIMEOUT + READ_TIMEOUT and there are at most
MAX_ATTEMPTS of them in botocore's standard retry mode (throttles and transient errors retried
with jittered backoff), so the worst case of one call, WORST_CASE_SECONDS, fits well inside the
deadline. The function, `doctor` and the CLI all build their clients here.
"""

from __future__ import annotations

import os
from typing import Any

from botocore.config import Config

CONNECT_TIMEOUT_SECONDS = 2
# DynamoDB and Secrets Manager answer in milliseconds, S3 reads a matrix of at most 1 MB, SES
# accepts one message: 5 s is far above each one's normal time.
READ_TIMEOUT_SECONDS = 5
MAX_ATTEMPTS = 3
# Standard mode backs off at most 2^(attempt-1) s (jittered) between attempts: 1 s, then 2 s.
WORST_CASE_SECONDS = MAX_ATTEMPTS * (CONNECT_TIMEOUT_SECONDS + READ_TIMEOUT_SECONDS) + sum(
    2**attempt for attempt in range(MAX_ATTEMPTS - 1)
)


def attempts(env: dict[str, str] | os._Environ[str] | None = None) -> int:
    """MAX_ATTEMPTS, or fewer when AWS_MAX_ATTEMPTS (the standard variable) asks for fewer."""
    raw = (os.environ if env is None else env).get("AWS_MAX_ATTEMPTS", "").strip()
    try:
        wanted = int(raw)
    except ValueError:
        return MAX_ATTEMPTS
    return min(max(wanted, 1), MAX_ATTEMPTS)


def config() -> Config:
    return Config(
        connect_timeout=CONNECT_TIMEOUT_SECONDS,
        read_timeout=READ_TIMEOUT_SECONDS,
        retries={"mode": "standard", "total_max_attempts": attempts()},
    )


def client(service: str, region: str | None = None) -> Any:
    """A boto3 client with the bounded `config()`; the region and endpoint come from the
    environment (AWS_REGION, AWS_ENDPOINT_URL) unless a region is given."""
    import boto3

    if region:
        return boto3.client(service, region_name=region, config=config())
    return boto3.client(service, config=config())
