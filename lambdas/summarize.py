"""Summarize: re-checks the run's failed transactions at finance, counts them by status and closes the run.

A transaction recorded ``failed`` may still have landed in the ledger: its answer was lost and
finance was unreachable when RecordResult tried to confirm it, or a late post landed after
that lookup. At the end of the run finance has often recovered, so each failed transaction is
looked up once more by idempotency key and the ones the ledger holds become ``posted``
before counting. A finance system it cannot reach raises its error, so Step Functions waits
for it one retry budget; after that the ``SummarizeUnconfirmed`` state calls this function
with ``unconfirmed`` set, and the run is counted and closed without the check (logged), the
transactions staying failed for ``ledgerflow reconcile``. The check never fails the summary.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from lambdas.finance_lookup import find_posted
from lambdas.handler_support import parse
from lambdas.models import RunState, RunStatus, RunSummary, TransactionStatus
from lambdas.observability import log_metrics, logger, metrics, tracer
from lambdas.store import confirm_posted, now_iso, run_statuses, update_run

RESERVED_MILLIS = 10_000
"""Time kept back from the function's timeout for counting and closing the run after the lookups."""


def confirm_failed(state: RunState, failed: list[str], has_time: Callable[[], bool] = lambda: True) -> list[str]:
    """Turn the run's ``failed`` transactions that the ledger holds into posted; returns the ids turned.

    A finance error propagates (Step Functions retries it); once ``state.unconfirmed`` says the
    retries ran out, the check is skipped and logged, so the run still closes.
    """
    if state.unconfirmed is not None:
        logger.warning(
            "finance unreachable for the run-end check of failed transactions; "
            "they stay failed for `ledgerflow reconcile`",
            extra={"error": state.unconfirmed.Error},
        )
        return []
    if not failed:
        return []
    found = find_posted(state.process, failed, has_time=has_time)
    confirmed = [tid for tid, record in found.items() if confirm_posted(state.run_id, tid, record.ledger_id)]
    if confirmed:
        logger.info(
            "failed transactions confirmed posted at finance by the run-end check", extra={"confirmed": len(confirmed)}
        )
    return confirmed


def summarize(state: RunState, has_time: Callable[[], bool] = lambda: True) -> RunSummary:
    """Confirm what the ledger holds, then count the run's transactions by status and close the run."""
    statuses = run_statuses(state.run_id)
    failed = [tid for tid, status in statuses.items() if status == TransactionStatus.FAILED.value]
    for tid in confirm_failed(state, failed, has_time):
        statuses[tid] = TransactionStatus.POSTED.value
    counts = Counter(statuses.values())
    pending = counts[TransactionStatus.PENDING.value]
    summary = RunSummary(
        process=state.process,
        run_id=state.run_id,
        status=RunStatus.COMPLETED if pending == 0 else RunStatus.INCOMPLETE,
        total=len(statuses),
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
@log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    summary = summarize(
        parse(RunState, event), has_time=lambda: context.get_remaining_time_in_millis() > RESERVED_MILLIS
    )
    if summary.pending:
        metrics.add_metric(name="TransactionsLeftPending", unit=MetricUnit.Count, value=summary.pending)
    return summary.model_dump()
