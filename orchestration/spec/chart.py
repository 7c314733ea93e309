"""The finance system's chart of accounts, as the configuration describes it.

An account is a combination of segments joined by a separator, e.g. ``100-6000-CC100``
(company, natural account, cost centre); each segment takes its values from a list. The
finance system refuses a journal line whose account is not a valid combination (Oracle
Journal Import's EF04). The chart serves three readers: the configuration check of every
mapping rule's account templates (``problem_in_template``), the finance simulator's refusal of
unknown accounts (``problem_in_account``), and the simulated HCM, which draws its records'
companies and cost centres from it.
"""

from __future__ import annotations

from typing import Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from lambdas.mapping import PLACEHOLDER


class Segment(BaseModel):
    """One segment of an account: its name and its values (code -> what it is)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    values: dict[str, str] = Field(min_length=1)


class Chart(BaseModel):
    """The segments of an account, in order, and the separator between them."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    separator: str = Field(default="-", min_length=1, max_length=1)
    segments: list[Segment] = Field(min_length=1)
    summary_segment: str = Field(
        default="account",
        description="the segment a summary trial balance groups by: the natural account, as finance reads it",
    )

    @model_validator(mode="after")
    def _values_without_separator(self) -> Self:
        for segment in self.segments:
            for code in segment.values:
                if self.separator in code or not code:
                    raise ValueError(f"segments.{segment.name}: value {code!r} is empty or holds the separator")
        names = [segment.name for segment in self.segments]
        if self.summary_segment not in names:
            raise ValueError(
                f"summary_segment: {self.summary_segment!r} is not a segment; segments: {', '.join(names)}"
            )
        return self

    def summary_of(self, account: str) -> str:
        """The summary line ``account`` falls under: its natural account and that account's name.

        ``100-6000-CC300`` is ``6000 Salaries and wages``; an account that is not a combination of
        the chart stands on its own line.
        """
        parts = account.split(self.separator)
        if len(parts) != len(self.segments):
            return account
        position = next(i for i, segment in enumerate(self.segments) if segment.name == self.summary_segment)
        code = parts[position]
        name = self.segments[position].values.get(code)
        return account if name is None else f"{code} {name}"

    def problem_in_account(self, account: str) -> str | None:
        """Why ``account`` is not a combination of the chart (``None`` when it is one)."""
        parts = account.split(self.separator)
        if len(parts) != len(self.segments):
            return f"account {account!r} has {len(parts)} segment(s), the chart {len(self.segments)}"
        for part, segment in zip(parts, self.segments, strict=True):
            if part not in segment.values:
                return f"account {account!r}: {segment.name} {part!r} is not in the chart"
        return None

    def problem_in_template(self, template: str) -> str | None:
        """Why an account template can never give a valid account (``None`` when it can).

        A segment of a template is either a value of that segment or one ``{field}`` of the HCM
        record, filled in per record (and checked by the finance system then).
        """
        parts = template.split(self.separator)
        if len(parts) != len(self.segments):
            return f"{template!r} has {len(parts)} segment(s), the chart {len(self.segments)}"
        for part, segment in zip(parts, self.segments, strict=True):
            if PLACEHOLDER.fullmatch(part):
                continue
            if "{" in part or "}" in part:
                return f"{template!r}: {segment.name} {part!r} is neither a value nor one {{field}}"
            if part not in segment.values:
                return f"{template!r}: {segment.name} {part!r} is not in finance.chart"
        return None
