"""``ledgerflow gate``: open, close and inspect the per-process gates, on AWS or a local endpoint.

Closing a gate lets the batch in flight finish; the process's executions then pause before
their next batch. Opening it resumes paused executions at once (their task tokens), with
the pause interval as the fallback.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.table import Table

from orchestration.cli.common import (
    EndpointOption,
    EnvOption,
    JsonOption,
    ProcessArgument,
    fail,
    out,
    reporting_aws_errors,
)
from orchestration.errors import FAILURE
from orchestration.ops.aws import AwsTarget, NotProvisioned, endpoint_from_environment, find_state_machine
from orchestration.ops.gates import AuditRecord, Gate, GateStore, executions_on_gate, resume_paused
from orchestration.spec.config import EnvironmentConfig, load_config
from orchestration.spec.names import state_machine_name
from orchestration.spec.tables import GATE_AUDIT, GATES, RUNS

app = typer.Typer(
    help="Open, close and inspect business-process gates (close before a finance maintenance window).",
    no_args_is_help=True,
)


class GateCommand:
    """The config, target and clients one gate command needs."""

    def __init__(self, env: str, endpoint_url: str | None, process: str | None = None) -> None:
        self.config: EnvironmentConfig = load_config(env)
        if process is not None:
            self.config.known_process(process)
        self.target = AwsTarget(self.config.region, endpoint_url or endpoint_from_environment())
        self.dynamodb = self.target.dynamodb()
        self.gates_table = GATES.table_name(self.config)
        self.store = GateStore(self.dynamodb, self.gates_table, GATE_AUDIT.table_name(self.config))


def gate_state(gate: Gate) -> str:
    if not gate.exists:
        return "closed (no gate row)"
    return "open" if gate.open else "closed"


def when(timestamp: str) -> str:
    """An ISO timestamp to the second, for tables (``--json`` keeps the full value)."""
    return timestamp[:19].replace("T", " ") + " UTC" if timestamp else ""


def gate_row(gate: Gate, config: EnvironmentConfig) -> list[str]:
    note = "" if gate.process in config.processes else " (not in config)"
    changed = when(gate.changed_at)
    return [gate.process + note, gate_state(gate), gate.reason, gate.changed_by, changed, str(gate.version)]


def gate_table(title: str, gates: list[Gate], config: EnvironmentConfig) -> Table:
    table = Table(title=title)
    for column in ("process", "state", "reason", "changed by", "changed at", "version"):
        table.add_column(column, no_wrap=column in ("process", "state", "changed at"))
    for gate in gates:
        table.add_row(*gate_row(gate, config), style="green" if gate.open else "red")
    return table


def print_json(value: Any) -> None:
    typer.echo(json.dumps(value, indent=2))


@app.command("list")
def list_gates(env: EnvOption = "local", endpoint_url: EndpointOption = None, as_json: JsonOption = False) -> None:
    """Every configured process's gate (a process with no gate row is closed)."""
    cmd = GateCommand(env, endpoint_url)
    with reporting_aws_errors(cmd.target, table=cmd.gates_table):
        rows = {gate.process: gate for gate in cmd.store.all()}
    missing = {
        process: Gate(process=process, open=False, exists=False, reason="no gate row: treated as closed")
        for process in cmd.config.processes
        if process not in rows
    }
    gates = sorted([*rows.values(), *missing.values()], key=lambda gate: gate.process)
    if as_json:
        print_json([gate.model_dump() | {"configured": gate.process in cmd.config.processes} for gate in gates])
        return
    out().print(gate_table(f"Gates at {cmd.target.where} ({cmd.config.environment})", gates, cmd.config))


@app.command()
def status(
    process: ProcessArgument,
    env: EnvOption = "local",
    endpoint_url: EndpointOption = None,
    as_json: JsonOption = False,
) -> None:
    """One gate, and how many of the process's executions are running or paused on it."""
    cmd = GateCommand(env, endpoint_url, process)
    sfn = cmd.target.sfn()
    with reporting_aws_errors(cmd.target, table=cmd.gates_table):
        gate = cmd.store.get(process)
    name = state_machine_name(cmd.config, cmd.config.profile_name(process))
    runs_table = RUNS.table_name(cmd.config)
    with reporting_aws_errors(cmd.target, table=runs_table):
        try:
            machine = find_state_machine(sfn, name)
        except NotProvisioned as exc:
            message = f"{exc} at {cmd.target.where}: wrong --env or region, or the stacks are not deployed"
            raise fail(message, FAILURE) from exc
        counts = executions_on_gate(cmd.dynamodb, sfn, runs_table, machine, process)
    if as_json:
        print_json(gate.model_dump() | counts.model_dump())
        return
    table = gate_table(f"Gate {process}", [gate], cmd.config)
    console = out()
    console.print(table)
    console.print(f"executions: {counts.running} running, {counts.paused} paused on the gate")


def change(cmd: GateCommand, process: str, *, open_: bool, reason: str) -> Gate:
    with reporting_aws_errors(cmd.target, table=cmd.gates_table):
        return cmd.store.set(process, open_=open_, reason=reason)


@app.command()
def close(
    process: ProcessArgument,
    reason: Annotated[str, typer.Option("--reason", help="why, for the audit history (required)")],
    env: EnvOption = "local",
    endpoint_url: EndpointOption = None,
    as_json: JsonOption = False,
) -> None:
    """Close a gate: the batch in flight finishes, then the process's executions pause."""
    cmd = GateCommand(env, endpoint_url, process)
    if not reason.strip():
        raise fail("--reason must not be empty: the audit history records why a gate was closed")
    gate = change(cmd, process, open_=False, reason=reason)
    if as_json:
        print_json(gate.model_dump())
        return
    out().print(gate_table(f"Gate {process} closed", [gate], cmd.config))


@app.command("open")
def open_gate(
    process: ProcessArgument,
    reason: Annotated[str, typer.Option("--reason", help="why, for the audit history")] = "reopened",
    env: EnvOption = "local",
    endpoint_url: EndpointOption = None,
    as_json: JsonOption = False,
) -> None:
    """Open a gate and resume the process's paused executions at once."""
    cmd = GateCommand(env, endpoint_url, process)
    gate = change(cmd, process, open_=True, reason=reason)
    runs_table = RUNS.table_name(cmd.config)
    with reporting_aws_errors(cmd.target, table=runs_table):
        resumed = resume_paused(cmd.dynamodb, cmd.target.sfn(), runs_table, process)
    if as_json:
        print_json(gate.model_dump() | {"resumed": resumed})
        return
    console = out()
    console.print(gate_table(f"Gate {process} open", [gate], cmd.config))
    console.print(f"resumed {resumed} paused execution(s)")


@app.command()
def history(
    process: ProcessArgument,
    env: EnvOption = "local",
    endpoint_url: EndpointOption = None,
    as_json: JsonOption = False,
) -> None:
    """Every change of a gate: who, when, old -> new, and why."""
    cmd = GateCommand(env, endpoint_url, process)
    audit_table = GATE_AUDIT.table_name(cmd.config)
    with reporting_aws_errors(cmd.target, table=audit_table):
        records = cmd.store.history(process)
    if as_json:
        print_json([record.model_dump() for record in records])
        return
    out().print(history_table(process, records))


def history_table(process: str, records: list[AuditRecord]) -> Table:
    table = Table(title=f"Gate history: {process}")
    for column in ("version", "changed at", "changed by", "change", "reason"):
        table.add_column(column, no_wrap=column in ("changed at", "change"))

    def word(value: bool) -> str:
        return "open" if value else "closed"

    for record in records:
        change_text = f"{word(record.old_open)} -> {word(record.new_open)}"
        table.add_row(str(record.version), when(record.changed_at), record.changed_by, change_text, record.reason)
    return table
