"""Reconciliation of HCM transactions against the finance ledger, and the run invariants.

Pure functions over HCM rows (items of the transactions table), the process's mapping rules and
the ledger's journals, so the same checks serve the run report (``run_totals``, and the
invariants after every scenario), ``ledgerflow reconcile`` against any endpoint
(``reconcile_rows``), and the tests. A business transaction is its UUID within a process: the
same UUID delivered twice (twice in one run, or in two runs) is one transaction, posted as one
journal at most once, under the idempotency key ``process:transaction_id``.

What finance people check is a **trial balance**: per account, the debits and credits the HCM's
posted transactions should have put there (their journals under today's mapping rules) against
the debits and credits the ledger holds. Both sides must balance (debits equal credits), and
each account's HCM figures must equal the ledger's.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field

from lambdas.finance_lookup import idempotency_key
from lambdas.journal import ZERO, Journal, LedgerEntry, money
from lambdas.mapping import MalformedRecord
from lambdas.models import ProcessSettings, TransactionStatus
from lambdas.transform import to_journal

if TYPE_CHECKING:
    from orchestration.spec.chart import Chart

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
    "posted_unmappable",
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


class TrialBalanceLine(BaseModel):
    """One account: the HCM's expected debits and credits against the ledger's."""

    account: str
    hcm_debit: Decimal = ZERO
    hcm_credit: Decimal = ZERO
    ledger_debit: Decimal = ZERO
    ledger_credit: Decimal = ZERO

    @property
    def matches(self) -> bool:
        return self.hcm_debit == self.ledger_debit and self.hcm_credit == self.ledger_credit


class TrialBalance:
    """Debits and credits by account, from the HCM's journals and from the ledger's."""

    def __init__(self) -> None:
        self._accounts: dict[str, TrialBalanceLine] = {}

    def _line(self, account: str) -> TrialBalanceLine:
        return self._accounts.setdefault(account, TrialBalanceLine(account=account))

    def add_hcm(self, journal: Journal) -> None:
        for line in journal.lines:
            entry = self._line(line.account)
            entry.hcm_debit += line.debit or ZERO
            entry.hcm_credit += line.credit or ZERO

    def add_ledger(self, journal: Journal) -> None:
        for line in journal.lines:
            entry = self._line(line.account)
            entry.ledger_debit += line.debit or ZERO
            entry.ledger_credit += line.credit or ZERO

    def lines(self) -> list[TrialBalanceLine]:
        return [self._accounts[account] for account in sorted(self._accounts)]


def summarized(lines: Iterable[TrialBalanceLine], chart: Chart) -> list[TrialBalanceLine]:
    """A trial balance rolled up to the chart's summary segment (the natural account), in account order."""
    totals: dict[str, TrialBalanceLine] = {}
    for line in lines:
        key = chart.summary_of(line.account)
        total = totals.setdefault(key, TrialBalanceLine(account=key))
        total.hcm_debit += line.hcm_debit
        total.hcm_credit += line.hcm_credit
        total.ledger_debit += line.ledger_debit
        total.ledger_credit += line.ledger_credit
    return [totals[key] for key in sorted(totals)]


def trial_balance_problems(lines: Iterable[TrialBalanceLine]) -> list[str]:
    """Every way a trial balance is off: a side whose debits and credits differ, an account whose sides differ."""
    rows = list(lines)
    found = []
    for side in ("hcm", "ledger"):
        debit = sum((getattr(row, f"{side}_debit") for row in rows), ZERO)
        credit = sum((getattr(row, f"{side}_credit") for row in rows), ZERO)
        if debit != credit:
            found.append(f"{side} side does not balance: debits {money(debit)} != credits {money(credit)}")
    found += [
        f"account {row.account}: HCM {money(row.hcm_debit)} / {money(row.hcm_credit)} vs ledger "
        f"{money(row.ledger_debit)} / {money(row.ledger_credit)} (debit / credit)"
        for row in rows
        if not row.matches
    ]
    return found


class PeriodTotals(BaseModel):
    """HCM versus ledger for one process and period, counting each transaction UUID (a journal) once."""

    period: str
    transactions: int = 0
    posted: int = 0
    rejected: int = 0
    failed: int = 0
    pending: int = 0
    hcm_posted_amount: Decimal = Field(default=ZERO, description="total debits of the posted journals")
    hcm_lines: int = 0
    ledger_count: int = 0
    ledger_amount: Decimal = Field(default=ZERO, description="total debits of the ledger's journals")
    ledger_lines: int = 0
    trial_balance: list[TrialBalanceLine] = Field(default_factory=list)

    @property
    def matches(self) -> bool:
        return (
            self.ledger_count == self.posted
            and self.ledger_amount == self.hcm_posted_amount
            and self.ledger_lines == self.hcm_lines
            and not trial_balance_problems(self.trial_balance)
        )


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


def journal_or_none(row: dict[str, Any], settings: ProcessSettings) -> Journal | None:
    """The journal an HCM row maps to under the process's rules, or ``None`` when it cannot."""
    try:
        return to_journal(row, settings)
    except MalformedRecord:
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


def _line_set(journal: Journal) -> Counter[tuple[str, Decimal | None, Decimal | None, str]]:
    return Counter((line.account, line.debit, line.credit, line.currency) for line in journal.lines)


def _ledger_differences(
    where: dict[str, Any], expected: Journal | None, posted_ids: set[str], landed: list[LedgerEntry]
) -> list[Difference]:
    """A posted transaction against what the ledger holds under its key."""
    if not landed:
        return [Difference(kind="posted_not_in_ledger", detail="recorded posted, no journal in the ledger", **where)]
    first = landed[0]
    if first.ledger_id not in posted_ids:
        detail = f"ledger {first.ledger_id} vs HCM {sorted(posted_ids)}"
        return [Difference(kind="ledger_mismatch", detail=detail, **where)]
    if expected is not None and _line_set(first) != _line_set(expected):
        detail = (
            f"ledger {first.ledger_id} holds {len(first.lines)} line(s), debits {money(first.total_debit)}; "
            f"the HCM record maps to {len(expected.lines)}, debits {money(expected.total_debit)}"
        )
        return [Difference(kind="ledger_mismatch", detail=detail, **where)]
    return []


class _Bucket:
    """The totals and trial balance of one period while they are counted."""

    def __init__(self, period: str) -> None:
        self.totals = PeriodTotals(period=period)
        self.balance = TrialBalance()

    def add_ledger(self, entry: LedgerEntry) -> None:
        self.totals.ledger_count += 1
        self.totals.ledger_amount += entry.total_debit
        self.totals.ledger_lines += len(entry.lines)
        self.balance.add_ledger(entry)

    def done(self) -> PeriodTotals:
        return self.totals.model_copy(update={"trial_balance": self.balance.lines()})


def reconcile_rows(
    process: str,
    rows: Iterable[dict[str, Any]],
    ledger: Sequence[LedgerEntry],
    settings: ProcessSettings,
    *,
    period: str | None = None,
) -> Reconciliation:
    """Compare one process's HCM rows with the journals the ledger holds under its idempotency keys."""
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
    buckets: dict[str, _Bucket] = {}
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
        bucket = buckets.setdefault(row_period, _Bucket(row_period))
        bucket.totals.transactions += 1
        landed = entries.pop(tid, [])
        where = {"transaction_id": tid, "run_id": str(row["run_id"]), "period": row_period}
        if posted_rows:
            bucket.totals.posted += 1
            expected = journal_or_none(row, settings)
            if expected is None:
                detail = "recorded posted, but its HCM record no longer maps under the process's rules"
                differences.append(Difference(kind="posted_unmappable", detail=detail, **where))
            else:
                bucket.totals.hcm_posted_amount += expected.total_debit
                bucket.totals.hcm_lines += len(expected.lines)
                bucket.balance.add_hcm(expected)
            ids = {str(r.get("ledger_id")) for r in posted_rows}
            differences += _ledger_differences(where, expected, ids, landed)
        else:
            for status, field in (
                (TransactionStatus.FAILED.value, "failed"),
                (TransactionStatus.REJECTED.value, "rejected"),
                (TransactionStatus.PENDING.value, "pending"),
            ):
                if status in statuses:
                    setattr(bucket.totals, field, getattr(bucket.totals, field) + 1)
                    break
            if landed:
                detail = f"ledger {landed[0].ledger_id} holds it but the HCM row is {sorted(statuses)}"
                differences.append(Difference(kind="in_ledger_not_posted", detail=detail, **where))
        if len(landed) > 1:
            detail = f"{len(landed)} journals in the ledger: {', '.join(e.ledger_id for e in landed)}"
            differences.append(Difference(kind="ledger_duplicate", detail=detail, **where))
        for entry in landed:
            bucket.add_ledger(entry)
    for tid, orphans in sorted(entries.items()):
        for entry in orphans:
            buckets.setdefault(entry.period, _Bucket(entry.period)).add_ledger(entry)
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
        periods=[buckets[p].done() for p in sorted(buckets)],
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
                    f"{rec.process} {totals.period}: HCM posted {totals.posted} journals / "
                    f"{totals.hcm_lines} lines / {money(totals.hcm_posted_amount)} vs ledger {totals.ledger_count} / "
                    f"{totals.ledger_lines} / {money(totals.ledger_amount)}"
                )
                found += [f"{rec.process} {totals.period}: {p}" for p in trial_balance_problems(totals.trial_balance)]
    return found


class RunTotals(BaseModel):
    """One run's rows against the ledger's journals under their keys: what the run report counts."""

    hcm_count: int
    hcm_amount: Decimal = Field(description="total debits of the posted journals, as the HCM records map")
    hcm_lines: int
    ledger_count: int
    ledger_amount: Decimal = Field(description="total debits of the ledger's journals")
    ledger_lines: int
    posted: int
    rejected: int
    failed: int
    lost: int = Field(description="pending, recorded posted but not in the ledger, or in the ledger but not posted")
    duplicates: int = Field(description="ledger journals beyond the first for one transaction")
    retries: int = Field(description="attempts beyond the first, as recorded on the rows")
    rejection_reasons: dict[str, int] = Field(default_factory=dict)
    failure_reasons: dict[str, int] = Field(default_factory=dict)


def run_totals(
    process: str,
    rows: Sequence[dict[str, Any]],
    ledger_by_key: Mapping[str, Sequence[LedgerEntry]],
    settings: ProcessSettings,
    balance: TrialBalance,
) -> RunTotals:
    """Count one run: its rows by status, and the journals posted under their idempotency keys.

    The posted rows' journals and the ledger's are added to ``balance``.
    """
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
    expected = [journal for journal in (journal_or_none(row, settings) for row in posted) if journal is not None]
    for journal in expected:
        balance.add_hcm(journal)
    for entry in entries:
        balance.add_ledger(entry)
    return RunTotals(
        hcm_count=len(rows),
        hcm_amount=sum((journal.total_debit for journal in expected), ZERO),
        hcm_lines=sum(len(journal.lines) for journal in expected),
        ledger_count=len(entries),
        ledger_amount=sum((entry.total_debit for entry in entries), ZERO),
        ledger_lines=sum(len(entry.lines) for entry in entries),
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

    ``malformed: missing field(s): employee`` is ``missing field(s)``; ``finance: closed_period:
    EP01 period 2026-10 is closed (HTTP 422)`` is ``closed_period``; ``FinanceOverloaded after 7
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


def transaction_amount(row: dict[str, Any], settings: ProcessSettings) -> str:
    """What an operator reads as a transaction's amount: its journal's total debits, or ``""``."""
    journal = journal_or_none(row, settings)
    return "" if journal is None else money(journal.total_debit)
