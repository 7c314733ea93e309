"""Summarize: counts the run's transactions by status and closes the run record."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from lambdas.handler_support import parse
from lambdas.models import RunState, RunSummary, TransactionStatus
from lambdas.observability import logger, metrics, tracer
from lambdas.store import now_iso, status_counts, update_run


def summarize(state: RunState) -> RunSummary:
    counts = status_counts(state.run_id)
    pending = counts[TransactionStatus.PENDING.value]
    summary = RunSummary(
        process=state.process,
        run_id=state.run_id,
        status="completed" if pending == 0 else "incomplete",
        total=sum(counts.values()),
        posted=counts[TransactionStatus.POSTED.value],
        rejected=counts[TransactionStatus.REJECTED.value],
        failed=counts[TransactionStatus.FAILED.value],
        pending=pending,
    )
    update_run(
        state.run_id,
        status=summary.status,
        finished_at=now_iso(),
        posted=summary.posted,
        rejected=summary.rejected,
        failed=summary.failed,
        pending=summary.pending,
    )
    return summary


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    summary = summarize(parse(RunState, event))
    if summary.pending:
        metrics.add_metric(name="TransactionsLeftPending", unit=MetricUnit.Count, value=summary.pending)
    return summary.model_dump()
