"""``ledgerflow run``: the end-to-end integration on the embedded engine."""

from __future__ import annotations

import functools
import json
import sys
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.live import Live
from rich.table import Table

from orchestration.cli.alarms import alarm_report
from orchestration.cli.common import (
    ConfigFileOption,
    EnvOption,
    ProcessesOption,
    fail,
    out,
    reporting_aws_errors,
    trial_balance_tables,
)
from orchestration.errors import FAILURE
from orchestration.faults.scenarios import parse_faults, valid_names
from orchestration.ops.aws import ENDPOINT_ENV, AwsTarget, NotProvisioned, endpoint_from_environment
from orchestration.spec.config import EnvironmentConfig, load_config

if TYPE_CHECKING:
    from orchestration.run.report import ProcessProgress, RunReport
    from orchestration.spec.chart import Chart


app = typer.Typer()


def parse_processes(config: EnvironmentConfig, value: str | None) -> list[str]:
    """The processes ``--processes`` names (all of them by default), each known to the config."""
    if not value:
        return list(config.processes)
    return config.known_processes([name.strip() for name in value.split(",") if name.strip()])


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


def report_tables(report: RunReport, chart: Chart) -> list[Table]:
    recon = Table(title="Reconciliation: HCM vs finance ledger (journals, lines, debits)")
    for column in (
        "process",
        "HCM count",
        "posted",
        "HCM lines",
        "HCM debits posted",
        "ledger count",
        "ledger lines",
        "ledger debits",
        "rejected",
        "failed",
        "lost",
        "dupes",
        "retries",
        "executions",
    ):
        recon.add_column(column, justify="left" if column == "process" else "right")
    for p in report.processes:
        match = p.ledger_count == p.posted and p.ledger_amount == p.hcm_amount and p.ledger_lines == p.hcm_lines
        style = "green" if match and p.lost == 0 and p.duplicates == 0 else "red"
        recon.add_row(
            p.process,
            str(p.hcm_count),
            str(p.posted),
            str(p.hcm_lines),
            f"{p.hcm_amount:,.2f}",
            str(p.ledger_count),
            str(p.ledger_lines),
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
    balance = trial_balance_tables("Trial balance by account: HCM vs ledger", report.trial_balance, chart)
    totals = Table(title="Run")
    totals.add_column("metric")
    totals.add_column("value", justify="right")
    for label, value in (
        ("transactions (journals) / lines posted", f"{report.transactions} / {report.lines}"),
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
        (
            "wall time",
            f"{report.seconds:.1f} s ({report.transactions_per_second} transactions/s, "
            f"{report.lines_per_second} lines/s)",
        ),
    ):
        totals.add_row(label, str(value))
    return [recon, *balance, reasons, totals] if reasons.row_count else [recon, *balance, totals]


def follow(start: functools.partial[RunReport], *, quiet: bool, target: AwsTarget | None) -> RunReport:
    """Run with a live progress table on a terminal; AWS and provisioning errors as one line."""

    def go() -> RunReport:
        if quiet or not sys.stderr.isatty():
            return start()
        with Live(console=Console(stderr=True), refresh_per_second=4, transient=False) as live:
            return start(on_progress=lambda progress: live.update(progress_table(progress)))

    if target is None:
        return go()
    with reporting_aws_errors(target):
        try:
            return go()
        except NotProvisioned as exc:
            message = f"{exc} at {target.where}: is `ledgerflow local serve` running there with the same --env?"
            raise fail(message, FAILURE) from exc


@app.command()
def run(
    local: Annotated[bool, typer.Option("--local", help="run on the embedded engine (no AWS account)")] = False,
    endpoint_url: Annotated[
        str | None,
        typer.Option(
            "--endpoint-url",
            help=f"run on `ledgerflow local serve` at this URL (default: ${ENDPOINT_ENV} unless --local)",
        ),
    ] = None,
    env: EnvOption = "local",
    processes: ProcessesOption = None,
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
    config_file: ConfigFileOption = None,
) -> None:
    """Seed the HCM, run every process through the real state machine and handlers, reconcile.

    ``--local`` runs on the embedded engine; ``--endpoint-url`` (or LEDGERFLOW_ENDPOINT_URL) on a
    running ``ledgerflow local serve``, whose gates stay as the operator set them.
    """
    if local and endpoint_url:
        raise fail("--local and --endpoint-url exclude each other: --local starts its own engine")
    if not local:
        endpoint_url = endpoint_url or endpoint_from_environment()
    if not (local or endpoint_url):
        raise fail(
            "say where to run: --local (embedded engine) or --endpoint-url URL (`ledgerflow local serve`); "
            "on AWS, runs start from the HCM trigger"
        )
    config = load_config(env, path=config_file)
    chosen = parse_processes(config, processes)
    plan = parse_faults(faults, seed=seed, timeout_seconds=config.finance.timeout_seconds)
    # The engine (moto, the handlers) loads only for a run: the CLI's other commands start fast.
    from orchestration.run.runner import run_local, run_remote

    target = AwsTarget(config.region, endpoint_url) if endpoint_url else None
    runner = functools.partial(run_local, config) if target is None else functools.partial(run_remote, config, target)
    start = functools.partial(
        runner, processes=chosen, transactions=transactions, faults=plan, seed=seed, timeout_seconds=timeout
    )
    report = follow(start, quiet=as_json, target=target)
    if as_json:
        typer.echo(json.dumps(report.model_dump(mode="json"), indent=2))
    else:
        console = out()
        for table in report_tables(report, config.finance.chart):
            console.print(table)
        alarm_report(console, report.alarms)
        for violation in report.invariant_violations:
            console.print(f"[red]invariant broken:[/] {violation}", highlight=False)
        verdict = "[green]every transaction accounted for[/]" if report.ok else "[red]transactions unaccounted for[/]"
        console.print(verdict)
    if not report.ok:
        raise typer.Exit(1)
