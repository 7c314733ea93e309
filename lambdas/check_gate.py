"""CheckGate: the first task of every batch; decides whether the run may post now.

A missing gate row means closed (fail closed). A closed gate counts one more pause, and
after ``max_pauses`` the run stops with ``GateClosedTooLong`` so the transactions stay
pending for the next run instead of waiting forever.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from lambdas.errors import GateClosedTooLong
from lambdas.handler_support import parse
from lambdas.models import RunState, RunStatus
from lambdas.observability import log_metrics, logger, metrics, tracer
from lambdas.settings import process_settings
from lambdas.store import clear_pause_token, gate_item, now_iso, update_run


def check_gate(state: RunState) -> RunState:
    settings = process_settings(state.process)
    item = gate_item(state.process)
    is_open = bool(item and item.get("open") is True)
    if is_open:
        if state.pauses:
            clear_pause_token(state.run_id)
            logger.info("gate reopened, resuming", extra={"business_process": state.process, "run_id": state.run_id})
        update_run(state.run_id, status=RunStatus.RUNNING)
        return state.model_copy(update={"gate_open": True, "settings": settings, "pauses": 0})
    if state.pauses >= settings.max_pauses:
        update_run(state.run_id, status=RunStatus.GATE_TIMEOUT)
        metrics.add_metric(name="GatePausedTooLong", unit=MetricUnit.Count, value=1)
        waited = state.pauses * settings.pause_interval_seconds
        raise GateClosedTooLong(
            f"gate of {state.process} closed for {waited}s (max {settings.max_pauses} pauses of "
            f"{settings.pause_interval_seconds}s); run {state.run_id} left pending"
        )
    reason = item.get("reason", "") if item else "no gate row (treated as closed)"
    update_run(state.run_id, status=RunStatus.PAUSED, paused_since=now_iso(), pause_reason=reason)
    metrics.add_metric(name="GatePaused", unit=MetricUnit.Count, value=1)
    return state.model_copy(update={"gate_open": False, "settings": settings, "pauses": state.pauses + 1})


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return check_gate(parse(RunState, event)).model_dump(mode="json")
