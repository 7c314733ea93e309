"""The Lambda functions of ledgerflow: one registry for the CDK app and the local engine."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FunctionSpec:
    """A handler module, the ASL placeholder naming its ARN, and the tables it touches."""

    name: str
    module: str
    placeholder: str
    reads: tuple[str, ...] = ()
    writes: tuple[str, ...] = ()
    calls_finance: bool = False
    starts_executions: bool = False
    timeout_seconds: int = 30

    @property
    def handler(self) -> str:
        return f"lambdas.{self.module}.handler"


FUNCTIONS: tuple[FunctionSpec, ...] = (
    FunctionSpec(
        "check-gate", "check_gate", "CheckGateFunctionArn", reads=("GATES_TABLE",), writes=("RUNS_TABLE",)
    ),
    FunctionSpec("wait-for-gate", "wait_for_gate", "WaitForGateFunctionArn", writes=("RUNS_TABLE",)),
    FunctionSpec(
        "get-transactions", "get_transactions", "GetTransactionsFunctionArn", reads=("TRANSACTIONS_TABLE",)
    ),
    FunctionSpec("transform", "transform", "TransformFunctionArn", reads=("TRANSACTIONS_TABLE",)),
    FunctionSpec(
        "post-to-finance",
        "post_to_finance",
        "PostToFinanceFunctionArn",
        reads=("IDEMPOTENCY_TABLE",),
        writes=("IDEMPOTENCY_TABLE",),
        calls_finance=True,
        timeout_seconds=120,
    ),
    FunctionSpec("record-result", "record_result", "RecordResultFunctionArn", writes=("TRANSACTIONS_TABLE",)),
    FunctionSpec(
        "summarize",
        "summarize",
        "SummarizeFunctionArn",
        reads=("TRANSACTIONS_TABLE",),
        writes=("RUNS_TABLE",),
    ),
    FunctionSpec("start-next", "start_next", "StartNextFunctionArn", starts_executions=True),
)
