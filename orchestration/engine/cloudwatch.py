"""The local CloudWatch: a metric store and the evaluation of alarm specs as CloudWatch evaluates them.

The local engine's metrics (the handlers' Powertools EMF, the runtime's ``AWS/Lambda``
metrics, the executions' ``AWS/States`` metrics) land in one ``MetricStore``;
``AlarmEvaluator`` evaluates the catalog's ``AlarmSpec`` values against it on a clock that
may run faster than the wall, and words its reasons as CloudWatch's ``NewStateReason``.
"""

from __future__ import annotations

import math
import threading
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime

from orchestration.spec.alarms import AlarmSpec, MathKind, MissingData, State, Statistic

MetricKey = tuple[str, str, tuple[tuple[str, str], ...]]


@dataclass
class MetricStore:
    """Datapoints by metric (namespace, name, sorted dimensions), each (epoch seconds, value)."""

    _points: dict[MetricKey, list[tuple[float, float]]] = field(default_factory=lambda: defaultdict(list))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def put(self, namespace: str, name: str, dimensions: dict[str, str], value: float, at: float) -> None:
        key = (namespace, name, tuple(sorted(dimensions.items())))
        with self._lock:
            self._points[key].append((at, value))

    def between(self, key: MetricKey, start: float, end: float) -> list[float]:
        with self._lock:
            return [value for at, value in self._points.get(key, []) if start <= at < end]

    def names(self) -> set[tuple[str, str]]:
        with self._lock:
            return {(namespace, name) for namespace, name, _ in self._points}


@dataclass(frozen=True)
class Evaluation:
    state: State
    value: float | None
    reason: str


@dataclass
class AlarmEvaluator:
    """Evaluates alarm specs like CloudWatch does, on a clock ``time_scale`` times faster than the wall.

    Only complete periods are evaluated (a period counts once ``grace`` of a period has passed
    after its end, as CloudWatch waits for late datapoints), aligned on ``started`` (the moment
    the alarms were created).
    """

    store: MetricStore
    started: float
    time_scale: float = 1.0
    grace: float = 1.0

    def wall_period(self, spec: AlarmSpec) -> float:
        return spec.period_seconds / self.time_scale

    def datapoints(self, spec: AlarmSpec, now: float) -> list[float | None]:
        """The last ``evaluation_periods`` complete periods, oldest first; ``None`` is missing data."""
        width = self.wall_period(spec)
        complete = math.floor((now - self.started) / width - self.grace)
        first = max(0, complete - spec.evaluation_periods)
        return [self._value(spec, self.started + i * width, width) for i in range(first, complete)]

    def _value(self, spec: AlarmSpec, start: float, width: float) -> float | None:
        values: list[float | None] = []
        for metric in spec.metrics:
            points = self.store.between(metric.key, start, start + width)
            if not points:
                values.append(None)
            elif metric.statistic is Statistic.SUM:
                values.append(sum(points))
            else:
                values.append(max(points))
        if spec.math is MathKind.SUM:
            present = [v for v in values if v is not None]
            return sum(present) if present else None
        if spec.math is MathKind.PERCENT:
            part, whole = values
            return None if not whole else 100 * (part or 0) / whole
        return values[0]

    def evaluate(self, spec: AlarmSpec, now: float) -> Evaluation | None:
        """The state the alarm is in at ``now``, or ``None`` before it has enough complete periods."""
        points = self.datapoints(spec, now)
        if len(points) < spec.evaluation_periods:
            return None
        breaching = 0
        for value in points:
            if value is None:
                breaching += spec.missing_data is MissingData.BREACHING
            elif value >= spec.threshold:
                breaching += 1
        state = State.ALARM if breaching >= spec.datapoints_to_alarm else State.OK
        present = [v for v in points if v is not None]
        # The current value is the newest period's; an alarm fired by older periods quotes the newest present.
        current = points[-1] if points[-1] is not None or state is State.OK else (present[-1] if present else None)
        return Evaluation(state, current, self._reason(spec, points, breaching, state, now))

    def _reason(self, spec: AlarmSpec, points: list[float | None], breaching: int, state: State, now: float) -> str:
        """CloudWatch's NewStateReason wording: the notifier reads the current value from its brackets."""
        width = self.wall_period(spec)
        end = self.started + math.floor((now - self.started) / width - self.grace) * width
        missing = sum(1 for value in points if value is None)
        if state is State.ALARM and missing and missing == len(points):
            return (
                f"Threshold Crossed: no datapoints were received for {missing} periods and {missing} missing "
                "datapoints were treated as [Breaching]."
            )
        shown = []
        for offset, value in enumerate(reversed(points)):
            if value is None:
                continue
            at = datetime.fromtimestamp(end - (offset + 1) * width, UTC).strftime("%d/%m/%y %H:%M:%S")
            shown.append(f"{value:g} ({at})")
        count = breaching if state is State.ALARM else len(points) - breaching
        verb = "was" if count == 1 else "were"
        relation = "greater than or equal to" if state is State.ALARM else "not greater than or equal to"
        return (
            f"Threshold Crossed: {count} out of the last {len(points)} datapoints [{', '.join(shown)}] "
            f"{verb} {relation} the threshold ({spec.threshold:g}) (minimum {spec.datapoints_to_alarm} "
            f"datapoint{'s' if spec.datapoints_to_alarm != 1 else ''} for "
            f"{'OK -> ALARM' if state is State.ALARM else 'ALARM -> OK'} transition)."
        )
