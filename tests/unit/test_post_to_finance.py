"""PostToFinance: one Map item transformed, posted and recorded (moto, the finance simulator)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from botocore.client import BaseClient
from botocore.exceptions import ClientError

from lambdas import (
    record_result,
)
from lambdas.models import TransactionStatus
from lambdas.observability import metrics
from orchestration.engine.lambda_runtime import LocalContext
from orchestration.engine.metrics_capture import isolated_metrics
from orchestration.sim.finance import FinanceFaults, FinanceSimulator
from orchestration.sim.hcm import LinesForm
from tests.fixtures.aws import Aws
from tests.unit.handler_calls import (
    PROCESS,
    RUN_ID,
    UNKNOWN_COST_CENTRE,
    caught,
    failure_from,
    journals_of,
    post,
    post_expecting_error,
    post_unrecorded,
    seeded_ids,
    set_field,
)


def test_post_to_finance_posts_every_journal_and_records_it(
    aws: Aws, context: LocalContext, finance: FinanceSimulator
) -> None:
    ids = seeded_ids(aws, 5)
    journals = journals_of(ids)

    assert post(context, ids) == {"posted": 5, "rejected": 0, "failed": 0}

    ledger = {entry.transaction_id: entry for entry in finance.ledger()}
    assert set(ledger) == set(ids)
    assert finance.stats().requests == 1, "the whole chunk in one request"
    assert finance.stats().lines_posted == sum(len(journal.lines) for journal in journals)
    for journal in journals:
        booked = ledger[journal.transaction_id]
        assert booked.lines == journal.lines
        assert booked.total_debit == booked.total_credit > Decimal(0)
        assert (booked.ledger, booked.source, booked.period) == ("EXPENSES", "HCM Expenses", "2026-11")
        assert booked.idempotency_key == f"{PROCESS}:{journal.transaction_id}"
        row = aws.transaction(RUN_ID, journal.transaction_id)
        assert (row["status"], row["ledger_id"], row["attempts"]) == ("posted", booked.ledger_id, 1)


def test_post_to_finance_records_malformed_and_refused_journals_rejected_with_their_attempts(
    aws: Aws, context: LocalContext, finance: FinanceSimulator
) -> None:
    ids = seeded_ids(aws, 4)
    set_field(aws, ids[0], "currency", "XXQ")
    set_field(aws, ids[1], "cost_centre", UNKNOWN_COST_CENTRE)

    assert post(context, ids, retry_count=1) == {"posted": 2, "rejected": 2, "failed": 0}

    malformed, unknown = aws.transaction(RUN_ID, ids[0]), aws.transaction(RUN_ID, ids[1])
    assert malformed["status"] == "rejected" and "currency" in malformed["reason"]
    assert malformed["attempts"] == 0, "never sent to finance"
    assert unknown["status"] == "rejected"
    company = aws.transaction(RUN_ID, ids[1])["company"]
    assert unknown["reason"].startswith(f"finance: unknown_account: EF04 account '{company}-62")
    assert unknown["reason"].endswith("cost_centre 'XX999' is not in the chart (HTTP 422)")
    assert unknown["attempts"] == 2
    ledger = {e.transaction_id: e.ledger_id for e in finance.ledger()}
    assert set(ledger) == set(ids[2:])
    for tid in ids[2:]:
        row = aws.transaction(RUN_ID, tid)
        assert (row["status"], row["ledger_id"], row["attempts"]) == ("posted", ledger[tid], 2)


@pytest.mark.parametrize("lines_as", ["json", "list"])
def test_post_to_finance_writes_a_posted_row_whole_keeping_the_hcm_fields_and_dropping_an_old_reason(
    aws: Aws, context: LocalContext, finance: FinanceSimulator, lines_as: LinesForm
) -> None:
    ids = seeded_ids(aws, 2, lines_as=lines_as)
    set_field(aws, ids[0], "reason", "FinanceOverloaded after 3 attempt(s)")
    before = {tid: aws.transaction(RUN_ID, tid) for tid in ids}
    assert all(isinstance(row["lines"], str if lines_as == "json" else list) for row in before.values())

    assert post(context, ids) == {"posted": 2, "rejected": 0, "failed": 0}

    ledger = {e.transaction_id: e.ledger_id for e in finance.ledger()}
    for tid in ids:
        row = aws.transaction(RUN_ID, tid)
        assert row.pop("updated_at") >= before[tid].get("updated_at", "")
        expected = {k: v for k, v in before[tid].items() if k not in ("updated_at", "reason")}
        assert row == expected | {"status": "posted", "attempts": 1, "ledger_id": ledger[tid]}


def test_post_to_finance_posts_only_the_journals_still_pending(
    aws: Aws, context: LocalContext, finance: FinanceSimulator
) -> None:
    ids = seeded_ids(aws, 4)
    assert post(context, ids[:2]) == {"posted": 2, "rejected": 0, "failed": 0}
    requests = finance.stats().requests

    assert post(context, ids) == {"posted": 2, "rejected": 0, "failed": 0}
    assert post(context, ids, retry_count=1) == {"posted": 0, "rejected": 0, "failed": 0}

    assert finance.stats().requests == requests + 1, "a chunk with nothing pending makes no request"
    assert sorted(e.transaction_id for e in finance.ledger()) == sorted(ids)
    assert finance.stats().duplicates_absorbed == 0


def test_post_to_finance_answers_a_repeated_chunk_from_the_idempotency_store(
    aws: Aws, context: LocalContext, finance: FinanceSimulator
) -> None:
    """The same transactions pending again (a duplicate delivery read them before the first post was
    recorded): the chunk's idempotency record answers, with no request to finance."""
    ids = seeded_ids(aws, 4)
    post(context, ids)
    first = {tid: aws.transaction(RUN_ID, tid)["ledger_id"] for tid in ids}
    requests = finance.stats().requests
    for tid in ids:
        aws.set_status(RUN_ID, tid, TransactionStatus.PENDING)

    assert post(context, ids, retry_count=1) == {"posted": 4, "rejected": 0, "failed": 0}

    assert finance.stats().requests == requests
    assert {tid: aws.transaction(RUN_ID, tid)["ledger_id"] for tid in ids} == first
    assert len(finance.ledger()) == len(ids)


def test_post_to_finance_dedupes_in_the_ledger_when_the_idempotency_store_is_lost(
    aws: Aws, context: LocalContext, finance: FinanceSimulator
) -> None:
    ids = seeded_ids(aws, 3)
    post(context, ids)
    first = {tid: aws.transaction(RUN_ID, tid)["ledger_id"] for tid in ids}
    table = aws.resource.Table(aws.config.resource_name("idempotency"))
    for item in table.scan()["Items"]:
        table.delete_item(Key={"id": item["id"]})
    for tid in ids:
        aws.set_status(RUN_ID, tid, TransactionStatus.PENDING)

    assert post(context, ids) == {"posted": 3, "rejected": 0, "failed": 0}

    assert {tid: aws.transaction(RUN_ID, tid)["ledger_id"] for tid in ids} == first
    assert len(finance.ledger()) == len(ids)
    assert finance.stats().duplicates_absorbed == len(ids)


def test_post_to_finance_throttled_raises_with_the_outcome_writes_nothing_then_the_retry_gets_dedup_answers(
    aws: Aws, context: LocalContext, finance: FinanceSimulator
) -> None:
    ids = seeded_ids(aws, 5)
    early = post_unrecorded(finance, journals_of(ids[:2]))
    finance.faults = FinanceFaults(throttle_rate=1.0)

    error, outcome = post_expecting_error(context, ids, retry_count=0)

    assert type(error).__name__ == "FinanceThrottled"
    assert outcome.posted == []
    assert [f.transaction_id for f in outcome.failed] == ids
    assert all("FinanceThrottled" in f.reason for f in outcome.failed)
    assert finance.stats().faults_injected["throttle"] == 1
    assert {aws.transaction(RUN_ID, tid)["status"] for tid in ids} == {"pending"}

    finance.faults = FinanceFaults()
    requests_before = finance.stats().requests
    assert post(context, ids, retry_count=1) == {"posted": 5, "rejected": 0, "failed": 0}

    assert finance.stats().requests - requests_before == 1  # the whole chunk in one request
    rows = {tid: aws.transaction(RUN_ID, tid) for tid in ids}
    assert {tid: rows[tid]["ledger_id"] for tid in early} == early
    assert {row["attempts"] for row in rows.values()} == {2}
    assert sorted(e.transaction_id for e in finance.ledger()) == sorted(ids)
    assert finance.stats().duplicates_absorbed == len(early)


def test_post_to_finance_that_cannot_record_raises_the_outcome_for_the_catch_path_to_record(
    aws: Aws, context: LocalContext, finance: FinanceSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The post landed but DynamoDB refused the write (past botocore's retries): the error carries
    the outcome, a retry is answered by the idempotency record, and RecordResult records the
    outcome as it was (refusals rejected with their reason, no lookups at finance)."""
    ids = seeded_ids(aws, 3)
    set_field(aws, ids[1], "cost_centre", UNKNOWN_COST_CENTRE)
    make_api_call = BaseClient._make_api_call  # type: ignore[attr-defined]  # botocore's dispatch of every client

    def throttled_writes(client: BaseClient, operation: str, params: dict[str, Any]) -> Any:
        tables = {params.get("TableName"), *params.get("RequestItems", {})}
        if operation in ("BatchWriteItem", "UpdateItem") and aws.transactions_table in tables:
            raise ClientError(
                {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow down"}}, operation
            )
        return make_api_call(client, operation, params)

    documents: list[dict[str, Any]] = []
    with monkeypatch.context() as patch, isolated_metrics(metrics, documents.append):
        patch.setattr(BaseClient, "_make_api_call", throttled_writes)
        first, outcome = post_expecting_error(context, ids)
        requests = finance.stats().requests
        retried, _ = post_expecting_error(context, ids, retry_count=1)
    assert not [d for d in documents if "TransactionsPosted" in d], "nothing recorded, nothing counted posted"

    assert type(first).__name__ == type(retried).__name__ == "OutcomeNotRecorded"
    assert finance.stats().requests == requests, "the retry is answered by the idempotency record"
    assert [p.transaction_id for p in outcome.posted] == [ids[0], ids[2]]
    assert [r.transaction_id for r in outcome.rejected] == [ids[1]]
    assert {aws.transaction(RUN_ID, tid)["status"] for tid in ids} == {"pending"}

    counts = record_result.handler(caught(ids, failure_from(retried)), context)

    assert counts == {"posted": 2, "rejected": 1, "failed": 0}
    assert finance.stats().lookups == 0
    ledger = {e.transaction_id: e.ledger_id for e in finance.ledger()}
    for tid in (ids[0], ids[2]):
        row = aws.transaction(RUN_ID, tid)
        assert (row["status"], row["ledger_id"], row["attempts"]) == ("posted", ledger[tid], 1)
    refused = aws.transaction(RUN_ID, ids[1])
    assert refused["status"] == "rejected" and "unknown_account" in refused["reason"]


def emitted(document: dict[str, Any]) -> dict[str, Any]:
    """An EMF document's metric values by name, and its dimensions' values."""
    [directive] = document["_aws"]["CloudWatchMetrics"]
    values = {m["Name"]: document[m["Name"]] for m in directive["Metrics"]}
    dimensions = {name: document[name] for dimension_set in directive["Dimensions"] for name in dimension_set}
    return values | {"dimensions": dimensions}


def test_the_outcome_metrics_the_alarms_watch_carry_the_process(
    aws: Aws, context: LocalContext, finance: FinanceSimulator
) -> None:
    """``<process>-transactions-rejected`` and ``-failed`` watch these metrics with the process dimension."""
    ids = seeded_ids(aws, 4)
    set_field(aws, ids[0], "currency", "XXQ")
    set_field(aws, ids[1], "cost_centre", UNKNOWN_COST_CENTRE)
    documents: list[dict[str, Any]] = []
    with isolated_metrics(metrics, documents.append):
        post(context, ids[:3])
        finance.faults = FinanceFaults(overload_rate=1.0)
        error, _ = post_expecting_error(context, ids[3:])
        record_result.handler(caught(ids[3:], failure_from(error)), context)

    posted, overloaded, caught_path = (emitted(d) for d in documents)
    assert posted["TransactionsRejected"] == [2.0] and posted["TransactionsPosted"] == [1.0]
    assert overloaded["FinanceTransientErrors"] == [1.0]
    assert caught_path["TransactionsFailed"] == [1.0]
    for document in (posted, overloaded, caught_path):
        assert document["dimensions"]["process"] == PROCESS
