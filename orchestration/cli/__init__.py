"""The ``ledgerflow`` command line: ``app`` with every command module registered."""

from orchestration.cli import alarms, gate, local, plan, repair, run
from orchestration.cli.app import app

__all__ = ["alarms", "app", "gate", "local", "main", "plan", "repair", "run"]


def main() -> None:
    app()
