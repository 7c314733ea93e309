"""Reconciliation of HCM transactions against the finance ledger, and the run invariants.

Pure functions over HCM rows (items of the transactions table) and ledger entries, so the
same checks serve the run report (``run_totals``, and the invariants after every scenario),
``ledgerflow reconcile`` against any endpoint (``reconcile_rows``), and the tests. A business
transaction is its UUID within a process: the same UUID delivered twice (twice in one run, or
in two runs) is one transaction, posted at most once under the idempotency key
``process:transaction_id``.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from pydantic import BaseModel, Field

from lambdas.finance_lookup import idempotency_key
from lambdas.journal import CENT, LedgerEntry
from lambdas.models import TransactionStatus

TRANSACTION_TERMINAL = frozenset(
    {TransactionStatus.POSTED.value, TransactionStatus.REJECTED.value, TransactionStatus.FAILED.value}
)
REASON_KIND_CHARACTERS = 80

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
    if status not in TRANSACTION_TERMINAL:
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


class RunTotals(BaseModel):
    """One run's rows against the ledger entries under their keys: what the run report counts."""

    hcm_count: int
    hcm_amount: Decimal
    ledger_count: int
    ledger_amount: Decimal
    posted: int
    rejected: int
    failed: int
    lost: int = Field(description="pending, recorded posted but not in the ledger, or in the ledger but not posted")
    duplicates: int = Field(description="ledger entries beyond the first for one transaction")
    retries: int = Field(description="attempts beyond the first, as recorded on the rows")
    rejection_reasons: dict[str, int] = Field(default_factory=dict)
    failure_reasons: dict[str, int] = Field(default_factory=dict)


def run_totals(
    process: str, rows: Sequence[dict[str, Any]], ledger_by_key: Mapping[str, Sequence[LedgerEntry]]
) -> RunTotals:
    """Count one run: its rows by status, and the ledger entries posted under their idempotency keys."""
    posted = [row for row in rows if row["status"] == TransactionStatus.POSTED.value]
    entries = [
        entry for row in rows for entry in ledger_by_key.get(idempotency_key(process, row["transaction_id"]), [])
    ]
    in_ledger = {entry.transaction_id for entry in entries}
    statuses = Counter(str(row["status"]) for row in rows)
    unrecorded = sum(
        1 for row in rows if row["transaction_id"] in in_ledger and row["status"] != TransactionStatus.POSTED.value
    )
    missing = sum(1 for row in posted if row["transaction_id"] not in in_ledger)
    return RunTotals(
        hcm_count=len(rows),
        hcm_amount=sum((amount_of(row) or Decimal("0") for row in posted), Decimal("0")),
        ledger_count=len(entries),
        ledger_amount=sum((entry.amount for entry in entries), Decimal("0")),
        posted=len(posted),
        rejected=statuses[TransactionStatus.REJECTED.value],
        failed=statuses[TransactionStatus.FAILED.value],
        lost=statuses[TransactionStatus.PENDING.value] + missing + unrecorded,
        duplicates=len(entries) - len(in_ledger),
        retries=recorded_retries(rows),
        rejection_reasons=reasons(rows, TransactionStatus.REJECTED),
        failure_reasons=reasons(rows, TransactionStatus.FAILED),
    )


def recorded_retries(rows: Iterable[dict[str, Any]]) -> int:
    """Attempts beyond the first, summed over rows as their outcomes recorded them."""
    return sum(max(0, int(row.get("attempts", 0)) - 1) for row in rows)


def reason_kind(reason: str) -> str:
    """A reason without its details: the text after its first prefix, up to the next colon.

    ``malformed: missing field(s): employee`` is ``missing field(s)``; ``FinanceOverloaded after 7
    attempt(s): 503 database_overloaded`` is ``503 database_overloaded``; a reason with no colon
    is itself.
    """
    return reason.split(":")[0:2][-1].strip()[:REASON_KIND_CHARACTERS]


def reasons(rows: Iterable[dict[str, Any]], status: TransactionStatus) -> dict[str, int]:
    """The rows of ``status`` counted by the kind of their reason, commonest first."""
    counts: Counter[str] = Counter()
    for row in rows:
        if row["status"] == status.value:
            counts[reason_kind(str(row.get("reason", "no reason recorded")))] += 1
    return dict(counts.most_common())
