"""The report of a run: each HCM transaction posted exactly once, or rejected or failed with its reason.

``report_runs`` reads each run's rows once, counts them against the finance ledger
(``orchestration.ops.reconciliation``), adds what the executions' histories cost, and attaches
the invariants over every run the scenarios added and the evidence of the faults injected.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from lambdas.journal import LedgerEntry
from orchestration.engine.monitor import FiredAlarm
from orchestration.faults.driver import ScenarioEvidence
from orchestration.ops.reconciliation import (
    RunTotals,
    TrialBalance,
    TrialBalanceLine,
    invariant_violations,
    reconcile_rows,
    run_totals,
    trial_balance_problems,
)
from orchestration.ops.records import history, run_executions, transactions

if TYPE_CHECKING:
    from mypy_boto3_stepfunctions.type_defs import HistoryEventTypeDef

    from orchestration.run.system import Engine, Ledger

STATE_ENTERED_SUFFIX = "StateEntered"
TASK_SCHEDULED = "TaskScheduled"


class ProcessProgress(BaseModel):
    """One process's run while it goes: what the live progress table shows."""

    process: str
    total: int
    posted: int = 0
    rejected: int = 0
    failed: int = 0
    pending: int = 0
    retrying: int = 0
    paused: bool = False
    executions: int = 0


ProgressCallback = Callable[[list[ProcessProgress]], None]


class ProcessReport(RunTotals):
    """One process's run once it ended: its totals against the ledger and its executions."""

    process: str
    run_id: str
    executions: int
    execution_status: list[str]


class RunReport(BaseModel):
    transactions: int
    """HCM transactions of the run: one journal each."""
    lines: int
    """Lines of the posted journals (as the HCM records map)."""
    posted: int
    rejected: int
    failed: int
    lost: int
    duplicates: int
    retries: int
    state_transitions: int
    transitions_per_transaction: float
    max_history_events: int
    lambda_invocations: int
    seconds: float
    transactions_per_second: float
    lines_per_second: float
    faults: str
    seed: int
    finance_max_concurrent: int
    processes: list[ProcessReport]
    trial_balance: list[TrialBalanceLine] = Field(default_factory=list)
    """Per account of the run's journals: the HCM's expected debits and credits against the ledger's."""
    alarms: list[FiredAlarm] = Field(default_factory=list)
    """Alarms of the catalog that fired during the run, with the notifications each subscriber got."""
    finance_max_concurrent_by_process: dict[str, int] = Field(default_factory=dict)
    finance_faults_injected: dict[str, int] = Field(default_factory=dict)
    finance_duplicates_absorbed: int = 0
    finance_lookups: int = 0
    """Entries looked up by idempotency key: failed lines confirmed (or not) at finance before counting."""
    evidence: ScenarioEvidence = Field(default_factory=ScenarioEvidence)
    invariant_violations: list[str] = Field(default_factory=list)

    @property
    def ok(self) -> bool:
        accounted = self.posted + self.rejected + self.failed == self.transactions
        balanced = not trial_balance_problems(self.trial_balance)
        return accounted and balanced and self.lost == 0 and self.duplicates == 0 and not self.invariant_violations


class HistoryCost(BaseModel):
    """What a run's executions cost in Step Functions terms."""

    transitions: int = 0
    lambda_invocations: int = 0
    max_events: int = 0


def history_cost(events_by_execution: list[list[HistoryEventTypeDef]]) -> HistoryCost:
    cost = HistoryCost()
    for events in events_by_execution:
        cost.max_events = max(cost.max_events, len(events))
        cost.transitions += sum(1 for event in events if event["type"].endswith(STATE_ENTERED_SUFFIX))
        cost.lambda_invocations += sum(1 for event in events if _is_lambda_invocation(event))
    return cost


def _is_lambda_invocation(event: HistoryEventTypeDef) -> bool:
    details = event.get("taskScheduledEventDetails")
    return event["type"] == TASK_SCHEDULED and details is not None and details.get("resourceType") == "lambda"


def report_runs(
    engine: Engine,
    finance: Ledger,
    runs: dict[str, str],
    every_run: dict[str, str],
    seconds: float,
    faults: str,
    seed: int,
    evidence: ScenarioEvidence,
) -> RunReport:
    """The report of ``runs`` (process -> run id) with the invariants of ``every_run`` (run id -> process),
    from one consistent read of each run's rows and one read of the ledger."""
    rows = {run_id: transactions(engine.tables, engine.config, [run_id]) for run_id in every_run}
    ledger = finance.ledger()
    ledger_by_key: dict[str, list[LedgerEntry]] = defaultdict(list)
    for entry in ledger:
        ledger_by_key[entry.idempotency_key].append(entry)
    reports: list[ProcessReport] = []
    cost = HistoryCost()
    balance = TrialBalance()
    for process, run_id in runs.items():
        executions = run_executions(engine.sfn, engine.state_machine_for(process), run_id)
        run_cost = history_cost([history(engine.sfn, execution["executionArn"]) for execution in executions])
        cost.transitions += run_cost.transitions
        cost.lambda_invocations += run_cost.lambda_invocations
        cost.max_events = max(cost.max_events, run_cost.max_events)
        totals = run_totals(process, rows[run_id], ledger_by_key, engine.config.process_settings(process), balance)
        reports.append(
            ProcessReport(
                process=process,
                run_id=run_id,
                executions=len(executions),
                execution_status=[execution["status"] for execution in executions],
                **totals.model_dump(),
            )
        )
    total = sum(r.hcm_count for r in reports)
    lines = sum(r.hcm_lines for r in reports)
    stats = finance.stats()
    return RunReport(
        transactions=total,
        lines=lines,
        posted=sum(r.posted for r in reports),
        rejected=sum(r.rejected for r in reports),
        failed=sum(r.failed for r in reports),
        lost=sum(r.lost for r in reports),
        duplicates=sum(r.duplicates for r in reports),
        retries=sum(r.retries for r in reports),
        state_transitions=cost.transitions,
        transitions_per_transaction=round(cost.transitions / total, 4) if total else 0.0,
        max_history_events=cost.max_events,
        lambda_invocations=cost.lambda_invocations,
        seconds=round(seconds, 3),
        transactions_per_second=round(total / seconds, 1) if seconds else 0.0,
        lines_per_second=round(lines / seconds, 1) if seconds else 0.0,
        faults=faults,
        seed=seed,
        finance_max_concurrent=stats.max_concurrent,
        processes=reports,
        trial_balance=balance.lines(),
        invariant_violations=_invariants(engine, every_run, rows, ledger),
        evidence=evidence,
        finance_max_concurrent_by_process=stats.max_concurrent_by_process,
        finance_faults_injected={kind: count for kind, count in stats.faults_injected.items() if count},
        finance_duplicates_absorbed=stats.duplicates_absorbed,
        finance_lookups=stats.lookups,
    )


def _invariants(
    engine: Engine, every_run: Mapping[str, str], rows: Mapping[str, list[dict[str, Any]]], ledger: list[LedgerEntry]
) -> list[str]:
    """The invariants over every run, those the scenarios added included, process by process."""
    by_process: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for run_id, process in every_run.items():
        by_process[process] += rows[run_id]
    config = engine.config
    return invariant_violations(
        reconcile_rows(process, found, ledger, config.process_settings(process))
        for process, found in by_process.items()
    )
