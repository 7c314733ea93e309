"""The ``ledgerflow`` command line (``orchestration.cli.app``)."""

from orchestration.cli.app import app

__all__ = ["app", "main"]


def main() -> None:
    app()
