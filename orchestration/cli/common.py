"""Options, config loading and error reporting shared by the CLI's commands.

Every failure a user can cause or fix (a bad argument, a broken config, AWS out of reach)
ends as one ``error:`` line on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from orchestration.ops.aws import AWS_ERRORS, ENDPOINT_ENV, AwsTarget, explain
from orchestration.spec.config import ConfigError, EnvironmentConfig, load_config

USAGE_ERROR = 2
"""Exit code of a bad argument (click's own usage errors use 2 as well)."""
FAILURE = 1
"""Exit code of a failure at run time: AWS out of reach, a table missing, a run not accounted for."""

PIPE_WIDTH = 200
"""Width of tables written to a pipe or file: rich would squeeze them into 80 columns."""

err = Console(stderr=True)


def out() -> Console:
    """A console for stdout: the terminal's width, or wide enough for whole rows in a pipe."""
    return Console() if sys.stdout.isatty() else Console(width=PIPE_WIDTH)


EnvOption = Annotated[
    str, typer.Option("--env", envvar="LEDGERFLOW_ENV", help="configuration environment: config/<env>.yaml")
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


def fail(message: str, code: int = USAGE_ERROR) -> typer.Exit:
    err.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


def config_for(env: str, path: Path | None = None) -> EnvironmentConfig:
    """``config/<env>.yaml`` (or the file at ``path``); a bad one is one line naming the field."""
    try:
        return load_config(env, path=path)
    except ConfigError as exc:
        raise fail(str(exc)) from exc


def known_process(config: EnvironmentConfig, process: str) -> str:
    if process not in config.processes:
        raise fail(f"unknown process {process!r}; known: {', '.join(config.processes)}")
    return process


@contextmanager
def reporting_aws_errors(target: AwsTarget, *, table: str | None = None) -> Iterator[None]:
    """Turn botocore's exceptions into one line naming what to check."""
    try:
        yield
    except AWS_ERRORS as exc:
        raise fail(explain(exc, target, table=table), FAILURE) from exc
