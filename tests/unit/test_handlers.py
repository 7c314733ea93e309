"""The Lambda handlers, invoked the way Lambda invokes them, against moto and the finance simulator."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import boto3
import pytest

from lambdas import (
    check_gate,
    get_transactions,
    post_to_finance,
    record_result,
    start_next,
    summarize,
    transform,
    wait_for_gate,
)
from lambdas.errors import GateClosedTooLong
from lambdas.finance_client import FinanceClient, FinanceOverloaded, JournalEntry, PostResult
from lambdas.models import PostOutcome, RunInput, TransactionStatus
from orchestration.engine.lambda_runtime import LocalContext
from orchestration.finance_sim import FinanceFaults, FinanceSimulator
from orchestration.gates import GateStore
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


def transform_ids(context: LocalContext, ids: list[str], run_id: str = RUN_ID) -> dict[str, Any]:
    out: dict[str, Any] = transform.handler({"process": PROCESS, "run_id": run_id, "ids": ids}, context)
    return out


def post(context: LocalContext, entries: list[dict[str, Any]], retry_count: int = 0) -> dict[str, Any]:
    out: dict[str, Any] = post_to_finance.handler(
        {"process": PROCESS, "run_id": RUN_ID, "entries": entries, "retry_count": retry_count}, context
    )
    return out


def post_expecting_error(
    context: LocalContext, entries: list[dict[str, Any]], retry_count: int = 0
) -> tuple[Exception, PostOutcome]:
    with pytest.raises(Exception) as raised:
        post(context, entries, retry_count)
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


def seeded_entries(aws: Aws, context: LocalContext, count: int, run_id: str = RUN_ID) -> list[dict[str, Any]]:
    seeded = aws.seed(PROCESS, run_id, count)
    entries: list[dict[str, Any]] = transform_ids(context, [t["transaction_id"] for t in seeded.transactions], run_id)[
        "entries"
    ]
    assert len(entries) == count
    return entries


def test_post_to_finance_posts_every_line(aws: Aws, context: LocalContext, finance: FinanceSimulator) -> None:
    entries = seeded_entries(aws, context, 5)

    out = post(context, entries)

    assert out["rejected"] == [] and out["failed"] == []
    assert out["attempt"] == 1
    assert [p["transaction_id"] for p in out["posted"]] == [e["transaction_id"] for e in entries]
    assert all(p["duplicate"] is False and p["attempt"] == 1 for p in out["posted"])
    ledger = {entry.transaction_id: entry for entry in finance.ledger()}
    assert set(ledger) == {e["transaction_id"] for e in entries}
    for line, posted in zip(entries, out["posted"], strict=True):
        booked = ledger[line["transaction_id"]]
        assert booked.ledger_id == posted["ledger_id"]
        assert booked.amount == Decimal(line["amount"])
        assert booked.account == line["account"]
        assert booked.idempotency_key == f"{PROCESS}:{line['transaction_id']}"


def test_post_to_finance_second_invocation_is_deduplicated(
    aws: Aws, context: LocalContext, finance: FinanceSimulator
) -> None:
    entries = seeded_entries(aws, context, 4)
    first = post(context, entries)
    requests_after_first = finance.stats().requests

    second = post(context, entries, retry_count=1)

    assert [p["ledger_id"] for p in second["posted"]] == [p["ledger_id"] for p in first["posted"]]
    assert finance.stats().requests == requests_after_first  # answered from the idempotency store
    assert sorted(e.transaction_id for e in finance.ledger()) == sorted(e["transaction_id"] for e in entries)


def test_post_to_finance_dedupes_in_the_ledger_when_the_idempotency_store_is_lost(
    aws: Aws, context: LocalContext, finance: FinanceSimulator
) -> None:
    entries = seeded_entries(aws, context, 3)
    first = post(context, entries)
    table = aws.resource.Table(aws.config.resource_name("idempotency"))
    for item in table.scan()["Items"]:
        table.delete_item(Key={"id": item["id"]})

    second = post(context, entries)

    assert all(p["duplicate"] is True for p in second["posted"])
    assert [p["ledger_id"] for p in second["posted"]] == [p["ledger_id"] for p in first["posted"]]
    assert len(finance.ledger()) == len(entries)
    assert finance.stats().duplicates_absorbed == len(entries)


def test_post_to_finance_unknown_account_is_rejected_not_raised(
    aws: Aws, context: LocalContext, finance: FinanceSimulator
) -> None:
    entries = seeded_entries(aws, context, 3)
    entries[1] = {**entries[1], "account": UNKNOWN_ACCOUNT}

    out = post(context, entries)

    assert [r["transaction_id"] for r in out["rejected"]] == [entries[1]["transaction_id"]]
    assert "unknown_account" in out["rejected"][0]["reason"]
    assert [p["transaction_id"] for p in out["posted"]] == [
        entries[0]["transaction_id"],
        entries[2]["transaction_id"],
    ]
    assert out["failed"] == []
    assert entries[1]["transaction_id"] not in {e.transaction_id for e in finance.ledger()}


def test_post_to_finance_throttled_raises_with_the_outcome_then_the_retry_gets_dedup_answers(
    aws: Aws, context: LocalContext, finance: FinanceSimulator
) -> None:
    entries = seeded_entries(aws, context, 5)
    early = entries[:2]
    first = post(context, early)
    finance.faults = FinanceFaults(throttle_rate=1.0)

    error, outcome = post_expecting_error(context, entries, retry_count=0)

    assert type(error).__name__ == "FinanceThrottled"
    assert outcome.posted == []
    assert [f.transaction_id for f in outcome.failed] == [e["transaction_id"] for e in entries]
    assert all("FinanceThrottled" in f.reason for f in outcome.failed)
    assert finance.stats().faults_injected["throttle"] == 1

    finance.faults = FinanceFaults()
    requests_before = finance.stats().requests
    retried = post(context, entries, retry_count=1)

    assert finance.stats().requests - requests_before == 1  # the whole chunk in one request
    assert retried["failed"] == []
    assert retried["attempt"] == 2
    by_id = {p["transaction_id"]: p for p in retried["posted"]}
    assert set(by_id) == {e["transaction_id"] for e in entries}
    assert [(by_id[e["transaction_id"]]["ledger_id"], by_id[e["transaction_id"]]["duplicate"]) for e in early] == [
        (p["ledger_id"], True) for p in first["posted"]
    ]
    assert sorted(e.transaction_id for e in finance.ledger()) == sorted(by_id)


# -- RecordResult -------------------------------------------------------------


def test_record_result_success_path(aws: Aws, context: LocalContext, finance: FinanceSimulator) -> None:
    seeded = aws.seed(PROCESS, RUN_ID, 4)
    ids = [t["transaction_id"] for t in seeded.transactions]
    aws.resource.Table(aws.transactions_table).update_item(
        Key={"run_id": RUN_ID, "transaction_id": ids[0]},
        UpdateExpression="SET currency = :c",
        ExpressionAttributeValues={":c": "XXQ"},
    )
    aws.resource.Table(aws.transactions_table).update_item(
        Key={"run_id": RUN_ID, "transaction_id": ids[1]},
        UpdateExpression="SET gl_account = :a",
        ExpressionAttributeValues={":a": UNKNOWN_ACCOUNT},
    )
    item = transform_ids(context, ids)
    item["post"] = post(context, item["entries"], retry_count=1)

    counts = record_result.handler(item, context)

    assert counts == {"posted": 2, "rejected": 2, "failed": 0}
    malformed, unknown = aws.transaction(RUN_ID, ids[0]), aws.transaction(RUN_ID, ids[1])
    assert malformed["status"] == "rejected" and "currency" in malformed["reason"]
    assert malformed["attempts"] == 0
    assert unknown["status"] == "rejected" and "unknown_account" in unknown["reason"]
    assert unknown["attempts"] == 2
    ledger = {e.transaction_id: e.ledger_id for e in finance.ledger()}
    for tid in ids[2:]:
        row = aws.transaction(RUN_ID, tid)
        assert row["status"] == "posted"
        assert row["ledger_id"] == ledger[tid]
        assert row["attempts"] == 2


def test_record_result_writes_a_posted_row_whole_keeping_the_hcm_fields_and_dropping_an_old_reason(
    aws: Aws, context: LocalContext, finance: FinanceSimulator
) -> None:
    seeded = aws.seed(PROCESS, RUN_ID, 2)
    ids = [t["transaction_id"] for t in seeded.transactions]
    before = {tid: aws.transaction(RUN_ID, tid) for tid in ids}
    item = transform_ids(context, ids)
    aws.resource.Table(aws.transactions_table).update_item(
        Key={"run_id": RUN_ID, "transaction_id": ids[0]},
        UpdateExpression="SET #s = :s, reason = :r",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":s": "failed", ":r": "FinanceOverloaded after 3 attempt(s)"},
    )
    item["post"] = post(context, item["entries"])

    assert record_result.handler(item, context) == {"posted": 2, "rejected": 0, "failed": 0}

    ledger = {e.transaction_id: e.ledger_id for e in finance.ledger()}
    for tid in ids:
        row = aws.transaction(RUN_ID, tid)
        assert row.pop("updated_at") >= before[tid].get("updated_at", "")
        expected = {k: v for k, v in before[tid].items() if k != "updated_at"}
        assert row == expected | {"status": "posted", "attempts": 1, "ledger_id": ledger[tid]}


def failure_from(error: Exception, catch_error: str | None = None) -> dict[str, str]:
    """The ``$.failure`` object Step Functions' Catch adds for a Lambda function error."""
    cause = {"errorType": type(error).__name__, "errorMessage": str(error)}
    return {"Error": catch_error or type(error).__name__, "Cause": json.dumps(cause)}


def test_record_result_failure_path_records_every_line_failed_with_reason_and_attempts(
    aws: Aws, context: LocalContext, finance: FinanceSimulator
) -> None:
    entries = seeded_entries(aws, context, 4)
    finance.faults = FinanceFaults(overload_rate=1.0)
    for retry in range(3):
        error, outcome = post_expecting_error(context, entries, retry_count=retry)
    assert type(error).__name__ == "FinanceOverloaded"
    assert outcome.attempt == 3

    counts = record_result.handler(
        {
            "process": PROCESS,
            "run_id": RUN_ID,
            "entries": entries,
            "rejected": [],
            "failure": failure_from(error),
        },
        context,
    )

    assert counts == {"posted": 0, "rejected": 0, "failed": 4}
    assert finance.ledger() == []
    for line in entries:
        row = aws.transaction(RUN_ID, line["transaction_id"])
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


def test_record_result_never_overwrites_a_posted_transaction(
    aws: Aws, context: LocalContext, finance: FinanceSimulator
) -> None:
    entries = seeded_entries(aws, context, 3)
    item = {"process": PROCESS, "run_id": RUN_ID, "entries": entries, "rejected": []}
    record_result.handler({**item, "post": post(context, entries[:1])}, context)
    ledger_id = aws.transaction(RUN_ID, entries[0]["transaction_id"])["ledger_id"]

    # A late Catch for the same item whose cause carries no outcome (e.g. a task timeout), on the
    # unconfirmed path (no finance lookup), so only the conditional write protects the posted row.
    counts = record_result.handler(
        {
            **item,
            "failure": {"Error": "States.Timeout", "Cause": "Task timed out after 120.00 seconds"},
            "unconfirmed": {"Error": "FinanceOverloaded", "Cause": "outage"},
        },
        context,
    )

    assert counts["failed"] == 3  # asked to fail all three: the posted one refuses the write
    first = aws.transaction(RUN_ID, entries[0]["transaction_id"])
    assert first["status"] == "posted"
    assert first["ledger_id"] == ledger_id
    assert "reason" not in first
    for line in entries[1:]:
        row = aws.transaction(RUN_ID, line["transaction_id"])
        assert row["status"] == "failed"
        assert row["attempts"] == 1
        assert row["reason"] == (
            "States.Timeout after at least 1 attempt(s): Task timed out after 120.00 seconds; "
            f"{record_result.UNCONFIRMED_NOTE} (FinanceOverloaded)"
        )


def test_record_result_confirms_lost_answers_at_finance_before_recording_failed(
    aws: Aws, context: LocalContext, finance: FinanceSimulator
) -> None:
    entries = seeded_entries(aws, context, 4)
    landed = post_unrecorded(finance, entries[:2])
    item = {"process": PROCESS, "run_id": RUN_ID, "entries": entries, "rejected": [], "failure": CRASH}

    counts = record_result.handler(item, context)

    assert counts == {"posted": 2, "rejected": 0, "failed": 2}
    for tid, ledger_id in landed.items():
        row = aws.transaction(RUN_ID, tid)
        assert (row["status"], row["ledger_id"], row["attempts"]) == ("posted", ledger_id, 1)
    for line in entries[2:]:
        row = aws.transaction(RUN_ID, line["transaction_id"])
        assert row["status"] == "failed"
        assert row["reason"].startswith("Runtime.ExitError after at least 1 attempt(s): Runtime exited")
        assert record_result.UNCONFIRMED_NOTE not in row["reason"]
    assert finance.stats().lookups == 4
    assert len(finance.ledger()) == 2, "confirming never posts"


def test_record_result_raises_when_finance_cannot_confirm_and_writes_nothing(
    aws: Aws, context: LocalContext, finance: FinanceSimulator
) -> None:
    entries = seeded_entries(aws, context, 2)
    post_unrecorded(finance, entries[:1])
    finance.set_outage(True)
    item = {"process": PROCESS, "run_id": RUN_ID, "entries": entries, "rejected": [], "failure": CRASH}

    with pytest.raises(FinanceOverloaded):
        record_result.handler(item, context)

    assert {aws.transaction(RUN_ID, line["transaction_id"])["status"] for line in entries} == {"pending"}


def test_record_result_ignores_rejections_of_unknown_transactions(aws: Aws, context: LocalContext) -> None:
    aws.seed(PROCESS, RUN_ID, 1)
    out = transform_ids(context, ["ghost"])

    record_result.handler({**out, "post": PostOutcome().model_dump()}, context)

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
    entries = seeded_entries(aws, context, 3)
    record_result.handler(
        {
            "process": PROCESS,
            "run_id": RUN_ID,
            "entries": entries,
            "rejected": [],
            "failure": CRASH,
            "unconfirmed": {"Error": "FinanceOverloaded", "Cause": "outage"},
        },
        context,
    )
    landed = post_unrecorded(finance, entries[:1])

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
