"""HCM records of one Map item into finance journal entries (PostToFinance's first step).

Malformed records are rejected here with a reason that names the field, so they never
reach the finance system and never block the rest of the chunk.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

from pydantic import ValidationError

from lambdas.journal import JournalEntry
from lambdas.models import Rejection, TransactionStatus

CURRENCIES = frozenset({"USD", "EUR", "GBP", "CAD", "AUD", "JPY", "CHF", "SEK", "NOK", "DKK"})
REQUIRED = ("employee", "cost_centre", "gl_account", "amount", "currency", "period")
PERIOD = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
MAX_AMOUNT = Decimal("1000000000")


class MalformedRecord(ValueError):
    """An HCM record that cannot become a journal line."""


def _amount(raw: Any) -> Decimal:
    try:
        amount = Decimal(str(raw))
    except InvalidOperation as exc:
        raise MalformedRecord(f"amount {raw!r} is not a number") from exc
    if not amount.is_finite():
        raise MalformedRecord(f"amount {raw!r} is not a finite number")
    exponent = amount.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -2:
        raise MalformedRecord(f"amount {raw!r} has more than 2 decimals")
    if amount == 0 or abs(amount) >= MAX_AMOUNT:
        raise MalformedRecord(f"amount {raw!r} is zero or out of range")
    return amount.quantize(Decimal("0.01"))


def to_journal_entry(record: dict[str, Any]) -> JournalEntry:
    """Validate one HCM record and map it to the finance system's journal entry."""
    missing = [name for name in REQUIRED if record.get(name) in (None, "")]
    if missing:
        raise MalformedRecord(f"missing field(s): {', '.join(missing)}")
    currency = str(record["currency"])
    if currency not in CURRENCIES:
        raise MalformedRecord(f"currency {currency!r} is not a supported ISO 4217 code")
    period = str(record["period"])
    if not PERIOD.match(period):
        raise MalformedRecord(f"period {period!r} is not YYYY-MM")
    try:
        return JournalEntry(
            transaction_id=str(record["transaction_id"]),
            account=str(record["gl_account"]),
            amount=_amount(record["amount"]),
            currency=currency,
            period=period,
            cost_centre=str(record["cost_centre"]),
            employee=str(record["employee"]),
            description=str(record.get("description") or f"{record.get('process', 'hcm')} {period}"),
        )
    except ValidationError as exc:
        problem = exc.errors()[0]
        raise MalformedRecord(f"{'.'.join(str(part) for part in problem['loc'])}: {problem['msg']}") from exc


def transform(ids: list[str], rows: dict[str, dict[str, Any]]) -> tuple[list[JournalEntry], list[Rejection]]:
    """The journal entries of a chunk's pending rows, and the rejections of those that cannot be posted.

    A row that is no longer pending (posted, rejected or failed by an earlier attempt or a
    duplicate delivery) is skipped, so a retried chunk only ever posts what is still open.
    """
    entries: list[JournalEntry] = []
    rejected: list[Rejection] = []
    for tid in dict.fromkeys(ids):
        record = rows.get(tid)
        if record is None:
            rejected.append(Rejection(transaction_id=tid, reason="not found in HCM staging"))
            continue
        if record.get("status") != TransactionStatus.PENDING.value:
            continue
        try:
            entries.append(to_journal_entry(record))
        except MalformedRecord as exc:
            rejected.append(Rejection(transaction_id=tid, reason=f"malformed: {exc}"))
    return entries, rejected
