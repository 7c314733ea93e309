"""PostToFinance's first step: HCM records into journal lines, malformed ones rejected naming the field."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from lambdas import transform
from lambdas.finance_client import JournalEntry
from lambdas.models import TransactionStatus
from lambdas.store import load_transactions
from lambdas.transform import MalformedRecord, to_journal_entry
from orchestration.sim.hcm import MALFORMED_KINDS, make_transactions
from tests.fixtures.aws import Aws

PROCESS = "payroll_journal"
RUN_ID = "run-transform"
ACCOUNTS = ["6000-SALARIES", "6010-BONUS"]


def record(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "run_id": RUN_ID,
        "transaction_id": "t-1",
        "process": PROCESS,
        "employee": "E12345",
        "cost_centre": "CC-100",
        "gl_account": "6000-SALARIES",
        "amount": "1500.00",
        "currency": "USD",
        "period": "2026-11",
        "description": "salary",
        "status": "pending",
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def rejection(**overrides: Any) -> str:
    with pytest.raises(MalformedRecord) as raised:
        to_journal_entry(record(**overrides))
    return str(raised.value)


def transform_ids(ids: list[str]) -> dict[str, Any]:
    """PostToFinance's first step on the rows stored in (moto) DynamoDB, as JSON."""
    entries, rejected = transform.transform(ids, load_transactions(RUN_ID, ids))
    return {
        "entries": [line.model_dump(mode="json") for line in entries],
        "rejected": [r.model_dump() for r in rejected],
    }


# -- to_journal_entry ----------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("120.5", "120.50"),
        ("7", "7.00"),
        (7, "7.00"),
        (Decimal("0.1"), "0.10"),
        ("-15.20", "-15.20"),
        ("1E+3", "1000.00"),
        ("999999999.99", "999999999.99"),
    ],
)
def test_amount_has_exactly_two_decimals(raw: Any, expected: str) -> None:
    line = to_journal_entry(record(amount=raw))
    assert line.amount == Decimal(expected)
    assert str(line.amount) == expected
    assert line.model_dump(mode="json")["amount"] == expected


def test_journal_line_fields_map_from_the_hcm_record() -> None:
    line = to_journal_entry(record())
    assert line.model_dump(mode="json") == {
        "transaction_id": "t-1",
        "account": "6000-SALARIES",
        "amount": "1500.00",
        "currency": "USD",
        "period": "2026-11",
        "cost_centre": "CC-100",
        "employee": "E12345",
        "description": "salary",
    }


def test_description_defaults_to_process_and_period() -> None:
    assert to_journal_entry(record(description=None)).description == f"{PROCESS} 2026-11"
    assert to_journal_entry(record(description="")).description == f"{PROCESS} 2026-11"


@pytest.mark.parametrize("field", transform.REQUIRED)
def test_missing_required_field_is_named(field: str) -> None:
    assert field in rejection(**{field: None})
    assert field in rejection(**{field: ""})


def test_every_missing_field_is_named() -> None:
    message = rejection(employee=None, amount=None)
    assert "employee" in message and "amount" in message


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        ("12O.50", "not a number"),
        ("abc", "not a number"),
        (True, "not a number"),
        ("NaN", "not a finite number"),
        ("Infinity", "not a finite number"),
        ("10.125", "more than 2 decimals"),
        ("0", "zero or out of range"),
        ("-0.00", "zero or out of range"),
        ("1000000000", "zero or out of range"),
        ("-1E+12", "zero or out of range"),
    ],
)
def test_bad_amount_is_rejected_naming_the_field(raw: Any, why: str) -> None:
    message = rejection(amount=raw)
    assert message.startswith("amount ")
    assert why in message


@pytest.mark.parametrize("currency", ["XXQ", "usd", "US", "EURO"])
def test_unsupported_currency_is_rejected(currency: str) -> None:
    assert rejection(currency=currency).startswith("currency ")


@pytest.mark.parametrize("period", ["2026-13", "2026-00", "2026-1", "202611", "Nov 2026"])
def test_bad_period_is_rejected(period: str) -> None:
    assert rejection(period=period).startswith("period ")


def test_lines_satisfy_the_finance_wire_model() -> None:
    """Whatever the transform accepts, the finance client's JournalEntry accepts too."""
    for item in make_transactions(PROCESS, RUN_ID, 50, ACCOUNTS, seed=5, malformed_share=0.0, period="2026-11"):
        line = to_journal_entry(item)
        JournalEntry.model_validate(line.model_dump(mode="json"))


# -- handler ------------------------------------------------------------------


def test_transform_maps_a_valid_record_to_a_journal_line(aws: Aws) -> None:
    record = {
        "run_id": RUN_ID,
        "transaction_id": "t-1",
        "process": PROCESS,
        "employee": "E12345",
        "cost_centre": "CC-100",
        "gl_account": "6100-TRAVEL",
        "amount": "120.5",
        "currency": "EUR",
        "period": "2026-11",
        "description": "taxi",
        "status": "pending",
    }
    aws.put_transaction(record)

    out = transform_ids(["t-1"])

    assert out["rejected"] == []
    assert out["entries"] == [
        {
            "transaction_id": "t-1",
            "account": "6100-TRAVEL",
            "amount": "120.50",
            "currency": "EUR",
            "period": "2026-11",
            "cost_centre": "CC-100",
            "employee": "E12345",
            "description": "taxi",
        }
    ]


def test_transform_accepts_every_wellformed_seeded_record(aws: Aws) -> None:
    seeded = aws.seed(PROCESS, RUN_ID, 12, seed=3)
    ids = [t["transaction_id"] for t in seeded.transactions]

    out = transform_ids(ids)

    assert out["rejected"] == []
    assert [e["transaction_id"] for e in out["entries"]] == ids
    for entry, record in zip(out["entries"], seeded.transactions, strict=True):
        assert Decimal(entry["amount"]) == Decimal(record["amount"])
        assert Decimal(entry["amount"]).as_tuple().exponent == -2
        assert entry["account"] == record["gl_account"]


# The field the transform's reason must name for each malformed kind of the simulated HCM.
FIELD_OF_KIND = {
    "bad_currency": "currency",
    "non_numeric_amount": "amount",
    "too_many_decimals": "amount",
    "bad_period": "period",
}


def test_transform_rejects_each_malformed_kind_naming_the_field(aws: Aws) -> None:
    seeded = aws.seed(PROCESS, RUN_ID, 60, malformed_share=1.0, seed=11)
    kinds = {t["malformed"] for t in seeded.transactions}
    assert kinds == set(MALFORMED_KINDS), "seed does not exercise every malformed kind"
    assert set(FIELD_OF_KIND) | {"missing_field", "unknown_account"} == set(MALFORMED_KINDS)

    out = transform_ids([t["transaction_id"] for t in seeded.transactions])

    reasons = {r["transaction_id"]: r["reason"] for r in out["rejected"]}
    accepted = {e["transaction_id"] for e in out["entries"]}
    for record in seeded.transactions:
        tid, kind = record["transaction_id"], record["malformed"]
        if kind == "unknown_account":
            # Only the finance system knows its accounts: it passes the transform.
            assert tid in accepted
            continue
        assert tid in reasons, f"{kind} record was not rejected"
        if kind == "missing_field":
            missing = [f for f in transform.REQUIRED if f not in record]
            assert len(missing) == 1
            field = missing[0]
        else:
            field = FIELD_OF_KIND[kind]
        assert reasons[tid].startswith("malformed: ")
        assert field in reasons[tid], f"{kind}: reason {reasons[tid]!r} does not name {field}"


def test_transform_skips_non_pending_and_rejects_missing_records(aws: Aws) -> None:
    seeded = aws.seed(PROCESS, RUN_ID, 3)
    posted, pending, failed = (t["transaction_id"] for t in seeded.transactions)
    aws.set_status(RUN_ID, posted, TransactionStatus.POSTED)
    aws.set_status(RUN_ID, failed, TransactionStatus.FAILED)

    out = transform_ids([posted, pending, failed, "no-such-id"])

    assert [e["transaction_id"] for e in out["entries"]] == [pending]
    assert out["rejected"] == [{"transaction_id": "no-such-id", "reason": "not found in HCM staging"}]
