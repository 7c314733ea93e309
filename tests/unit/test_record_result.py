"""RecordResult: the Catch path records every transaction a failed post left open (moto, the finance simulator)."""

from __future__ import annotations

import pytest

from lambdas import (
    record_result,
)
from lambdas.finance_client import FinanceOverloaded
from lambdas.models import TransactionStatus
from lambdas.store import record_outcome
from orchestration.engine.lambda_runtime import LocalContext
from orchestration.sim.finance import FinanceFaults, FinanceSimulator
from tests.fixtures.aws import Aws
from tests.unit.handler_calls import (
    CRASH,
    PROCESS,
    RUN_ID,
    caught,
    failure_from,
    journals_of,
    post,
    post_expecting_error,
    post_unrecorded,
    seeded_ids,
    set_field,
)


def test_record_result_records_every_open_transaction_failed_with_reason_and_attempts(
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


def test_record_result_leaves_transactions_already_recorded_as_they_are(
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
    """Between RecordResult's read and its write another delivery may post the transaction: the failed
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
    landed = post_unrecorded(finance, journals_of(ids[:2]))

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
    post_unrecorded(finance, journals_of(ids[:1]))
    finance.set_outage(True)

    with pytest.raises(FinanceOverloaded):
        record_result.handler(caught(ids, CRASH), context)

    assert {aws.transaction(RUN_ID, tid)["status"] for tid in ids} == {"pending"}


def test_record_result_ignores_unknown_transactions(aws: Aws, context: LocalContext) -> None:
    aws.seed(PROCESS, RUN_ID, 1)

    record_result.handler(caught(["ghost"], CRASH), context)

    assert aws.transaction(RUN_ID, "ghost") == {}
