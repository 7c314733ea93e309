"""Operator repairs: reconcile a process against the ledger, list its failures, redrive them.

Every function takes boto3 clients/resources and the environment config, never a local
engine, so the same code runs against AWS, a moto server (``--endpoint-url``) or the
in-process engine of the tests.

Redrive is item-level re-submission: failed transactions of a finished run go back to
``pending`` (conditionally, so a posted one is never touched) and a new execution of the
run starts under a fresh name. Step Functions' own ``RedriveExecution`` does not apply:
item failures are caught and recorded, so the executions themselves succeed (and moto has no
redrive). Re-posting cannot double-post: PostToFinance skips anything not pending, and the
idempotency key ``process:transaction_id`` is honoured by both the Powertools store and the
finance system.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from boto3.dynamodb.conditions import Attr
from botocore.exceptions import ClientError
from pydantic import BaseModel, Field

from lambdas.journal import LedgerEntry
from lambdas.models import RunInput, TransactionStatus
from lambdas.names import execution_name, parse_execution_name
from lambdas.store import applied, now_iso
from orchestration.errors import USAGE, LedgerflowError
from orchestration.ops.aws import NotProvisioned, find_state_machine
from orchestration.ops.reconciliation import Reconciliation, reconcile_rows, transaction_amount
from orchestration.ops.records import run_executions, run_ids, transactions
from orchestration.spec.config import EnvironmentConfig
from orchestration.spec.names import state_machine_name
from orchestration.spec.tables import TRANSACTIONS

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBServiceResource
    from mypy_boto3_dynamodb.service_resource import Table
    from mypy_boto3_stepfunctions import SFNClient

ACTIVE = "RUNNING"


class RepairError(LedgerflowError):
    """A repair cannot proceed; the message names the process, run or resource at fault."""

    exit_code = USAGE


class FailureRow(BaseModel):
    run_id: str
    transaction_id: str
    status: str
    reason: str
    attempts: int
    amount: str
    period: str


class RunRedrive(BaseModel):
    run_id: str
    reset: int = 0
    stranded_pending: int = 0
    execution: str | None = None
    skipped: str | None = None


class RedriveResult(BaseModel):
    process: str
    runs: list[RunRedrive] = Field(default_factory=list)

    @property
    def resubmitted(self) -> int:
        return sum(r.reset + r.stranded_pending for r in self.runs if r.execution)


def reconcile(
    tables: DynamoDBServiceResource,
    config: EnvironmentConfig,
    ledger: Sequence[LedgerEntry],
    process: str,
    *,
    period: str | None = None,
) -> Reconciliation:
    """HCM totals of a process (every run, optionally one period) against the finance ledger."""
    config.known_process(process)
    rows = transactions(tables, config, run_ids(tables, config, process))
    return reconcile_rows(process, rows, ledger, config.process_settings(process), period=period)


def failures(
    tables: DynamoDBServiceResource,
    config: EnvironmentConfig,
    process: str,
    *,
    run_id: str | None = None,
    period: str | None = None,
) -> list[FailureRow]:
    """Failed and rejected transactions of a process, with their reasons and attempts."""
    config.known_process(process)
    runs = _chosen_runs(tables, config, process, run_id)
    settings = config.process_settings(process)
    found = []
    for row in transactions(tables, config, runs):
        if row.get("status") not in (TransactionStatus.FAILED.value, TransactionStatus.REJECTED.value):
            continue
        if period is not None and row.get("period") != period:
            continue
        found.append(
            FailureRow(
                run_id=str(row["run_id"]),
                transaction_id=str(row["transaction_id"]),
                status=str(row["status"]),
                reason=str(row.get("reason", "")),
                attempts=int(row.get("attempts", 0)),
                amount=transaction_amount(row, settings),
                period=str(row.get("period", "")),
            )
        )
    return sorted(found, key=lambda f: (f.status, f.run_id, f.transaction_id))


def _chosen_runs(
    tables: DynamoDBServiceResource, config: EnvironmentConfig, process: str, run_id: str | None
) -> list[str]:
    runs = run_ids(tables, config, process)
    if run_id is None:
        return runs
    if run_id not in runs:
        raise RepairError(f"process {process} has no run {run_id!r}; runs: {', '.join(runs) or 'none'}")
    return [run_id]


def process_state_machine(sfn: SFNClient, config: EnvironmentConfig, process: str) -> str:
    """The ARN of the state machine serving a process, found by its name at the endpoint."""
    name = state_machine_name(config, config.profile_name(process))
    try:
        return find_state_machine(sfn, name)
    except NotProvisioned as exc:
        raise RepairError(f"state machine {name} (process {process}) is not deployed at this endpoint") from exc


def _reset_failed(table: Table, row: dict[str, Any]) -> bool:
    """Failed -> pending, only if still failed; the old reason is kept as ``previous_reason``."""
    return applied(
        lambda: table.update_item(
            Key={"run_id": row["run_id"], "transaction_id": row["transaction_id"]},
            ConditionExpression=Attr("status").eq(TransactionStatus.FAILED.value),
            UpdateExpression=(
                "SET #s = :pending, previous_reason = :reason, redriven_at = :now, "
                "redrives = if_not_exists(redrives, :zero) + :one REMOVE reason"
            ),
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={
                ":pending": TransactionStatus.PENDING.value,
                ":reason": str(row.get("reason", "")),
                ":now": now_iso(),
                ":zero": 0,
                ":one": 1,
            },
        )
    )


def _restore_failed(table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Undo a reset whose execution could not start, so nothing is left silently pending."""
    for row in rows:
        table.update_item(
            Key={"run_id": row["run_id"], "transaction_id": row["transaction_id"]},
            ConditionExpression=Attr("status").eq(TransactionStatus.PENDING.value),
            UpdateExpression="SET #s = :failed, reason = :reason",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={
                ":failed": TransactionStatus.FAILED.value,
                ":reason": str(row.get("reason", "")),
            },
        )


def redrive(
    tables: DynamoDBServiceResource,
    sfn: SFNClient,
    config: EnvironmentConfig,
    process: str,
    *,
    run_id: str | None = None,
) -> RedriveResult:
    """Re-submit the failed (and stranded pending) transactions of every finished run of a process."""
    config.known_process(process)
    runs = _chosen_runs(tables, config, process, run_id)
    machine = process_state_machine(sfn, config, process)
    table = tables.Table(TRANSACTIONS.table_name(config))
    result = RedriveResult(process=process)
    for run in runs:
        executions = run_executions(sfn, machine, run)
        outcome = RunRedrive(run_id=run)
        result.runs.append(outcome)
        if any(e["status"] == ACTIVE for e in executions):
            outcome.skipped = "an execution of this run is still running"
            continue
        rows = transactions(tables, config, [run])
        failed = [r for r in rows if r.get("status") == TransactionStatus.FAILED.value]
        outcome.stranded_pending = sum(1 for r in rows if r.get("status") == TransactionStatus.PENDING.value)
        reset = [row for row in failed if _reset_failed(table, row)]
        outcome.reset = len(reset)
        if not reset and not outcome.stranded_pending:
            outcome.skipped = "nothing failed or pending"
            continue
        last = parse_execution_name(executions[-1]["name"]) if executions else None
        sequence = last[1] + 1 if last else 0
        run_input = RunInput(process=process, run_id=run, sequence=sequence)
        try:
            response = sfn.start_execution(
                stateMachineArn=machine, name=execution_name(run, sequence), input=run_input.model_dump_json()
            )
        except ClientError as exc:
            _restore_failed(table, reset)
            raise RepairError(f"run {run}: cannot start a redrive execution: {exc}") from exc
        outcome.execution = str(response["executionArn"])
    return result
