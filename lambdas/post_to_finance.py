"""PostToFinance: posts the journal lines of one Map item to the finance system.

Each line is posted through a Powertools idempotent function keyed on
``process:transaction_id`` and sent with the same value as the finance system's
``Idempotency-Key``, so a retried invocation or a duplicated HCM delivery never creates a
second ledger entry. Lines the finance system refuses (4xx) are rejections. When any line
hits a transient error the invocation raises that error's name *after* trying every line:
Step Functions ``Retry`` then re-invokes the whole item, and lines already posted come back
from the idempotency store without another HTTP call. The error message carries the
outcome so far, so the ``Catch`` path can record each line exactly.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable
from functools import cache
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

from lambdas.finance_client import (
    FinanceClient,
    FinanceError,
    FinanceRejected,
    FinanceUnavailable,
    JournalEntry,
)
from lambdas.handler_support import parse
from lambdas.models import Failed, JournalLine, Posted, PostOutcome, ProcessName, Rejection, StrictModel
from lambdas.observability import logger, metrics, tracer
from lambdas.settings import env, tables

IDEMPOTENCY_TTL_SECONDS = 7 * 24 * 3600


class PostInput(StrictModel):
    process: ProcessName
    run_id: str
    entries: list[JournalLine]
    retry_count: int = Field(default=0, ge=0)


class PostRequest(StrictModel):
    idempotency_key: str
    attempt: int
    line: JournalLine


@cache
def _client(base_url: str, timeout_seconds: float, token_secret: str | None) -> FinanceClient:
    """One pooled client per configuration (cached for the container's lifetime)."""
    token: str | None = None
    if token_secret:
        from aws_lambda_powertools.utilities.parameters import get_secret

        token = str(get_secret(token_secret, max_age=300))
    return FinanceClient(base_url=base_url, timeout_seconds=timeout_seconds, token=token)


def finance_client() -> FinanceClient:
    return _client(
        env("FINANCE_BASE_URL"),
        float(os.environ.get("FINANCE_TIMEOUT_SECONDS", "5")),
        os.environ.get("FINANCE_TOKEN_SECRET_NAME") or None,
    )


@cache
def _idempotent_post(table_name: str) -> tuple[IdempotencyConfig, Callable[..., dict[str, Any]]]:
    config = IdempotencyConfig(
        event_key_jmespath="idempotency_key",
        expires_after_seconds=IDEMPOTENCY_TTL_SECONDS,
    )
    persistence = DynamoDBPersistenceLayer(table_name=table_name)

    @idempotent_function(data_keyword_argument="request", config=config, persistence_store=persistence)
    def post_once(request: PostRequest) -> dict[str, Any]:
        line = request.line
        result = finance_client().post_entry(
            JournalEntry(
                transaction_id=line.transaction_id,
                account=line.account,
                amount=line.amount,
                currency=line.currency,
                period=line.period,
                cost_centre=line.cost_centre,
                employee=line.employee,
                description=line.description,
            ),
            idempotency_key=request.idempotency_key,
        )
        return {"ledger_id": result.ledger_id, "duplicate": result.duplicate, "attempt": request.attempt}

    return config, post_once


def post_lines(batch: PostInput, context: LambdaContext | None = None) -> tuple[PostOutcome, list[Exception]]:
    """Post every line once; returns the outcome and the transient errors met."""
    config, post_once = _idempotent_post(tables().idempotency)
    if context is not None:
        config.register_lambda_context(context)
    attempt = batch.retry_count + 1
    outcome = PostOutcome(attempt=attempt)
    transient: list[Exception] = []
    for line in batch.entries:
        request = PostRequest(
            idempotency_key=f"{batch.process}:{line.transaction_id}", attempt=attempt, line=line
        )
        try:
            result = post_once(request=request)
        except FinanceRejected as exc:
            outcome.rejected.append(Rejection(transaction_id=line.transaction_id, reason=f"finance: {exc}"))
        except IdempotencyAlreadyInProgressError:
            transient.append(FinanceUnavailable("the same transaction is being posted by another task"))
            outcome.failed.append(
                Failed(transaction_id=line.transaction_id, reason="post already in progress")
            )
        except FinanceError as exc:
            transient.append(exc)
            outcome.failed.append(
                Failed(transaction_id=line.transaction_id, reason=f"{type(exc).__name__}: {exc}")
            )
        else:
            outcome.posted.append(Posted(transaction_id=line.transaction_id, **result))
    return outcome, transient


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    batch = parse(PostInput, event)
    outcome, transient = post_lines(batch, context)
    fresh = sum(1 for p in outcome.posted if not p.duplicate)
    metrics.add_metric(name="TransactionsPosted", unit=MetricUnit.Count, value=fresh)
    if transient:
        metrics.add_metric(name="FinanceTransientErrors", unit=MetricUnit.Count, value=len(transient))
        name, _ = Counter(type(exc).__name__ for exc in transient).most_common(1)[0]
        error_type = next(type(exc) for exc in transient if type(exc).__name__ == name)
        raise error_type(outcome.model_dump_json())
    return outcome.model_dump(mode="json")
