"""The simulated HCM: writes one run entry per business-process run plus its transactions.

Everything is derived from a seed, so a run can be reproduced exactly, including which
records are malformed and how.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from lambdas.models import RunStatus, TransactionStatus
from lambdas.store import now_iso

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBServiceResource

MALFORMED_KINDS = (
    "missing_field",
    "bad_currency",
    "non_numeric_amount",
    "too_many_decimals",
    "unknown_account",
    "bad_period",
)
CURRENCIES = ("USD", "USD", "USD", "EUR", "GBP", "CAD")
COST_CENTRES = ("CC-100", "CC-200", "CC-300", "CC-410", "CC-520")


@dataclass(frozen=True)
class SeededRun:
    process: str
    run_id: str
    transactions: list[dict[str, Any]]

    @property
    def malformed(self) -> list[dict[str, Any]]:
        return [t for t in self.transactions if t.get("malformed")]


def make_transactions(
    process: str,
    run_id: str,
    count: int,
    accounts: list[str],
    *,
    seed: int,
    malformed_share: float,
    period: str,
) -> list[dict[str, Any]]:
    """Deterministic HCM records; ``malformed`` names the defect a record was given, if any."""
    rng = random.Random(f"{seed}:{process}:{run_id}")
    records = []
    for index in range(count):
        cents = rng.randint(100, 2_500_000)
        record: dict[str, Any] = {
            "run_id": run_id,
            "transaction_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "process": process,
            "employee": f"E{rng.randint(10000, 99999)}",
            "cost_centre": rng.choice(COST_CENTRES),
            "gl_account": rng.choice(accounts),
            "amount": str(Decimal(cents) / 100),
            "currency": rng.choice(CURRENCIES),
            "period": period,
            "description": f"{process} line {index + 1}",
            "status": TransactionStatus.PENDING.value,
            "attempts": 0,
        }
        if rng.random() < malformed_share:
            kind = rng.choice(MALFORMED_KINDS)
            record["malformed"] = kind
            if kind == "missing_field":
                del record[rng.choice(["employee", "cost_centre", "gl_account", "amount"])]
            elif kind == "bad_currency":
                record["currency"] = "XXQ"
            elif kind == "non_numeric_amount":
                record["amount"] = "12O.50"
            elif kind == "too_many_decimals":
                record["amount"] = "10.125"
            elif kind == "unknown_account":
                record["gl_account"] = "9999-UNKNOWN"
            else:
                record["period"] = "2026-13"
        records.append(record)
    return records


def seed_run(
    dynamodb: DynamoDBServiceResource,
    *,
    runs_table: str,
    transactions_table: str,
    process: str,
    run_id: str,
    count: int,
    accounts: list[str],
    seed: int = 0,
    malformed_share: float = 0.0,
    period: str = "2026-11",
) -> SeededRun:
    """Write the transactions first, then the run entry that points at them."""
    records = make_transactions(
        process, run_id, count, accounts, seed=seed, malformed_share=malformed_share, period=period
    )
    table = dynamodb.Table(transactions_table)
    with table.batch_writer() as writer:
        for record in records:
            writer.put_item(Item={k: v for k, v in record.items() if k != "malformed"})
    dynamodb.Table(runs_table).put_item(
        Item={
            "run_id": run_id,
            "process": process,
            "status": RunStatus.PENDING.value,
            "transaction_count": count,
            "period": period,
            "created_at": now_iso(),
        }
    )
    return SeededRun(process=process, run_id=run_id, transactions=records)
