"""Confirming at the finance system whether a post whose answer was lost landed.

A post can land in the ledger while its invocation never reports it: the Lambda dies after
the finance system accepted the entry, or the answer arrives after the client timeout. When
Step Functions' retries then run out (an outage right after the crash, say), the item reaches
the ``Catch`` path with journals the ledger may already hold. Before such a transaction is recorded
``failed``, RecordResult (and Summarize, once more at the end of the run) asks the finance
system for the journal under the transaction's idempotency key, so "posted but unrecorded" becomes
``posted`` by design instead of waiting for ``ledgerflow reconcile``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable

from lambdas.container import per_container
from lambdas.finance_client import FinanceClient
from lambdas.journal import LedgerRecord
from lambdas.settings import env


def idempotency_key(process: str, transaction_id: str) -> str:
    """The key a journal is posted under (and looked up by): one per process and transaction UUID."""
    return f"{process}:{transaction_id}"


@per_container
def _client(base_url: str, timeout_seconds: float, token_secret: str | None) -> FinanceClient:
    """One pooled client per configuration, reused by the warm container's later invocations."""
    token: str | None = None
    if token_secret:
        from aws_lambda_powertools.utilities.parameters import get_secret

        token = str(get_secret(token_secret, max_age=300))
    return FinanceClient(base_url=base_url, timeout_seconds=timeout_seconds, token=token)


def finance_client() -> FinanceClient:
    """The container's finance client (PostToFinance posts with it, RecordResult and Summarize look up)."""
    return _client(
        env("FINANCE_BASE_URL"),
        float(os.environ.get("FINANCE_TIMEOUT_SECONDS", "5")),
        os.environ.get("FINANCE_TOKEN_SECRET_NAME") or None,
    )


def find_posted(
    process: str,
    transaction_ids: Iterable[str],
    *,
    has_time: Callable[[], bool] = lambda: True,
) -> dict[str, LedgerRecord]:
    """The journals of ``transaction_ids`` the ledger holds, by transaction id.

    The first failed lookup raises its ``FinanceError`` as it is, so "absent" is never
    confused with "could not ask": callers retry, or record the transactions as unconfirmed.
    ``has_time`` lets a caller stop before its own timeout; the ids not looked up are then
    simply absent from the answer.
    """
    finance = finance_client()
    found: dict[str, LedgerRecord] = {}
    for transaction_id in transaction_ids:
        if not has_time():
            break
        record = finance.find_entry(idempotency_key(process, transaction_id))
        if record is not None:
            found[transaction_id] = record
    return found
