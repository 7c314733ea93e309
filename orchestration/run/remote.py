"""A system already running behind an endpoint (``ledgerflow local serve``), seen from another process.

``ledgerflow run --endpoint-url`` drives it exactly like the embedded engine: it seeds the
HCM tables, starts executions and reconciles against the finance simulator, whose URL the
server publishes as an SSM parameter (the Lambdas' own setting, where a client can find it).
"""

from __future__ import annotations

import urllib.request

from lambdas.journal import LedgerEntry
from lambdas.start_run import start_first_execution
from orchestration.engine.lambda_runtime import InvocationStats
from orchestration.ops.aws import AwsTarget, NotProvisioned, finance_url_parameter, find_state_machine
from orchestration.ops.ledger import fetch_ledger
from orchestration.sim.finance import FinanceStats
from orchestration.spec.config import EnvironmentConfig
from orchestration.spec.names import state_machine_name

HTTP_TIMEOUT_SECONDS = 30


class RemoteEngine:
    """The engine interface of ``orchestration.run.runner`` over clients pointed at an endpoint."""

    stats: InvocationStats | None = None
    """Lambda invocations happen in the server's process: no live view from here."""

    def __init__(self, config: EnvironmentConfig, target: AwsTarget) -> None:
        self.config = config
        self.endpoint_url = target.endpoint_url
        self.sfn = target.sfn()
        self.dynamodb = target.dynamodb()
        self.tables = target.tables()
        self.ssm = target.ssm()
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
    """The finance simulator behind ``local serve``: its ledger (as any finance system's) and its counters."""

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")

    def ledger(self) -> list[LedgerEntry]:
        return fetch_ledger(self.url, timeout_seconds=HTTP_TIMEOUT_SECONDS)

    def stats(self) -> FinanceStats:
        """The simulator's own counters (``GET /stats``, which only the simulator answers)."""
        with urllib.request.urlopen(f"{self.url}/stats", timeout=HTTP_TIMEOUT_SECONDS) as response:
            return FinanceStats.model_validate_json(response.read())
