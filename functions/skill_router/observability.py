"""One place creates the logger, tracer and metrics; everything imports them from here."""

from aws_lambda_powertools import Logger, Metrics, Tracer

# Service name and metrics namespace come from POWERTOOLS_SERVICE_NAME / POWERTOOLS_METRICS_NAMESPACE
# (template.yaml); the defaults keep local runs and tests identical to the deployment.
logger = Logger(service="skill-router")
tracer = Tracer(service="skill-router")
metrics = Metrics(namespace="SkillRouter", service="skill-router")
