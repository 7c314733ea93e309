"""The Lambda handlers, invoked the way Lambda invokes them, against moto and the finance simulator."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import boto3
import pytest
from botocore.client import BaseClient
from botocore.exceptions import ClientError

from lambdas import (
    check_gate,
    get_transactions,
    post_to_finance,
    record_result,
    start_next,
    summarize,
    wait_for_gate,
)
from lambdas.errors import GateClosedTooLong
from lambdas.finance_client import FinanceClient, FinanceOverloaded, JournalEntry, PostResult
from lambdas.models import PostOutcome, RunInput, TransactionStatus
from lambdas.observability import metrics
from lambdas.store import load_transactions, record_outcome
from lambdas.transform import transform
from orchestration.engine.lambda_runtime import LocalContext
from orchestration.engine.metrics_capture import isolated_metrics
from orchestration.ops.gates import GateStore
from orchestration.sim.finance import FinanceFaults, FinanceSimulator
from tests.unit.conftest import Aws

PROCESS = "expense_report"
RUN_ID = "run-2026-11-a"
UNKNOWN_ACCOUNT = "9999-UNKNOWN"


def run_state(**overrides: Any) -> dict[str, Any]:
    """The run state as the ASL ``Init`` state builds it."""
    state: dict[str, Any] = {
        "process": PROCESS,
        "run_id": RUN_ID,
        "cursor": None,
        "sequence": 0,
        "pauses": 0,
        "batches": 0,
    }
    state.update(overrides)
    return state


def gates(aws: Aws) -> GateStore:
    return GateStore(aws.dynamodb, aws.gates_table, aws.audit_table)


def lines_of(ids: list[str], run_id: str = RUN_ID) -> list[dict[str, Any]]:
    """The journal lines PostToFinance builds from the stored rows, as JSON."""
    entries, _ = transform(ids, load_transactions(run_id, ids))
    return [line.model_dump(mode="json") for line in entries]


def post(context: LocalContext, ids: list[str], retry_count: int = 0) -> dict[str, Any]:
    out: dict[str, Any] = post_to_finance.handler(
        {"process": PROCESS, "run_id": RUN_ID, "ids": ids, "retry_count": retry_count}, context
    )
    return out


def post_expecting_error(context: LocalContext, ids: list[str], retry_count: int = 0) -> tuple[Exception, PostOutcome]:
    with pytest.raises(Exception) as raised:
        post(context, ids, retry_count)
    return raised.value, PostOutcome.model_validate_json(str(raised.value))


# -- CheckGate ----------------------------------------------------------------


def test_check_gate_open_attaches_settings_and_resets_pauses(aws: Aws, context: LocalContext) -> None:
    aws.seed(PROCESS, RUN_ID, 1)
    wait_for_gate.handler({"state": run_state(pauses=2), "token": "tok-1"}, context)
    gates(aws).set(PROCESS, open_=True, reason="period open", who="tester")

    out = check_gate.handler(run_state(pauses=2), context)

    assert out["gate_open"] is True
    assert out["pauses"] == 0
    assert out["settings"] == aws.config.process_settings(PROCESS).model_dump()
    run = aws.run(RUN_ID)
    assert run["status"] == "running"
    assert "pause_token" not in run


def test_check_gate_without_gate_row_fails_closed(aws: Aws, context: LocalContext) -> None:
    aws.seed(PROCESS, RUN_ID, 1)

    out = check_gate.handler(run_state(pauses=3), context)

    assert out["gate_open"] is False
    assert out["pauses"] == 4
    assert out["settings"]["process"] == PROCESS
    run = aws.run(RUN_ID)
    assert run["status"] == "paused"
    assert "no gate row" in run["pause_reason"]
    assert run["paused_since"]


def test_check_gate_closed_row_pauses_with_its_reason(aws: Aws, context: LocalContext) -> None:
    aws.seed(PROCESS, RUN_ID, 1)
    gates(aws).set(PROCESS, open_=False, reason="month-end close", who="tester")

    out = check_gate.handler(run_state(), context)

    assert out["gate_open"] is False
    assert out["pauses"] == 1
    assert aws.run(RUN_ID)["pause_reason"] == "month-end close"


def test_check_gate_gives_up_after_max_pauses(aws: Aws, context: LocalContext) -> None:
    aws.seed(PROCESS, RUN_ID, 1)
    max_pauses = aws.config.process_settings(PROCESS).max_pauses

    last = check_gate.handler(run_state(pauses=max_pauses - 1), context)
    assert last["pauses"] == max_pauses
    assert aws.run(RUN_ID)["status"] == "paused"

    with pytest.raises(GateClosedTooLong, match=RUN_ID):
        check_gate.handler(last, context)
    assert aws.run(RUN_ID)["status"] == "gate_timeout"
    # The transactions stay pending for the next run.
    items = aws.resource.Table(aws.transactions_table).scan()["Items"]
    assert {item["status"] for item in items} == {TransactionStatus.PENDING.value}


# -- WaitForGate --------------------------------------------------------------


def test_wait_for_gate_stores_the_token_on_the_run_record(aws: Aws, context: LocalContext) -> None:
    aws.seed(PROCESS, RUN_ID, 1)

    out = wait_for_gate.handler({"state": run_state(pauses=1), "token": "task-token-123"}, context)

    assert out == {"waiting": True}
    run = aws.run(RUN_ID)
    assert run["pause_token"] == "task-token-123"
    assert run["status"] == "paused"
    assert run["process"] == PROCESS


# -- GetTransactions ----------------------------------------------------------


def test_get_transactions_pages_pending_ids_until_the_cursor_is_exhausted(aws: Aws, context: LocalContext) -> None:
    seeded = aws.seed(PROCESS, RUN_ID, 23)
    aws.seed(PROCESS, "other-run", 5)  # another run's transactions never leak in
    ids = [t["transaction_id"] for t in seeded.transactions]
    done = {
        ids[0]: TransactionStatus.POSTED,
        ids[5]: TransactionStatus.FAILED,
        ids[11]: TransactionStatus.REJECTED,
    }
    for tid, status in done.items():
        aws.set_status(RUN_ID, tid, status)
    settings = aws.config.process_settings(PROCESS).model_copy(update={"batch_size": 7, "chunk_size": 3})

    state = run_state(settings=settings.model_dump(), gate_open=True)
    seen: list[str] = []
    calls = 0
    while True:
        state = get_transactions.handler(state, context)
        calls += 1
        page = [tid for chunk in state["chunks"] for tid in chunk]
        assert len(page) <= settings.batch_size
        assert all(1 <= len(chunk) <= settings.chunk_size for chunk in state["chunks"])
        assert all(len(chunk) == settings.chunk_size for chunk in state["chunks"][:-1])
        assert state["has_work"] is bool(page)
        assert state["batches"] == calls
        seen += page
        if state["cursor"] is None:
            break
        assert calls < 20, "cursor never reached the end"

    assert calls >= 3
    assert len(seen) == len(set(seen))
    assert set(seen) == set(ids) - set(done)


def test_get_transactions_uses_process_settings_when_state_has_none(aws: Aws, context: LocalContext) -> None:
    process = "supplier_invoice"
    settings = aws.config.process_settings(process)
    count = settings.chunk_size * 2 + 1
    seeded = aws.seed(process, RUN_ID, count)

    out = get_transactions.handler(run_state(process=process), context)

    assert out["cursor"] is None
    assert [len(chunk) for chunk in out["chunks"]] == [settings.chunk_size, settings.chunk_size, 1]
    assert {tid for chunk in out["chunks"] for tid in chunk} == {t["transaction_id"] for t in seeded.transactions}


def test_get_transactions_of_an_empty_run_has_no_work(aws: Aws, context: LocalContext) -> None:
    out = get_transactions.handler(run_state(), context)
    assert out["has_work"] is False
    assert out["chunks"] == []
    assert out["cursor"] is None


# -- PostToFinance ------------------------------------------------------------


def seeded_ids(aws: Aws, count: int, run_id: str = RUN_ID) -> list[str]:
    return [t["transaction_id"] for t in aws.seed(PROCESS, run_id, count).transactions]


def set_field(aws: Aws, transaction_id: str, field: str, value: Any) -> None:
    aws.resource.Table(aws.transactions_table).update_item(
        Key={"run_id": RUN_ID, "transaction_id": transaction_id},
        UpdateExpression="SET #f = :v",
        ExpressionAttributeNames={"#f": field},
        ExpressionAttributeValues={":v": value},
    )


def test_post_to_finance_posts_every_line_and_records_it(
    aws: Aws, context: LocalContext, finance: FinanceSimulator
) -> None:
    ids = seeded_ids(aws, 5)
    lines = lines_of(ids)

    assert post(context, ids) == {"posted": 5, "rejected": 0, "failed": 0}

    ledger = {entry.transaction_id: entry for entry in finance.ledger()}
    assert set(ledger) == set(ids)
    assert finance.stats().requests == 1, "the whole chunk in one request"
    for line in lines:
        booked = ledger[line["transaction_id"]]
        assert booked.amount == Decimal(line["amount"])
        assert booked.account == line["account"]
        assert booked.idempotency_key == f"{PROCESS}:{line['transaction_id']}"
        row = aws.transaction(RUN_ID, line["transaction_id"])
        assert (row["status"], row["ledger_id"], row["attempts"]) == ("posted", booked.ledger_id, 1)


def test_post_to_finance_records_malformed_and_refused_lines_rejected_with_their_attempts(
    aws: Aws, context: LocalContext, finance: FinanceSimulator
) -> None:
    ids = seeded_ids(aws, 4)
    set_field(aws, ids[0], "currency", "XXQ")
    set_field(aws, ids[1], "gl_account", UNKNOWN_ACCOUNT)

    assert post(context, ids, retry_count=1) == {"posted": 2, "rejected": 2, "failed": 0}

    malformed, unknown = aws.transaction(RUN_ID, ids[0]), aws.transaction(RUN_ID, ids[1])
    assert malformed["status"] == "rejected" and "currency" in malformed["reason"]
    assert malformed["attempts"] == 0, "never sent to finance"
    assert unknown["status"] == "rejected" and "unknown_account" in unknown["reason"]
    assert unknown["attempts"] == 2
    ledger = {e.transaction_id: e.ledger_id for e in finance.ledger()}
    assert set(ledger) == set(ids[2:])
    for tid in ids[2:]:
        row = aws.transaction(RUN_ID, tid)
        assert (row["status"], row["ledger_id"], row["attempts"]) == ("posted", ledger[tid], 2)


def test_post_to_finance_writes_a_posted_row_whole_keeping_the_hcm_fields_and_dropping_an_old_reason(
    aws: Aws, context: LocalContext, finance: FinanceSimulator
) -> None:
    ids = seeded_ids(aws, 2)
    set_field(aws, ids[0], "reason", "FinanceOverloaded after 3 attempt(s)")
    before = {tid: aws.transaction(RUN_ID, tid) for tid in ids}

    assert post(context, ids) == {"posted": 2, "rejected": 0, "failed": 0}

    ledger = {e.transaction_id: e.ledger_id for e in finance.ledger()}
    for tid in ids:
        row = aws.transaction(RUN_ID, tid)
        assert row.pop("updated_at") >= before[tid].get("updated_at", "")
        expected = {k: v for k, v in before[tid].items() if k not in ("updated_at", "reason")}
        assert row == expected | {"status": "posted", "attempts": 1, "ledger_id": ledger[tid]}


def test_post_to_finance_posts_only_the_lines_still_pending(
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
    """The same lines pending again (a duplicate delivery read them before the first post was
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
    early = post_unrecorded(finance, lines_of(ids[:2]))
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
    set_field(aws, ids[1], "gl_account", UNKNOWN_ACCOUNT)
    make_api_call = BaseClient._make_api_call

    def throttled_writes(client: BaseClient, operation: str, params: dict[str, Any]) -> Any:
        tables = {params.get("TableName"), *params.get("RequestItems", {})}
        if operation in ("BatchWriteItem", "UpdateItem") and aws.transactions_table in tables:
            error = {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow down"}}
            raise ClientError(error, operation)
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
    set_field(aws, ids[1], "gl_account", UNKNOWN_ACCOUNT)
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


# -- RecordResult (the Catch path) ---------------------------------------------


def failure_from(error: Exception, catch_error: str | None = None) -> dict[str, str]:
    """The ``$.failure`` object Step Functions' Catch adds for a Lambda function error."""
    cause = {"errorType": type(error).__name__, "errorMessage": str(error)}
    return {"Error": catch_error or type(error).__name__, "Cause": json.dumps(cause)}


def caught(ids: list[str], failure: dict[str, str], **extra: Any) -> dict[str, Any]:
    """RecordResult's input: the Map item PostToFinance gave up on, with the Catch's ``failure``."""
    return {"process": PROCESS, "run_id": RUN_ID, "ids": ids, "failure": failure, **extra}


def test_record_result_records_every_open_line_failed_with_reason_and_attempts(
    aws: Aws, context: LocalContext, finance: FinanceSimulator
) -> None:
    ids = seeded_ids(aws, 5)
    set_field(aws, ids[0], "period", "2026-13")
    finance.faults = FinanceFaults(overload_rate=1.0)
    for retry in range(3):
        error, outcome = post_expecting_error(context, ids, retry_count=retry)
    assert type(error).__name__ == "FinanceOverloaded"
    assert outcome.attempt == 3

    counts = record_result.handler(caught(ids, failure_from(error)), context)

    assert counts == {"posted": 0, "rejected": 1, "failed": 4}
    assert finance.ledger() == []
    malformed = aws.transaction(RUN_ID, ids[0])
    assert (malformed["status"], malformed["attempts"]) == ("rejected", 0)
    assert "period" in malformed["reason"]
    for tid in ids[1:]:
        row = aws.transaction(RUN_ID, tid)
        assert row["status"] == "failed"
        assert row["attempts"] == 3
        assert row["reason"].startswith("FinanceOverloaded after 3 attempt(s): FinanceOverloaded: 503")
        assert "database_overloaded" in row["reason"]


CRASH = {"Error": "Runtime.ExitError", "Cause": "Runtime exited with error: signal: killed"}


def post_unrecorded(finance: FinanceSimulator, entries: list[dict[str, Any]]) -> dict[str, str]:
    """Post lines under their real idempotency keys with no invocation reporting it: a lost answer."""
    with FinanceClient(finance.url, timeout_seconds=2) as client:
        answers = client.post_entries(
            [(f"{PROCESS}:{line['transaction_id']}", JournalEntry(**line)) for line in entries]
        )
    ledger_ids = [answer.ledger_id for answer in answers if isinstance(answer, PostResult)]
    assert len(ledger_ids) == len(entries)
    return {line["transaction_id"]: ledger_id for line, ledger_id in zip(entries, ledger_ids, strict=True)}


def test_record_result_leaves_lines_already_recorded_as_they_are(
    aws: Aws, context: LocalContext, finance: FinanceSimulator
) -> None:
    ids = seeded_ids(aws, 3)
    post(context, ids[:1])
    ledger_id = aws.transaction(RUN_ID, ids[0])["ledger_id"]

    # A late Catch for the same item whose cause carries no outcome (e.g. a task timeout), on the
    # unconfirmed path (no finance lookup).
    counts = record_result.handler(
        caught(
            ids,
            {"Error": "States.Timeout", "Cause": "Task timed out after 120.00 seconds"},
            unconfirmed={"Error": "FinanceOverloaded", "Cause": "outage"},
        ),
        context,
    )

    assert counts == {"posted": 0, "rejected": 0, "failed": 2}
    first = aws.transaction(RUN_ID, ids[0])
    assert (first["status"], first["ledger_id"]) == ("posted", ledger_id)
    assert "reason" not in first
    for tid in ids[1:]:
        row = aws.transaction(RUN_ID, tid)
        assert row["status"] == "failed"
        assert row["attempts"] == 1
        assert row["reason"] == (
            "States.Timeout after at least 1 attempt(s): Task timed out after 120.00 seconds; "
            f"{record_result.UNCONFIRMED_NOTE} (FinanceOverloaded)"
        )


def test_a_failed_outcome_never_overwrites_a_posted_transaction(aws: Aws, context: LocalContext) -> None:
    """Between RecordResult's read and its write another delivery may post the line: the failed
    outcome's write is conditional, so the posted row stands."""
    ids = seeded_ids(aws, 1)
    aws.set_status(RUN_ID, ids[0], TransactionStatus.POSTED)

    written = record_outcome(RUN_ID, ids[0], TransactionStatus.FAILED, reason="late", attempts=1)

    assert written is False
    assert aws.transaction(RUN_ID, ids[0])["status"] == "posted"


def test_record_result_confirms_lost_answers_at_finance_before_recording_failed(
    aws: Aws, context: LocalContext, finance: FinanceSimulator
) -> None:
    ids = seeded_ids(aws, 4)
    landed = post_unrecorded(finance, lines_of(ids[:2]))

    counts = record_result.handler(caught(ids, CRASH), context)

    assert counts == {"posted": 2, "rejected": 0, "failed": 2}
    for tid, ledger_id in landed.items():
        row = aws.transaction(RUN_ID, tid)
        assert (row["status"], row["ledger_id"], row["attempts"]) == ("posted", ledger_id, 1)
    for tid in ids[2:]:
        row = aws.transaction(RUN_ID, tid)
        assert row["status"] == "failed"
        assert row["reason"].startswith("Runtime.ExitError after at least 1 attempt(s): Runtime exited")
        assert record_result.UNCONFIRMED_NOTE not in row["reason"]
    assert finance.stats().lookups == 4
    assert len(finance.ledger()) == 2, "confirming never posts"


def test_record_result_raises_when_finance_cannot_confirm_and_writes_nothing(
    aws: Aws, context: LocalContext, finance: FinanceSimulator
) -> None:
    ids = seeded_ids(aws, 3)
    set_field(aws, ids[2], "currency", "XXQ")
    post_unrecorded(finance, lines_of(ids[:1]))
    finance.set_outage(True)

    with pytest.raises(FinanceOverloaded):
        record_result.handler(caught(ids, CRASH), context)

    assert {aws.transaction(RUN_ID, tid)["status"] for tid in ids} == {"pending"}


def test_record_result_ignores_unknown_transactions(aws: Aws, context: LocalContext) -> None:
    aws.seed(PROCESS, RUN_ID, 1)

    record_result.handler(caught(["ghost"], CRASH), context)

    assert aws.transaction(RUN_ID, "ghost") == {}


# -- Summarize ----------------------------------------------------------------


def test_summarize_counts_and_closes_the_run(aws: Aws, context: LocalContext) -> None:
    seeded = aws.seed(PROCESS, RUN_ID, 10)
    ids = [t["transaction_id"] for t in seeded.transactions]
    wanted = {
        TransactionStatus.POSTED: ids[:5],
        TransactionStatus.REJECTED: ids[5:7],
        TransactionStatus.FAILED: ids[7:8],
    }
    for status, tids in wanted.items():
        for tid in tids:
            aws.set_status(RUN_ID, tid, status)

    summary = summarize.handler(run_state(), context)

    assert summary == {
        "process": PROCESS,
        "run_id": RUN_ID,
        "status": "incomplete",
        "total": 10,
        "posted": 5,
        "rejected": 2,
        "failed": 1,
        "pending": 2,
    }
    run = aws.run(RUN_ID)
    assert run["status"] == "incomplete"
    assert (run["posted"], run["rejected"], run["failed"], run["pending"]) == (5, 2, 1, 2)
    assert run["finished_at"]

    for tid in ids[8:]:
        aws.set_status(RUN_ID, tid, TransactionStatus.POSTED)
    assert summarize.handler(run_state(), context)["status"] == "completed"
    assert aws.run(RUN_ID)["status"] == "completed"
    assert aws.run(RUN_ID)["pending"] == 0


def test_summarize_turns_failed_lines_the_ledger_holds_into_posted(
    aws: Aws, context: LocalContext, finance: FinanceSimulator
) -> None:
    ids = seeded_ids(aws, 3)
    lines = lines_of(ids)
    record_result.handler(caught(ids, CRASH, unconfirmed={"Error": "FinanceOverloaded", "Cause": "outage"}), context)
    landed = post_unrecorded(finance, lines[:1])

    summary = summarize.handler(run_state(), context)

    assert (summary["posted"], summary["failed"], summary["pending"]) == (1, 2, 0)
    [(tid, ledger_id)] = landed.items()
    row = aws.transaction(RUN_ID, tid)
    assert (row["status"], row["ledger_id"], row["attempts"]) == ("posted", ledger_id, 1)
    assert "reason" not in row
    assert row["previous_reason"].startswith("Runtime.ExitError after at least 1 attempt(s)")
    assert aws.run(RUN_ID)["posted"] == 1


def test_summarize_raises_for_a_retry_while_finance_is_unreachable_then_closes_the_run_without_the_check(
    aws: Aws, context: LocalContext, finance: FinanceSimulator
) -> None:
    seeded = aws.seed(PROCESS, RUN_ID, 2)
    for t in seeded.transactions:
        aws.set_status(RUN_ID, t["transaction_id"], TransactionStatus.FAILED)
    finance.set_outage(True)

    with pytest.raises(FinanceOverloaded):
        summarize.handler(run_state(), context)
    assert "finished_at" not in aws.run(RUN_ID)

    unconfirmed = {"Error": "FinanceOverloaded", "Cause": "outage"}
    summary = summarize.handler(run_state(unconfirmed=unconfirmed), context)

    assert (summary["status"], summary["failed"]) == ("completed", 2)
    assert aws.run(RUN_ID)["finished_at"]
    assert finance.stats().faults_injected["outage"] == 1, "one lookup, then none once the retries ran out"


# -- StartNext ----------------------------------------------------------------


def test_start_next_starts_the_continuation_once(aws: Aws, context: LocalContext) -> None:
    sfn = boto3.client("stepfunctions")
    arn = sfn.create_state_machine(
        name="ledgerflow-local-process-standard",
        definition=json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}}),
        roleArn="arn:aws:iam::123456789012:role/unit",
    )["stateMachineArn"]
    state = run_state(cursor="opaque-cursor", sequence=2, batches=8, gate_open=True)
    event = {"state": state, "state_machine_arn": arn}

    first = start_next.handler(event, context)
    second = start_next.handler(event, context)

    assert first == second == {"next_execution": f"{RUN_ID}-3"}
    executions = sfn.list_executions(stateMachineArn=arn)["executions"]
    assert [e["name"] for e in executions] == [f"{RUN_ID}-3"]
    started = sfn.describe_execution(executionArn=executions[0]["executionArn"])
    assert RunInput.model_validate_json(started["input"]) == RunInput(
        process=PROCESS, run_id=RUN_ID, cursor="opaque-cursor", sequence=3
    )

    # Once the continuation has finished, a late retry of StartNext is refused and tolerated.
    sfn.stop_execution(executionArn=executions[0]["executionArn"])
    assert start_next.handler(event, context) == {"next_execution": f"{RUN_ID}-3"}
    assert len(sfn.list_executions(stateMachineArn=arn)["executions"]) == 1
