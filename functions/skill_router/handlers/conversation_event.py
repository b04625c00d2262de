"""EventBridge entry point: one Genesys conversation event, the same rules as the poller.

A malformed or foreign event is logged and rejected (returned, not raised), so Lambda does not
retry it; a failure while handling a good event is raised, so EventBridge's retries and the
dead-letter queue keep it, and the poller reconciles whatever is still missing.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from skill_router import runtime
from skill_router.deadline import Deadline
from skill_router.errors import ConfigurationError, NotConfigured, OutOfTime, SkillRouterError
from skill_router.events import EventRejected, handle_event, parse_event
from skill_router.genesys.errors import GenesysError
from skill_router.handlers.poll import not_configured
from skill_router.observability import logger, metrics, pin_library_loggers, tracer


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics(raise_on_empty_metrics=False)
@tracer.capture_lambda_handler(capture_response=False)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    pin_library_loggers()
    try:
        # A misconfigured deployment fails loudly (errors alarm, DLQ), before any event is judged.
        rt = runtime.current()
        if not rt.settings.event_source:
            raise ConfigurationError(
                "GENESYS_EVENT_SOURCE is not set: the event function acts only on the partner event source "
                "it was deployed for (template parameter GenesysEventSourceName)"
            )
    except SkillRouterError as exc:
        logger.error(str(exc), extra={"error_type": type(exc).__name__})
        raise
    try:
        parsed = parse_event(event, rt.settings.event_source, datetime.now(UTC), rt.settings.org_id)
    except EventRejected as exc:
        metrics.add_metric(name="EventRejected", unit="Count", value=1)
        detail_type = event.get("detail-type") if isinstance(event, dict) else None
        detail_type = str(detail_type)[:100] if detail_type is not None else None
        logger.error("event rejected", extra={"reason": str(exc), "detail_type": detail_type})
        return {"status": "rejected", "reason": str(exc)}
    logger.append_keys(conversation_id=parsed.conversation_id, topic=parsed.topic)
    try:
        deadline = Deadline.from_context(context, rt.settings.safety_margin_seconds)
        rt.genesys.begin(deadline)
        matrix = rt.matrix_source.current()
        prior = rt.store.entry(parsed.conversation_id)
        outcome = handle_event(parsed, prior, matrix, rt.poller.adapters, datetime.now(UTC))
    except NotConfigured as exc:
        return not_configured(exc)  # the poller reconciles this caller once the set-up is done
    except (OutOfTime, GenesysError) as exc:
        if isinstance(exc, GenesysError) and exc.status != 429:
            logger.error(str(exc), extra={"error_type": type(exc).__name__})
            raise
        # The token's budget (shared by every container) or the invocation's time ran out before
        # anything was changed (or Genesys still answered 429): the caller is left to the poller,
        # which reconciles it. Not an error: EventBridge would retry into the same spent minute.
        metrics.add_metric(name="EventsDeferred", unit="Count", value=1)
        logger.warning("no rate budget or time left; the poller will handle this caller", extra={"reason": str(exc)})
        return {
            "status": "ok",
            "conversation_id": parsed.conversation_id,
            "topic": parsed.topic,
            "outcome": "pending",
            "genesys_calls": runtime.current().genesys.stats["calls"],
            "dry_run": runtime.current().settings.dry_run,
        }
    except SkillRouterError as exc:
        logger.error(str(exc), extra={"error_type": type(exc).__name__})
        raise
    metrics.add_metric(name="EventsHandled", unit="Count", value=1)
    if outcome.outcome == "applied":
        metrics.add_metric(name="ConversationsApplied", unit="Count", value=1)
    if outcome.withheld:  # the staffing guard left parts nobody on queue has off (guard.py)
        metrics.add_metric(name="SkillsWithheldUnstaffed", unit="Count", value=outcome.withheld)
    logger.info("event handled", extra={"outcome": outcome.outcome, "rule_id": outcome.rule_id})
    return {
        "status": "ok",
        "conversation_id": parsed.conversation_id,
        "topic": parsed.topic,
        "outcome": outcome.outcome,
        "genesys_calls": rt.genesys.stats["calls"],
        "dry_run": rt.settings.dry_run,
    }
