"""Scheduled entry point: parse the event, run the invocation's polls, return the report."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from skill_router import runtime
from skill_router.deadline import Deadline
from skill_router.errors import NotConfigured, SkillRouterError
from skill_router.observability import logger, metrics, pin_library_loggers, tracer


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics(raise_on_empty_metrics=False)
@tracer.capture_lambda_handler(capture_response=False)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    pin_library_loggers()
    if not isinstance(event, dict):
        raise ValueError(f"expected a scheduled event (a JSON object), got {type(event).__name__}")
    try:
        rt = runtime.current()
        deadline = Deadline.from_context(context, rt.settings.safety_margin_seconds)
        result = rt.poller.run_invocation(deadline, owner=context.aws_request_id)
    except NotConfigured as exc:
        return not_configured(exc)
    except SkillRouterError as exc:
        # A clear message in the log and a failed invocation (alarm, on-failure destination).
        logger.error(str(exc), extra={"error_type": type(exc).__name__})
        raise
    return {"dry_run": rt.settings.dry_run, **result}


def not_configured(exc: NotConfigured) -> dict[str, Any]:
    """Set-up is not finished: one clear line, a NotConfigured metric, and a run that succeeds,
    so the error alarms and the failure queue stay quiet until the user finishes the Deploy steps."""
    metrics.add_metric(name="NotConfigured", unit="Count", value=1)
    logger.warning(f"not configured yet: {exc}; run `skill-router doctor`")
    return {"status": "not_configured", "problem": str(exc)}
