"""Options, consoles and error reporting shared by the CLI's commands.

Every failure a user can cause or fix (a bad argument, a broken config, AWS out of reach)
ends as one ``error:`` line on stderr and a non-zero exit, never a traceback: ledgerflow's own
errors (``orchestration.errors.LedgerflowError``) are caught once, by the root command group
(``orchestration.cli.app``); botocore's are explained by ``reporting_aws_errors``.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from lambdas.journal import ZERO
from orchestration.errors import FAILURE, USAGE
from orchestration.ops.aws import AWS_ERRORS, ENDPOINT_ENV, AwsTarget, explain
from orchestration.ops.reconciliation import summarized

if TYPE_CHECKING:
    from orchestration.ops.reconciliation import TrialBalanceLine
    from orchestration.spec.chart import Chart

PIPE_WIDTH = 200
"""Width of tables written to a pipe or file: rich would squeeze them into 80 columns."""

err = Console(stderr=True)


def out() -> Console:
    """A console for stdout: the terminal's width, or wide enough for whole rows in a pipe."""
    return Console() if sys.stdout.isatty() else Console(width=PIPE_WIDTH)


EnvOption = Annotated[
    str, typer.Option("--env", envvar="LEDGERFLOW_ENV", help="configuration environment: config/<env>.yaml")
]
ConfigFileOption = Annotated[
    Path | None, typer.Option("--config", help="a configuration file instead of config/<env>.yaml")
]
EndpointOption = Annotated[
    str | None,
    typer.Option(
        "--endpoint-url",
        envvar=ENDPOINT_ENV,
        help="AWS-compatible endpoint, e.g. the one `ledgerflow local serve` prints",
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="print JSON instead of tables")]
ProcessArgument = Annotated[str, typer.Argument(help="business process, as named in the config")]
ProcessesOption = Annotated[str | None, typer.Option("--processes", help="comma-separated processes (default: all)")]


def fail(message: str, code: int = USAGE) -> typer.Exit:
    """Print one ``error:`` line; the caller raises the returned exit."""
    err.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


@contextmanager
def reporting_aws_errors(target: AwsTarget, *, table: str | None = None) -> Iterator[None]:
    """Turn botocore's exceptions into one line naming what to check."""
    try:
        yield
    except AWS_ERRORS as exc:
        raise fail(explain(exc, target, table=table), FAILURE) from exc


TRIAL_BALANCE_FIGURES = ("hcm_debit", "hcm_credit", "ledger_debit", "ledger_credit")


def trial_balance_table(title: str, lines: list[TrialBalanceLine]) -> Table:
    """Per account: the HCM's expected debits and credits against the ledger's, and the totals."""
    table = Table(title=title)
    for column in ("account", "HCM debit", "HCM credit", "ledger debit", "ledger credit"):
        table.add_column(column, justify="left" if column == "account" else "right")
    for line in lines:
        figures = (line.hcm_debit, line.hcm_credit, line.ledger_debit, line.ledger_credit)
        table.add_row(line.account, *(f"{figure:,.2f}" for figure in figures), style=None if line.matches else "red")
    if lines:
        sums = [sum((getattr(line, field) for line in lines), ZERO) for field in TRIAL_BALANCE_FIGURES]
        table.add_row("total", *(f"{figure:,.2f}" for figure in sums), style="bold")
    return table


def trial_balance_tables(title: str, lines: list[TrialBalanceLine], chart: Chart) -> list[Table]:
    """A trial balance by natural account, then every full account where the ledger differs from the HCM."""
    tables = [trial_balance_table(title, summarized(lines, chart))]
    differing = [line for line in lines if not line.matches]
    if differing:
        tables.append(trial_balance_table("Accounts where the ledger differs from the HCM", differing))
    return tables
