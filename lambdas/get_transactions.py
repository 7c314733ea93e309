"""GetTransactions: the next config-sized batch of pending transaction UUIDs, in Map chunks.

Only ids travel through the state machine (the 256 KiB payload limit); each Map item
carries ``chunk_size`` of them so one task invocation serves several transactions.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from lambdas.handler_support import parse
from lambdas.models import RunState
from lambdas.observability import log_metrics, logger, tracer
from lambdas.settings import process_settings
from lambdas.store import pending_page


def chunked(ids: list[str], size: int) -> list[list[str]]:
    return [ids[i : i + size] for i in range(0, len(ids), size)]


def get_transactions(state: RunState) -> RunState:
    settings = state.settings or process_settings(state.process)
    ids, cursor = pending_page(state.run_id, state.cursor, settings.batch_size)
    return state.model_copy(
        update={
            "chunks": chunked(ids, settings.chunk_size),
            "cursor": cursor,
            "batches": state.batches + 1,
            "has_work": bool(ids),
        }
    )


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return get_transactions(parse(RunState, event)).model_dump(mode="json")
