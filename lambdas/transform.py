"""HCM records of one Map item into balanced journals (PostToFinance's first step).

Each pending record becomes one journal by its process's mapping rules (``lambdas.mapping``).
A record that cannot (a missing field, a bad amount, a component no rule maps, a journal that
does not balance) is rejected here with a reason naming the problem, so it never reaches the
finance system and never blocks the rest of the chunk.
"""

from __future__ import annotations

from typing import Any

from lambdas.journal import Journal
from lambdas.mapping import MalformedRecord, journal_of
from lambdas.models import ProcessSettings, Rejection, TransactionStatus


def to_journal(record: dict[str, Any], settings: ProcessSettings) -> Journal:
    """The journal of one HCM record of ``settings.process``; ``MalformedRecord`` says why not."""
    return journal_of(record, settings.journal, process=settings.process, ledger=settings.finance_ledger)


def transform(
    ids: list[str], rows: dict[str, dict[str, Any]], settings: ProcessSettings
) -> tuple[list[Journal], list[Rejection]]:
    """The journals of a chunk's pending rows, and the rejections of those that cannot be posted.

    A row that is no longer pending (posted, rejected or failed by an earlier attempt or a
    duplicate delivery) is skipped, so a retried chunk only ever posts what is still open.
    """
    journals: list[Journal] = []
    rejected: list[Rejection] = []
    for tid in dict.fromkeys(ids):
        record = rows.get(tid)
        if record is None:
            rejected.append(Rejection(transaction_id=tid, reason="not found in HCM staging"))
            continue
        if record.get("status") != TransactionStatus.PENDING.value:
            continue
        try:
            journals.append(to_journal(record, settings))
        except MalformedRecord as exc:
            rejected.append(Rejection(transaction_id=tid, reason=f"malformed: {exc}"))
    return journals, rejected
