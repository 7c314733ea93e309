"""Mapping rules: how an HCM record becomes a balanced journal, by configuration, not code.

No two integrations map HCM data to accounts the same way, so the mapping is data: each process
has ``JournalRules`` in its environment's config (bundled with the Lambdas in its settings). An
HCM record carries header fields (``company``, ``cost_centre``, ``employee``, ``period``,
``currency``...) and ``lines``, each a **component** (``gross_pay``, ``meals``, ``tax``...)
with an amount. The rule of a component posts its amount as a debit of one account, a credit
of another, or both; an account is a template over the record's and the line's fields, e.g.
``{company}-6000-{cost_centre}``. The journal is then checked whole: a journal that does not
balance is never posted.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from lambdas.journal import CENT, Journal, JournalLine, imbalance

PLACEHOLDER = re.compile(r"\{([a-z_][a-z0-9_]*)\}")
"""A field of the record or its line, named in a template: ``{cost_centre}``."""
CURRENCIES = frozenset({"USD", "EUR", "GBP", "CAD", "AUD", "JPY", "CHF", "SEK", "NOK", "DKK"})
PERIOD = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
MAX_AMOUNT = Decimal("1000000000")
HEADER_FIELDS = ("period", "currency")
"""What every record needs besides its lines; the templates name the rest."""


class MalformedRecord(ValueError):
    """An HCM record that cannot become a journal: the message names the field, line or rule."""


@functools.lru_cache(maxsize=4096)
def _compiled(template: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """A template's literal text and its fields: ``literals[0] {fields[0]} literals[1] ...``.

    Compiled once per template: a chunk renders the same few templates for every line.
    """
    pieces = PLACEHOLDER.split(template)
    return tuple(pieces[0::2]), tuple(pieces[1::2])


def render(template: str, *scopes: Mapping[str, Any]) -> str:
    """``template`` with each ``{field}`` replaced by its value in the first scope that has one."""
    literals, fields = _compiled(template)
    if not fields:
        return literals[0]
    out = [literals[0]]
    missing: list[str] = []
    for field, literal in zip(fields, literals[1:], strict=True):
        for scope in scopes:
            value = scope.get(field)
            if value is not None and value != "":
                out += (str(value), literal)
                break
        else:
            missing.append(field)
    if missing:
        raise MalformedRecord(f"missing field(s): {', '.join(dict.fromkeys(missing))}")
    return "".join(out)


class Posting(BaseModel):
    """What one component becomes: a debit, a credit, or both (a cost and its liability, say)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    debit: str | None = Field(default=None, description="account template of the debit line")
    credit: str | None = Field(default=None, description="account template of the credit line")
    description: str = Field(default="{component}", description="template of the lines' description")

    @model_validator(mode="after")
    def _some_side(self) -> Self:
        if self.debit is None and self.credit is None:
            raise ValueError("a posting needs a debit account, a credit account, or both")
        return self

    def accounts(self) -> list[tuple[str, str]]:
        """``(side, template)`` for each side this posting writes."""
        return [(side, template) for side, template in (("debit", self.debit), ("credit", self.credit)) if template]


class JournalRules(BaseModel):
    """The mapping of one process: the journal header and a posting per HCM component."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    source: str = Field(min_length=1, description="the journal source the finance system knows")
    category: str = Field(min_length=1, description="the journal category")
    description: str = Field(default="{process} {period}", description="template of the journal description")
    components: dict[str, Posting] = Field(min_length=1, description="component name -> its posting")

    @model_validator(mode="after")
    def _both_sides(self) -> Self:
        """Rules that never debit (or never credit) could only ever give unbalanced journals."""
        for side in ("debit", "credit"):
            if not any(getattr(posting, side) for posting in self.components.values()):
                raise ValueError(f"no component posts a {side}: every journal would be unbalanced")
        return self


def amount_of(raw: Any, where: str) -> Decimal:
    """An HCM amount to the cent; ``where`` names the line in the error (``bad amount: ...``)."""
    try:
        amount = Decimal(str(raw))
    except InvalidOperation as exc:
        raise MalformedRecord(f"bad amount: {raw!r} is not a number ({where})") from exc
    if not amount.is_finite():
        raise MalformedRecord(f"bad amount: {raw!r} is not a finite number ({where})")
    exponent = amount.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -2:
        raise MalformedRecord(f"bad amount: {raw!r} has more than 2 decimals ({where})")
    if amount <= 0 or amount >= MAX_AMOUNT:
        raise MalformedRecord(f"bad amount: {raw!r} is not positive or out of range ({where})")
    return amount.quantize(CENT)


def _accounting_date(record: dict[str, Any], period: str) -> date:
    """The record's accounting date, or the last day of its period."""
    raw = record.get("accounting_date")
    if raw in (None, ""):
        year, month = (int(part) for part in period.split("-"))
        return date(year + month // 12, month % 12 + 1, 1) - timedelta(days=1)
    try:
        return date.fromisoformat(str(raw))
    except ValueError as exc:
        raise MalformedRecord(f"bad accounting date: {raw!r} is not YYYY-MM-DD") from exc


def lines_of(record: dict[str, Any]) -> list[Any]:
    """The HCM lines of a record: a list of maps, or the JSON text of that list (one string attribute).

    Both forms map alike. The text form is read and written several times faster: a DynamoDB
    client converts every nested attribute value of an item one by one, and a journal's lines
    are most of its attribute values.
    """
    raw = record.get("lines")
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError as exc:
            raise MalformedRecord(f"bad lines: not JSON text of a list of lines ({exc})") from exc
        if not isinstance(raw, list):
            raise MalformedRecord(f"bad lines: JSON text of a {type(raw).__name__}, not of a list of lines")
    if not isinstance(raw, list) or not raw:
        raise MalformedRecord("missing field(s): lines")
    return raw


def journal_of(record: dict[str, Any], rules: JournalRules, *, process: str, ledger: str) -> Journal:
    """The balanced journal of one HCM record under ``rules``; ``MalformedRecord`` names what is wrong."""
    try:
        return _journal_of(record, rules, process=process, ledger=ledger)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "journal"
        raise MalformedRecord(f"{where}: {first['msg']}") from exc


def _journal_of(record: dict[str, Any], rules: JournalRules, *, process: str, ledger: str) -> Journal:
    missing = [name for name in HEADER_FIELDS if record.get(name) in (None, "")]
    if missing:
        raise MalformedRecord(f"missing field(s): {', '.join(missing)}")
    currency = str(record["currency"])
    period = str(record["period"])
    if not PERIOD.match(period):
        raise MalformedRecord(f"bad period: {period!r} is not YYYY-MM")
    hcm_lines = lines_of(record)
    header = {"process": process}
    lines: list[JournalLine] = []
    for number, hcm_line in enumerate(hcm_lines, start=1):
        if not isinstance(hcm_line, dict):
            raise MalformedRecord(f"bad line: line {number} is not a mapping of fields")
        component = str(hcm_line.get("component") or "")
        posting = rules.components.get(component)
        if posting is None:
            mapped = ", ".join(rules.components)
            raise MalformedRecord(f"unmapped component: {component!r} (line {number}); mapped: {mapped}")
        amount = amount_of(hcm_line.get("amount"), f"line {number}, {component}")
        line_currency = str(hcm_line.get("currency") or currency)
        if line_currency not in CURRENCIES:
            raise MalformedRecord(f"bad currency: {line_currency!r} is not a supported ISO 4217 code")
        scopes = ({"component": component, "line": number}, hcm_line, header, record)
        description = render(posting.description, *scopes)
        source_ref = f"{component}/{number}"
        if posting.debit:
            account = render(posting.debit, *scopes)
            lines.append(
                JournalLine(
                    account=account,
                    debit=amount,
                    currency=line_currency,
                    description=description,
                    source_ref=source_ref,
                )
            )
        if posting.credit:
            account = render(posting.credit, *scopes)
            lines.append(
                JournalLine(
                    account=account,
                    credit=amount,
                    currency=line_currency,
                    description=description,
                    source_ref=source_ref,
                )
            )
    currencies = sorted({line.currency for line in lines})
    if len(currencies) > 1:
        raise MalformedRecord(f"mixed-currency journal: {', '.join(currencies)}")
    problem = imbalance(lines)
    if problem:
        raise MalformedRecord(problem)
    return Journal(
        transaction_id=str(record["transaction_id"]),
        ledger=ledger,
        source=rules.source,
        category=rules.category,
        period=period,
        accounting_date=_accounting_date(record, period),
        description=render(rules.description, header, record),
        lines=lines,
    )
