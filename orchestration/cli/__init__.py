"""The ``ledgerflow`` command line: ``app`` with every command module registered."""

from orchestration.cli import alarms, gate, local, run
from orchestration.cli.app import app

__all__ = ["alarms", "app", "gate", "local", "main", "run"]


def main() -> None:
    app()
