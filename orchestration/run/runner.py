"""The main job: seed the HCM, run every process through the state machine, report.

``run_local`` provisions the whole system on the embedded engine (and the finance simulator)
and drives the fault scenarios; ``run_remote`` runs against a system already behind an
endpoint (``ledgerflow local serve``). Both wait for every run to end and report it
(``orchestration.run.report``): each HCM transaction posted exactly once, matched against
the finance ledger, or rejected/failed with a recorded reason.
"""

from __future__ import annotations

import time
from collections import Counter
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from lambdas.finance_client import TRANSIENT_ERRORS
from lambdas.models import RunStatus, TransactionStatus
from orchestration.engine.lambda_runtime import InvocationStats
from orchestration.engine.local import LocalEngine
from orchestration.engine.monitor import running
from orchestration.faults.driver import ScenarioDriver, ScenarioEvidence
from orchestration.faults.profiles import OUTAGE_MARGIN_SECONDS
from orchestration.faults.scenarios import FaultPlan, parse_faults
from orchestration.ops.aws import AwsTarget
from orchestration.ops.gates import GateStore
from orchestration.ops.reconciliation import recorded_retries
from orchestration.ops.records import query_all, run_executions
from orchestration.run.remote import RemoteEngine
from orchestration.run.report import ProcessProgress, ProgressCallback, RunReport, report_runs
from orchestration.sim.finance import FinanceSimulator
from orchestration.sim.hcm import SeededRun, seed_run
from orchestration.spec.config import EnvironmentConfig
from orchestration.spec.tables import GATE_AUDIT, GATES, RUNS, TRANSACTIONS

if TYPE_CHECKING:
    from mypy_boto3_stepfunctions.type_defs import ExecutionListItemTypeDef

    from orchestration.run.system import Engine

EXECUTION_TERMINAL = frozenset({"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"})
LOCAL_POLL_SECONDS = 0.1
"""How often a run on the embedded engine is checked for its end (in-process reads, cheap)."""
REMOTE_POLL_SECONDS = 1.0
"""How often a run behind an endpoint is checked (each check is ListExecutions and DescribeExecution calls)."""


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


def run_finished(executions: list[ExecutionListItemTypeDef]) -> bool:
    """A run is over when its newest execution ended without handing on to a successor."""
    if not executions or executions[-1]["status"] not in EXECUTION_TERMINAL:
        return False
    return all(e["status"] in EXECUTION_TERMINAL for e in executions)


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
    done: dict[str, list[ExecutionListItemTypeDef]] = {}
    final: dict[str, ProcessProgress] = {}
    while True:
        running_now = {
            p: run_executions(engine.sfn, engine.state_machine_for(p), run_id)
            for p, run_id in runs.items()
            if p not in done
        }
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


def run_done(engine: Engine, executions: list[ExecutionListItemTypeDef]) -> bool:
    """The run's newest execution ended and did not hand over to a continuation."""
    if not run_finished(executions):
        return False
    if executions[-1]["status"] != "SUCCEEDED":
        return True
    output = engine.sfn.describe_execution(executionArn=executions[-1]["executionArn"]).get("output", "")
    return "next_execution" not in output


def progress_of(
    engine: Engine, process: str, run_id: str, total: int, executions: list[ExecutionListItemTypeDef]
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
        paused=run.get("status") == RunStatus.PAUSED,
        executions=len(executions),
    )


def _retries(stats: InvocationStats | None, process: str, items: list[dict[str, Any]]) -> int:
    """Transient errors seen so far: live from the in-process runtime, else as recorded."""
    if stats is None:
        return recorded_retries(items)
    return sum(n for (name, error), n in stats.errors.items() if name == process and error in TRANSIENT_ERRORS)


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

    ``faults`` is a ``--faults`` value (presets and scenarios, see ``orchestration.faults.scenarios``)
    or a resolved plan; the invariants are checked on every run the scenarios added too.
    """
    plan = resolve_faults(faults, config, seed)
    with (
        FinanceSimulator.for_config(config.finance, plan.finance) as finance,
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
            config,
            runs_table=RUNS.table_name(config),
            transactions_table=TRANSACTIONS.table_name(config),
            process=process,
            run_id=f"{process.replace('_', '-')}-{run_suffix}",
            count=count,
            seed=seed,
            malformed_share=malformed,
        )
        for process, count in zip(processes, split(transactions, len(processes)), strict=True)
    ]
