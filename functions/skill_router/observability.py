"""One place creates the logger, tracer and metrics; everything imports them from here."""

import logging
import os

from aws_lambda_powertools import Logger, Metrics, Tracer

# Libraries that log what they send and receive at DEBUG: botocore logs Secrets Manager's
# response body (the client secret, the cached token), urllib3 and the SDK log requests. Pinned
# at WARNING whatever level Lambda (AWS_LAMBDA_LOG_LEVEL, which sets the root logger), Powertools
# (POWERTOOLS_LOG_LEVEL, LOG_LEVEL) or the root logger asks for: their DEBUG lines are never
# needed to run skill-router and may carry a secret.
QUIET_LOGGERS = ("botocore", "boto3", "s3transfer", "urllib3", "requests", "PureCloudPlatformClientV2", "aws_xray_sdk")


def pin_library_loggers() -> None:
    """Every logger of those libraries, existing or created later, at WARNING or above."""
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    for name, existing in list(logging.Logger.manager.loggerDict.items()):
        quiet = isinstance(existing, logging.Logger) and name.split(".")[0] in QUIET_LOGGERS
        if quiet and logging.NOTSET < existing.level < logging.WARNING:  # type: ignore[union-attr]
            existing.setLevel(logging.WARNING)  # type: ignore[union-attr]  # a child set lower explicitly


pin_library_loggers()


# template.yaml sets POWERTOOLS_SERVICE_NAME to the stack's name, so each stack's metrics carry
# their own `service` dimension and two stacks' alarms never mix; local runs and tests use
# "skill-router". An explicit service= would override the variable, so it is read here.
SERVICE = os.environ.get("POWERTOOLS_SERVICE_NAME") or "skill-router"
NAMESPACE = os.environ.get("POWERTOOLS_METRICS_NAMESPACE") or "SkillRouter"

logger = Logger(service=SERVICE)
tracer = Tracer(service=SERVICE)
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)
