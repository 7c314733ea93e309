"""Summarize: the run-end check of failed lines, the counts, the run closed (moto, the finance simulator)."""

from __future__ import annotations

import pytest

from lambdas import (
    record_result,
    summarize,
)
from lambdas.finance_client import FinanceOverloaded
from lambdas.models import TransactionStatus
from orchestration.engine.lambda_runtime import LocalContext
from orchestration.sim.finance import FinanceSimulator
from tests.fixtures.aws import Aws
from tests.unit.handler_calls import (
    CRASH,
    PROCESS,
    RUN_ID,
    caught,
    journals_of,
    post_unrecorded,
    run_state,
    seeded_ids,
)


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


def test_summarize_turns_failed_transactions_the_ledger_holds_into_posted(
    aws: Aws, context: LocalContext, finance: FinanceSimulator
) -> None:
    ids = seeded_ids(aws, 3)
    journals = journals_of(ids)
    record_result.handler(caught(ids, CRASH, unconfirmed={"Error": "FinanceOverloaded", "Cause": "outage"}), context)
    landed = post_unrecorded(finance, journals[:1])

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
