"""Reconciliation as finance people read it: journals, lines and a trial balance, HCM against ledger.

Pure functions over HCM rows and ledger journals: the rows are records of the shipped expense
rules, the ledger's journals are built from them as the finance system stores them, and every
expected figure below is computed by hand.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from lambdas.journal import Journal, LedgerEntry
from lambdas.transform import to_journal
from orchestration.ops.reconciliation import (
    TrialBalance,
    TrialBalanceLine,
    reconcile_rows,
    run_totals,
    summarized,
    trial_balance_problems,
)
from orchestration.spec.config import load_config

PROCESS = "expense_report"
SETTINGS = load_config("local").process_settings(PROCESS)


def row(tid: str, items: list[tuple[str, str]], *, status: str = "posted", **fields: Any) -> dict[str, Any]:
    """An HCM row of an expense report: its items, then the reimbursement of their total."""
    total = sum((Decimal(amount) for _, amount in items), Decimal("0"))
    lines = [{"component": c, "amount": a} for c, a in items] + [{"component": "reimbursement", "amount": str(total)}]
    base = {
        "run_id": "run-1",
        "transaction_id": tid,
        "process": PROCESS,
        "company": "100",
        "cost_centre": "CC200",
        "employee": "E1",
        "report": f"ER-{tid}",
        "period": "2026-11",
        "currency": "USD",
        "status": status,
        "lines": lines,
    }
    if status == "posted":
        base["ledger_id"] = f"L-{tid}"
    return base | fields


def booked(item: dict[str, Any], journal: Journal | None = None) -> LedgerEntry:
    """The journal the ledger stores for ``item`` (or ``journal`` in its place), under the item's key."""
    posted = journal or to_journal(item, SETTINGS)
    return LedgerEntry(
        **posted.model_dump(),
        ledger_id=item.get("ledger_id") or f"L-{item['transaction_id']}",
        idempotency_key=f"{PROCESS}:{item['transaction_id']}",
        posted_at=datetime(2026, 11, 30, tzinfo=UTC),
    )


A = row("a", [("travel", "100.00"), ("meals", "20.50")])
B = row("b", [("meals", "9.50"), ("lodging", "300.00")], cost_centre="CC300")


def tb(lines: list[TrialBalanceLine]) -> dict[str, tuple[str, str, str, str]]:
    """Each account's HCM debit and credit, then the ledger's, as the report writes them."""
    return {
        line.account: (str(line.hcm_debit), str(line.hcm_credit), str(line.ledger_debit), str(line.ledger_credit))
        for line in lines
    }


def test_the_trial_balance_sums_each_account_of_the_posted_journals_on_both_sides() -> None:
    rec = reconcile_rows(PROCESS, [A, B], [booked(A), booked(B)], SETTINGS)

    assert rec.ok, rec.differences
    [period] = rec.periods
    assert (period.period, period.transactions, period.posted, period.ledger_count) == ("2026-11", 2, 2, 2)
    assert (period.hcm_lines, period.ledger_lines) == (6, 6)
    assert period.hcm_posted_amount == period.ledger_amount == Decimal("430.00")
    assert tb(period.trial_balance) == {
        "100-2300-000": ("0.00", "430.00", "0.00", "430.00"),
        "100-6200-CC200": ("100.00", "0.00", "100.00", "0.00"),
        "100-6210-CC200": ("20.50", "0.00", "20.50", "0.00"),
        "100-6210-CC300": ("9.50", "0.00", "9.50", "0.00"),
        "100-6220-CC300": ("300.00", "0.00", "300.00", "0.00"),
    }
    assert trial_balance_problems(period.trial_balance) == []


def test_a_posted_journal_the_ledger_lacks_leaves_its_accounts_short_on_the_ledger_side() -> None:
    rec = reconcile_rows(PROCESS, [A, B], [booked(A)], SETTINGS)

    assert not rec.ok
    assert [(d.kind, d.transaction_id) for d in rec.differences] == [("posted_not_in_ledger", "b")]
    [period] = rec.periods
    assert trial_balance_problems(period.trial_balance) == [
        "account 100-2300-000: HCM 0.00 / 430.00 vs ledger 0.00 / 120.50 (debit / credit)",
        "account 100-6210-CC300: HCM 9.50 / 0.00 vs ledger 0.00 / 0.00 (debit / credit)",
        "account 100-6220-CC300: HCM 300.00 / 0.00 vs ledger 0.00 / 0.00 (debit / credit)",
    ]


def test_a_ledger_journal_on_other_accounts_is_a_mismatch_even_when_its_total_agrees() -> None:
    """The same 430.00 on another cost centre: totals agree, the trial balance does not."""
    moved = to_journal(B | {"cost_centre": "CC100"}, SETTINGS)
    rec = reconcile_rows(PROCESS, [A, B], [booked(A), booked(B, moved)], SETTINGS)

    assert [d.kind for d in rec.differences] == ["ledger_mismatch"]
    assert "the HCM record maps to 3, debits 309.50" in rec.differences[0].detail
    [period] = rec.periods
    assert period.ledger_amount == period.hcm_posted_amount
    assert not period.matches
    assert "account 100-6220-CC100: HCM 0.00 / 0.00 vs ledger 300.00 / 0.00 (debit / credit)" in (
        trial_balance_problems(period.trial_balance)
    )


def test_a_journal_in_the_ledger_twice_doubles_the_ledger_side() -> None:
    second = booked(A).model_copy(update={"ledger_id": "L-a2"})
    rec = reconcile_rows(PROCESS, [A], [booked(A), second], SETTINGS)

    assert [d.kind for d in rec.differences] == ["ledger_duplicate"]
    [period] = rec.periods
    assert (period.ledger_count, period.ledger_lines, period.ledger_amount) == (2, 6, Decimal("241.00"))
    assert tb(period.trial_balance)["100-2300-000"] == ("0.00", "120.50", "0.00", "241.00")


def test_a_journal_posted_for_a_rejected_row_and_one_nobody_sent_count_on_the_ledger_side_only() -> None:
    rejected = row("r", [("meals", "5.00")], status="rejected", reason="malformed: x")
    stranger = row("z", [("travel", "1.00")], period="2026-12")
    rec = reconcile_rows(PROCESS, [A, rejected], [booked(A), booked(rejected), booked(stranger)], SETTINGS)

    assert [(d.kind, d.transaction_id) for d in rec.differences] == [
        ("in_ledger_not_posted", "r"),
        ("ledger_unmatched", "z"),
    ]
    november, december = rec.periods
    assert (november.rejected, november.ledger_count) == (1, 2)
    assert (december.period, december.transactions, december.ledger_count) == ("2026-12", 0, 1)
    assert tb(december.trial_balance) == {
        "100-2300-000": ("0.00", "0.00", "0.00", "1.00"),
        "100-6200-CC200": ("0.00", "0.00", "1.00", "0.00"),
    }


def test_a_posted_row_that_no_longer_maps_is_named() -> None:
    changed = A | {"lines": [*A["lines"], {"component": "mileage", "amount": "3.00"}]}
    rec = reconcile_rows(PROCESS, [changed], [booked(A)], SETTINGS)

    assert [d.kind for d in rec.differences] == ["posted_unmappable"]
    assert "no longer maps under the process's rules" in rec.differences[0].detail


def test_a_period_filter_keeps_that_period_of_both_sides() -> None:
    december = row("d", [("travel", "7.00")], period="2026-12")
    rec = reconcile_rows(PROCESS, [A, december], [booked(A), booked(december)], SETTINGS, period="2026-12")

    assert rec.ok
    assert [p.period for p in rec.periods] == ["2026-12"]


def test_a_side_whose_debits_and_credits_differ_is_named_with_both_totals() -> None:
    lines = [
        TrialBalanceLine(account="100-6200-CC200", hcm_debit=Decimal("10.00"), ledger_debit=Decimal("10.00")),
        TrialBalanceLine(account="100-2300-000", hcm_credit=Decimal("10.00"), ledger_credit=Decimal("9.99")),
    ]
    assert trial_balance_problems(lines) == [
        "ledger side does not balance: debits 10.00 != credits 9.99",
        "account 100-2300-000: HCM 0.00 / 10.00 vs ledger 0.00 / 9.99 (debit / credit)",
    ]


def test_run_totals_count_journals_and_lines_and_add_both_sides_to_the_trial_balance() -> None:
    failed = row("f", [("meals", "1.00")], status="failed", reason="x", attempts=3)
    ledger = {entry.idempotency_key: [entry] for entry in (booked(A), booked(B))}
    balance = TrialBalance()

    totals = run_totals(PROCESS, [A, B, failed], ledger, SETTINGS, balance)

    assert (totals.hcm_count, totals.posted, totals.failed, totals.lost) == (3, 2, 1, 0)
    assert (totals.hcm_lines, totals.ledger_lines) == (6, 6)
    assert totals.hcm_amount == totals.ledger_amount == Decimal("430.00")
    assert trial_balance_problems(balance.lines()) == []
    assert sum(line.hcm_credit for line in balance.lines()) == Decimal("430.00")


def test_the_summary_trial_balance_rolls_accounts_up_to_their_natural_account_with_its_name() -> None:
    chart = load_config("local").finance.chart
    rec = reconcile_rows(PROCESS, [A, B], [booked(A), booked(B)], SETTINGS)

    summary = summarized([*rec.periods[0].trial_balance, TrialBalanceLine(account="9-9")], chart)

    assert tb(summary) == {
        "2300 Employee expenses payable": ("0.00", "430.00", "0.00", "430.00"),
        "6200 Travel": ("100.00", "0.00", "100.00", "0.00"),
        "6210 Meals": ("30.00", "0.00", "30.00", "0.00"),
        "6220 Lodging": ("300.00", "0.00", "300.00", "0.00"),
        "9-9": ("0.00", "0.00", "0.00", "0.00"),
    }
