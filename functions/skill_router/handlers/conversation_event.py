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
from skill_router.errors import NotConfigured, SkillRouterError
from skill_router.events import EventRejected, handle_event, parse_event
from skill_router.handlers.poll import not_configured
from skill_router.observability import logger, metrics, tracer


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics(raise_on_empty_metrics=False)
@tracer.capture_lambda_handler(capture_response=False)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    try:
        parsed = parse_event(event)
    except EventRejected as exc:
        metrics.add_metric(name="EventRejected", unit="Count", value=1)
        detail_type = event.get("detail-type") if isinstance(event, dict) else None
        logger.error("event rejected", extra={"reason": str(exc), "detail_type": detail_type})
        return {"status": "rejected", "reason": str(exc)}
    logger.append_keys(conversation_id=parsed.conversation_id, topic=parsed.topic)
    try:
        rt = runtime.current()
        deadline = Deadline.from_context(context, rt.settings.safety_margin_seconds)
        rt.genesys.begin(deadline)
        matrix = rt.matrix_source.current()
        prior = rt.store.entry(parsed.conversation_id)
        outcome = handle_event(parsed, prior, matrix, rt.poller.assigner, datetime.now(UTC))
    except NotConfigured as exc:
        return not_configured(exc)  # the poller reconciles this caller once the set-up is done
    except SkillRouterError as exc:
        logger.error(str(exc), extra={"error_type": type(exc).__name__})
        raise
    metrics.add_metric(name="EventsHandled", unit="Count", value=1)
    if outcome.outcome == "applied":
        metrics.add_metric(name="ConversationsApplied", unit="Count", value=1)
    logger.info("event handled", extra={"outcome": outcome.outcome, "rule_id": outcome.rule_id})
    return {
        "status": "ok",
        "conversation_id": parsed.conversation_id,
        "topic": parsed.topic,
        "outcome": outcome.outcome,
        "genesys_calls": rt.genesys.stats["calls"],
        "dry_run": rt.settings.dry_run,
    }
