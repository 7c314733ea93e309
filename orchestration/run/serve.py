"""``ledgerflow local serve``: the whole local system behind an AWS-compatible endpoint.

The embedded engine in moto's server mode, plus what a client in another process needs:
gates provisioned open (an operator closes them with ``ledgerflow gate``) and the finance
simulator's URL published as an SSM parameter for ``ledgerflow run --endpoint-url``.
"""

from __future__ import annotations

import errno
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import boto3

from orchestration.engine.local import LOOPBACK, LocalEngine
from orchestration.errors import LedgerflowError
from orchestration.faults.profiles import FaultProfile, finance_faults
from orchestration.ops.aws import finance_url_parameter
from orchestration.ops.gates import GateStore
from orchestration.sim.finance import FinanceSimulator
from orchestration.spec.config import EnvironmentConfig
from orchestration.spec.tables import GATE_AUDIT, GATES

SERVER_OPERATOR = "ledgerflow local serve"


class PortUnavailable(LedgerflowError):
    """The port is taken (or not ours to bind); the message names it."""


@dataclass(frozen=True)
class Served:
    engine: LocalEngine
    finance: FinanceSimulator
    endpoint_url: str


def check_port(port: int) -> None:
    """Fail before starting moto's server thread, which would wait forever on a bind error."""
    if port == 0:
        return
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((LOOPBACK, port))
        except OSError as exc:
            why = "already in use" if exc.errno == errno.EADDRINUSE else (exc.strerror or str(exc))
            raise PortUnavailable(f"--port {port}: cannot listen on {LOOPBACK}:{port}: {why}") from exc


@contextmanager
def serve(config: EnvironmentConfig, *, port: int, faults: FaultProfile, seed: int) -> Iterator[Served]:
    """Start the finance simulator and the engine on ``port``; provision what clients need."""
    check_port(port)
    fault_settings = finance_faults(faults, seed=seed, timeout_seconds=config.finance.timeout_seconds)
    with (
        FinanceSimulator.for_config(config.finance, fault_settings) as finance,
        LocalEngine.start(config, finance.url, port=port) as engine,
    ):
        gates = GateStore(engine.dynamodb, GATES.table_name(config), GATE_AUDIT.table_name(config))
        for process in config.processes:
            gates.set(process, open_=True, reason="opened at start", who=SERVER_OPERATOR)
        ssm = boto3.client("ssm", region_name=config.region)
        ssm.put_parameter(Name=finance_url_parameter(config), Value=finance.url, Type="String", Overwrite=True)
        yield Served(engine=engine, finance=finance, endpoint_url=str(engine.endpoint_url))
