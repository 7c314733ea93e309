"""Reads the finance system's ledger: what reconciliation compares the HCM's records with.

Reconciliation must compare against what the finance system holds, not what ledgerflow
believes it posted, so ``ledgerflow reconcile`` asks the finance system itself, with the same
client the Lambdas post with (``FinanceClient.list_entries``).
"""

from __future__ import annotations

from lambdas.finance_client import FinanceClient, FinanceError
from lambdas.journal import LedgerEntry
from orchestration.errors import LedgerflowError


class LedgerUnavailable(LedgerflowError):
    """The ledger could not be read; the message names the URL and the cause."""


def fetch_ledger(base_url: str, *, timeout_seconds: float = 10.0, token: str | None = None) -> list[LedgerEntry]:
    """Every journal entry the finance system holds."""
    with FinanceClient(base_url, timeout_seconds, token=token) as client:
        try:
            return client.list_entries()
        except FinanceError as exc:
            raise LedgerUnavailable(f"finance ledger at {client.base_url}: {exc}") from exc
