"""Environment-driven settings of the Lambda functions.

The CDK stack and the local engine set the same variables, so a handler never knows
which target it runs on.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from pydantic import BaseModel, ValidationError

from lambdas.container import per_container
from lambdas.models import ProcessSettings

PROCESSES_FILE_ENV = "LEDGERFLOW_PROCESSES_FILE"
STATE_MACHINE_ARNS_ENV = "STATE_MACHINE_ARNS"
DEFAULT_PROCESSES_FILE = Path(__file__).with_name("processes.json")


class UnknownProcess(Exception):
    """The execution names a business process this deployment has no settings for."""


class UnroutableProcess(Exception):
    """No state machine is known for the process's retry profile: a deployment bug worth its name."""


class Tables(BaseModel):
    gates: str
    gate_audit: str
    runs: str
    transactions: str
    idempotency: str


def env(name: str) -> str:
    """Read a required variable; a missing one is a deployment bug worth a clear message."""
    try:
        return os.environ[name]
    except KeyError as exc:
        raise RuntimeError(f"environment variable {name} is not set") from exc


def tables() -> Tables:
    return Tables(
        gates=env("GATES_TABLE"),
        gate_audit=env("GATE_AUDIT_TABLE"),
        runs=env("RUNS_TABLE"),
        transactions=env("TRANSACTIONS_TABLE"),
        idempotency=env("IDEMPOTENCY_TABLE"),
    )


@per_container
def _load_processes(path: str) -> dict[str, ProcessSettings]:
    try:
        raw = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise RuntimeError(f"cannot read process settings from {path}: {exc}") from exc
    try:
        return {name: ProcessSettings.model_validate(item) for name, item in raw.items()}
    except ValidationError as exc:
        raise RuntimeError(f"invalid process settings in {path}: {exc}") from exc


def process_settings(process: str) -> ProcessSettings:
    """Settings of one process from the JSON file bundled with (or pointed at by) the asset."""
    path = os.environ.get(PROCESSES_FILE_ENV, str(DEFAULT_PROCESSES_FILE))
    known = _load_processes(path)
    if process not in known:
        raise UnknownProcess(f"unknown process {process!r}; known: {', '.join(sorted(known))}")
    return known[process]


def state_machine_arns() -> dict[str, str]:
    """``{retry profile: state machine ARN}`` from ``STATE_MACHINE_ARNS`` (JSON).

    One entry per retry profile, not per process, so adding a process changes neither the
    variable nor the function: the process-to-profile mapping travels in the bundled settings.
    """
    raw = env(STATE_MACHINE_ARNS_ENV)
    try:
        arns = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise RuntimeError(f"{STATE_MACHINE_ARNS_ENV} is not JSON: {exc}") from exc
    if not isinstance(arns, dict) or not all(isinstance(v, str) for v in arns.values()):
        raise RuntimeError(f"{STATE_MACHINE_ARNS_ENV} must map retry profile names to ARNs")
    return arns


def state_machine_arn(process: str) -> str:
    """The state machine a run of ``process`` starts on: its bundled retry profile's ARN."""
    profile = process_settings(process).retry_profile
    if profile is None:
        raise UnroutableProcess(f"process {process!r} has no retry_profile in its bundled settings")
    arns = state_machine_arns()
    if profile not in arns:
        raise UnroutableProcess(
            f"process {process!r}: no state machine for retry profile {profile!r} in {STATE_MACHINE_ARNS_ENV} "
            f"(known: {', '.join(sorted(arns)) or 'none'})"
        )
    return arns[profile]


def known_processes() -> list[str]:
    """Every business process this deployment has settings for."""
    return sorted(_load_processes(os.environ.get(PROCESSES_FILE_ENV, str(DEFAULT_PROCESSES_FILE))))
