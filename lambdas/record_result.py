"""RecordResult: writes the terminal outcome of every transaction of one Map item.

On the success path it records posted and rejected lines. On the ``Catch`` path (retries
exhausted, or an unexpected error) it reads the outcome carried in the error message and
records the lines still unposted as failed, with the reason and the attempts made, so no
transaction is ever dropped silently.
"""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import ValidationError

from lambdas.handler_support import parse
from lambdas.models import ChunkCounts, PostOutcome, RecordInput, TaskFailure, TransactionStatus
from lambdas.observability import logger, metrics, tracer
from lambdas.store import record_outcome, record_posted


def outcome_from_failure(failure: TaskFailure) -> PostOutcome | None:
    """The partial outcome PostToFinance put in its error message, if the cause carries one."""
    try:
        cause = json.loads(failure.Cause)
        message = cause.get("errorMessage", "") if isinstance(cause, dict) else ""
        return PostOutcome.model_validate_json(message)
    except (ValueError, ValidationError):
        return None


def record(event: RecordInput) -> ChunkCounts:
    counts = ChunkCounts()
    for rejection in event.rejected:
        record_outcome(
            event.run_id,
            rejection.transaction_id,
            TransactionStatus.REJECTED,
            reason=rejection.reason,
            attempts=0,
        )
        counts.rejected += 1
    outcome = event.post
    if event.failure is not None:
        outcome = outcome_from_failure(event.failure)
    done: set[str] = set()
    if outcome is not None:
        counts.posted += record_posted(event.run_id, outcome.posted)
        done.update(posted.transaction_id for posted in outcome.posted)
        for rejection in outcome.rejected:
            record_outcome(
                event.run_id,
                rejection.transaction_id,
                TransactionStatus.REJECTED,
                reason=rejection.reason,
                attempts=outcome.attempt,
            )
            done.add(rejection.transaction_id)
            counts.rejected += 1
    if event.failure is not None:
        reasons = {f.transaction_id: f.reason for f in outcome.failed} if outcome else {}
        attempts = outcome.attempt if outcome else 0
        for line in event.entries:
            if line.transaction_id in done:
                continue
            detail = reasons.get(line.transaction_id) or event.failure.Cause[:300]
            reason = f"{event.failure.Error} after {attempts} attempt(s): {detail}"
            record_outcome(
                event.run_id, line.transaction_id, TransactionStatus.FAILED, reason=reason, attempts=attempts
            )
            counts.failed += 1
    return counts


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = parse(RecordInput, event)
    counts = record(request)
    metrics.add_dimension(name="process", value=request.process)
    if counts.failed:
        metrics.add_metric(name="TransactionsFailed", unit=MetricUnit.Count, value=counts.failed)
    if counts.rejected:
        metrics.add_metric(name="TransactionsRejected", unit=MetricUnit.Count, value=counts.rejected)
    return counts.model_dump()
