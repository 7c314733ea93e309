"""The ``ledgerflow`` command line: ``app`` with every command module registered."""

from orchestration.cli import gate, local, plan, run
from orchestration.cli.app import app

__all__ = ["app", "gate", "local", "main", "plan", "run"]


def main() -> None:
    app()
