"""The handlers' DynamoDB writes of posted rows: whole rows in their wire form, throttled batches sent again."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from botocore.stub import Stubber

from lambdas import store
from lambdas.container import dynamodb_client
from lambdas.models import Posted
from tests.fixtures.aws import Aws
from tests.unit.handler_calls import RUN_ID, seeded_ids


def posted(ids: list[str]) -> list[Posted]:
    return [Posted(transaction_id=tid, ledger_id=f"L-{tid}", duplicate=False, attempt=2) for tid in ids]


def test_record_posted_writes_each_row_read_once_whole_and_only_rows_it_read(aws: Aws) -> None:
    ids = seeded_ids(aws, 30)
    rows = store.load_transactions(RUN_ID, ids[:27])
    before = {tid: aws.transaction(RUN_ID, tid) for tid in ids}

    written = store.record_posted([*posted(ids), *posted(ids[:3])], rows)

    assert written == 27, "two batches; the ids posted twice and the rows never read write nothing"
    for tid in ids[:27]:
        row = aws.transaction(RUN_ID, tid)
        assert row.pop("updated_at") >= before[tid].get("updated_at", "")
        unchanged = {k: v for k, v in before[tid].items() if k != "updated_at"}
        assert row == unchanged | {"status": "posted", "attempts": 2, "ledger_id": f"L-{tid}"}
    assert [aws.transaction(RUN_ID, tid) for tid in ids[27:]] == [before[tid] for tid in ids[27:]]


def _left(requests: list[dict[str, Any]]) -> dict[str, Any]:
    """A BatchWriteItem answer of DynamoDB that left ``requests`` unprocessed."""
    return {"UnprocessedItems": {store.tables().transactions: requests} if requests else {}}


@contextmanager
def _throttled(
    ids: list[str], answers: list[list[int]], monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[store.StagedRows, list[list[str]], list[float]]]:
    """``record_posted`` of ``ids`` with DynamoDB leaving, call after call, the writes at ``answers``' positions.

    Gives the rows read, then the ids each call sent and the waits taken between calls.
    """
    rows = store.load_transactions(RUN_ID, ids)
    waits: list[float] = []
    monkeypatch.setattr(store.time, "sleep", waits.append)
    sent: list[list[str]] = []
    name = store.tables().transactions
    client = dynamodb_client()

    def keep(params: dict[str, Any], **_: Any) -> None:
        sent.append([request["PutRequest"]["Item"]["transaction_id"]["S"] for request in params["RequestItems"][name]])

    client.meta.events.register("provide-client-params.dynamodb.BatchWriteItem", keep)
    try:
        with Stubber(client) as stub:
            for left in answers:
                items = [
                    {"PutRequest": {"Item": rows.wire[ids[index]] | {"status": {"S": "posted"}}}} for index in left
                ]
                stub.add_response("batch_write_item", _left(items))
            yield rows, sent, waits
            stub.assert_no_pending_responses()
    finally:
        client.meta.events.unregister("provide-client-params.dynamodb.BatchWriteItem", keep)


def test_unprocessed_writes_are_sent_again_alone_after_growing_waits(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> None:
    ids = seeded_ids(aws, 3)
    with _throttled(ids, [[1, 2], [2], []], monkeypatch) as (rows, sent, waits):
        assert store.record_posted(posted(ids), rows) == 3
        assert sent == [ids, ids[1:], ids[2:]], "only what DynamoDB left goes again"
        assert waits == list(store.UNPROCESSED_BACKOFF_SECONDS[:2])


def test_writes_left_unprocessed_after_every_wait_fail_the_batch(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> None:
    ids = seeded_ids(aws, 2)
    attempts = len(store.UNPROCESSED_BACKOFF_SECONDS) + 1
    with _throttled(ids, [[1]] * attempts, monkeypatch) as (rows, sent, waits):
        with pytest.raises(store.WritesUnprocessed, match=r"^1 write\(s\) to \S+ unprocessed after every retry$"):
            store.record_posted(posted(ids), rows)
        assert sent == [ids] + [ids[1:]] * (attempts - 1)
        assert waits == list(store.UNPROCESSED_BACKOFF_SECONDS)
