"""The Lambda functions of ledgerflow: one registry for the CDK app and the local engine."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FunctionSpec:
    """A handler module, how it is invoked, and what it may touch.

    A state-machine task has the ASL ``placeholder`` that names its ARN in the definition; a
    function outside the ASL has none and is invoked by the stream of ``stream_source`` (the
    env var of a table in ``orchestration.tables``) instead. ``routes_runs`` gives a function the
    ``{retry profile: state machine ARN}`` map, so it can start a run of any process.
    """

    name: str
    module: str
    placeholder: str | None = None
    reads: tuple[str, ...] = ()
    writes: tuple[str, ...] = ()
    calls_finance: bool = False
    starts_executions: bool = False
    routes_runs: bool = False
    stream_source: str | None = None
    timeout_seconds: int = 30

    def __post_init__(self) -> None:
        if (self.placeholder is None) == (self.stream_source is None):
            raise ValueError(f"function {self.name}: needs exactly one of an ASL placeholder or a stream source")

    @property
    def handler(self) -> str:
        return f"lambdas.{self.module}.handler"


FUNCTIONS: tuple[FunctionSpec, ...] = (
    FunctionSpec("check-gate", "check_gate", "CheckGateFunctionArn", reads=("GATES_TABLE",), writes=("RUNS_TABLE",)),
    FunctionSpec("wait-for-gate", "wait_for_gate", "WaitForGateFunctionArn", writes=("RUNS_TABLE",)),
    FunctionSpec("get-transactions", "get_transactions", "GetTransactionsFunctionArn", reads=("TRANSACTIONS_TABLE",)),
    FunctionSpec(
        "post-to-finance",
        "post_to_finance",
        "PostToFinanceFunctionArn",
        reads=("TRANSACTIONS_TABLE", "IDEMPOTENCY_TABLE"),
        writes=("TRANSACTIONS_TABLE", "IDEMPOTENCY_TABLE"),
        calls_finance=True,
        timeout_seconds=120,
    ),
    # RecordResult and Summarize look failed lines up at finance (a post whose answer was lost);
    # each lookup may take the finance timeout, hence the longer function timeouts.
    FunctionSpec(
        "record-result",
        "record_result",
        "RecordResultFunctionArn",
        reads=("TRANSACTIONS_TABLE",),
        writes=("TRANSACTIONS_TABLE",),
        calls_finance=True,
        timeout_seconds=120,
    ),
    FunctionSpec(
        "summarize",
        "summarize",
        "SummarizeFunctionArn",
        reads=("TRANSACTIONS_TABLE",),
        writes=("RUNS_TABLE", "TRANSACTIONS_TABLE"),
        calls_finance=True,
        timeout_seconds=120,
    ),
    FunctionSpec("start-next", "start_next", "StartNextFunctionArn", starts_executions=True),
    FunctionSpec("start-run", "start_run", stream_source="RUNS_TABLE", starts_executions=True, routes_runs=True),
)

TASK_FUNCTIONS: tuple[FunctionSpec, ...] = tuple(spec for spec in FUNCTIONS if spec.placeholder)
"""The functions the state machine invokes: exactly those with an ASL placeholder."""
