"""End-to-end throughput of the local engine, and the per-unit figures ``ledgerflow plan`` uses.

    .venv/bin/python bench/throughput.py            # 1,000 and 5,000 tx x MaxConcurrency 1, 10, 40 x batch 100, 200
    .venv/bin/python bench/throughput.py --quick    # 100, 300 tx x MaxConcurrency 10 x batch 100, 200 x chunk 10, 100
    .venv/bin/python bench/throughput.py --transactions 500 --max-concurrency 10 40 --batch-sizes 100
    .venv/bin/python bench/throughput.py --quick --write-coefficients   # refresh the plan's coefficients
    .venv/bin/python bench/throughput.py --coefficients-from bench/results/throughput-latest.json

Every case is ``orchestration.run.runner.run_local`` (real handlers, DynamoDB in moto, the HTTP
finance simulator, ``--faults none``) on ``config/local.yaml`` with the case's values
overriding one process's settings, in a fresh Python process (the handlers' warm caches and
moto's state never carry over). Per case it reports transactions/s, state transitions,
Lambda invocations and DynamoDB calls and request units per transaction, the largest
execution's history events, and wall time, next to the machine's load average.

Instrumentation, all in the case's process and none in the engine: botocore handlers added to
``BUILTIN_HANDLERS`` (so every session gets them, whoever creates it) count DynamoDB calls and
estimate their request units, attributed to the Lambda function running on that thread (a
wrapper around ``LocalLambdaRuntime.invoke``), and read the execution histories the runner
fetches to reconcile.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import botocore.handlers
import yaml
from pydantic import BaseModel, Field

from bench.common import MachineInfo, finish, load_line, machine_info, write_results
from orchestration.planning.plan import FunctionCoefficients, Level, LevelCoefficients, MeasuredCoefficients
from orchestration.spec.config import CONFIG_DIR, EnvironmentConfig

BENCH_DIR = Path(__file__).resolve().parent
COEFFICIENTS_FILE = BENCH_DIR.parent / "orchestration" / "planning" / "data" / "coefficients.json"
DRIVER = "driver"
"""DynamoDB calls made outside any handler (seeding, progress polls, reconciliation): not counted."""
READ_UNIT_BYTES = 4096
WRITE_UNIT_BYTES = 1024

DYNAMODB_SCALING: dict[str, str] = {
    "check-gate": "invocation",  # one gate read and one run-record write per check
    "wait-for-gate": "invocation",  # one run-record write per pause
    "get-transactions": "transaction",  # a Query page of batch_size rows
    "post-to-finance": "transaction",  # reads its chunk's rows, writes back the outcomes (+ one idempotency record)
    "record-result": "transaction",  # the Catch path: reads the chunk's rows, records the open lines
    "summarize": "transaction",  # counts every transaction of the run
    "start-next": "invocation",  # no table work; starts the next execution
}
"""What each function's DynamoDB work scales with (a new function must be placed here)."""


class Case(BaseModel):
    """One end-to-end run: a process, a volume and the settings that shape it."""

    process: str
    transactions: int
    max_concurrency: int
    batch_size: int
    chunk_size: int
    max_batches_per_execution: int
    seed: int = 7

    @property
    def label(self) -> str:
        return f"{self.transactions} tx, MaxConcurrency {self.max_concurrency}, batch {self.batch_size}"


class FunctionMeasure(BaseModel):
    invocations: int
    total_ms: float
    dynamodb_calls: dict[str, int] = Field(default_factory=dict)
    read_units: float = 0.0
    write_units: float = 0.0


class ExecutionObservation(BaseModel):
    """One execution's history, counted: what the per-level coefficients are fitted on."""

    events: int
    transitions: int
    lambda_invocations: int
    batches: int
    map_items: int


class CaseResult(BaseModel):
    case: Case
    ok: bool
    transactions: int
    posted: int
    seconds: float
    transactions_per_second: float
    state_transitions: int
    transitions_per_transaction: float
    lambda_invocations: int
    lambda_per_transaction: float
    max_history_events: int
    executions: list[ExecutionObservation]
    transitions_by_state: dict[str, int]
    functions: dict[str, FunctionMeasure]
    dynamodb_calls_per_transaction: dict[str, float]
    read_units_per_transaction: float
    write_units_per_transaction: float
    driver_dynamodb_calls: dict[str, int]
    load_average_before: tuple[float, float, float]
    load_average_after: tuple[float, float, float]


class ThroughputReport(BaseModel):
    machine: MachineInfo
    cases: list[CaseResult]


# --- DynamoDB request units -------------------------------------------------------------


def attribute_size(value: dict[str, Any]) -> int:
    """Approximate stored size of one typed attribute value (DynamoDB's item-size rules)."""
    ((kind, inner),) = value.items()
    if kind == "S":
        return len(str(inner).encode())
    if kind == "N":
        return len(str(inner).lstrip("-").replace(".", "")) // 2 + 2
    if kind == "B":
        return len(inner)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind in ("SS", "NS", "BS"):
        return sum(attribute_size({kind[0]: member}) for member in inner)
    if kind == "M":
        return 3 + sum(len(name.encode()) + attribute_size(v) for name, v in inner.items())
    if kind == "L":
        return 3 + sum(1 + attribute_size(v) for v in inner)
    return 0


def item_size(item: dict[str, Any] | None) -> int:
    """Approximate size of a typed item: attribute names plus values, as DynamoDB bills it."""
    return sum(len(name.encode()) + attribute_size(value) for name, value in (item or {}).items())


def read_units(size: int, consistent: bool) -> float:
    """Units of one read: per started 4 KB, halved when eventually consistent."""
    return max(1, math.ceil(size / READ_UNIT_BYTES)) * (1.0 if consistent else 0.5)


def write_units(size: int) -> float:
    """Units of one write: per started 1 KB."""
    return float(max(1, math.ceil(size / WRITE_UNIT_BYTES)))


def request_units(operation: str, params: dict[str, Any], parsed: dict[str, Any]) -> tuple[float, float]:
    """Estimated (read, write) request units of one call, from its request and response.

    Items are small here (well under 1 KB), so most calls cost the minimum; Query and Scan are
    charged on what they return, scaled up by ScannedCount/Count when a filter dropped rows
    (a projection makes that an underestimate). UpdateItem and DeleteItem cost one unit each.
    """
    consistent = bool(params.get("ConsistentRead"))
    if operation == "GetItem":
        return read_units(item_size(parsed.get("Item")), consistent), 0.0
    if operation == "BatchGetItem":
        total = 0.0
        for table, request in params.get("RequestItems", {}).items():
            strong = bool(request.get("ConsistentRead"))
            returned = parsed.get("Responses", {}).get(table, [])
            total += sum(read_units(item_size(item), strong) for item in returned)
            total += read_units(0, strong) * max(0, len(request.get("Keys", [])) - len(returned))
        return total, 0.0
    if operation in ("Query", "Scan"):
        items = parsed.get("Items", [])
        size = sum(item_size(item) for item in items)
        count, scanned = int(parsed.get("Count", len(items))), int(parsed.get("ScannedCount", len(items)))
        if count:
            size = size * scanned // count
        return read_units(size, consistent), 0.0
    if operation == "PutItem":
        return 0.0, write_units(item_size(params.get("Item")))
    if operation in ("UpdateItem", "DeleteItem"):
        return 0.0, 1.0
    if operation == "BatchWriteItem":
        writes = 0.0
        for requests in params.get("RequestItems", {}).values():
            for request in requests:
                put = request.get("PutRequest")
                writes += write_units(item_size(put["Item"])) if put else 1.0
        return 0.0, writes
    if operation == "TransactWriteItems":
        return 0.0, sum(2 * write_units(item_size(i.get("Put", {}).get("Item"))) for i in params["TransactItems"])
    if operation == "TransactGetItems":
        return 2.0 * len(params["TransactItems"]), 0.0
    return 0.0, 0.0


# --- the probe ----------------------------------------------------------------------------


class Probe:
    """Counts, per Lambda function, invocations, their time and their DynamoDB calls; keeps histories."""

    def __init__(self, function_names: dict[str, str]) -> None:
        self._names = function_names
        self._thread = threading.local()
        self._lock = threading.Lock()
        self.invocations: Counter[str] = Counter()
        self.total_ms: defaultdict[str, float] = defaultdict(float)
        self.calls: defaultdict[str, Counter[str]] = defaultdict(Counter)
        self.units: defaultdict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
        self.histories: defaultdict[str, dict[int, dict[str, Any]]] = defaultdict(dict)

    def current(self) -> str:
        """The function running on this thread, or the driver when no handler is."""
        return getattr(self._thread, "function", None) or DRIVER

    def stash(self, params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        """``before-parameter-build``: keep the call's parameters for its ``after-call``."""
        context["bench_params"] = params

    def dynamodb_called(self, parsed: dict[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
        """``after-call``: count the call and its estimated units for whoever made it."""
        reads, writes = request_units(model.name, context.get("bench_params", {}), parsed)
        who = self.current()
        with self._lock:
            self.calls[who][model.name] += 1
            self.units[who][0] += reads
            self.units[who][1] += writes

    def history_read(self, parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        """``after-call`` of GetExecutionHistory: keep each page's events by execution and id."""
        arn = context.get("bench_params", {}).get("executionArn", "")
        with self._lock:
            for event in parsed.get("events", []):
                self.histories[arn][int(event["id"])] = event

    @contextmanager
    def installed(self) -> Iterator[None]:
        """Register the botocore handlers for every session, and wrap the in-process invoke."""
        from orchestration.engine.lambda_runtime import LocalLambdaRuntime

        handlers = [
            ("before-parameter-build.dynamodb", self.stash),
            ("after-call.dynamodb", self.dynamodb_called),
            ("before-parameter-build.sfn.GetExecutionHistory", self.stash),
            ("after-call.sfn.GetExecutionHistory", self.history_read),
        ]
        original = LocalLambdaRuntime.invoke
        probe = self

        def invoke(runtime: LocalLambdaRuntime, name: str, payload: Any) -> tuple[bytes, bool]:
            function = probe._names.get(name, name)
            probe._thread.function = function
            started = time.perf_counter()
            try:
                return original(runtime, name, payload)
            finally:
                probe._thread.function = None
                with probe._lock:
                    probe.invocations[function] += 1
                    probe.total_ms[function] += (time.perf_counter() - started) * 1000

        botocore.handlers.BUILTIN_HANDLERS.extend(handlers)
        LocalLambdaRuntime.invoke = invoke  # type: ignore[method-assign,assignment]
        try:
            yield
        finally:
            LocalLambdaRuntime.invoke = original  # type: ignore[method-assign]
            for handler in handlers:
                botocore.handlers.BUILTIN_HANDLERS.remove(handler)


# --- the definition's structure ---------------------------------------------------------


def definition_levels(config: EnvironmentConfig) -> tuple[dict[str, Level], dict[str, str]]:
    """Each state's level (inside the Map: item; on the batch loop: batch; else: execution), and
    the function each Lambda task state invokes, read from the rendered definition."""
    from orchestration.engine.local import function_arn
    from orchestration.spec.asl import PROCESS_TRANSACTIONS, render, substitutions
    from orchestration.spec.functions import FUNCTIONS

    arns = {spec.name: function_arn(config, spec) for spec in FUNCTIONS}
    by_arn = {arn: name for name, arn in arns.items()}
    definition = render(PROCESS_TRANSACTIONS, substitutions(config, config.used_profiles()[0], arns))
    states: dict[str, Any] = definition["States"]
    levels: dict[str, Level] = {}
    functions: dict[str, str] = {}

    def note_function(name: str, state: dict[str, Any]) -> None:
        arn = state.get("Parameters", {}).get("FunctionName")
        if arn in by_arn:
            functions[name] = by_arn[arn]

    for name, state in states.items():
        note_function(name, state)
        for inner_name, inner in state.get("ItemProcessor", {}).get("States", {}).items():
            levels[inner_name] = Level.MAP_ITEM
            note_function(inner_name, inner)

    def successors(state: dict[str, Any]) -> list[str]:
        found = [state.get("Next"), state.get("Default")]
        found += [choice.get("Next") for choice in state.get("Choices", [])]
        found += [catch.get("Next") for catch in state.get("Catch", [])]
        return [s for s in found if s]

    def on_cycle(start: str) -> bool:
        seen: set[str] = set()
        frontier = successors(states[start])
        while frontier:
            current = frontier.pop()
            if current == start:
                return True
            if current not in seen:
                seen.add(current)
                frontier += successors(states[current])
        return False

    for name in states:
        levels[name] = Level.BATCH if on_cycle(name) else Level.EXECUTION
    return levels, functions


def observe(history: list[dict[str, Any]], batch_state: str) -> ExecutionObservation:
    """Count one execution's events, transitions, Lambda tasks, batches and Map items."""
    entered = [e for e in history if e["type"].endswith("StateEntered")]
    return ExecutionObservation(
        events=len(history),
        transitions=len(entered),
        lambda_invocations=sum(
            1
            for e in history
            if e["type"] == "TaskScheduled" and e.get("taskScheduledEventDetails", {}).get("resourceType") == "lambda"
        ),
        batches=sum(1 for e in entered if e["stateEnteredEventDetails"]["name"] == batch_state),
        map_items=sum(1 for e in history if e["type"] == "MapIterationStarted"),
    )


# --- one case -------------------------------------------------------------------------------


def merge(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """Nested dictionary update, as tests/e2e/conftest.py ``make_config`` does."""
    merged = dict(base)
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def case_config(case: Case) -> EnvironmentConfig:
    """``config/local.yaml`` with the case's settings on its process, validated like a real file."""
    raw = yaml.safe_load((CONFIG_DIR / "local.yaml").read_text())
    settings = {
        "batch_size": case.batch_size,
        "chunk_size": case.chunk_size,
        "max_concurrency": case.max_concurrency,
        "max_batches_per_execution": case.max_batches_per_execution,
    }
    return EnvironmentConfig.model_validate(merge(raw, {"processes": {case.process: settings}}))


def run_case(case: Case) -> CaseResult:
    """One end-to-end run, instrumented; in its own process (see ``run_case_in_subprocess``)."""
    from orchestration.engine.local import function_name
    from orchestration.faults.profiles import FaultProfile
    from orchestration.run.runner import run_local
    from orchestration.spec.functions import FUNCTIONS

    config = case_config(case)
    probe = Probe({function_name(config, spec): spec.name for spec in FUNCTIONS})
    _, functions = definition_levels(config)
    batch_state = next(state for state, fn in functions.items() if fn == "get-transactions")
    before = load_average()
    with probe.installed():
        report = run_local(
            config,
            processes=[case.process],
            transactions=case.transactions,
            faults=FaultProfile.NONE,
            seed=case.seed,
            timeout_seconds=3600,
        )
    histories = [sorted(events.values(), key=lambda e: int(e["id"])) for events in probe.histories.values()]
    by_state: Counter[str] = Counter()
    for history in histories:
        by_state.update(e["stateEnteredEventDetails"]["name"] for e in history if e["type"].endswith("StateEntered"))
    n = report.transactions
    handler_calls: Counter[str] = Counter()
    for who, calls in probe.calls.items():
        if who != DRIVER:
            handler_calls.update(calls)
    measures = {
        fn: FunctionMeasure(
            invocations=probe.invocations[fn],
            total_ms=round(probe.total_ms[fn], 3),
            dynamodb_calls=dict(probe.calls.get(fn, {})),
            read_units=probe.units[fn][0] if fn in probe.units else 0.0,
            write_units=probe.units[fn][1] if fn in probe.units else 0.0,
        )
        for fn in sorted(probe.invocations)
    }
    return CaseResult(
        case=case,
        ok=report.ok,
        transactions=n,
        posted=report.posted,
        seconds=report.seconds,
        transactions_per_second=report.transactions_per_second,
        state_transitions=report.state_transitions,
        transitions_per_transaction=report.transitions_per_transaction,
        lambda_invocations=report.lambda_invocations,
        lambda_per_transaction=round(report.lambda_invocations / n, 4),
        max_history_events=report.max_history_events,
        executions=[observe(history, batch_state) for history in histories],
        transitions_by_state=dict(sorted(by_state.items())),
        functions=measures,
        dynamodb_calls_per_transaction={op: round(c / n, 4) for op, c in sorted(handler_calls.items())},
        read_units_per_transaction=round(sum(m.read_units for m in measures.values()) / n, 4),
        write_units_per_transaction=round(sum(m.write_units for m in measures.values()) / n, 4),
        driver_dynamodb_calls=dict(probe.calls.get(DRIVER, {})),
        load_average_before=before,
        load_average_after=load_average(),
    )


def load_average() -> tuple[float, float, float]:
    """The 1/5/15-minute load now: every case carries its own, the machine is shared."""
    return os.getloadavg()


def run_case_in_subprocess(case: Case) -> CaseResult:
    """A case in a fresh interpreter: warm handler caches and moto state never carry over."""
    command = [sys.executable, __file__, "--case", case.model_dump_json()]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"case {case.label} failed:\n{done.stderr[-3000:]}")
    return CaseResult.model_validate_json(done.stdout.strip().splitlines()[-1])


# --- coefficients ---------------------------------------------------------------------------


def fit_levels(rows: list[tuple[float, float, float, float]]) -> LevelCoefficients:
    """Least squares of y = a + b*batches + c*items over executions (rows: batches, items, 1, y)."""
    size = 3
    normal = [[0.0] * size for _ in range(size)]
    rhs = [0.0] * size
    for batches, items, one, y in rows:
        x = (one, batches, items)
        for i in range(size):
            rhs[i] += x[i] * y
            for j in range(size):
                normal[i][j] += x[i] * x[j]
    solution = solve(normal, rhs)
    return LevelCoefficients(
        per_execution=round(solution[0], 3), per_batch=round(solution[1], 3), per_map_item=round(solution[2], 3)
    )


def solve(matrix: list[list[float]], rhs: list[float]) -> list[float]:
    """Gaussian elimination with partial pivoting; a singular system means too few distinct cases."""
    n = len(rhs)
    a = [[*row, rhs[i]] for i, row in enumerate(matrix)]
    for col in range(n):
        pivot = max(range(col, n), key=lambda r: abs(a[r][col]))
        if abs(a[pivot][col]) < 1e-9:
            raise ValueError(
                "cannot separate per-execution, per-batch and per-item figures: run cases with "
                "different batch sizes and volumes (e.g. --quick)"
            )
        a[col], a[pivot] = a[pivot], a[col]
        for row in range(col + 1, n):
            factor = a[row][col] / a[col][col]
            for k in range(col, n + 1):
                a[row][k] -= factor * a[col][k]
    x = [0.0] * n
    for row in reversed(range(n)):
        x[row] = (a[row][n] - sum(a[row][k] * x[k] for k in range(row + 1, n))) / a[row][row]
    return x


def coefficients(report: ThroughputReport) -> MeasuredCoefficients:
    """Per-unit figures from every case: transitions by the definition's levels, history events by
    least squares, and per function its invocations per unit and DynamoDB work per unit."""
    cases = report.cases
    config = case_config(cases[0].case)
    levels, functions = definition_levels(config)
    executions = [e for c in cases for e in c.executions]
    units = {
        Level.EXECUTION: len(executions),
        Level.BATCH: sum(e.batches for e in executions),
        Level.MAP_ITEM: sum(e.map_items for e in executions),
    }
    transitions = dict.fromkeys(Level, 0.0)
    for c in cases:
        for state, count in c.transitions_by_state.items():
            transitions[levels[state]] += count
    missing = {spec for spec in functions.values() if spec not in DYNAMODB_SCALING}
    if missing:
        raise ValueError(f"place these functions in DYNAMODB_SCALING: {', '.join(sorted(missing))}")
    level_of_function = {fn: levels[state] for state, fn in functions.items()}
    total_tx = sum(c.transactions for c in cases)
    fitted: dict[str, FunctionCoefficients] = {}
    for fn, level in sorted(level_of_function.items()):
        invocations = sum(c.functions[fn].invocations for c in cases if fn in c.functions)
        calls = sum(sum(c.functions[fn].dynamodb_calls.values()) for c in cases if fn in c.functions)
        reads = sum(c.functions[fn].read_units for c in cases if fn in c.functions)
        writes = sum(c.functions[fn].write_units for c in cases if fn in c.functions)
        total_ms = sum(c.functions[fn].total_ms for c in cases if fn in c.functions)
        per = DYNAMODB_SCALING[fn]
        divisor = total_tx if per == "transaction" else max(invocations, 1)
        fitted[fn] = FunctionCoefficients(
            level=level,
            invocations_per_unit=round(invocations / units[level], 4),
            dynamodb_per="transaction" if per == "transaction" else "invocation",
            dynamodb_calls=round(calls / divisor, 4),
            read_units=round(reads / divisor, 4),
            write_units=round(writes / divisor, 4),
            calls_finance=fn == "post-to-finance",
            local_mean_ms=round(total_ms / invocations, 2) if invocations else 0.0,
        )
    events = fit_levels([(e.batches, e.map_items, 1.0, e.events) for e in executions])
    chunk = sorted({c.case.chunk_size for c in cases})
    return MeasuredCoefficients(
        measured_on=datetime.now(UTC).date().isoformat(),
        how=(
            f"bench/throughput.py, {len(cases)} end-to-end local runs with --faults none (chunk_size {chunk}); "
            "transitions per level = StateEntered events of the states at that level (Map item: inside the Map; "
            "batch: on the CheckGate loop; execution: the rest) / executions, batches (GetTransactions entered) "
            "or Map items (MapIterationStarted); history events fitted per level by least squares over executions; "
            "DynamoDB request units estimated from each call's request and response (items under 1 KB)"
        ),
        machine=load_line(report.machine),
        cases=[c.case.label for c in cases],
        transitions=LevelCoefficients(
            per_execution=round(transitions[Level.EXECUTION] / units[Level.EXECUTION], 3),
            per_batch=round(transitions[Level.BATCH] / units[Level.BATCH], 3),
            per_map_item=round(transitions[Level.MAP_ITEM] / units[Level.MAP_ITEM], 3),
        ),
        history_events=events,
        functions=fitted,
    )


# --- output -------------------------------------------------------------------------------


def markdown(report: ThroughputReport) -> str:
    """One row per case, then DynamoDB calls by operation and the machine's load."""
    lines = [
        "| transactions | MaxConcurrency | batch | chunk | tx/s | transitions/tx | Lambda/tx | "
        "DynamoDB calls/tx | RRU/tx | WRU/tx | max history events | executions | wall s | load before | ok |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for c in report.cases:
        calls = sum(c.dynamodb_calls_per_transaction.values())
        cells = [
            c.transactions,
            c.case.max_concurrency,
            c.case.batch_size,
            c.case.chunk_size,
            c.transactions_per_second,
            c.transitions_per_transaction,
            c.lambda_per_transaction,
            round(calls, 3),
            c.read_units_per_transaction,
            c.write_units_per_transaction,
            c.max_history_events,
            len(c.executions),
            c.seconds,
            f"{c.load_average_before[0]:.2f}",
            "yes" if c.ok else "NO",
        ]
        lines.append("| " + " | ".join(str(cell) for cell in cells) + " |")
    operations: Counter[str] = Counter()
    for c in report.cases:
        operations.update({op: round(v, 4) for op, v in c.dynamodb_calls_per_transaction.items()})
    if report.cases:
        mean = {op: round(v / len(report.cases), 3) for op, v in sorted(operations.items())}
        lines.append(
            f"\nDynamoDB calls per transaction by operation (handlers only, mean of cases): {json.dumps(mean)}"
        )
    lines.append(f"\nmachine: {load_line(report.machine)}")
    return "\n".join(lines)


def cases_from(args: argparse.Namespace) -> list[Case]:
    """Every combination of volume, MaxConcurrency, batch and chunk size asked for (or the quick set)."""
    if args.quick:
        volumes, concurrencies, batch_sizes = [100, 300], [10], args.batch_sizes
    else:
        volumes, concurrencies, batch_sizes = args.transactions, args.max_concurrency, args.batch_sizes
    return [
        Case(
            process=args.process,
            transactions=volume,
            max_concurrency=concurrency,
            batch_size=batch,
            chunk_size=chunk,
            max_batches_per_execution=args.max_batches_per_execution,
        )
        for volume, concurrency, batch, chunk in itertools.product(
            volumes, concurrencies, batch_sizes, args.chunk_sizes
        )
    ]


def main(argv: list[str] | None = None) -> int:
    """Run the cases, print and write the results; exit 1 if any run lost or duplicated a transaction."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--transactions", type=int, nargs="+", default=[1000, 5000])
    parser.add_argument("--max-concurrency", type=int, nargs="+", default=[1, 10, 40])
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[100, 200])
    parser.add_argument(
        "--chunk-sizes", type=int, nargs="+", default=[10, 100], help="transactions per Map item (default 10 100)"
    )
    parser.add_argument("--max-batches-per-execution", type=int, default=8)
    parser.add_argument("--process", default="payroll_journal")
    parser.add_argument(
        "--quick", action="store_true", help="100 and 300 transactions, MaxConcurrency 10, every batch and chunk size"
    )
    parser.add_argument("--no-write", action="store_true", help="print only; write nothing under bench/results/")
    parser.add_argument(
        "--write-coefficients", action="store_true", help=f"refresh {COEFFICIENTS_FILE.relative_to(BENCH_DIR.parent)}"
    )
    parser.add_argument(
        "--coefficients-from",
        type=Path,
        metavar="RESULTS_JSON",
        help="write the plan's coefficients from an earlier run's results (no new runs)",
    )
    parser.add_argument("--results-name", default="throughput", help="results file prefix (default throughput)")
    parser.add_argument("--case", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.case:
        print(run_case(Case.model_validate_json(args.case)).model_dump_json())
        return 0
    if args.coefficients_from:
        earlier = ThroughputReport.model_validate_json(args.coefficients_from.read_text())
        COEFFICIENTS_FILE.write_text(coefficients(earlier).model_dump_json(indent=2) + "\n")
        print(f"wrote {COEFFICIENTS_FILE.relative_to(BENCH_DIR.parent)}", file=sys.stderr)
        return 0
    cases = cases_from(args)
    for case in cases:
        try:
            case_config(case)
        except ValueError as exc:
            parser.error(f"case {case.label}: {exc}")
    info = machine_info()
    results = []
    for case in cases:
        result = run_case_in_subprocess(case)
        print(
            f"{case.label}: {result.transactions_per_second} tx/s in {result.seconds} s "
            f"(load {result.load_average_before[0]:.2f})",
            file=sys.stderr,
        )
        results.append(result)
    report = ThroughputReport(machine=finish(info), cases=results)
    table = markdown(report)
    print(table)
    if not args.no_write:
        for path in write_results(args.results_name, report, "# Throughput (local engine, --faults none)\n\n" + table):
            print(f"wrote {path.relative_to(BENCH_DIR.parent)}", file=sys.stderr)
    if args.write_coefficients:
        COEFFICIENTS_FILE.write_text(coefficients(report).model_dump_json(indent=2) + "\n")
        print(f"wrote {COEFFICIENTS_FILE.relative_to(BENCH_DIR.parent)}", file=sys.stderr)
    return 0 if all(r.ok for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
