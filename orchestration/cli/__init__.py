"""The ``ledgerflow`` command line."""

from orchestration.cli.app import app, main

__all__ = ["app", "main"]
