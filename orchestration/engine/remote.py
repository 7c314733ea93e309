"""A system already running behind an endpoint (``ledgerflow local serve``), seen from another process.

``ledgerflow run --endpoint-url`` drives it exactly like the embedded engine: it seeds the
HCM tables, starts executions and reconciles against the finance simulator, whose URL the
server publishes as an SSM parameter (the Lambdas' own setting, where a client can find it).
"""

from __future__ import annotations

import json
import urllib.request
from typing import Any

from lambdas.start_run import start_first_execution
from orchestration.asl import state_machine_name
from orchestration.aws import AwsTarget, NotProvisioned, finance_url_parameter, find_state_machine
from orchestration.config import EnvironmentConfig
from orchestration.engine.lambda_runtime import InvocationStats
from orchestration.finance_sim import FinanceStats, LedgerEntry

HTTP_TIMEOUT_SECONDS = 30


class RemoteEngine:
    """The engine interface of ``orchestration.runner`` over clients pointed at an endpoint."""

    stats: InvocationStats | None = None
    """Lambda invocations happen in the server's process: no live view from here."""

    def __init__(self, config: EnvironmentConfig, target: AwsTarget) -> None:
        self.config = config
        self.endpoint_url = target.endpoint_url
        self.sfn = target.client("stepfunctions")
        self.dynamodb = target.client("dynamodb")
        self.tables = target.resource("dynamodb")
        self.ssm = target.client("ssm")
        self.state_machines = {
            profile: find_state_machine(self.sfn, state_machine_name(config, profile))
            for profile in config.used_profiles()
        }

    def state_machine_for(self, process: str) -> str:
        return self.state_machines[self.config.profile_name(process)]

    def start_run(self, process: str, run_id: str) -> str:
        """Start a run the way the AWS run trigger does (``lambdas.start_run``)."""
        return start_first_execution(self.sfn, self.state_machine_for(process), process, run_id)

    def finance(self) -> RemoteFinance:
        name = finance_url_parameter(self.config)
        try:
            url = self.ssm.get_parameter(Name=name)["Parameter"]["Value"]
        except self.ssm.exceptions.ParameterNotFound as exc:
            raise NotProvisioned(f"SSM parameter {name} not found") from exc
        return RemoteFinance(str(url))


class RemoteFinance:
    """The finance simulator's ledger and counters, read over its HTTP API."""

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")

    def _get(self, path: str) -> Any:
        with urllib.request.urlopen(f"{self.url}{path}", timeout=HTTP_TIMEOUT_SECONDS) as response:
            return json.loads(response.read())

    def ledger(self) -> list[LedgerEntry]:
        return [LedgerEntry.model_validate(entry) for entry in self._get("/journal-entries")]

    def stats(self) -> FinanceStats:
        return FinanceStats.model_validate(self._get("/stats"))
