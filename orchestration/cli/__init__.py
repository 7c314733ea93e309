"""The ``ledgerflow`` command line: ``app`` with every command module registered."""

from orchestration.cli import run
from orchestration.cli.app import app

__all__ = ["app", "main", "run"]


def main() -> None:
    app()
