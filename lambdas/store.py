"""DynamoDB access for the handlers: gates, run records and HCM transactions.

Every write that can race is conditional, so a retried or duplicated task never
turns a posted transaction back into a failed one.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from boto3.dynamodb.conditions import Attr, ConditionBase
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from lambdas.container import dynamodb, dynamodb_client, per_container
from lambdas.models import ChunkCounts, Posted, PostOutcome, Rejection, TransactionStatus
from lambdas.settings import tables

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import Table
    from mypy_boto3_dynamodb.type_defs import WriteRequestOutputTypeDef, WriteRequestTypeDef

BATCH_GET_LIMIT = 100
BATCH_WRITE_LIMIT = 25
UNPROCESSED_BACKOFF_SECONDS = (0.05, 0.1, 0.2, 0.4, 0.8, 1.6)
"""Waits before sending a batch's unprocessed writes again; past the last, the write fails."""
CONDITION_REFUSED = frozenset({"ConditionalCheckFailedException", "TransactionCanceledException"})
"""The errors of a write whose condition did not hold (one write, or a transaction cancelled by one)."""


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def applied(write: Callable[[], object]) -> bool:
    """Run one conditional write: ``True`` when DynamoDB applied it, ``False`` when its condition refused it.

    Every other error propagates: only a refused condition is an answer.
    """
    try:
        write()
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in CONDITION_REFUSED:
            return False
        raise
    return True


@per_container
def table(name: str) -> Table:
    """The boto3 Table of ``name`` (one per warm container)."""
    return dynamodb().Table(name)


def gate_item(process: str) -> dict[str, Any] | None:
    """The gate row of a process, read consistently; ``None`` when there is none."""
    item: dict[str, Any] | None = (
        table(tables().gates).get_item(Key={"process": process}, ConsistentRead=True).get("Item")
    )
    return item


def update_run(run_id: str, **fields: Any) -> None:
    """Set fields on a run record (the HCM entry of one business-process run)."""
    fields["updated_at"] = now_iso()
    names = {f"#{k}": k for k in fields}
    values = {f":{k}": v for k, v in fields.items()}
    table(tables().runs).update_item(
        Key={"run_id": run_id},
        UpdateExpression="SET " + ", ".join(f"#{k} = :{k}" for k in fields),
        ExpressionAttributeNames=names,
        ExpressionAttributeValues=values,
    )


def clear_pause_token(run_id: str) -> None:
    table(tables().runs).update_item(
        Key={"run_id": run_id},
        UpdateExpression="REMOVE pause_token SET updated_at = :t",
        ExpressionAttributeValues={":t": now_iso()},
    )


def encode_cursor(key: dict[str, Any] | None) -> str | None:
    if not key:
        return None
    return base64.urlsafe_b64encode(json.dumps(key, sort_keys=True).encode()).decode()


def decode_cursor(cursor: str | None) -> dict[str, Any] | None:
    if not cursor:
        return None
    decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(cursor.encode()))
    return decoded


def pending_page(run_id: str, cursor: str | None, limit: int) -> tuple[list[str], str | None]:
    """Up to ``limit`` transaction ids of a run from ``cursor``, keeping the pending ones.

    DynamoDB applies ``Limit`` before the filter, so a page may hold fewer ids than the
    limit; the cursor still advances, and ``None`` means the run is exhausted.
    """
    kwargs: dict[str, Any] = {
        "KeyConditionExpression": "run_id = :r",
        "FilterExpression": "#s = :p",
        "ExpressionAttributeNames": {"#s": "status"},
        "ExpressionAttributeValues": {":r": run_id, ":p": TransactionStatus.PENDING.value},
        "ProjectionExpression": "transaction_id",
        "Limit": limit,
        "ConsistentRead": True,
    }
    start = decode_cursor(cursor)
    if start:
        kwargs["ExclusiveStartKey"] = start
    page = table(tables().transactions).query(**kwargs)
    ids = [str(item["transaction_id"]) for item in page.get("Items", [])]
    return ids, encode_cursor(page.get("LastEvaluatedKey"))


class WritesUnprocessed(Exception):
    """DynamoDB left writes of a batch unprocessed (throttled) after every wait: the batch is not written."""


class StagedRows(dict[str, dict[str, Any]]):
    """HCM rows by transaction id as Python values, each with its wire form kept for writing it back.

    The rows of a chunk are read once and, once posted, written back whole: writing back the
    wire form (DynamoDB's typed values, as read) spares converting every attribute, a journal's
    lines included, back from Python values.
    """

    def __init__(self) -> None:
        super().__init__()
        self.wire: dict[str, dict[str, Any]] = {}


_FROM_WIRE = TypeDeserializer()
_TO_WIRE = TypeSerializer()


def load_transactions(run_id: str, ids: Iterable[str]) -> StagedRows:
    """HCM records by id, fetched with BatchGetItem (unprocessed keys are fetched again)."""
    name = tables().transactions
    client = dynamodb_client()
    wanted = list(dict.fromkeys(ids))
    found = StagedRows()
    for start in range(0, len(wanted), BATCH_GET_LIMIT):
        keys = [
            {"run_id": {"S": run_id}, "transaction_id": {"S": tid}} for tid in wanted[start : start + BATCH_GET_LIMIT]
        ]
        request: dict[str, Any] = {name: {"Keys": keys, "ConsistentRead": True}}
        while request:
            response = client.batch_get_item(RequestItems=request)
            for wire in response["Responses"].get(name, []):
                row = {key: _FROM_WIRE.deserialize(value) for key, value in wire.items()}
                found[str(row["transaction_id"])] = row
                found.wire[str(row["transaction_id"])] = wire
            request = dict(response.get("UnprocessedKeys") or {})
    return found


def _write_all(requests: Sequence[WriteRequestTypeDef]) -> None:
    """BatchWriteItem in batches of 25, sending unprocessed writes again after a growing wait."""
    name = tables().transactions
    client = dynamodb_client()
    for start in range(0, len(requests), BATCH_WRITE_LIMIT):
        batch: Sequence[WriteRequestTypeDef | WriteRequestOutputTypeDef] = requests[start : start + BATCH_WRITE_LIMIT]
        for wait in (*UNPROCESSED_BACKOFF_SECONDS, None):
            unprocessed = client.batch_write_item(RequestItems={name: batch}).get("UnprocessedItems", {})
            batch = unprocessed.get(name, [])
            if not batch:
                break
            if wait is None:
                raise WritesUnprocessed(f"{len(batch)} write(s) to {name} unprocessed after every retry")
            time.sleep(wait)


def record_outcome(
    run_id: str,
    transaction_id: str,
    status: TransactionStatus,
    *,
    reason: str | None = None,
    attempts: int,
    ledger_id: str | None = None,
) -> bool:
    """Record a terminal outcome; a posted transaction is never overwritten by another outcome.

    Returns ``False`` when the write was refused because the transaction is already posted.
    """
    fields: dict[str, Any] = {"status": status.value, "attempts": attempts, "updated_at": now_iso()}
    if reason is not None:
        fields["reason"] = reason
    if ledger_id is not None:
        fields["ledger_id"] = ledger_id
    kwargs: dict[str, Any] = {
        "Key": {"run_id": run_id, "transaction_id": transaction_id},
        "UpdateExpression": "SET " + ", ".join(f"#{k} = :{k}" for k in fields),
        "ExpressionAttributeNames": {f"#{k}": k for k in fields},
        "ExpressionAttributeValues": {f":{k}": v for k, v in fields.items()},
    }
    condition: ConditionBase = Attr("transaction_id").exists()
    if status is not TransactionStatus.POSTED:
        condition = condition & Attr("status").ne(TransactionStatus.POSTED.value)
    return applied(lambda: table(tables().transactions).update_item(ConditionExpression=condition, **kwargs))


def record_posted(posted: Iterable[Posted], rows: StagedRows) -> int:
    """Record posted transactions with BatchWriteItem (25 rows per call); returns the rows written.

    A posted outcome is confirmed by the finance system under the transaction's idempotency key,
    so it is right whatever the row says now: the row this invocation read (``rows``, by id) is
    written back whole with the outcome, instead of one conditional ``UpdateItem`` per
    transaction. A stale failure reason is dropped. An id with no HCM row writes nothing.
    """
    requests: list[WriteRequestTypeDef] = []
    written: set[str] = set()
    for outcome in posted:
        wire = rows.wire.get(outcome.transaction_id)
        if wire is None or outcome.transaction_id in written:
            continue
        item = {k: v for k, v in wire.items() if k != "reason"}
        item.update(
            status={"S": TransactionStatus.POSTED.value},
            attempts=_TO_WIRE.serialize(outcome.attempt),
            ledger_id={"S": outcome.ledger_id},
            updated_at={"S": now_iso()},
        )
        requests.append({"PutRequest": {"Item": item}})
        written.add(outcome.transaction_id)
    _write_all(requests)
    return len(requests)


def record_chunk(run_id: str, rows: StagedRows, malformed: Iterable[Rejection], outcome: PostOutcome) -> ChunkCounts:
    """Record a chunk's known outcomes: malformed records rejected, the post's posted and refused journals."""
    counts = ChunkCounts()
    for rejection in malformed:
        record_outcome(
            run_id, rejection.transaction_id, TransactionStatus.REJECTED, reason=rejection.reason, attempts=0
        )
        counts.rejected += 1
    counts.posted += record_posted(outcome.posted, rows)
    for rejection in outcome.rejected:
        record_outcome(
            run_id,
            rejection.transaction_id,
            TransactionStatus.REJECTED,
            reason=rejection.reason,
            attempts=outcome.attempt,
        )
        counts.rejected += 1
    return counts


def run_statuses(run_id: str) -> dict[str, str]:
    """Every transaction of a run with its status, in one paginated query of the run's partition."""
    kwargs: dict[str, Any] = {
        "KeyConditionExpression": "run_id = :r",
        "ExpressionAttributeNames": {"#s": "status"},
        "ExpressionAttributeValues": {":r": run_id},
        "ProjectionExpression": "transaction_id, #s",
        "ConsistentRead": True,
    }
    transactions = table(tables().transactions)
    statuses: dict[str, str] = {}
    while True:
        page = transactions.query(**kwargs)
        statuses.update((str(item["transaction_id"]), str(item["status"])) for item in page.get("Items", []))
        if "LastEvaluatedKey" not in page:
            return statuses
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def confirm_posted(run_id: str, transaction_id: str, ledger_id: str) -> bool:
    """Turn a ``failed`` row the ledger turned out to hold into ``posted``, only if it is still failed.

    The failure reason moves to ``previous_reason`` (as a redrive keeps it) and the attempts
    stay as recorded. Returns ``False`` when the row is no longer failed (posted, or redriven).
    """
    return applied(
        lambda: table(tables().transactions).update_item(
            Key={"run_id": run_id, "transaction_id": transaction_id},
            UpdateExpression=(
                "SET #s = :posted, ledger_id = :ledger, previous_reason = reason, confirmed_at = :now, "
                "updated_at = :now REMOVE reason"
            ),
            ConditionExpression="#s = :failed",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={
                ":posted": TransactionStatus.POSTED.value,
                ":failed": TransactionStatus.FAILED.value,
                ":ledger": ledger_id,
                ":now": now_iso(),
            },
        )
    )
