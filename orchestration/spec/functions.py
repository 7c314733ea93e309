"""The Lambda functions of ledgerflow: one registry for the CDK app and the local engine."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from orchestration.spec.tables import GATES, IDEMPOTENCY, RUNS, TRANSACTIONS, TableSpec


class InvokedBy(StrEnum):
    """What invokes a function, on AWS and in the local engine alike."""

    STATE_MACHINE = "state machine"
    """A task of the ASL: ``placeholder`` names its ARN in the definition."""
    STREAM = "stream"
    """An event source mapping on the stream of ``stream_source``."""
    SCHEDULE = "schedule"
    ALARM_TOPIC = "alarm topic"


@dataclass(frozen=True)
class FunctionSpec:
    """A handler module, how it is invoked, and what it may touch.

    ``routes_runs`` gives a function the ``{retry profile: state machine ARN}`` map, so it can
    start a run of any process.
    """

    name: str
    module: str
    invoked_by: InvokedBy
    placeholder: str | None = None
    reads: tuple[TableSpec, ...] = ()
    writes: tuple[TableSpec, ...] = ()
    calls_finance: bool = False
    starts_executions: bool = False
    routes_runs: bool = False
    stream_source: TableSpec | None = None
    timeout_seconds: int = 30

    def __post_init__(self) -> None:
        if (self.placeholder is not None) != (self.invoked_by is InvokedBy.STATE_MACHINE):
            raise ValueError(f"function {self.name}: an ASL placeholder exactly when a state machine invokes it")
        if (self.stream_source is not None) != (self.invoked_by is InvokedBy.STREAM):
            raise ValueError(f"function {self.name}: a stream source exactly when a stream invokes it")

    @property
    def handler(self) -> str:
        return f"lambdas.{self.module}.handler"


_TASK = InvokedBy.STATE_MACHINE

FUNCTIONS: tuple[FunctionSpec, ...] = (
    FunctionSpec("check-gate", "check_gate", _TASK, "CheckGateFunctionArn", reads=(GATES,), writes=(RUNS,)),
    FunctionSpec("wait-for-gate", "wait_for_gate", _TASK, "WaitForGateFunctionArn", writes=(RUNS,)),
    FunctionSpec("get-transactions", "get_transactions", _TASK, "GetTransactionsFunctionArn", reads=(TRANSACTIONS,)),
    FunctionSpec(
        "post-to-finance",
        "post_to_finance",
        _TASK,
        "PostToFinanceFunctionArn",
        reads=(TRANSACTIONS, IDEMPOTENCY),
        writes=(TRANSACTIONS, IDEMPOTENCY),
        calls_finance=True,
        timeout_seconds=120,
    ),
    # RecordResult and Summarize look failed lines up at finance (a post whose answer was lost);
    # each lookup may take the finance timeout, hence the longer function timeouts.
    FunctionSpec(
        "record-result",
        "record_result",
        _TASK,
        "RecordResultFunctionArn",
        reads=(TRANSACTIONS,),
        writes=(TRANSACTIONS,),
        calls_finance=True,
        timeout_seconds=120,
    ),
    FunctionSpec(
        "summarize",
        "summarize",
        _TASK,
        "SummarizeFunctionArn",
        reads=(TRANSACTIONS,),
        writes=(RUNS, TRANSACTIONS),
        calls_finance=True,
        timeout_seconds=120,
    ),
    FunctionSpec("start-next", "start_next", _TASK, "StartNextFunctionArn", starts_executions=True),
    FunctionSpec(
        "start-run", "start_run", InvokedBy.STREAM, stream_source=RUNS, starts_executions=True, routes_runs=True
    ),
)
"""The orchestration stack's functions: the state machine's tasks and the run trigger."""

TASK_FUNCTIONS: tuple[FunctionSpec, ...] = tuple(
    spec for spec in FUNCTIONS if spec.invoked_by is InvokedBy.STATE_MACHINE
)
"""The functions the state machine invokes: exactly those with an ASL placeholder."""

HEALTH_CHECK = FunctionSpec("health-check", "health_check", InvokedBy.SCHEDULE, reads=(RUNS,), calls_finance=True)
"""Probes the HCM source and the finance API on a schedule (the monitoring stack)."""
ALARM_NOTIFIER = FunctionSpec("alarm-notifier", "alarm_notifier", InvokedBy.ALARM_TOPIC)
"""Turns each CloudWatch alarm document into an email and an SMS (the monitoring stack)."""
MONITORING_FUNCTIONS: tuple[FunctionSpec, ...] = (HEALTH_CHECK, ALARM_NOTIFIER)

ALL_FUNCTIONS: tuple[FunctionSpec, ...] = FUNCTIONS + MONITORING_FUNCTIONS
"""Every function of an environment: each gets error and throttle alarms and runs in the local engine."""
