"""Root of the ``ledgerflow`` CLI; sub-commands live in their own modules."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="ledgerflow",
    help="Move HCM transactions into a legacy finance system through Step Functions, locally or on AWS.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def root() -> None:
    """ledgerflow: gated, retried, reconciled HCM-to-finance integration."""
