"""One place creates the logger, tracer and metrics; everything imports them from here."""

import os

from aws_lambda_powertools import Logger, Metrics, Tracer

# template.yaml sets POWERTOOLS_SERVICE_NAME to the stack's name, so each stack's metrics carry
# their own `service` dimension and two stacks' alarms never mix; local runs and tests use
# "skill-router". An explicit service= would override the variable, so it is read here.
SERVICE = os.environ.get("POWERTOOLS_SERVICE_NAME") or "skill-router"
NAMESPACE = os.environ.get("POWERTOOLS_METRICS_NAMESPACE") or "SkillRouter"

logger = Logger(service=SERVICE)
tracer = Tracer(service=SERVICE)
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)
