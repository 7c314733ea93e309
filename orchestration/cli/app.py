"""Root of the ``ledgerflow`` CLI: every command module's own Typer app, and the one place errors end.

Each command module owns its ``typer.Typer()`` (Typer's one file per command); groups are
added under their name, single commands merged into the root. ``LedgerflowGroup`` catches
``LedgerflowError`` once for every command: its message is printed as one ``error:`` line and
the command exits with the error's code (2 for bad input, 1 for a failure while running).
"""

from __future__ import annotations

from typing import Any

import typer
from typer.core import TyperGroup

from orchestration.cli import alarms, gate, local, plan, repair, run
from orchestration.cli.common import fail
from orchestration.errors import LedgerflowError


class LedgerflowGroup(TyperGroup):
    """The root command group: a ``LedgerflowError`` from any command becomes one line and its exit code."""

    def invoke(self, ctx: Any) -> Any:  # the Context of the click that Typer vendors
        try:
            return super().invoke(ctx)
        except LedgerflowError as exc:
            raise fail(str(exc), exc.exit_code) from exc


app = typer.Typer(
    cls=LedgerflowGroup,
    name="ledgerflow",
    help="Move HCM transactions into a legacy finance system through Step Functions, locally or on AWS.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(run.app)
app.add_typer(gate.app, name="gate")
app.add_typer(repair.app)
app.add_typer(alarms.app, name="alarms")
app.add_typer(local.app, name="local")
app.add_typer(plan.app)


@app.callback()
def root() -> None:
    """ledgerflow: gated, retried, reconciled HCM-to-finance integration."""
