"""What a run driver needs of a system: the embedded engine or one behind an endpoint, and its ledger."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient, DynamoDBServiceResource
    from mypy_boto3_stepfunctions import SFNClient

    from lambdas.journal import LedgerEntry
    from orchestration.engine.lambda_runtime import InvocationStats
    from orchestration.sim.finance import FinanceStats
    from orchestration.spec.config import EnvironmentConfig


class Engine(Protocol):
    """A provisioned system: its config, clients on it, and how a run starts there."""

    config: EnvironmentConfig
    sfn: SFNClient
    dynamodb: DynamoDBClient
    tables: DynamoDBServiceResource

    @property
    def stats(self) -> InvocationStats | None:
        """Live invocation counts when the Lambdas run in this process, else ``None``."""

    def state_machine_for(self, process: str) -> str: ...

    def start_run(self, process: str, run_id: str) -> str: ...


class Ledger(Protocol):
    """The finance side of a reconciliation: the entries it holds and its counters."""

    def ledger(self) -> list[LedgerEntry]: ...

    def stats(self) -> FinanceStats: ...
