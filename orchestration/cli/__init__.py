"""The ``ledgerflow`` command line: ``app`` with every command module registered."""

from orchestration.cli import repair, run
from orchestration.cli.app import app

__all__ = ["app", "main", "repair", "run"]


def main() -> None:
    app()
