"""The simulated HCM: writes one run entry per business-process run plus its transactions.

Each transaction is an HCM record shaped the way the process's mapping rules read it: header
fields (every field an account or description template names, the period, the currency) and
``lines``, one per component with its amount. The records follow from the rules, so any process
a configuration defines gets realistic data: amounts of the debit components are drawn, the
credit components share their total (payroll: gross pay split into tax withheld and net pay;
an expense report: items, then the reimbursement; an invoice: lines and tax, then the payable),
and a component that posts both sides (employer taxes) stands on its own. Every record balances
unless it was made malformed.

Everything is derived from a seed, so a run can be reproduced exactly, including which
records are malformed and how. The lines are written as the JSON text of their list by default
(the form the mapping reads fastest), or as a DynamoDB list of maps (``lines_as="list"``).
"""

from __future__ import annotations

import itertools
import json
import random
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal

from lambdas.mapping import PLACEHOLDER, JournalRules
from lambdas.models import RunStatus, TransactionStatus
from lambdas.store import now_iso

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBServiceResource

    from orchestration.spec.chart import Chart
    from orchestration.spec.config import EnvironmentConfig

MALFORMED_KINDS = (
    "missing_field",
    "bad_currency",
    "non_numeric_amount",
    "too_many_decimals",
    "unknown_account",
    "bad_period",
    "unbalanced",
    "closed_period",
    "unmapped_component",
    "mixed_currency",
)
"""What a malformed record can be given: the first six and the last three are refused before
posting with a reason naming the problem; ``unknown_account`` and ``closed_period`` are refused
by the finance system with its code."""
CURRENCIES = ("USD", "USD", "USD", "EUR", "GBP", "CAD")
GENERATED = frozenset({"period", "currency", "process", "component", "line"})
"""Template fields the generator does not draw: the record's own, or the mapping's."""
UNMAPPED_COMPONENT = "unmapped_bonus"
LinesForm = Literal["json", "list"]
"""How an HCM record's lines are stored: JSON text of the list, or a DynamoDB list of maps."""


def stored_item(record: dict[str, Any], lines_as: LinesForm = "json") -> dict[str, Any]:
    """The DynamoDB item of a generated record: without its ``malformed`` label, lines in ``lines_as`` form."""
    item = {k: v for k, v in record.items() if k != "malformed"}
    if lines_as == "json" and "lines" in item:
        item["lines"] = json.dumps(item["lines"], separators=(",", ":"))
    return item


@dataclass(frozen=True)
class SeededRun:
    process: str
    run_id: str
    transactions: list[dict[str, Any]]

    @property
    def malformed(self) -> list[dict[str, Any]]:
        return [t for t in self.transactions if t.get("malformed")]


def _cents(rng: random.Random, low: int, high: int) -> Decimal:
    return Decimal(rng.randint(low, high)) / 100


def _split(rng: random.Random, total: Decimal, parts: int) -> list[Decimal]:
    """``total`` in ``parts`` positive amounts to the cent, the first the largest share."""
    if parts == 1:
        return [total]
    cents = int(total * 100)
    cuts = sorted(rng.sample(range(1, cents), parts - 1)) if cents > parts else list(range(1, parts))
    bounds = [0, *cuts, cents]
    return sorted((Decimal(b - a) / 100 for a, b in itertools.pairwise(bounds)), reverse=True)


class HcmGenerator:
    """Deterministic HCM records for the processes of one configuration."""

    def __init__(self, config: EnvironmentConfig) -> None:
        self.chart: Chart = config.finance.chart
        self.open_periods = list(config.finance.open_periods)
        self.rules: dict[str, JournalRules] = {name: p.journal for name, p in config.processes.items()}

    @property
    def period(self) -> str:
        """The period records are posted for: the first open one."""
        return self.open_periods[0]

    @property
    def closed_period(self) -> str:
        """A well-formed period the ledger does not accept: the month before the first open one."""
        year, month = (int(part) for part in self.period.split("-"))
        return f"{year - 1}-12" if month == 1 else f"{year}-{month - 1:02d}"

    def _fields(self, rules: JournalRules) -> list[str]:
        templates = [rules.description] + [t for p in rules.components.values() for _, t in p.accounts()]
        templates += [p.description for p in rules.components.values()]
        return [f for f in dict.fromkeys(f for t in templates for f in PLACEHOLDER.findall(t)) if f not in GENERATED]

    def _value(self, rng: random.Random, field: str, index: int) -> str:
        segments = {segment.name: segment for segment in self.chart.segments}
        if field in segments:
            return rng.choice(sorted(segments[field].values))
        if field == "employee":
            return f"E{rng.randint(10000, 99999)}"
        return f"{field[:3].upper()}-{rng.randint(1000, 9999)}-{index + 1}"

    def _lines(self, rng: random.Random, rules: JournalRules) -> list[dict[str, Any]]:
        debits = [c for c, p in rules.components.items() if p.debit and not p.credit]
        credits = [c for c, p in rules.components.items() if p.credit and not p.debit]
        both = [c for c, p in rules.components.items() if p.debit and p.credit]
        chosen = [c for c in debits if rng.random() < 0.6] or debits[:1]
        lines = [(c, _cents(rng, 5_000, 1_200_000)) for c in chosen for _ in range(rng.randint(1, 2))]
        total = sum((amount for _, amount in lines), Decimal("0"))
        if credits and total:
            lines += list(zip(credits, _split(rng, total, len(credits)), strict=True))
        elif credits:
            lines.append((credits[0], _cents(rng, 5_000, 500_000)))
        lines += [(c, _cents(rng, 1_000, 150_000)) for c in both if rng.random() < 0.7]
        return [{"component": c, "amount": str(amount)} for c, amount in lines]

    def record(
        self, process: str, run_id: str, index: int, rng: random.Random, *, malformed_share: float
    ) -> dict[str, Any]:
        """One deterministic HCM record; ``malformed`` names the defect it was given, if any."""
        rules = self.rules[process]
        record: dict[str, Any] = {
            "run_id": run_id,
            "transaction_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "process": process,
            "period": self.period,
            "currency": rng.choice(CURRENCIES),
            "description": f"{process} record {index + 1}",
            "status": TransactionStatus.PENDING.value,
            "attempts": 0,
        }
        fields = self._fields(rules)
        record |= {field: self._value(rng, field, index) for field in fields}
        record["lines"] = self._lines(rng, rules)
        if rng.random() < malformed_share:
            record["malformed"] = self._break(rng, record, fields)
        return record

    def _break(self, rng: random.Random, record: dict[str, Any], fields: list[str]) -> str:
        """Make ``record`` malformed in one way drawn at random; returns the kind."""
        kind = rng.choice(MALFORMED_KINDS)
        lines: list[dict[str, Any]] = record["lines"]
        segment_fields = [f for f in fields if f in {s.name for s in self.chart.segments}]
        if kind == "unknown_account" and not segment_fields:
            kind = "bad_period"  # no template names a segment: no account to make unknown
        if kind == "missing_field":
            del record[rng.choice([*fields, "currency", "period"])]
        elif kind == "bad_currency":
            record["currency"] = "XXQ"
        elif kind == "non_numeric_amount":
            rng.choice(lines)["amount"] = "12O.50"
        elif kind == "too_many_decimals":
            rng.choice(lines)["amount"] = "10.125"
        elif kind == "unknown_account":
            record[rng.choice(segment_fields)] = "XX999"
        elif kind == "bad_period":
            record["period"] = "2026-13"
        elif kind == "unbalanced":
            lines[0]["amount"] = str(Decimal(lines[0]["amount"]) + Decimal("0.01"))
        elif kind == "closed_period":
            record["period"] = self.closed_period
        elif kind == "unmapped_component":
            lines.append({"component": UNMAPPED_COMPONENT, "amount": "42.00"})
        else:
            rng.choice(lines)["currency"] = "EUR" if record["currency"] != "EUR" else "GBP"
        return kind

    def records(
        self, process: str, run_id: str, count: int, *, seed: int, malformed_share: float
    ) -> list[dict[str, Any]]:
        rng = random.Random(f"{seed}:{process}:{run_id}")
        return [self.record(process, run_id, index, rng, malformed_share=malformed_share) for index in range(count)]


def seed_run(
    dynamodb: DynamoDBServiceResource,
    config: EnvironmentConfig,
    *,
    runs_table: str,
    transactions_table: str,
    process: str,
    run_id: str,
    count: int,
    seed: int = 0,
    malformed_share: float = 0.0,
    lines_as: LinesForm = "json",
) -> SeededRun:
    """Write the transactions first, then the run entry that points at them."""
    hcm = HcmGenerator(config)
    records = hcm.records(process, run_id, count, seed=seed, malformed_share=malformed_share)
    table = dynamodb.Table(transactions_table)
    with table.batch_writer() as writer:
        for record in records:
            writer.put_item(Item=stored_item(record, lines_as))
    dynamodb.Table(runs_table).put_item(
        Item={
            "run_id": run_id,
            "process": process,
            "status": RunStatus.PENDING.value,
            "transaction_count": count,
            "period": hcm.period,
            "created_at": now_iso(),
        }
    )
    return SeededRun(process=process, run_id=run_id, transactions=records)
