"""PostToFinance: one Map item end to end: its HCM rows into journals, posted, recorded.

One invocation reads the chunk's rows once (BatchGetItem), turns the pending ones into balanced
journals by the process's mapping rules (a record that cannot become one is rejected with a
reason naming the problem), posts the journals and writes every outcome back: posted rows whole
with their ledger id (BatchWriteItem), rejections with their reason. Doing all three in one task
keeps a Map item to one state transition and one Lambda invocation, and the rows are read once
instead of once per step.

The journals go in one batch request; each carries the idempotency key ``process:transaction_id``,
so a retried invocation or a duplicated HCM delivery never creates a second journal in the
ledger: a repeat gets the first post's ledger id back. Journals the finance system refuses (an
unbalanced journal, a closed period, an unknown account) are rejections, each with the finance
system's code and reason. When the request hits a transient error the invocation writes nothing
and raises that error's name: Step Functions ``Retry`` re-invokes the whole item (only the rows
still pending are posted again), and the error message carries the outcome, so the ``Catch``
path (RecordResult) can record each transaction exactly. A chunk that posted completely is kept
in the Powertools idempotency store (one record per chunk, not per transaction: two DynamoDB
writes per Map item), so a duplicate invocation of the same chunk is answered without posting
again.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyAlreadyInProgressError
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import Field

from lambdas.container import dynamodb_client, per_container
from lambdas.errors import OutcomeNotRecorded
from lambdas.finance_client import FinanceError, FinanceRejected, FinanceUnavailable
from lambdas.finance_lookup import finance_client, idempotency_key
from lambdas.handler_support import parse
from lambdas.journal import Journal
from lambdas.models import (
    ChunkCounts,
    Failed,
    PostChunkInput,
    Posted,
    PostOutcome,
    ProcessName,
    Rejection,
    StrictModel,
)
from lambdas.observability import log_metrics, logger, metrics, tracer
from lambdas.settings import process_settings, tables
from lambdas.store import load_transactions, record_chunk
from lambdas.transform import transform

IDEMPOTENCY_TTL_SECONDS = 7 * 24 * 3600


class PostBatch(StrictModel):
    """The journals of one chunk to post in one request: the idempotent unit."""

    process: ProcessName
    run_id: str
    journals: list[Journal]
    retry_count: int = Field(default=0, ge=0)


def chunk_key(batch: PostBatch) -> dict[str, Any]:
    """What identifies a chunk's post: its process, its run and its journals' transactions, in order."""
    return {
        "process": batch.process,
        "run_id": batch.run_id,
        "journals": [{"transaction_id": journal.transaction_id} for journal in batch.journals],
    }


def refusal_reason(refusal: FinanceRejected) -> str:
    """A finance refusal as a rejection reason: its code first (what reports group by), then its words."""
    return f"finance: {refusal.code}: {refusal.reason} (HTTP {refusal.status})"


def _post_chunk(batch: PostBatch) -> tuple[PostOutcome, FinanceError | None]:
    """One batch request for the chunk's journals; each journal keeps its own answer."""
    attempt = batch.retry_count + 1
    outcome = PostOutcome(attempt=attempt)
    if not batch.journals:
        return outcome, None
    keyed = [(idempotency_key(batch.process, journal.transaction_id), journal) for journal in batch.journals]
    try:
        answers = finance_client().post_entries(keyed)
    except FinanceRejected as exc:
        reason = refusal_reason(exc)
        outcome.rejected = [Rejection(transaction_id=j.transaction_id, reason=reason) for j in batch.journals]
        return outcome, None
    except FinanceError as exc:
        reason = f"{type(exc).__name__}: {exc}"
        outcome.failed = [Failed(transaction_id=j.transaction_id, reason=reason) for j in batch.journals]
        return outcome, exc
    for (_, journal), answer in zip(keyed, answers, strict=True):
        if isinstance(answer, FinanceRejected):
            outcome.rejected.append(Rejection(transaction_id=journal.transaction_id, reason=refusal_reason(answer)))
        else:
            outcome.posted.append(
                Posted(
                    transaction_id=journal.transaction_id,
                    ledger_id=answer.ledger_id,
                    duplicate=answer.duplicate,
                    attempt=attempt,
                )
            )
    return outcome, None


class ChunkNotPosted(Exception):
    """Raised inside the idempotent scope so a chunk with transient errors leaves no stored result."""

    def __init__(self, outcome: PostOutcome, error: FinanceError) -> None:
        super().__init__(outcome.model_dump_json())
        self.outcome = outcome
        self.error = error


@per_container
def _idempotent_chunk(table_name: str) -> tuple[IdempotencyConfig, Callable[..., dict[str, Any]]]:
    config = IdempotencyConfig(
        event_key_jmespath="[process, run_id, journals[*].transaction_id]",
        expires_after_seconds=IDEMPOTENCY_TTL_SECONDS,
    )
    # The container's DynamoDB client: the layer would otherwise build a session and client of
    # its own (tens of milliseconds: botocore loads its endpoint rules for each new session).
    persistence = DynamoDBPersistenceLayer(table_name=table_name, boto3_client=dynamodb_client())

    # Keyed on a small payload of the ids only: the layer dumps and deep-copies the payload it
    # hashes, and the journals' lines would multiply that work with nothing added to the key.
    @idempotent_function(data_keyword_argument="key", config=config, persistence_store=persistence)
    def post_once(key: dict[str, Any], batch: PostBatch) -> dict[str, Any]:
        outcome, error = _post_chunk(batch)
        if error is not None:
            raise ChunkNotPosted(outcome, error)
        return outcome.model_dump(mode="json")

    return config, post_once


def post_journals(batch: PostBatch, context: LambdaContext | None = None) -> tuple[PostOutcome, FinanceError | None]:
    """Post the chunk once; returns the outcome and the transient error that stopped it, if any.

    A chunk that posted completely is stored under its idempotency record, so the same chunk
    invoked again (a duplicate task, a retry after its outcome could not be recorded) is answered
    without HTTP calls; a chunk with transient errors stores nothing, and its retry re-posts the
    journals still pending under the same keys, which the finance system answers with the first
    post's ledger id.
    """
    config, post_once = _idempotent_chunk(tables().idempotency)
    if context is not None:
        config.register_lambda_context(context)
    try:
        return PostOutcome.model_validate(post_once(key=chunk_key(batch), batch=batch)), None
    except ChunkNotPosted as exc:
        return exc.outcome, exc.error
    except IdempotencyAlreadyInProgressError:
        reason = "the same chunk is being posted by another task"
        outcome = PostOutcome(
            attempt=batch.retry_count + 1,
            failed=[Failed(transaction_id=j.transaction_id, reason=reason) for j in batch.journals],
        )
        return outcome, FinanceUnavailable(reason)


def post_chunk(chunk: PostChunkInput, context: LambdaContext | None = None) -> ChunkCounts:
    """Transform, post and record one Map item; raises the transient error that stopped the post.

    An invocation that raises a finance error has written nothing: its retry reads the rows
    again and posts the journals still pending under the same idempotency keys. One that posted but
    could not record raises ``OutcomeNotRecorded`` with the outcome.
    """
    rows = load_transactions(chunk.run_id, chunk.ids)
    journals, malformed = transform(chunk.ids, rows, process_settings(chunk.process))
    outcome, error = PostOutcome(attempt=chunk.retry_count + 1), None
    if journals:
        batch = PostBatch(process=chunk.process, run_id=chunk.run_id, journals=journals, retry_count=chunk.retry_count)
        outcome, error = post_journals(batch, context)
    if error is not None:
        metrics.add_metric(name="FinanceTransientErrors", unit=MetricUnit.Count, value=1)
        raise type(error)(outcome.model_dump_json())
    try:
        counts = record_chunk(chunk.run_id, rows, malformed, outcome)
    except Exception as exc:
        # A write DynamoDB refused past botocore's own retries: the outcome is known, so it
        # travels in the error instead of being looked up again.
        raise OutcomeNotRecorded(outcome.model_dump_json()) from exc
    # Counted once recorded: the retry of an unrecorded chunk gets the same outcome back from
    # the idempotency store, and counting both attempts would post the journals twice in the metric.
    fresh = sum(1 for p in outcome.posted if not p.duplicate)
    metrics.add_metric(name="TransactionsPosted", unit=MetricUnit.Count, value=fresh)
    if counts.rejected:
        metrics.add_metric(name="TransactionsRejected", unit=MetricUnit.Count, value=counts.rejected)
    return counts


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    chunk = parse(PostChunkInput, event)
    metrics.add_dimension(name="process", value=chunk.process)
    return post_chunk(chunk, context).model_dump()
