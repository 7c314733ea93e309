"""Journals, defined once: what is posted, what a key resolves to, what the ledger holds.

A transaction from the HCM becomes one **journal**: a header (ledger, source, category, period,
accounting date, the transaction's reference) and two or more **lines**, each debiting or
crediting one account of the finance system's chart. A journal balances: its debits equal its
credits in each currency. Every finance system ledgerflow posts to refuses a journal that does
not (Oracle Journal Import's EU02, eConnect's 944), so the model refuses it first.

* ``Journal``: a journal as the handlers build it from an HCM record and post it (the wire shape
  of ``POST /journal-entries/batch``). Shape checks happen here, so malformed data fails in the
  Lambda; business checks (a known account, an open period, an accepted currency) stay with the
  finance system, which answers them with a coded refusal.
* ``LedgerRecord``: what the ledger answers for an idempotency key (``GET
  /journal-entries/{key}``): only what confirming a post needs, so a field added on the
  finance side never breaks the lookup.
* ``LedgerEntry``: a posted journal as the ledger stores it (``GET /journal-entries``): the
  journal, its key, its ledger id and when. Reconciliation, the operator commands and the
  finance simulator share it.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Self

from pydantic import BaseModel, ConfigDict, Field, field_serializer, model_validator

CENT = Decimal("0.01")
ZERO = Decimal("0.00")

Money = Annotated[Decimal, Field(gt=0, max_digits=17, decimal_places=2)]
"""A debit or a credit: positive, two decimals at most."""
Currency = Annotated[str, Field(pattern=r"^[A-Z]{3}$")]
Period = Annotated[str, Field(pattern=r"^\d{4}-(0[1-9]|1[0-2])$")]
"""An accounting period, ``YYYY-MM``."""


def money(amount: Decimal) -> str:
    """An amount as the ledger writes it: exactly two decimals, grouped by thousands."""
    return f"{amount.quantize(CENT):,f}"


class JournalLine(BaseModel):
    """One line of a journal: a debit or a credit (never both) of one account, in one currency."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    account: str = Field(min_length=1)
    debit: Money | None = None
    credit: Money | None = None
    currency: Currency
    description: str
    source_ref: str = Field(min_length=1, description="the HCM line this line comes from: component/line number")

    @model_validator(mode="after")
    def _one_side(self) -> Self:
        if (self.debit is None) == (self.credit is None):
            raise ValueError(f"line of {self.account}: a debit or a credit, exactly one")
        return self

    @field_serializer("debit", "credit")
    def _two_decimals(self, amount: Decimal | None) -> str | None:
        """The ledger demands exactly two decimals as a string, never a float."""
        return None if amount is None else f"{amount.quantize(CENT):f}"


class Journal(BaseModel):
    """A balanced journal of one HCM transaction: its header and 2..N lines."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    transaction_id: str = Field(min_length=1, description="the HCM transaction: the journal's reference")
    ledger: str = Field(min_length=1)
    source: str = Field(min_length=1)
    category: str = Field(min_length=1)
    period: Period
    accounting_date: date
    description: str
    lines: list[JournalLine] = Field(min_length=2)

    @model_validator(mode="after")
    def _balanced(self) -> Self:
        problem = imbalance(self.lines)
        if problem:
            raise ValueError(problem)
        return self

    @property
    def currencies(self) -> list[str]:
        return sorted({line.currency for line in self.lines})

    @property
    def total_debit(self) -> Decimal:
        return sum((line.debit for line in self.lines if line.debit is not None), ZERO)

    @property
    def total_credit(self) -> Decimal:
        return sum((line.credit for line in self.lines if line.credit is not None), ZERO)


def imbalance(lines: list[JournalLine]) -> str | None:
    """Why ``lines`` do not balance, per currency (``unbalanced: debits 1,250.00 != credits 1,249.99 USD``)."""
    debits: dict[str, Decimal] = defaultdict(lambda: ZERO)
    credits: dict[str, Decimal] = defaultdict(lambda: ZERO)
    for line in lines:
        if line.debit is not None:
            debits[line.currency] += line.debit
        if line.credit is not None:
            credits[line.currency] += line.credit
    for currency in sorted(debits.keys() | credits.keys()):
        if debits[currency] != credits[currency]:
            return f"unbalanced: debits {money(debits[currency])} != credits {money(credits[currency])} {currency}"
    return None


class LedgerRecord(BaseModel):
    """What the ledger holds under an idempotency key; any other field of the answer is ignored."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    ledger_id: str = Field(min_length=1)
    idempotency_key: str
    transaction_id: str


class LedgerEntry(Journal, LedgerRecord):
    """A posted journal as the finance ledger stores it: the journal, its key, its ledger id and when."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    posted_at: datetime
