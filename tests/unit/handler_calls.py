"""What the handler tests share: the run they work on and how they invoke the handlers, as Lambda does."""

from __future__ import annotations

import json
from typing import Any

import pytest

from lambdas import (
    post_to_finance,
)
from lambdas.finance_client import FinanceClient, PostResult
from lambdas.journal import Journal
from lambdas.models import PostOutcome
from lambdas.settings import process_settings
from lambdas.store import load_transactions
from lambdas.transform import transform
from orchestration.engine.lambda_runtime import LocalContext
from orchestration.ops.gates import GateStore
from orchestration.sim.finance import FinanceSimulator
from orchestration.sim.hcm import LinesForm
from tests.fixtures.aws import Aws

PROCESS = "expense_report"
RUN_ID = "run-2026-11-a"
UNKNOWN_COST_CENTRE = "XX999"
"""A cost centre the local chart does not have: the journal's expense account is unknown to finance."""


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


def journals_of(ids: list[str], run_id: str = RUN_ID) -> list[Journal]:
    """The journals PostToFinance builds from the stored rows."""
    journals, _ = transform(ids, load_transactions(run_id, ids), process_settings(PROCESS))
    return journals


def post(context: LocalContext, ids: list[str], retry_count: int = 0) -> dict[str, Any]:
    out: dict[str, Any] = post_to_finance.handler(
        {"process": PROCESS, "run_id": RUN_ID, "ids": ids, "retry_count": retry_count}, context
    )
    return out


def post_expecting_error(context: LocalContext, ids: list[str], retry_count: int = 0) -> tuple[Exception, PostOutcome]:
    with pytest.raises(Exception) as raised:
        post(context, ids, retry_count)
    return raised.value, PostOutcome.model_validate_json(str(raised.value))


def seeded_ids(aws: Aws, count: int, run_id: str = RUN_ID, lines_as: LinesForm = "json") -> list[str]:
    return [t["transaction_id"] for t in aws.seed(PROCESS, run_id, count, lines_as=lines_as).transactions]


def set_field(aws: Aws, transaction_id: str, field: str, value: Any) -> None:
    aws.resource.Table(aws.transactions_table).update_item(
        Key={"run_id": RUN_ID, "transaction_id": transaction_id},
        UpdateExpression="SET #f = :v",
        ExpressionAttributeNames={"#f": field},
        ExpressionAttributeValues={":v": value},
    )


def failure_from(error: Exception, catch_error: str | None = None) -> dict[str, str]:
    """The ``$.failure`` object Step Functions' Catch adds for a Lambda function error."""
    cause = {"errorType": type(error).__name__, "errorMessage": str(error)}
    return {"Error": catch_error or type(error).__name__, "Cause": json.dumps(cause)}


def caught(ids: list[str], failure: dict[str, str], **extra: Any) -> dict[str, Any]:
    """RecordResult's input: the Map item PostToFinance gave up on, with the Catch's ``failure``."""
    return {"process": PROCESS, "run_id": RUN_ID, "ids": ids, "failure": failure, **extra}


CRASH = {"Error": "Runtime.ExitError", "Cause": "Runtime exited with error: signal: killed"}


def post_unrecorded(finance: FinanceSimulator, journals: list[Journal]) -> dict[str, str]:
    """Post journals under their real idempotency keys with no invocation reporting it: a lost answer."""
    with FinanceClient(finance.url, timeout_seconds=2) as client:
        answers = client.post_entries([(f"{PROCESS}:{journal.transaction_id}", journal) for journal in journals])
    ledger_ids = [answer.ledger_id for answer in answers if isinstance(answer, PostResult)]
    assert len(ledger_ids) == len(journals)
    return {journal.transaction_id: ledger_id for journal, ledger_id in zip(journals, ledger_ids, strict=True)}
