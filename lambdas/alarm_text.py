"""Readable alarm notifications: the CloudWatch alarm message in, an email and an SMS out.

CloudWatch publishes a JSON document per state change; ``format_notification`` turns it into
an email (process/scope, metric, threshold, current value, time, runbook, console link) and
an SMS of at most 160 plain ASCII characters
(one GSM-7 segment). The alarm catalog writes title, scope, unit and runbook
into the AlarmDescription (``AlarmDescription.render``), which this module reads back.
"""

from __future__ import annotations

import re
from datetime import datetime
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict, Field

SMS_LIMIT = 160
SUBJECT_LIMIT = 100
DESCRIPTION_LIMIT = 1024
TEST_BANNER = "THIS IS A TEST NOTIFICATION sent by `ledgerflow alarms test`: no action is needed."
_VALUE = re.compile(r"\[(-?[0-9][0-9.eE+-]*)")
_COMPARISON = {
    "GreaterThanOrEqualToThreshold": ">=",
    "GreaterThanThreshold": ">",
    "LessThanThreshold": "<",
    "LessThanOrEqualToThreshold": "<=",
}


class AlarmDescription(BaseModel):
    """What on-call reads: a title, what the alarm is about, the unit of its value, the runbook."""

    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=1)
    scope: str = Field(min_length=1)
    runbook: str = Field(min_length=1)
    unit: str = ""

    def render(self) -> str:
        text = f"{self.title}\nScope: {self.scope}\nUnit: {self.unit}\nRunbook: {self.runbook}"
        if len(text) > DESCRIPTION_LIMIT:
            raise ValueError(f"alarm description of {self.title!r} is {len(text)} characters (max 1024)")
        return text

    @classmethod
    def parse(cls, text: str | None, fallback_title: str) -> AlarmDescription:
        """Read a rendered description; any other text becomes the runbook of a generic title."""
        lines = (text or "").splitlines()
        fields = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
        if lines and {"Scope", "Runbook"} <= fields.keys():
            return cls(title=lines[0], scope=fields["Scope"], runbook=fields["Runbook"], unit=fields.get("Unit", ""))
        return cls(title=fallback_title, scope="(not in the ledgerflow catalog)", runbook=text or "none given")


class Dimension(BaseModel):
    name: str
    value: str


class StatMetric(BaseModel):
    MetricName: str
    Namespace: str = ""
    Dimensions: list[Dimension] = Field(default_factory=list)


class MetricStatistic(BaseModel):
    Metric: StatMetric
    Period: int = 0
    Stat: str = ""


class TriggerMetric(BaseModel):
    Id: str
    Expression: str | None = None
    MetricStat: MetricStatistic | None = None
    Label: str | None = None
    ReturnData: bool = False


class AlarmTrigger(BaseModel):
    """The alarm's metric as CloudWatch describes it (a single metric, or metric math in ``Metrics``)."""

    MetricName: str | None = None
    Namespace: str | None = None
    Statistic: str | None = None
    Dimensions: list[Dimension] = Field(default_factory=list)
    Metrics: list[TriggerMetric] = Field(default_factory=list)
    Period: int | None = None
    EvaluationPeriods: int = 1
    DatapointsToAlarm: int | None = None
    ComparisonOperator: str = "GreaterThanOrEqualToThreshold"
    Threshold: float = 0
    TreatMissingData: str | None = None

    def metric(self) -> str:
        if self.MetricName:
            return self.MetricName
        returned = next((m for m in self.Metrics if m.ReturnData), None)
        parts = [m.MetricStat.Metric.MetricName for m in self.Metrics if m.MetricStat]
        label = returned.Label or returned.Expression if returned else None
        return f"{label or 'expression'} of {', '.join(parts)}" if parts else (label or "metric math")

    def period_seconds(self) -> int:
        if self.Period:
            return self.Period
        return next((m.MetricStat.Period for m in self.Metrics if m.MetricStat and m.MetricStat.Period), 0)

    def statistic(self) -> str:
        if self.Statistic:
            return self.Statistic.capitalize()
        return next((m.MetricStat.Stat for m in self.Metrics if m.MetricStat), "")


class AlarmMessage(BaseModel):
    """The JSON CloudWatch publishes to SNS on an alarm state change (fields we read)."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    AlarmName: str
    AlarmDescription: str | None = None
    AlarmArn: str = ""
    NewStateValue: str
    OldStateValue: str = ""
    NewStateReason: str = ""
    StateChangeTime: str
    Region: str = ""
    Trigger: AlarmTrigger
    test: bool = Field(default=False, alias="LedgerflowTest")

    @property
    def region(self) -> str:
        parts = self.AlarmArn.split(":")
        return parts[3] if len(parts) > 3 and parts[3] else "us-east-1"

    @property
    def is_initial_ok(self) -> bool:
        """A new alarm settling into OK: nothing happened, nobody should be woken."""
        return self.NewStateValue == "OK" and self.OldStateValue in ("", "INSUFFICIENT_DATA")


class Notification(BaseModel):
    subject: str = Field(max_length=SUBJECT_LIMIT)
    email: str
    sms: str = Field(max_length=SMS_LIMIT)


def current_value(reason: str) -> float | None:
    """The most recent datapoint CloudWatch quotes in NewStateReason (``... [5.0 (23/10/25 ...)``)."""
    match = _VALUE.search(reason)
    if match is None:
        return None
    try:
        return float(match.group(1))
    except ValueError:
        return None


def console_url(message: AlarmMessage) -> str:
    region = message.region
    return (
        f"https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}"
        f"#alarmsV2:alarm/{quote(message.AlarmName, safe='')}"
    )


def _number(value: float) -> str:
    return f"{value:,.2f}".rstrip("0").rstrip(".") if value != int(value) else f"{int(value):,}"


def _time(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def format_notification(message: AlarmMessage) -> Notification:
    about = AlarmDescription.parse(message.AlarmDescription, fallback_title=message.AlarmName)
    trigger = message.Trigger
    operator = _COMPARISON.get(trigger.ComparisonOperator, trigger.ComparisonOperator)
    unit = f" {about.unit}" if about.unit else ""
    value = current_value(message.NewStateReason)
    shown_value = f"{_number(value)}{unit}" if value is not None else "no data"
    threshold = f"{operator} {_number(trigger.Threshold)}{unit}"
    changed = _time(message.StateChangeTime)
    when = changed.strftime("%Y-%m-%d %H:%M:%S UTC") if changed else message.StateChangeTime
    state = message.NewStateValue
    headline = "RESOLVED" if state == "OK" else state
    marker = "[TEST] " if message.test else ""
    subject = f"{marker}{headline}: {about.title} - {about.scope}"
    if len(subject) > SUBJECT_LIMIT:
        subject = subject[: SUBJECT_LIMIT - 3] + "..."
    datapoints = trigger.DatapointsToAlarm or trigger.EvaluationPeriods
    lines = [TEST_BANNER, ""] if message.test else []
    lines += [
        f"{headline}: {about.title}",
        "",
        f"Scope:         {about.scope}",
        f"Alarm:         {message.AlarmName}",
        f"State:         {message.OldStateValue or '?'} -> {state}",
        f"Metric:        {trigger.metric()} ({trigger.statistic()} per {trigger.period_seconds()} s)",
        f"Threshold:     {threshold} in {datapoints} of {trigger.EvaluationPeriods} period(s)",
        f"Current value: {shown_value}",
        f"Time:          {when}",
        f"Reason:        {message.NewStateReason}",
        "",
        f"Runbook: {about.runbook}",
        "",
        f"Console: {console_url(message)}",
    ]
    hhmm = changed.strftime("%H:%MZ") if changed else ""
    if state == "OK":
        core = f"{marker}OK {about.title} cleared: {about.scope}, now {shown_value} {hhmm}"
    else:
        limit = f"({operator} {_number(trigger.Threshold)})"
        core = f"{marker}{state} {about.title}: {about.scope}, {shown_value} {limit} {hhmm}"
    with_name = f"{core} {message.AlarmName}"
    sms = with_name if len(with_name) <= SMS_LIMIT else core
    if len(sms) > SMS_LIMIT:
        sms = sms[: SMS_LIMIT - 3] + "..."
    return Notification(subject=subject, email="\n".join(lines) + "\n", sms=sms)
