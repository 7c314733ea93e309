"""PostToFinance's first step: HCM records into balanced journals by the shipped mapping rules.

The expected journals are computed by hand from ``config/local.yaml``'s rules, so a change to the
mapping (or to the rules) that moves an amount to another account fails here.
"""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from lambdas.journal import Journal
from lambdas.mapping import MalformedRecord
from lambdas.models import ProcessSettings, TransactionStatus
from lambdas.store import load_transactions
from lambdas.transform import to_journal, transform
from orchestration.sim.finance import FinanceSimulator
from orchestration.sim.hcm import MALFORMED_KINDS, HcmGenerator, LinesForm, stored_item
from orchestration.spec.config import load_config
from tests.fixtures.aws import Aws

RUN_ID = "run-transform"
CONFIG = load_config("local")


def settings(process: str) -> ProcessSettings:
    return CONFIG.process_settings(process)


def record(process: str, lines: list[tuple[str, str]], **header: Any) -> dict[str, Any]:
    """An HCM record of ``process``: its header and ``(component, amount)`` lines."""
    base: dict[str, Any] = {
        "run_id": RUN_ID,
        "transaction_id": "t-1",
        "process": process,
        "company": "100",
        "cost_centre": "CC300",
        "employee": "E12345",
        "report": "ER-2211",
        "invoice": "INV-9041",
        "supplier": "SUP-Acme",
        "period": "2026-11",
        "currency": "USD",
        "status": "pending",
        "lines": [{"component": component, "amount": amount} for component, amount in lines],
    }
    base.update(header)
    return {k: v for k, v in base.items() if v is not None}


def lines_of(journal: Journal) -> list[tuple[str, str | None, str | None, str]]:
    """``(account, debit, credit, source_ref)`` of each line, as the ledger receives them."""
    return [
        (line["account"], line["debit"], line["credit"], line["source_ref"])
        for line in journal.model_dump(mode="json")["lines"]
    ]


PAYROLL = [("gross_pay", "5000.00"), ("net_pay", "3900.00"), ("employee_tax", "1100.00"), ("employer_tax", "382.50")]


# -- the shipped rules, per process ------------------------------------------------------


def test_payroll_debits_gross_pay_and_credits_tax_withheld_and_net_pay_with_employer_tax_on_both_sides() -> None:
    journal = to_journal(record("payroll_journal", PAYROLL), settings("payroll_journal"))

    assert journal.model_dump(mode="json", exclude={"lines"}) == {
        "transaction_id": "t-1",
        "ledger": "PAYROLL",
        "source": "HCM Payroll",
        "category": "Payroll",
        "period": "2026-11",
        "accounting_date": "2026-11-30",
        "description": "Payroll 2026-11 E12345",
    }
    assert lines_of(journal) == [
        ("100-6000-CC300", "5000.00", None, "gross_pay/1"),
        ("100-2200-000", None, "3900.00", "net_pay/2"),
        ("100-2100-000", None, "1100.00", "employee_tax/3"),
        ("100-6100-CC300", "382.50", None, "employer_tax/4"),
        ("100-2110-000", None, "382.50", "employer_tax/4"),
    ]
    assert [line.description for line in journal.lines] == [
        "Gross pay E12345",
        "Net pay E12345",
        "Tax withheld E12345",
        "Employer tax E12345",
        "Employer tax E12345",
    ]
    assert journal.total_debit == journal.total_credit == Decimal("5382.50")
    assert {line.currency for line in journal.lines} == {"USD"}


def test_an_expense_report_debits_each_item_and_credits_the_employee_payable() -> None:
    items = [("travel", "412.30"), ("meals", "58.20"), ("lodging", "389.00"), ("meals", "21.75")]
    journal = to_journal(
        record(
            "expense_report", [*items, ("reimbursement", "881.25")], company="200", cost_centre="CC200", currency="EUR"
        ),
        settings("expense_report"),
    )

    assert (journal.ledger, journal.source, journal.category) == ("EXPENSES", "HCM Expenses", "Employee expenses")
    assert journal.description == "Expense report ER-2211 E12345"
    assert lines_of(journal) == [
        ("200-6200-CC200", "412.30", None, "travel/1"),
        ("200-6210-CC200", "58.20", None, "meals/2"),
        ("200-6220-CC200", "389.00", None, "lodging/3"),
        ("200-6210-CC200", "21.75", None, "meals/4"),
        ("200-2300-000", None, "881.25", "reimbursement/5"),
    ]
    assert journal.currencies == ["EUR"]


def test_a_supplier_invoice_debits_expense_asset_and_tax_lines_and_credits_accounts_payable() -> None:
    lines = [("services", "1200.00"), ("software", "99.99"), ("equipment", "2300.00"), ("tax", "719.99")]
    journal = to_journal(
        record("supplier_invoice", [*lines, ("payable", "4319.98")], accounting_date="2026-11-14"),
        settings("supplier_invoice"),
    )

    assert (journal.ledger, journal.category, journal.description) == (
        "PAYABLES",
        "Purchase invoices",
        "Invoice INV-9041 SUP-Acme",
    )
    assert journal.accounting_date == date(2026, 11, 14), "the record's own accounting date wins"
    assert lines_of(journal) == [
        ("100-6300-CC300", "1200.00", None, "services/1"),
        ("100-6310-CC300", "99.99", None, "software/2"),
        ("100-1500-000", "2300.00", None, "equipment/3"),
        ("100-1400-000", "719.99", None, "tax/4"),
        ("100-2000-000", None, "4319.98", "payable/5"),
    ]


def test_the_accounting_date_defaults_to_the_last_day_of_the_period() -> None:
    for period, last_day in (("2026-12", date(2026, 12, 31)), ("2028-02", date(2028, 2, 29))):
        journal = to_journal(record("payroll_journal", PAYROLL, period=period), settings("payroll_journal"))
        assert journal.accounting_date == last_day


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("120.5", "120.50"), ("7", "7.00"), (7, "7.00"), (Decimal("0.1"), "0.10"), ("1E+3", "1000.00")],
)
def test_amounts_are_posted_with_exactly_two_decimals(raw: Any, expected: str) -> None:
    journal = to_journal(
        record("expense_report", [("meals", raw), ("reimbursement", expected)]), settings("expense_report")
    )
    assert [line["debit"] or line["credit"] for line in journal.model_dump(mode="json")["lines"]] == [expected] * 2


def test_a_new_process_needs_rules_only() -> None:
    """Changing an account is configuration: the same record lands on the account the rules name."""
    rules = settings("expense_report").journal.model_copy(deep=True)
    rules.components["meals"] = rules.components["meals"].model_copy(update={"debit": "{company}-6200-000"})
    renamed = settings("expense_report").model_copy(update={"journal": rules, "process": "travel_claims"})
    journal = to_journal(record("travel_claims", [("meals", "10.00"), ("reimbursement", "10.00")]), renamed)
    assert [line.account for line in journal.lines] == ["100-6200-000", "100-2300-000"]


# -- every rejection reason ---------------------------------------------------------------


def rejection(process: str, lines: list[tuple[str, Any]], **header: Any) -> str:
    with pytest.raises(MalformedRecord) as raised:
        to_journal(record(process, lines, **header), settings(process))
    return str(raised.value)


def test_an_unbalanced_journal_names_both_totals_and_the_currency() -> None:
    lines = [("gross_pay", "1250.00"), ("net_pay", "1000.00"), ("employee_tax", "249.99")]
    assert rejection("payroll_journal", lines) == "unbalanced: debits 1,250.00 != credits 1,249.99 USD"


def test_a_record_of_one_side_is_unbalanced() -> None:
    assert rejection("expense_report", [("travel", "80.00")]) == "unbalanced: debits 80.00 != credits 0.00 USD"


def test_an_unmapped_component_is_named_with_the_components_the_rules_map() -> None:
    message = rejection("expense_report", [("travel", "80.00"), ("bonus", "80.00"), ("reimbursement", "160.00")])
    assert message == "unmapped component: 'bonus' (line 2); mapped: travel, meals, lodging, reimbursement"


def test_a_line_without_a_component_is_unmapped() -> None:
    with pytest.raises(MalformedRecord, match="unmapped component: '' \\(line 1\\)"):
        to_journal(record("expense_report", []) | {"lines": [{"amount": "1.00"}]}, settings("expense_report"))


@pytest.mark.parametrize("field", ["period", "currency", "company", "cost_centre", "employee"])
def test_a_missing_field_is_named(field: str) -> None:
    assert rejection("payroll_journal", PAYROLL, **{field: None}) == f"missing field(s): {field}"
    assert rejection("payroll_journal", PAYROLL, **{field: ""}) == f"missing field(s): {field}"


def test_a_record_without_lines_misses_its_lines() -> None:
    assert rejection("payroll_journal", []) == "missing field(s): lines"
    without = {k: v for k, v in record("payroll_journal", PAYROLL).items() if k != "lines"}
    with pytest.raises(MalformedRecord, match=r"^missing field\(s\): lines$"):
        to_journal(without, settings("payroll_journal"))


def test_lines_as_json_text_give_the_journal_of_the_list_they_hold() -> None:
    as_list = record("payroll_journal", PAYROLL)
    as_text = stored_item(as_list)
    assert isinstance(as_text["lines"], str)
    assert json.loads(as_text["lines"]) == as_list["lines"]
    assert to_journal(as_text, settings("payroll_journal")) == to_journal(as_list, settings("payroll_journal"))


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ('[{"component": "gross_pay"', "bad lines: not JSON text of a list of lines"),
        ('{"component": "gross_pay", "amount": "5.00"}', "bad lines: JSON text of a dict, not of a list of lines"),
        ("[]", "missing field(s): lines"),
        ('["gross_pay=5"]', "bad line: line 1 is not a mapping of fields"),
    ],
)
def test_lines_as_json_text_that_is_not_a_list_of_lines_are_named(text: str, why: str) -> None:
    with pytest.raises(MalformedRecord) as raised:
        to_journal(record("payroll_journal", PAYROLL) | {"lines": text}, settings("payroll_journal"))
    assert str(raised.value).startswith(why)


def test_a_line_that_is_not_a_mapping_is_named() -> None:
    with pytest.raises(MalformedRecord, match="bad line: line 2 is not a mapping of fields"):
        to_journal(
            record("payroll_journal", PAYROLL[:1])
            | {"lines": [{"component": "gross_pay", "amount": "5"}, "net_pay=5"]},
            settings("payroll_journal"),
        )


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        ("12O.50", "is not a number"),
        ("abc", "is not a number"),
        (None, "is not a number"),
        ("NaN", "is not a finite number"),
        ("Infinity", "is not a finite number"),
        ("10.125", "has more than 2 decimals"),
        ("0", "is not positive or out of range"),
        ("-15.20", "is not positive or out of range"),
        ("1000000000", "is not positive or out of range"),
    ],
)
def test_a_bad_amount_is_named_with_its_line_and_component(raw: Any, why: str) -> None:
    message = rejection("payroll_journal", [("gross_pay", "100.00"), ("net_pay", raw)])
    assert message == f"bad amount: {raw!r} {why} (line 2, net_pay)"


def test_a_mixed_currency_journal_names_its_currencies() -> None:
    item = record("expense_report", [("travel", "80.00"), ("reimbursement", "80.00")])
    item["lines"][0]["currency"] = "GBP"
    with pytest.raises(MalformedRecord) as raised:
        to_journal(item, settings("expense_report"))
    assert str(raised.value) == "mixed-currency journal: GBP, USD"


@pytest.mark.parametrize("currency", ["XXQ", "usd", "US", "EURO"])
def test_an_unsupported_currency_is_named(currency: str) -> None:
    message = rejection("payroll_journal", PAYROLL, currency=currency)
    assert message == f"bad currency: {currency!r} is not a supported ISO 4217 code"


@pytest.mark.parametrize("period", ["2026-13", "2026-00", "2026-1", "202611", "Nov 2026"])
def test_a_bad_period_is_named(period: str) -> None:
    assert rejection("payroll_journal", PAYROLL, period=period) == f"bad period: {period!r} is not YYYY-MM"


def test_a_bad_accounting_date_is_named() -> None:
    message = rejection("payroll_journal", PAYROLL, accounting_date="2026-11-31")
    assert message == "bad accounting date: '2026-11-31' is not YYYY-MM-DD"


# -- the simulated HCM's records -----------------------------------------------------------


@pytest.mark.parametrize("process", sorted(CONFIG.processes))
def test_every_wellformed_record_of_the_simulated_hcm_becomes_a_balanced_journal_finance_accepts(
    process: str,
) -> None:
    records = HcmGenerator(CONFIG).records(process, RUN_ID, 200, seed=4, malformed_share=0.0)
    journals = [to_journal(item, settings(process)) for item in records]

    for item, journal in zip(records, journals, strict=True):
        assert journal.total_debit == journal.total_credit
        hcm_total = sum(Decimal(line["amount"]) for line in item["lines"])
        assert journal.total_debit + journal.total_credit >= hcm_total
    line_counts = [len(journal.lines) for journal in journals]
    assert min(line_counts) >= 2 and max(line_counts) <= 12
    assert len({journal.lines[0].account for journal in journals}) > 3, "records spread over companies and cost centres"
    with FinanceSimulator.for_config(CONFIG.finance) as finance:
        for journal in journals:
            assert finance.chart.problem_in_account(journal.lines[0].account) is None
            assert all(finance.chart.problem_in_account(line.account) is None for line in journal.lines)
            assert journal.period in finance.open_periods


# What the transform says of each malformed kind of the simulated HCM (None: it passes, and the
# finance system refuses the journal with its code).
REASON_OF_KIND: dict[str, str | None] = {
    "missing_field": "missing field(s): ",
    "bad_currency": "bad currency: 'XXQ'",
    "non_numeric_amount": "bad amount: '12O.50' is not a number",
    "too_many_decimals": "bad amount: '10.125' has more than 2 decimals",
    "bad_period": "bad period: '2026-13'",
    "unbalanced": "unbalanced: debits ",
    "unmapped_component": "unmapped component: 'unmapped_bonus'",
    "mixed_currency": "mixed-currency journal: ",
    "unknown_account": None,
    "closed_period": None,
}


def test_each_malformed_kind_of_the_simulated_hcm_is_rejected_naming_its_problem() -> None:
    assert set(REASON_OF_KIND) == set(MALFORMED_KINDS)
    records = HcmGenerator(CONFIG).records("payroll_journal", RUN_ID, 120, seed=11, malformed_share=1.0)
    assert {item["malformed"] for item in records} == set(MALFORMED_KINDS), "the seed exercises every kind"

    for item in records:
        expected = REASON_OF_KIND[item["malformed"]]
        if expected is None:
            to_journal(item, settings("payroll_journal"))
            continue
        with pytest.raises(MalformedRecord) as raised:
            to_journal(item, settings("payroll_journal"))
        assert str(raised.value).startswith(expected), item["malformed"]


# -- a chunk's rows, as PostToFinance reads them -----------------------------------------------


def test_transform_skips_rows_no_longer_pending_and_rejects_missing_ones(aws: Aws) -> None:
    seeded = aws.seed("payroll_journal", RUN_ID, 4)
    posted, pending, failed, broken = (t["transaction_id"] for t in seeded.transactions)
    aws.set_status(RUN_ID, posted, TransactionStatus.POSTED)
    aws.set_status(RUN_ID, failed, TransactionStatus.FAILED)
    aws.resource.Table(aws.transactions_table).update_item(
        Key={"run_id": RUN_ID, "transaction_id": broken}, UpdateExpression="REMOVE currency"
    )
    ids = [posted, pending, failed, broken, "no-such-id", pending]

    journals, rejected = transform(ids, load_transactions(RUN_ID, ids), settings("payroll_journal"))

    assert [journal.transaction_id for journal in journals] == [pending], "each pending row once"
    assert [(r.transaction_id, r.reason) for r in rejected] == [
        (broken, "malformed: missing field(s): currency"),
        ("no-such-id", "not found in HCM staging"),
    ]


@pytest.mark.parametrize("lines_as", ["json", "list"])
def test_rows_read_back_from_dynamodb_give_the_journals_of_the_records_written(aws: Aws, lines_as: LinesForm) -> None:
    """DynamoDB gives numbers back as Decimal, lists of maps as lists of dicts: the same journals, either form."""
    seeded = aws.seed("supplier_invoice", RUN_ID, 25, seed=3, lines_as=lines_as)
    ids = [t["transaction_id"] for t in seeded.transactions]

    journals, rejected = transform(ids, load_transactions(RUN_ID, ids), settings("supplier_invoice"))

    assert rejected == []
    assert journals == [to_journal(item, settings("supplier_invoice")) for item in seeded.transactions]


def test_a_journal_the_model_refuses_is_named_by_its_field() -> None:
    message = rejection("payroll_journal", PAYROLL, transaction_id="")
    assert message == "transaction_id: String should have at least 1 character"
