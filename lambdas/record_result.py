"""RecordResult: the ``Catch`` path of a Map item, recording every transaction PostToFinance left open.

PostToFinance records its own outcomes when it succeeds. When it gives up (retries exhausted,
a crash, an unexpected error) the item comes here: RecordResult reads the chunk's rows, takes
the transactions still pending, reads the outcome carried in the error message, then asks the
finance system, by idempotency key, whether each journal still unposted is in the
ledger after all: a post whose answer was lost (a crash after the post, a reply after the
client timeout) is recorded ``posted`` with its ledger id, and only the transactions the ledger
does not hold are recorded ``failed``, with the reason and the attempts made. A lookup that
hits a transient finance error raises it, so Step Functions retries RecordResult; when those
retries run out too, the ``RecordUnconfirmed`` state calls this function again with
``unconfirmed`` set and the transactions are recorded ``failed`` with a reason saying the post could
not be confirmed. No transaction is ever dropped silently.
"""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import ValidationError

from lambdas.finance_lookup import find_posted
from lambdas.handler_support import parse
from lambdas.journal import Journal, LedgerRecord
from lambdas.models import (
    ChunkCounts,
    Posted,
    PostOutcome,
    RecordInput,
    TaskFailure,
    TransactionStatus,
)
from lambdas.observability import log_metrics, logger, metrics, tracer
from lambdas.settings import process_settings
from lambdas.store import load_transactions, record_chunk, record_outcome, record_posted
from lambdas.transform import transform

UNCONFIRMED_NOTE = "finance unreachable to confirm the post: `ledgerflow reconcile` checks it"
"""Appended to the reason of a transaction recorded failed without the finance lookup's answer."""


def outcome_from_failure(failure: TaskFailure) -> PostOutcome | None:
    """The partial outcome PostToFinance put in its error message, if the cause carries one."""
    try:
        cause = json.loads(failure.Cause)
        message = cause.get("errorMessage", "") if isinstance(cause, dict) else ""
        return PostOutcome.model_validate_json(message)
    except (ValueError, ValidationError):
        return None


def failure_attempts(outcome: PostOutcome | None) -> tuple[int, str]:
    """The attempts a failed item made, and how to state them in a reason.

    A finance error carries the outcome of the last attempt, whose ``attempt`` counts every
    retry of the state. An error without one (a runtime crash, a task timeout) only proves
    that at least one attempt ran; the exact count is in the execution history.
    """
    if outcome is not None:
        return outcome.attempt, f"{outcome.attempt}"
    return 1, "at least 1"


def unposted_journals(journals: list[Journal], outcome: PostOutcome | None) -> list[Journal]:
    """The item's pending journals a failed post left without a posted or rejected outcome."""
    done: set[str] = set()
    if outcome is not None:
        done = {p.transaction_id for p in outcome.posted} | {r.transaction_id for r in outcome.rejected}
    return [journal for journal in journals if journal.transaction_id not in done]


def record(event: RecordInput) -> ChunkCounts:
    """Record every transaction of the item still pending; confirm the unposted ones at finance first.

    The lookup runs before any write, so an invocation whose lookup fails (and is retried)
    has written nothing. Transactions no longer pending (recorded by an earlier attempt or
    another delivery of the same transaction) are left as they are.
    """
    rows = load_transactions(event.run_id, event.ids)
    journals, malformed = transform(event.ids, rows, process_settings(event.process))
    outcome = outcome_from_failure(event.failure)
    unposted = unposted_journals(journals, outcome)
    confirmed: dict[str, LedgerRecord] = {}
    if unposted and event.unconfirmed is None:
        confirmed = find_posted(event.process, (journal.transaction_id for journal in unposted))
        if confirmed:
            logger.info("lost answers confirmed posted at finance", extra={"confirmed": sorted(confirmed)})
    counts = record_chunk(event.run_id, rows, malformed, outcome or PostOutcome())
    attempts, attempts_text = failure_attempts(outcome)
    lost_answers = [
        Posted(transaction_id=tid, ledger_id=found.ledger_id, duplicate=True, attempt=attempts)
        for tid, found in confirmed.items()
    ]
    counts.posted += record_posted(lost_answers, rows)
    reasons = {f.transaction_id: f.reason for f in outcome.failed} if outcome else {}
    for journal in unposted:
        if journal.transaction_id in confirmed:
            continue
        detail = reasons.get(journal.transaction_id) or event.failure.Cause[:300]
        reason = f"{event.failure.Error} after {attempts_text} attempt(s): {detail}"
        if event.unconfirmed is not None:
            reason = f"{reason}; {UNCONFIRMED_NOTE} ({event.unconfirmed.Error})"
        record_outcome(event.run_id, journal.transaction_id, TransactionStatus.FAILED, reason=reason, attempts=attempts)
        counts.failed += 1
    return counts


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = parse(RecordInput, event)
    counts = record(request)
    metrics.add_dimension(name="process", value=request.process)
    if counts.failed:
        metrics.add_metric(name="TransactionsFailed", unit=MetricUnit.Count, value=counts.failed)
    if counts.rejected:
        metrics.add_metric(name="TransactionsRejected", unit=MetricUnit.Count, value=counts.rejected)
    return counts.model_dump()
