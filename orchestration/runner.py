"""The main job: seed the HCM, run every process through the state machine, reconcile.

The report proves the run: each HCM transaction ends posted exactly once (matched
against the finance ledger) or rejected/failed with a recorded reason.
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Protocol

from pydantic import BaseModel, Field

from lambdas.finance_client import TRANSIENT_ERRORS
from lambdas.models import TransactionStatus
from orchestration.aws import AwsTarget
from orchestration.chaos import ScenarioDriver, ScenarioEvidence
from orchestration.config import EnvironmentConfig
from orchestration.engine.lambda_runtime import InvocationStats
from orchestration.engine.local import LocalEngine
from orchestration.engine.monitor import FiredAlarm, running
from orchestration.engine.remote import RemoteEngine
from orchestration.faults import OUTAGE_MARGIN_SECONDS
from orchestration.finance_sim import FinanceSimulator, FinanceStats, LedgerEntry
from orchestration.gates import GateStore
from orchestration.hcm import SeededRun, seed_run
from orchestration.reconciliation import invariant_violations, reconcile_rows
from orchestration.repair import query_all
from orchestration.repair import transactions as transaction_rows
from orchestration.scenarios import FaultPlan, parse_faults
from orchestration.tables import GATE_AUDIT, GATES, RUNS, TRANSACTIONS

TERMINAL = ("SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED")
STATE_ENTERED_SUFFIX = "StateEntered"
TASK_SCHEDULED = "TaskScheduled"
LOCAL_POLL_SECONDS = 0.1
"""How often a run on the embedded engine is checked for its end (in-process reads, cheap)."""
REMOTE_POLL_SECONDS = 1.0
"""How often a run behind an endpoint is checked (each check is ListExecutions and DescribeExecution calls)."""


class Engine(Protocol):
    """What a run needs of a system: the embedded engine, or one behind an endpoint."""

    config: EnvironmentConfig
    sfn: Any
    dynamodb: Any
    tables: Any

    @property
    def stats(self) -> InvocationStats | None: ...

    def state_machine_for(self, process: str) -> str: ...

    def start_run(self, process: str, run_id: str) -> str: ...


class Ledger(Protocol):
    """The finance side of a reconciliation."""

    def ledger(self) -> list[LedgerEntry]: ...

    def stats(self) -> FinanceStats: ...


class ProcessProgress(BaseModel):
    process: str
    total: int
    posted: int = 0
    rejected: int = 0
    failed: int = 0
    pending: int = 0
    retrying: int = 0
    paused: bool = False
    executions: int = 0


class ProcessReport(BaseModel):
    process: str
    run_id: str
    hcm_count: int
    hcm_amount: Decimal
    ledger_count: int
    ledger_amount: Decimal
    posted: int
    rejected: int
    failed: int
    lost: int
    duplicates: int
    retries: int
    executions: int
    execution_status: list[str]
    rejection_reasons: dict[str, int] = Field(default_factory=dict)
    failure_reasons: dict[str, int] = Field(default_factory=dict)


class RunReport(BaseModel):
    transactions: int
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
    faults: str
    seed: int
    finance_max_concurrent: int
    processes: list[ProcessReport]
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
        return accounted and self.lost == 0 and self.duplicates == 0 and not self.invariant_violations


ProgressCallback = Callable[[list[ProcessProgress]], None]


def split(total: int, parts: int) -> list[int]:
    base, extra = divmod(total, parts)
    return [base + (1 if i < extra else 0) for i in range(parts)]


def _statuses(engine: Engine, run_id: str) -> list[dict[str, Any]]:
    """The status and attempts of every transaction of a run: what the progress line counts."""
    return query_all(
        engine.tables.Table(TRANSACTIONS.table_name(engine.config)),
        KeyConditionExpression="run_id = :r",
        ExpressionAttributeValues={":r": run_id},
        ProjectionExpression="#s, attempts",
        ExpressionAttributeNames={"#s": "status"},
    )


def executions_of(engine: Engine, process: str, run_id: str) -> list[dict[str, Any]]:
    paginator = engine.sfn.get_paginator("list_executions")
    found: list[dict[str, Any]] = []
    for page in paginator.paginate(stateMachineArn=engine.state_machine_for(process)):
        found += [dict(e) for e in page["executions"] if e["name"].rsplit("-", 1)[0] == run_id]
    return sorted(found, key=lambda e: int(e["name"].rsplit("-", 1)[1]))


def history(engine: Engine, execution_arn: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    for page in engine.sfn.get_paginator("get_execution_history").paginate(executionArn=execution_arn):
        events += [dict(event) for event in page["events"]]
    return events


def run_finished(executions: list[dict[str, Any]]) -> bool:
    """A run is over when its newest execution ended without handing on to a successor."""
    if not executions or executions[-1]["status"] not in TERMINAL:
        return False
    return all(e["status"] in TERMINAL for e in executions)


def wait_for_runs(
    engine: Engine,
    runs: dict[str, str],
    totals: dict[str, int],
    on_progress: ProgressCallback | None,
    timeout_seconds: float,
    poll_seconds: float = LOCAL_POLL_SECONDS,
    progress_seconds: float = 1.0,
) -> None:
    """Poll until every run has finished; transaction counts only when someone watches them.

    A run seen finished is not read again: its executions and counts are final.

    Execution status is cheap to read in-process and polled often, so a run's end is seen
    within ``poll_seconds`` (the run's measured wall time ends there); against an endpoint
    (``local serve``) each poll is a few API calls, so it polls once a second. Counting reads
    every transaction of a run, competing with the run itself for the (serialised) DynamoDB
    backend, so it happens once per ``progress_seconds`` and only when someone watches.
    """
    deadline = time.monotonic() + timeout_seconds
    next_progress = time.monotonic()
    done: dict[str, list[dict[str, Any]]] = {}
    final: dict[str, ProcessProgress] = {}
    while True:
        running_now = {p: executions_of(engine, p, run_id) for p, run_id in runs.items() if p not in done}
        done |= {p: listed for p, listed in running_now.items() if run_done(engine, listed)}
        finished = len(done) == len(runs)
        if on_progress and (finished or time.monotonic() >= next_progress):
            line = []
            for process, run_id in runs.items():
                listed = done.get(process) or running_now[process]
                progress = final.get(process) or progress_of(engine, process, run_id, totals[process], listed)
                if process in done:
                    final[process] = progress
                line.append(progress)
            on_progress(line)
            next_progress = time.monotonic() + progress_seconds
        if finished:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"runs not finished after {timeout_seconds:.0f}s")
        time.sleep(poll_seconds)


def run_done(engine: Engine, executions: list[dict[str, Any]]) -> bool:
    """The run's newest execution ended and did not hand over to a continuation."""
    if not run_finished(executions):
        return False
    if executions[-1]["status"] != "SUCCEEDED":
        return True
    output = engine.sfn.describe_execution(executionArn=executions[-1]["executionArn"]).get("output", "")
    return "next_execution" not in output


def progress_of(
    engine: Engine, process: str, run_id: str, total: int, executions: list[dict[str, Any]]
) -> ProcessProgress:
    items = _statuses(engine, run_id)
    counts = Counter(item["status"] for item in items)
    run = engine.tables.Table(RUNS.table_name(engine.config)).get_item(Key={"run_id": run_id}).get("Item", {})
    return ProcessProgress(
        process=process,
        total=total,
        posted=counts[TransactionStatus.POSTED.value],
        rejected=counts[TransactionStatus.REJECTED.value],
        failed=counts[TransactionStatus.FAILED.value],
        pending=counts[TransactionStatus.PENDING.value],
        retrying=_retries(engine.stats, process, items),
        paused=run.get("status") == "paused",
        executions=len(executions),
    )


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
    """The report of ``runs`` with the invariants of ``every_run`` (run id -> process), from one
    consistent read of each run's rows."""
    rows = {run_id: transaction_rows(engine.tables, engine.config, [run_id]) for run_id in every_run}
    report = reconcile(engine, finance, runs, rows, seconds, faults, seed)
    return check_invariants(finance, every_run, rows, report, evidence)


def reconcile(
    engine: Engine,
    finance: Ledger,
    runs: dict[str, str],
    rows: dict[str, list[dict[str, Any]]],
    seconds: float,
    faults: str,
    seed: int,
) -> RunReport:
    ledger_by_key: dict[str, list[Any]] = defaultdict(list)
    for entry in finance.ledger():
        ledger_by_key[entry.idempotency_key].append(entry)
    reports = []
    transitions = 0
    invocations = 0
    max_events = 0
    for process, run_id in runs.items():
        items = rows[run_id]
        posted = [i for i in items if i["status"] == TransactionStatus.POSTED.value]
        ledger_entries = [e for i in items for e in ledger_by_key.get(f"{process}:{i['transaction_id']}", [])]
        in_ledger = {e.transaction_id for e in ledger_entries}
        duplicates = len(ledger_entries) - len(in_ledger)
        unrecorded = sum(1 for i in items if i["transaction_id"] in in_ledger and i["status"] != "posted")
        missing = sum(1 for i in posted if i["transaction_id"] not in in_ledger)
        pending = sum(1 for i in items if i["status"] == TransactionStatus.PENDING.value)
        executions = executions_of(engine, process, run_id)
        for execution in executions:
            events = history(engine, execution["executionArn"])
            max_events = max(max_events, len(events))
            transitions += sum(1 for e in events if e["type"].endswith(STATE_ENTERED_SUFFIX))
            invocations += sum(1 for e in events if _is_lambda_invocation(e))
        reports.append(
            ProcessReport(
                process=process,
                run_id=run_id,
                hcm_count=len(items),
                hcm_amount=sum((_amount(i) for i in posted), Decimal("0")),
                ledger_count=len(ledger_entries),
                ledger_amount=sum((e.amount for e in ledger_entries), Decimal("0")),
                posted=len(posted),
                rejected=sum(1 for i in items if i["status"] == TransactionStatus.REJECTED.value),
                failed=sum(1 for i in items if i["status"] == TransactionStatus.FAILED.value),
                lost=pending + missing + unrecorded,
                duplicates=duplicates,
                retries=_recorded_retries(items),
                executions=len(executions),
                execution_status=[e["status"] for e in executions],
                rejection_reasons=_reasons(items, TransactionStatus.REJECTED),
                failure_reasons=_reasons(items, TransactionStatus.FAILED),
            )
        )
    total = sum(r.hcm_count for r in reports)
    return RunReport(
        transactions=total,
        posted=sum(r.posted for r in reports),
        rejected=sum(r.rejected for r in reports),
        failed=sum(r.failed for r in reports),
        lost=sum(r.lost for r in reports),
        duplicates=sum(r.duplicates for r in reports),
        retries=sum(r.retries for r in reports),
        state_transitions=transitions,
        transitions_per_transaction=round(transitions / total, 4) if total else 0.0,
        max_history_events=max_events,
        lambda_invocations=invocations,
        seconds=round(seconds, 3),
        transactions_per_second=round(total / seconds, 1) if seconds else 0.0,
        faults=faults,
        seed=seed,
        finance_max_concurrent=finance.stats().max_concurrent,
        processes=reports,
    )


def _is_lambda_invocation(event: dict[str, Any]) -> bool:
    details = event.get("taskScheduledEventDetails", {})
    return bool(event["type"] == TASK_SCHEDULED and details.get("resourceType") == "lambda")


def _recorded_retries(items: Iterable[dict[str, Any]]) -> int:
    return sum(max(0, int(i.get("attempts", 0)) - 1) for i in items)


def _retries(stats: InvocationStats | None, process: str, items: list[dict[str, Any]]) -> int:
    """Transient errors seen so far: live from the in-process runtime, else as recorded."""
    if stats is None:
        return _recorded_retries(items)
    return sum(n for (name, error), n in stats.errors.items() if name == process and error in TRANSIENT_ERRORS)


def _amount(item: dict[str, Any]) -> Decimal:
    return Decimal(str(item["amount"])).quantize(Decimal("0.01"))


def _reasons(items: Iterable[dict[str, Any]], status: TransactionStatus) -> dict[str, int]:
    """Reasons grouped by their kind (the text before the first detail)."""
    counts: Counter[str] = Counter()
    for item in items:
        if item["status"] == status.value:
            counts[str(item.get("reason", "no reason recorded")).split(":")[0:2][-1].strip()[:80]] += 1
    return dict(counts.most_common())


def check_invariants(
    finance: Ledger,
    runs: dict[str, str],
    rows: dict[str, list[dict[str, Any]]],
    report: RunReport,
    evidence: ScenarioEvidence,
) -> RunReport:
    """Attach the invariants (every run, including those the scenarios added) and the fault evidence."""
    by_process: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for run_id, process in runs.items():
        by_process[process] += rows[run_id]
    ledger = finance.ledger()
    reconciliations = [reconcile_rows(process, process_rows, ledger) for process, process_rows in by_process.items()]
    stats = finance.stats()
    return report.model_copy(
        update={
            "invariant_violations": invariant_violations(reconciliations),
            "evidence": evidence,
            "finance_max_concurrent_by_process": stats.max_concurrent_by_process,
            "finance_faults_injected": {k: v for k, v in stats.faults_injected.items() if v},
            "finance_duplicates_absorbed": stats.duplicates_absorbed,
            "finance_lookups": stats.lookups,
        }
    )


def resolve_faults(faults: FaultPlan | str, config: EnvironmentConfig, seed: int) -> FaultPlan:
    if isinstance(faults, FaultPlan):
        return faults
    return parse_faults(faults, seed=seed, timeout_seconds=config.finance.timeout_seconds)


def run_local(
    config: EnvironmentConfig,
    *,
    processes: list[str],
    transactions: int,
    faults: FaultPlan | str,
    seed: int,
    on_progress: ProgressCallback | None = None,
    timeout_seconds: float = 900,
) -> RunReport:
    """Run the whole integration on the embedded engine, evaluate the alarm catalog, reconcile.

    ``faults`` is a ``--faults`` value (presets and scenarios, see ``orchestration.scenarios``)
    or a resolved plan; the invariants are checked on every run the scenarios added too.
    """
    plan = resolve_faults(faults, config, seed)
    with (
        FinanceSimulator(config.finance.accounts, plan.finance) as finance,
        LocalEngine.start(config, finance.url) as engine,
    ):
        gates = GateStore(engine.dynamodb, GATES.table_name(config), GATE_AUDIT.table_name(config))
        for process in processes:
            gates.set(process, open_=True, reason="local run", who="ledgerflow run --local")
        seeded = seed_runs(engine, processes, transactions, plan.malformed_share, seed, run_suffix=f"seed{seed}")
        runs = {run.process: run.run_id for run in seeded}
        totals = {run.process: len(run.transactions) for run in seeded}
        with running(engine.monitor()) as monitor:
            if plan.outage_auto:
                # Long enough for the retries in flight to run out and for the health alarm to see it.
                seconds = max(config.retry_budget_seconds() + OUTAGE_MARGIN_SECONDS, monitor.outage_minimum_seconds())
                plan = plan.model_copy(update={"outage_seconds": seconds})
            started = time.monotonic()
            with ScenarioDriver(plan, engine, finance, gates) as driver:
                for run in seeded:
                    driver.start_run(run)
                wait_for_runs(engine, runs, totals, on_progress, timeout_seconds)
                for extra_run, process in driver.extra_runs.items():
                    wait_for_runs(engine, {process: extra_run}, {process: 0}, None, timeout_seconds)
                driver.finish()
            elapsed = time.monotonic() - started
            every_run = {run_id: process for process, run_id in runs.items()} | driver.extra_runs
            report = report_runs(engine, finance, runs, every_run, elapsed, plan.spec, seed, driver.evidence)
        report.alarms = monitor.report()
        return report


def run_remote(
    config: EnvironmentConfig,
    target: AwsTarget,
    *,
    processes: list[str],
    transactions: int,
    faults: FaultPlan | str,
    seed: int,
    on_progress: ProgressCallback | None = None,
    timeout_seconds: float = 900,
) -> RunReport:
    """Run against ``ledgerflow local serve``: its gates are the operator's, left as they are.

    Run ids carry the start time, so runs against a long-lived endpoint never collide. Finance
    faults and alarms belong to the server (``local serve --faults``); ``faults`` here only
    chooses the share of malformed HCM records.
    """
    plan = resolve_faults(faults, config, seed)
    engine = RemoteEngine(config, target)
    finance = engine.finance()
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
    seeded = seed_runs(engine, processes, transactions, plan.malformed_share, seed, run_suffix=f"seed{seed}-{stamp}")
    runs = {run.process: run.run_id for run in seeded}
    totals = {run.process: len(run.transactions) for run in seeded}
    started = time.monotonic()
    for run in seeded:
        engine.start_run(run.process, run.run_id)
    wait_for_runs(engine, runs, totals, on_progress, timeout_seconds, poll_seconds=REMOTE_POLL_SECONDS)
    elapsed = time.monotonic() - started
    every_run = {run_id: process for process, run_id in runs.items()}
    return report_runs(engine, finance, runs, every_run, elapsed, plan.spec, seed, ScenarioEvidence())


def seed_runs(
    engine: Engine, processes: list[str], transactions: int, malformed: float, seed: int, *, run_suffix: str
) -> list[SeededRun]:
    """Write one HCM run per process, the transactions split evenly across them."""
    config = engine.config
    return [
        seed_run(
            engine.tables,
            runs_table=RUNS.table_name(config),
            transactions_table=TRANSACTIONS.table_name(config),
            process=process,
            run_id=f"{process.replace('_', '-')}-{run_suffix}",
            count=count,
            accounts=config.finance.accounts,
            seed=seed,
            malformed_share=malformed,
        )
        for process, count in zip(processes, split(transactions, len(processes)), strict=True)
    ]
