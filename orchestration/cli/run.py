"""``ledgerflow run``: the end-to-end integration on the embedded engine."""

from __future__ import annotations

import difflib
import functools
import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.live import Live
from rich.table import Table

from orchestration.asl import DefinitionError
from orchestration.cli.app import app
from orchestration.config import ConfigError, EnvironmentConfig, load_config
from orchestration.runner import ProcessProgress, RunReport, run_local
from orchestration.scenarios import FaultSpecError, parse_faults, valid_names

err = Console(stderr=True)


def fail(message: str, code: int = 2) -> typer.Exit:
    err.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


def parse_processes(config: EnvironmentConfig, value: str | None) -> list[str]:
    known = list(config.processes)
    if not value:
        return known
    wanted = [name.strip() for name in value.split(",") if name.strip()]
    unknown = [name for name in wanted if name not in config.processes]
    if unknown:
        hints = [difflib.get_close_matches(name, known, n=1) for name in unknown]
        named = ", ".join(
            f"{name} (did you mean {hint[0]}?)" if hint else name for name, hint in zip(unknown, hints, strict=True)
        )
        raise fail(f"--processes: unknown process(es) {named}; known: {', '.join(known)}")
    if not wanted:
        raise fail(f"--processes: no process named; known: {', '.join(known)}")
    return list(dict.fromkeys(wanted))


def progress_table(progress: list[ProcessProgress]) -> Table:
    table = Table(title="ledgerflow run --local", expand=False)
    for column in ("process", "posted", "rejected", "failed", "pending", "retries", "state", "executions"):
        table.add_column(column, justify="left" if column in ("process", "state") else "right")
    for p in progress:
        state = "paused (gate closed)" if p.paused else ("done" if p.pending == 0 else "running")
        table.add_row(
            p.process,
            str(p.posted),
            str(p.rejected),
            str(p.failed),
            str(p.pending),
            str(p.retrying),
            state,
            str(p.executions),
        )
    return table


def report_tables(report: RunReport) -> list[Table]:
    recon = Table(title="Reconciliation: HCM vs finance ledger")
    for column in (
        "process",
        "HCM count",
        "posted",
        "HCM amount posted",
        "ledger count",
        "ledger amount",
        "rejected",
        "failed",
        "lost",
        "dupes",
        "retries",
        "executions",
    ):
        recon.add_column(column, justify="left" if column == "process" else "right")
    for p in report.processes:
        match = p.ledger_count == p.posted and p.ledger_amount == p.hcm_amount
        style = "green" if match and p.lost == 0 and p.duplicates == 0 else "red"
        recon.add_row(
            p.process,
            str(p.hcm_count),
            str(p.posted),
            f"{p.hcm_amount:,.2f}",
            str(p.ledger_count),
            f"{p.ledger_amount:,.2f}",
            str(p.rejected),
            str(p.failed),
            str(p.lost),
            str(p.duplicates),
            str(p.retries),
            str(p.executions),
            style=style,
        )
    reasons = Table(title="Rejected and failed, by reason")
    for column in ("process", "outcome", "reason", "count"):
        reasons.add_column(column, justify="right" if column == "count" else "left")
    for p in report.processes:
        for reason, count in p.rejection_reasons.items():
            reasons.add_row(p.process, "rejected", reason, str(count))
        for reason, count in p.failure_reasons.items():
            reasons.add_row(p.process, "failed", reason, str(count))
    totals = Table(title="Run")
    totals.add_column("metric")
    totals.add_column("value", justify="right")
    for label, value in (
        ("transactions", report.transactions),
        ("posted / rejected / failed", f"{report.posted} / {report.rejected} / {report.failed}"),
        ("lost / duplicates", f"{report.lost} / {report.duplicates}"),
        ("retries", report.retries),
        (
            "state transitions",
            f"{report.state_transitions} ({report.transitions_per_transaction} per transaction)",
        ),
        ("history events, largest execution", report.max_history_events),
        ("Lambda invocations", report.lambda_invocations),
        ("finance peak concurrent posts", report.finance_max_concurrent),
        ("wall time", f"{report.seconds:.1f} s ({report.transactions_per_second} transactions/s)"),
    ):
        totals.add_row(label, str(value))
    return [recon, reasons, totals] if reasons.row_count else [recon, totals]


@app.command()
def run(
    local: Annotated[bool, typer.Option("--local", help="run on the embedded engine (no AWS account)")] = False,
    env: Annotated[str, typer.Option("--env", help="configuration environment: config/<env>.yaml")] = "local",
    processes: Annotated[
        str | None, typer.Option("--processes", help="comma-separated processes (default: all)")
    ] = None,
    transactions: Annotated[
        int, typer.Option("--transactions", min=1, max=1_000_000, help="total, split across processes")
    ] = 300,
    faults: Annotated[
        str,
        typer.Option(
            "--faults",
            help=f"comma-separated fault scenarios and presets, each NAME or NAME=VALUE: {', '.join(valid_names())}",
        ),
    ] = "transient",
    seed: Annotated[int, typer.Option("--seed", help="seed of the HCM data and fault draws")] = 7,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object instead of tables")] = False,
    timeout: Annotated[float, typer.Option("--timeout", min=1, help="give up after this many seconds")] = 900,
    config_file: Annotated[
        Path | None, typer.Option("--config", help="a configuration file instead of config/<env>.yaml")
    ] = None,
) -> None:
    """Seed the HCM, run every process through the real state machine and handlers, reconcile."""
    if not local:
        raise fail("only --local is supported by `run`; on AWS, runs start from the HCM trigger")
    try:
        config = load_config(env, path=config_file)
    except ConfigError as exc:
        raise fail(str(exc)) from exc
    chosen = parse_processes(config, processes)
    try:
        plan = parse_faults(faults, seed=seed, timeout_seconds=config.finance.timeout_seconds)
    except FaultSpecError as exc:
        raise fail(str(exc)) from exc
    console = Console(stderr=True)
    start = functools.partial(
        run_local,
        config,
        processes=chosen,
        transactions=transactions,
        faults=plan,
        seed=seed,
        timeout_seconds=timeout,
    )
    try:
        if as_json or not sys.stderr.isatty():
            report = start()
        else:
            with Live(console=console, refresh_per_second=4, transient=False) as live:
                report = start(on_progress=lambda progress: live.update(progress_table(progress)))
    except DefinitionError as exc:
        raise fail(str(exc)) from exc
    if as_json:
        typer.echo(json.dumps(report.model_dump(mode="json"), indent=2))
    else:
        out = Console()
        for table in report_tables(report):
            out.print(table)
        for violation in report.invariant_violations:
            out.print(f"[red]invariant broken:[/] {violation}", highlight=False)
        verdict = "[green]every transaction accounted for[/]" if report.ok else "[red]transactions unaccounted for[/]"
        out.print(verdict)
    if not report.ok:
        raise typer.Exit(1)
