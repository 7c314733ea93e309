"""``ledgerflow reconcile | failures | redrive``: find and repair what a run left behind.

The commands build boto3 clients for the configured region (or ``--endpoint-url``, e.g. a
moto server) and call ``orchestration.ops.repair``; the finance ledger is read over the finance
system's HTTP facade. Every problem is one message naming the argument, file, table or URL
at fault, with a non-zero exit; validation happens before anything is written.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from orchestration.cli.common import (
    ConfigFileOption,
    EndpointOption,
    EnvOption,
    JsonOption,
    ProcessArgument,
    fail,
    out,
    reporting_aws_errors,
    trial_balance_tables,
)
from orchestration.ops.aws import AwsTarget, finance_url_parameter
from orchestration.ops.ledger import fetch_ledger
from orchestration.ops.repair import failures, reconcile, redrive
from orchestration.spec.config import EnvironmentConfig, load_config

PERIOD = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")

app = typer.Typer()

RunOption = Annotated[str | None, typer.Option("--run", help="only this run of the process")]
PeriodOption = Annotated[str | None, typer.Option("--period", help="only this period, YYYY-MM")]


def setup(env: str, config_file: Path | None, process: str, period: str | None = None) -> EnvironmentConfig:
    """Validate every argument before any AWS call: the config, the process name, the period."""
    config = load_config(env, path=config_file)
    config.known_process(process)
    if period is not None and not PERIOD.match(period):
        raise fail(f"--period: {period!r} is not YYYY-MM (month 01-12)")
    return config


def finance_url(config: EnvironmentConfig, given: str | None, target: AwsTarget) -> str:
    """The finance API to reconcile against: given, configured, or the simulator `local serve` published."""
    if given:
        return given
    if config.finance.base_url != "simulator":
        return str(config.finance.base_url)
    if target.endpoint_url:
        with reporting_aws_errors(target):
            return str(target.ssm().get_parameter(Name=finance_url_parameter(config))["Parameter"]["Value"])
    raise fail(
        f"config {config.environment}: finance.base_url is the local simulator; pass --endpoint-url of "
        "`ledgerflow local serve` or --finance-url (the URL a running simulator printed)"
    )


@app.command("reconcile")
def reconcile_command(
    process: ProcessArgument,
    period: PeriodOption = None,
    as_json: JsonOption = False,
    env: EnvOption = "local",
    config_file: ConfigFileOption = None,
    endpoint_url: EndpointOption = None,
    finance: Annotated[str | None, typer.Option("--finance-url", help="finance API (default: the config's)")] = None,
) -> None:
    """Compare HCM totals with the finance ledger per period and list every difference (exit 1 if any)."""
    config = setup(env, config_file, process, period)
    target = AwsTarget(config.region, endpoint_url)
    url = finance_url(config, finance, target)
    tables = target.tables()
    ledger = fetch_ledger(url, timeout_seconds=config.finance.timeout_seconds * 5)
    with reporting_aws_errors(target):
        result = reconcile(tables, config, ledger, process, period=period)
    if as_json:
        typer.echo(json.dumps(result.model_dump(mode="json") | {"ok": result.ok}, indent=2))
    else:
        console = out()
        totals = Table(title=f"Reconciliation: {process}" + (f" {period}" if period else ""))
        for column in (
            "period",
            "journals",
            "posted",
            "rejected",
            "failed",
            "pending",
            "HCM lines",
            "HCM debits",
            "ledger",
            "ledger lines",
            "ledger debits",
        ):
            totals.add_column(column, justify="left" if column == "period" else "right")
        for p in result.periods:
            totals.add_row(
                p.period,
                str(p.transactions),
                str(p.posted),
                str(p.rejected),
                str(p.failed),
                str(p.pending),
                str(p.hcm_lines),
                f"{p.hcm_posted_amount:,.2f}",
                str(p.ledger_count),
                str(p.ledger_lines),
                f"{p.ledger_amount:,.2f}",
                style="green" if p.matches else "red",
            )
        console.print(totals)
        for p in result.periods:
            for table in trial_balance_tables(
                f"Trial balance: {process} {p.period}", p.trial_balance, config.finance.chart
            ):
                console.print(table)
        if result.differences:
            diffs = Table(title="Differences")
            for column in ("kind", "transaction", "run", "period", "detail"):
                diffs.add_column(column)
            for d in result.differences:
                diffs.add_row(d.kind, d.transaction_id, d.run_id or "", d.period or "", d.detail)
            console.print(diffs)
        console.print("[green]reconciled[/]" if result.ok else f"[red]{len(result.differences)} difference(s)[/]")
    if not result.ok:
        raise typer.Exit(1)


@app.command("failures")
def failures_command(
    process: ProcessArgument,
    run: RunOption = None,
    period: PeriodOption = None,
    as_json: JsonOption = False,
    env: EnvOption = "local",
    config_file: ConfigFileOption = None,
    endpoint_url: EndpointOption = None,
) -> None:
    """List the failed and rejected transactions of a process with their reasons and attempts."""
    config = setup(env, config_file, process, period)
    target = AwsTarget(config.region, endpoint_url)
    tables = target.tables()
    with reporting_aws_errors(target):
        rows = failures(tables, config, process, run_id=run, period=period)
    if as_json:
        typer.echo(json.dumps([row.model_dump() for row in rows], indent=2))
        return
    table = Table(title=f"Failed and rejected: {process}")
    for column in ("status", "run", "transaction", "amount", "period", "attempts", "reason"):
        table.add_column(column, justify="right" if column in ("amount", "attempts") else "left")
    for row in rows:
        table.add_row(row.status, row.run_id, row.transaction_id, row.amount, row.period, str(row.attempts), row.reason)
    out().print(table if rows else f"no failed or rejected transactions for {process}")


@app.command("redrive")
def redrive_command(
    process: ProcessArgument,
    run: RunOption = None,
    as_json: JsonOption = False,
    env: EnvOption = "local",
    config_file: ConfigFileOption = None,
    endpoint_url: EndpointOption = None,
) -> None:
    """Re-submit failed (and stranded pending) transactions of finished runs; posted ones are never re-posted."""
    config = setup(env, config_file, process)
    target = AwsTarget(config.region, endpoint_url)
    tables, sfn = target.tables(), target.sfn()
    with reporting_aws_errors(target):
        result = redrive(tables, sfn, config, process, run_id=run)
    if as_json:
        typer.echo(json.dumps(result.model_dump() | {"resubmitted": result.resubmitted}, indent=2))
        return
    table = Table(title=f"Redrive: {process}")
    for column in ("run", "failed reset", "pending", "execution", "skipped"):
        table.add_column(column)
    for r in result.runs:
        table.add_row(r.run_id, str(r.reset), str(r.stranded_pending), r.execution or "", r.skipped or "")
    out().print(table)
    out().print(f"{result.resubmitted} transaction(s) re-submitted")
