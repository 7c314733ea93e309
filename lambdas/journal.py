"""The ledger-entry family, defined once: what is posted, what a key resolves to, what the ledger holds.

* ``JournalEntry``: one entry as the handlers build it from an HCM record and post it (the
  wire shape of ``POST /journal-entries/batch``). Shape checks happen here, so malformed data
  fails in the Lambda; business checks (a known account, an accepted currency) stay with the
  finance system, which answers them with a 422.
* ``LedgerRecord``: what the ledger answers for an idempotency key (``GET
  /journal-entries/{key}``): only what confirming a post needs, so a field added on the
  finance side never breaks the lookup.
* ``LedgerEntry``: a posted entry as the ledger stores it (``GET /journal-entries``), both of the
  above: the reconciliation, the operator commands and the finance simulator share it.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field, field_serializer

CENT = Decimal("0.01")


class JournalEntry(BaseModel):
    """One journal entry built from one HCM record, as posted to the finance system."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    transaction_id: str = Field(min_length=1)
    account: str = Field(min_length=1)
    amount: Decimal = Field(max_digits=17, decimal_places=2)
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    period: str = Field(pattern=r"^\d{4}-(0[1-9]|1[0-2])$")
    cost_centre: str
    employee: str
    description: str

    @field_serializer("amount")
    def _amount_two_decimals(self, amount: Decimal) -> str:
        """The ledger demands exactly two decimals as a string, never a float."""
        return f"{amount.quantize(CENT):f}"


class LedgerRecord(BaseModel):
    """What the ledger holds under an idempotency key; any other field of the answer is ignored."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    ledger_id: str = Field(min_length=1)
    idempotency_key: str
    transaction_id: str


class LedgerEntry(JournalEntry, LedgerRecord):
    """A posted entry as the finance ledger stores it: the entry, its key, its ledger id and when."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    posted_at: datetime
