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
from typing import Annotated

import typer
from rich.console import Console

from orchestration.errors import FAILURE, USAGE
from orchestration.ops.aws import AWS_ERRORS, ENDPOINT_ENV, AwsTarget, explain

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
