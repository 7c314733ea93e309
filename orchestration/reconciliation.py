"""Reconciliation of HCM transactions against the finance ledger, and the run invariants.

Pure functions over HCM rows (items of the transactions table) and ledger entries, so the
same checks serve the local runner (after every scenario), ``ledgerflow reconcile`` against
any endpoint, and the tests. A business transaction is its UUID within a process: the same
UUID delivered twice (twice in one run, or in two runs) is one transaction, posted at most
once under the idempotency key ``process:transaction_id``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from pydantic import BaseModel, Field

from lambdas.models import TransactionStatus
from orchestration.finance_sim import LedgerEntry

CENT = Decimal("0.01")
TERMINAL = frozenset({TransactionStatus.POSTED.value, TransactionStatus.REJECTED.value, TransactionStatus.FAILED.value})

DifferenceKind = Literal[
    "posted_not_in_ledger",
    "in_ledger_not_posted",
    "ledger_duplicate",
    "ledger_mismatch",
    "ledger_unmatched",
    "pending",
    "not_terminal",
    "missing_reason",
    "missing_attempts",
    "missing_ledger_id",
]


class Difference(BaseModel):
    """One discrepancy, naming the transaction and what is wrong with it."""

    kind: DifferenceKind
    transaction_id: str
    run_id: str | None = None
    period: str | None = None
    detail: str

    def __str__(self) -> str:
        where = f" (run {self.run_id})" if self.run_id else ""
        return f"{self.kind}: {self.transaction_id}{where}: {self.detail}"


class PeriodTotals(BaseModel):
    """HCM versus ledger for one process and period, counting each transaction UUID once."""

    period: str
    transactions: int = 0
    posted: int = 0
    rejected: int = 0
    failed: int = 0
    pending: int = 0
    hcm_posted_amount: Decimal = Decimal("0.00")
    ledger_count: int = 0
    ledger_amount: Decimal = Decimal("0.00")

    @property
    def matches(self) -> bool:
        return self.ledger_count == self.posted and self.ledger_amount == self.hcm_posted_amount


class Reconciliation(BaseModel):
    process: str
    period: str | None = None
    runs: list[str] = Field(default_factory=list)
    periods: list[PeriodTotals] = Field(default_factory=list)
    differences: list[Difference] = Field(default_factory=list)
    duplicate_deliveries: int = Field(default=0, description="HCM rows beyond the first for one transaction UUID")

    @property
    def ok(self) -> bool:
        return not self.differences and all(p.matches for p in self.periods)


def amount_of(row: dict[str, Any]) -> Decimal | None:
    """The row's amount to the cent, or None when the HCM sent something that is not a number."""
    try:
        return Decimal(str(row.get("amount"))).quantize(CENT)
    except (InvalidOperation, ValueError):
        return None


def _row_checks(row: dict[str, Any]) -> list[Difference]:
    """A row ends in exactly one terminal state, with the evidence that state needs."""
    tid = str(row["transaction_id"])
    status = str(row.get("status", ""))
    base = {"transaction_id": tid, "run_id": str(row.get("run_id", "")), "period": row.get("period")}
    if status == TransactionStatus.PENDING.value:
        return [Difference(kind="pending", detail="still pending", **base)]
    if status not in TERMINAL:
        return [Difference(kind="not_terminal", detail=f"status {status!r}", **base)]
    found: list[Difference] = []
    if status == TransactionStatus.POSTED.value and not row.get("ledger_id"):
        found.append(Difference(kind="missing_ledger_id", detail="posted without a ledger id", **base))
    if status in (TransactionStatus.REJECTED.value, TransactionStatus.FAILED.value) and not row.get("reason"):
        found.append(Difference(kind="missing_reason", detail=f"{status} without a reason", **base))
    if status == TransactionStatus.FAILED.value and "attempts" not in row:
        found.append(Difference(kind="missing_attempts", detail="failed without an attempt count", **base))
    return found


def reconcile_rows(
    process: str,
    rows: Iterable[dict[str, Any]],
    ledger: Sequence[LedgerEntry],
    *,
    period: str | None = None,
) -> Reconciliation:
    """Compare one process's HCM rows with the ledger entries posted under its idempotency keys."""
    by_tid: dict[str, list[dict[str, Any]]] = defaultdict(list)
    runs: set[str] = set()
    for row in rows:
        if period is None or row.get("period") == period:
            by_tid[str(row["transaction_id"])].append(row)
            runs.add(str(row["run_id"]))
    prefix = f"{process}:"
    entries: dict[str, list[LedgerEntry]] = defaultdict(list)
    for entry in ledger:
        if entry.idempotency_key.startswith(prefix) and (period is None or entry.period == period):
            entries[entry.idempotency_key.removeprefix(prefix)].append(entry)
    totals: dict[str, PeriodTotals] = {}
    differences: list[Difference] = []
    duplicates = 0
    for tid, copies in sorted(by_tid.items()):
        duplicates += len(copies) - 1
        for row in copies:
            differences += _row_checks(row)
        statuses = {str(r.get("status")) for r in copies}
        posted_rows = [r for r in copies if r.get("status") == TransactionStatus.POSTED.value]
        row = posted_rows[0] if posted_rows else copies[0]
        row_period = str(row.get("period", ""))
        bucket = totals.setdefault(row_period, PeriodTotals(period=row_period))
        bucket.transactions += 1
        landed = entries.pop(tid, [])
        where = {"transaction_id": tid, "run_id": str(row["run_id"]), "period": row_period}
        if posted_rows:
            bucket.posted += 1
            amount = amount_of(row) or Decimal("0.00")
            bucket.hcm_posted_amount += amount
            ids = {str(r.get("ledger_id")) for r in posted_rows}
            if not landed:
                differences.append(
                    Difference(kind="posted_not_in_ledger", detail="recorded posted, no ledger entry", **where)
                )
            elif landed[0].amount.quantize(CENT) != amount or landed[0].ledger_id not in ids:
                detail = f"ledger {landed[0].ledger_id} {landed[0].amount} vs HCM {sorted(ids)} {amount}"
                differences.append(Difference(kind="ledger_mismatch", detail=detail, **where))
        else:
            for status, field in (
                (TransactionStatus.FAILED.value, "failed"),
                (TransactionStatus.REJECTED.value, "rejected"),
                (TransactionStatus.PENDING.value, "pending"),
            ):
                if status in statuses:
                    setattr(bucket, field, getattr(bucket, field) + 1)
                    break
            if landed:
                detail = f"ledger {landed[0].ledger_id} holds it but the HCM row is {sorted(statuses)}"
                differences.append(Difference(kind="in_ledger_not_posted", detail=detail, **where))
        if len(landed) > 1:
            detail = f"{len(landed)} ledger entries: {', '.join(e.ledger_id for e in landed)}"
            differences.append(Difference(kind="ledger_duplicate", detail=detail, **where))
        for entry in landed:
            totals[row_period].ledger_count += 1
            totals[row_period].ledger_amount += entry.amount.quantize(CENT)
    for tid, orphans in sorted(entries.items()):
        for entry in orphans:
            bucket = totals.setdefault(entry.period, PeriodTotals(period=entry.period))
            bucket.ledger_count += 1
            bucket.ledger_amount += entry.amount.quantize(CENT)
            differences.append(
                Difference(
                    kind="ledger_unmatched",
                    transaction_id=tid,
                    period=entry.period,
                    detail=f"ledger {entry.ledger_id} has no HCM transaction",
                )
            )
    return Reconciliation(
        process=process,
        period=period,
        runs=sorted(runs),
        periods=[totals[p] for p in sorted(totals)],
        differences=differences,
        duplicate_deliveries=duplicates,
    )


def invariant_violations(reconciliations: Iterable[Reconciliation]) -> list[str]:
    """Every broken invariant, one line each: not terminal, not exactly once in the ledger, totals apart."""
    found: list[str] = []
    for rec in reconciliations:
        found += [f"{rec.process}: {difference}" for difference in rec.differences]
        for totals in rec.periods:
            if not totals.matches:
                found.append(
                    f"{rec.process} {totals.period}: HCM posted {totals.posted} / {totals.hcm_posted_amount} "
                    f"vs ledger {totals.ledger_count} / {totals.ledger_amount}"
                )
    return found
