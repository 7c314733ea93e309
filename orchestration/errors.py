"""The one base of every error ``orchestration`` raises for a person to read and act on.

Each subclass says what went wrong in its message (naming the file, field, argument, process
or resource at fault) and how the command line should end: ``exit_code`` 2 for input the
user can correct before anything runs, 1 for a failure met while running. The command line
catches ``LedgerflowError`` once and prints one ``error:`` line, never a traceback.
"""

from __future__ import annotations

USAGE = 2
"""Exit code of bad input: an argument, a configuration file, a fault spec (click uses 2 too)."""
FAILURE = 1
"""Exit code of a failure at run time: AWS out of reach, a resource missing, a run not accounted for."""


class LedgerflowError(Exception):
    """Base of ledgerflow's errors; the message is complete and names what is at fault."""

    exit_code: int = FAILURE
