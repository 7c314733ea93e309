"""Fixtures for end-to-end runs on the embedded engine (moto + in-process handlers)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import Any

import pytest
import yaml

from orchestration.engine.local import LocalEngine
from orchestration.ops.gates import GateStore
from orchestration.sim.finance import FinanceFaults, FinanceSimulator
from orchestration.sim.hcm import SeededRun, seed_run
from orchestration.spec.config import CONFIG_DIR, EnvironmentConfig
from orchestration.spec.tables import GATE_AUDIT, GATES, RUNS, TRANSACTIONS

ConfigFactory = Callable[..., EnvironmentConfig]


def _merge(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


@pytest.fixture
def make_config() -> ConfigFactory:
    """``config/local.yaml`` with nested overrides, validated like a real file."""
    raw = yaml.safe_load((CONFIG_DIR / "local.yaml").read_text())

    def build(**changes: Any) -> EnvironmentConfig:
        return EnvironmentConfig.model_validate(_merge(raw, changes))

    return build


class LocalSystem:
    """A started finance simulator and engine, with helpers the scenarios share."""

    def __init__(self, engine: LocalEngine, finance: FinanceSimulator) -> None:
        self.engine = engine
        self.finance = finance
        self.config = engine.config
        self.gates = GateStore(engine.dynamodb, GATES.table_name(self.config), GATE_AUDIT.table_name(self.config))
        self.dynamodb = engine.tables

    def seed(self, process: str, run_id: str, count: int, *, malformed_share: float = 0.0) -> SeededRun:
        return seed_run(
            self.dynamodb,
            runs_table=RUNS.table_name(self.config),
            transactions_table=TRANSACTIONS.table_name(self.config),
            process=process,
            run_id=run_id,
            count=count,
            accounts=self.config.finance.accounts,
            malformed_share=malformed_share,
        )

    def transactions(self, run_id: str) -> list[dict[str, Any]]:
        table = self.dynamodb.Table(TRANSACTIONS.table_name(self.config))
        return table.query(KeyConditionExpression="run_id = :r", ExpressionAttributeValues={":r": run_id})["Items"]

    def run_record(self, run_id: str) -> dict[str, Any]:
        return self.dynamodb.Table(RUNS.table_name(self.config)).get_item(Key={"run_id": run_id})["Item"]


@pytest.fixture
def local_system() -> Iterator[Callable[..., Any]]:
    """Start a local system for a config and fault settings; stopped at teardown."""
    with ExitStack() as stack:

        def start(config: EnvironmentConfig, faults: FinanceFaults | None = None) -> LocalSystem:
            finance = stack.enter_context(FinanceSimulator(config.finance.accounts, faults))
            engine = stack.enter_context(LocalEngine.start(config, finance.url))
            return LocalSystem(engine, finance)

        yield start
