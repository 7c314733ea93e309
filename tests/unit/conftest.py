"""Fixtures of the unit tests: the local config, moto-backed AWS, and the real finance simulator.

Only AWS is mocked (moto ``mock_aws``, in-process). The tables are created from
``orchestration.spec.tables`` through the local engine's ``create_tables``, the handlers see the
same environment the local engine gives them (``lambda_environment``), and the finance
system is the real HTTP simulator on 127.0.0.1.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import botocore.loaders
import botocore.session
import pytest
from moto import mock_aws

from lambdas import finance_lookup, post_to_finance, settings, start_next, start_run, store
from lambdas.models import TransactionStatus
from orchestration.engine.lambda_runtime import LocalContext
from orchestration.engine.local import create_tables, lambda_environment
from orchestration.sim.finance import FinanceSimulator
from orchestration.sim.hcm import SeededRun, seed_run
from orchestration.spec.config import EnvironmentConfig, load_config
from orchestration.spec.tables import GATE_AUDIT, GATES, RUNS, TRANSACTIONS


def pytest_configure(config: pytest.Config) -> None:
    # Powertools warns when a handler ends without adding a metric; expected for most handlers.
    config.addinivalue_line("filterwarnings", "ignore:No application metrics to publish")


def _clear_handler_caches() -> None:
    """Drop the handlers' warm-container caches (boto3 tables, process settings, finance client,
    idempotency layer, Step Functions client), so each test builds them inside its own ``mock_aws``."""
    for module in (store, settings, post_to_finance, finance_lookup, start_run, start_next):
        for value in vars(module).values():
            if getattr(value, "__module__", None) == module.__name__ and hasattr(value, "cache_clear"):
                value.cache_clear()


_SERVICE_MODELS = botocore.loaders.create_loader()


def _botocore_session() -> botocore.session.Session:
    """A fresh botocore session that shares one loader of botocore's service-model files.

    Reading and parsing those JSON files again for every test's session was most of the
    fixture's cost; the loader is a read-only cache of them, holding no AWS state.
    """
    session = botocore.session.Session()
    session.register_component("data_loader", _SERVICE_MODELS)
    return session


@dataclass
class Aws:
    """Handles on the mocked account: clients, table names and a seeding helper."""

    config: EnvironmentConfig
    dynamodb: Any
    resource: Any
    processes_file: Path

    @property
    def gates_table(self) -> str:
        return GATES.table_name(self.config)

    @property
    def audit_table(self) -> str:
        return GATE_AUDIT.table_name(self.config)

    @property
    def runs_table(self) -> str:
        return RUNS.table_name(self.config)

    @property
    def transactions_table(self) -> str:
        return TRANSACTIONS.table_name(self.config)

    def seed(
        self,
        process: str,
        run_id: str,
        count: int,
        *,
        accounts: list[str] | None = None,
        malformed_share: float = 0.0,
        seed: int = 0,
    ) -> SeededRun:
        """HCM staging data written by the simulated HCM (``orchestration.sim.hcm``)."""
        return seed_run(
            self.resource,
            runs_table=self.runs_table,
            transactions_table=self.transactions_table,
            process=process,
            run_id=run_id,
            count=count,
            accounts=accounts if accounts is not None else list(self.config.finance.accounts),
            seed=seed,
            malformed_share=malformed_share,
        )

    def put_transaction(self, item: dict[str, Any]) -> None:
        self.resource.Table(self.transactions_table).put_item(Item=item)

    def transaction(self, run_id: str, transaction_id: str) -> dict[str, Any]:
        item: dict[str, Any] = (
            self.resource.Table(self.transactions_table)
            .get_item(Key={"run_id": run_id, "transaction_id": transaction_id}, ConsistentRead=True)
            .get("Item", {})
        )
        return item

    def set_status(self, run_id: str, transaction_id: str, status: TransactionStatus) -> None:
        self.resource.Table(self.transactions_table).update_item(
            Key={"run_id": run_id, "transaction_id": transaction_id},
            UpdateExpression="SET #s = :s",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={":s": status.value},
        )

    def run(self, run_id: str) -> dict[str, Any]:
        item: dict[str, Any] = (
            self.resource.Table(self.runs_table).get_item(Key={"run_id": run_id}, ConsistentRead=True).get("Item", {})
        )
        return item


@pytest.fixture(scope="session")
def config() -> EnvironmentConfig:
    return load_config("local")


@pytest.fixture
def finance(config: EnvironmentConfig) -> Iterator[FinanceSimulator]:
    with FinanceSimulator(config.finance.accounts) as sim:
        yield sim


@pytest.fixture
def aws(
    config: EnvironmentConfig,
    finance: FinanceSimulator,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Aws]:
    processes_file = tmp_path / "processes.json"
    processes_file.write_text(json.dumps({name: s.model_dump() for name, s in config.all_settings().items()}))
    for key, value in lambda_environment(config, finance.url, processes_file).items():
        monkeypatch.setenv(key, value)
    _clear_handler_caches()
    with mock_aws():
        boto3.setup_default_session(region_name=config.region, botocore_session=_botocore_session())
        dynamodb = boto3.client("dynamodb", region_name=config.region)
        create_tables(config, dynamodb)
        yield Aws(
            config=config,
            dynamodb=dynamodb,
            resource=boto3.resource("dynamodb", region_name=config.region),
            processes_file=processes_file,
        )
    _clear_handler_caches()
    boto3.DEFAULT_SESSION = None


@pytest.fixture
def context() -> LocalContext:
    return LocalContext(function_name="ledgerflow-local-unit", timeout_seconds=30)
