"""Reads the finance system's ledger over its HTTP facade (``GET /journal-entries``).

Reconciliation must compare against what the finance system holds, not what ledgerflow
believes it posted, so ``ledgerflow reconcile`` asks the finance system itself.
"""

from __future__ import annotations

import urllib3
from pydantic import TypeAdapter, ValidationError

from orchestration.finance_sim import LedgerEntry

_ENTRIES = TypeAdapter(list[LedgerEntry])


class LedgerUnavailable(Exception):
    """The ledger could not be read; the message names the URL and the cause."""


def fetch_ledger(base_url: str, *, timeout_seconds: float = 10.0, token: str | None = None) -> list[LedgerEntry]:
    """Every journal entry the finance system holds."""
    url = f"{base_url.rstrip('/')}/journal-entries"
    headers = {"Accept": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    try:
        response = urllib3.request("GET", url, headers=headers, timeout=timeout_seconds, retries=False)
    except urllib3.exceptions.HTTPError as exc:
        raise LedgerUnavailable(f"{url}: cannot reach the finance system: {exc}") from exc
    if response.status != 200:
        raise LedgerUnavailable(f"{url}: HTTP {response.status}: {response.data[:200].decode(errors='replace')}")
    try:
        return _ENTRIES.validate_json(response.data)
    except ValidationError as exc:
        raise LedgerUnavailable(f"{url}: unexpected ledger format: {exc.errors()[0]['msg']}") from exc
