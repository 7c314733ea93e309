"""HealthCheck: a scheduled probe of the HCM source and the finance API; it never raises on a failed probe.

Each probe measures reachability and latency with an authenticated no-op call (a GetItem of
a sentinel key on the HCM runs table; ``GET /health`` then the authenticated ``GET /ping``
on the finance API) and publishes ``HealthCheckFailed`` (0 or 1) and
``HealthCheckLatencyMs`` with a ``target`` dimension. It also publishes
``OldestPendingAgeSeconds``: the age of the oldest run that still has work to do.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any, Literal

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel

from lambdas.finance_client import FinanceClient
from lambdas.handler_support import parse
from lambdas.models import RunStatus
from lambdas.observability import log_metrics, logger, metrics, tracer
from lambdas.post_to_finance import finance_client
from lambdas.settings import known_processes, tables
from lambdas.store import table

Target = Literal["hcm", "finance"]
SENTINEL_RUN_ID = "__health_check__"
RUNS_BY_STATUS_INDEX = "by-process-status"
DONE_STATUS = RunStatus.COMPLETED.value
"""Every other run status sorts after ``completed`` (gate_timeout, incomplete, paused, pending, running)."""


class ScheduledEvent(BaseModel):
    """The EventBridge scheduled event: ``time`` is the schedule slot the probe reports for."""

    time: datetime | None = None


class ProbeResult(BaseModel):
    target: Target
    ok: bool
    latency_ms: float
    error: str | None = None


class HealthReport(BaseModel):
    probes: list[ProbeResult]
    oldest_pending_age_seconds: float | None


def _timed(target: Target, call: Any) -> ProbeResult:
    started = time.perf_counter()
    try:
        call()
    except Exception as exc:  # a probe reports every failure instead of raising
        latency = (time.perf_counter() - started) * 1000
        return ProbeResult(target=target, ok=False, latency_ms=latency, error=f"{type(exc).__name__}: {exc}"[:300])
    return ProbeResult(target=target, ok=True, latency_ms=(time.perf_counter() - started) * 1000)


def probe_hcm(runs_table: str) -> ProbeResult:
    return _timed("hcm", lambda: table(runs_table).get_item(Key={"run_id": SENTINEL_RUN_ID}))


def probe_finance(client: FinanceClient) -> ProbeResult:
    def call() -> None:
        client.health()
        client.ping()

    return _timed("finance", call)


def oldest_pending_age(runs_table: str, processes: list[str], now: datetime) -> float | None:
    """Seconds since the oldest run not yet completed was created; ``None`` when the query fails."""
    oldest: datetime | None = None
    try:
        for process in processes:
            kwargs: dict[str, Any] = {
                "IndexName": RUNS_BY_STATUS_INDEX,
                "KeyConditionExpression": "#p = :p AND #s > :done",
                "ExpressionAttributeNames": {"#p": "process", "#s": "status", "#c": "created_at"},
                "ExpressionAttributeValues": {":p": process, ":done": DONE_STATUS},
                "ProjectionExpression": "#c",
            }
            while True:
                page = table(runs_table).query(**kwargs)
                for item in page.get("Items", []):
                    created = datetime.fromisoformat(str(item["created_at"]))
                    oldest = created if oldest is None or created < oldest else oldest
                if "LastEvaluatedKey" not in page:
                    break
                kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    except Exception:  # the HCM probe reports the table's health; the age is just missing
        logger.exception("cannot compute the oldest pending age")
        return None
    return max(0.0, (now - oldest).total_seconds()) if oldest else 0.0


def check_health() -> HealthReport:
    runs = tables().runs
    try:
        client = finance_client()
    except Exception as exc:  # a missing secret or setting is a failed probe, not a crash
        finance = ProbeResult(target="finance", ok=False, latency_ms=0, error=f"{type(exc).__name__}: {exc}"[:300])
    else:
        finance = probe_finance(client)
    probes = [probe_hcm(runs), finance]
    age = oldest_pending_age(runs, known_processes(), datetime.now(UTC))
    return HealthReport(probes=probes, oldest_pending_age_seconds=age)


def publish(report: HealthReport, at: datetime) -> None:
    """One metric blob per target (dimension ``target``), then the pending age without it, stamped ``at``."""
    metrics.set_timestamp(at)
    for probe in report.probes:
        metrics.add_dimension(name="target", value=probe.target)
        metrics.add_metric(name="HealthCheckFailed", unit=MetricUnit.Count, value=0 if probe.ok else 1)
        metrics.add_metric(name="HealthCheckLatencyMs", unit=MetricUnit.Milliseconds, value=probe.latency_ms)
        metrics.flush_metrics()
        if not probe.ok:
            logger.warning("health probe failed", extra={"target": probe.target, "error": probe.error})
    if report.oldest_pending_age_seconds is not None:
        metrics.add_metric(
            name="OldestPendingAgeSeconds", unit=MetricUnit.Seconds, value=report.oldest_pending_age_seconds
        )


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    scheduled = parse(ScheduledEvent, event)
    report = check_health()
    publish(report, scheduled.time or datetime.now(UTC))
    return report.model_dump(mode="json")
