"""What every `skill-router` command and `doctor` share: exit codes, the one-line user error,
and one line for an AWS failure."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

EXIT_OK, EXIT_INVALID, EXIT_USAGE, EXIT_NO_MATCH, EXIT_CHANGED = 0, 1, 2, 3, 4
# The reader of stdout went away (`| head`): what a shell reports for a tool SIGPIPE ended (128 + 13).
EXIT_CLOSED_PIPE = 141
REGION_HINT = "give --region or set AWS_DEFAULT_REGION (the stack's region)"


class UserError(Exception):
    """A mistake on the command line or in a file: printed as one line, no traceback."""

    def __init__(self, message: str, status: int = EXIT_INVALID) -> None:
        super().__init__(message)
        self.status = status


@contextlib.contextmanager
def function_logs_muted() -> Iterator[None]:
    """While a command runs, the function's own log lines (a new token, a retry) stay out of its
    output; in-process callers (tests) get their logger back."""
    from skill_router.observability import logger

    level = logger.log_level
    logger.setLevel("CRITICAL")
    try:
        yield
    finally:
        logger.setLevel(level)


def shown(path: str) -> str:
    """A file name as the user can read it: one that is not UTF-8 (a Latin-1 `caf\\xe9.yaml`, which
    Python hands over with surrogates) gets its odd bytes written as \\xNN, never an encoding error."""
    try:
        raw = os.fsencode(path)
    except UnicodeEncodeError:  # a surrogate no file system decoding made
        raw = path.encode("utf-8", "backslashreplace")
    return raw.decode("utf-8", "backslashreplace")


def aws_problem(exc: Exception, what: str) -> str:
    """One line for an AWS failure: what we were doing, what AWS said, what to do."""
    return " ".join(_aws_problem(exc, what).split())  # botocore's messages can span lines


def _aws_problem(exc: Exception, what: str) -> str:
    from botocore.exceptions import (
        ClientError,
        EndpointConnectionError,
        NoCredentialsError,
        NoRegionError,
        PartialCredentialsError,
    )

    if isinstance(exc, NoRegionError) or (isinstance(exc, ValueError) and "Invalid endpoint" in str(exc)):
        return f"{what}: no AWS region; {REGION_HINT}"
    if isinstance(exc, NoCredentialsError | PartialCredentialsError):
        return f"{what}: no AWS credentials; set AWS_PROFILE (or run `aws configure` / `aws sso login`)"
    if isinstance(exc, EndpointConnectionError):
        return f"{what}: cannot reach AWS ({exc}); check the region and the network"
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code, message = str(error.get("Code", "")), str(error.get("Message", "")).strip()
        hints = {
            "ResourceNotFoundException": "check the name (the stack's outputs) and --region",
            "NoSuchBucket": "check --bucket (the stack's SkillMatrixBucketName output) and --region",
            "ValidationError": "check the name and --region",
            "AccessDenied": "your AWS identity lacks the permission named above",
            "AccessDeniedException": "your AWS identity lacks the permission named above",
            "UnrecognizedClientException": "the AWS credentials are not valid; refresh them",
            "ExpiredToken": "the AWS session expired; log in again",
            "ExpiredTokenException": "the AWS session expired; log in again",
            "InvalidClientTokenId": "the AWS credentials are not valid; refresh them",
        }
        hint = hints.get(code, "see the message above")
        return f"{what}: {code or 'AWS error'}: {message or exc}; {hint}"
    return f"{what}: {type(exc).__name__}: {exc}"
