"""One place creates the logger, tracer and metrics; everything imports them from here."""

import logging
import os

from aws_lambda_powertools import Logger, Metrics, Tracer

# Libraries that log what they send and receive at DEBUG: botocore logs Secrets Manager's
# response body (the client secret, the cached token), urllib3 and the SDK log requests. Pinned
# at WARNING whatever level Lambda (AWS_LAMBDA_LOG_LEVEL, which sets the root logger), Powertools
# (POWERTOOLS_LOG_LEVEL, LOG_LEVEL) or the root logger asks for: their DEBUG lines are never
# needed to run skill-router and may carry a secret. A level a library set higher is kept: the
# Genesys SDK's own logger is off (CRITICAL+1, genesys/sdk.py), and lowering it to WARNING would
# let its multi-line plain-text request dumps through.
# What they do log (a warning, an error) is written through the function's own handler, one JSON
# line like every other (README "When things fail"), never as plain text through the root
# logger; "py.warnings" is where Python's warnings go (logging.captureWarnings).
QUIET_LOGGERS = (
    "botocore",
    "boto3",
    "s3transfer",
    "urllib3",
    "requests",
    "PureCloudPlatformClientV2",
    "aws_xray_sdk",
    "py.warnings",
)


def _at_least_warning(existing: logging.Logger) -> None:
    if existing.level < logging.WARNING:  # NOTSET too: it would inherit the root's level
        existing.setLevel(logging.WARNING)


def pin_library_loggers() -> None:
    """Every logger of those libraries, existing or created later, at WARNING or above, and their
    lines structured (once the function's logger exists)."""
    for name in QUIET_LOGGERS:
        _at_least_warning(logging.getLogger(name))
    for name, existing in list(logging.Logger.manager.loggerDict.items()):
        quiet = isinstance(existing, logging.Logger) and name.split(".")[0] in QUIET_LOGGERS
        if quiet and logging.NOTSET < existing.level < logging.WARNING:  # type: ignore[union-attr]
            existing.setLevel(logging.WARNING)  # type: ignore[union-attr]  # a child set lower explicitly
    handler = globals().get("logger") and logger.registered_handler
    if isinstance(handler, logging.Handler):
        logging.captureWarnings(True)
        for name in QUIET_LOGGERS:
            library = logging.getLogger(name)
            library.handlers = [handler]  # the SDK's own console handler, if any, goes
            library.propagate = False


pin_library_loggers()


# template.yaml sets POWERTOOLS_SERVICE_NAME to the stack's name, so each stack's metrics carry
# their own `service` dimension and two stacks' alarms never mix; local runs and tests use
# "skill-router". An explicit service= would override the variable, so it is read here.
SERVICE = os.environ.get("POWERTOOLS_SERVICE_NAME") or "skill-router"
NAMESPACE = os.environ.get("POWERTOOLS_METRICS_NAMESPACE") or "SkillRouter"

logger = Logger(service=SERVICE)
tracer = Tracer(service=SERVICE)
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)
pin_library_loggers()  # now with the structured handler
