"""The alarm catalog: one list of alarms for the CDK monitoring stack and the local engine.

``alarm_catalog(config)`` turns an environment's thresholds into ``AlarmSpec`` values (pure data):
the monitoring stack renders each as an ``AWS::CloudWatch::Alarm``, and the local engine
(``orchestration.engine.cloudwatch``) evaluates the same specs against the metrics it collects,
with the same periods, datapoints-to-alarm and missing-data treatment on a scaled clock.
``cloudwatch_message`` is the document CloudWatch publishes on a state change, for the local
engine's alarms and for ``ledgerflow alarms test`` on AWS.

Per-process alarms (transactions failed, transactions rejected) carry the ``process``
dimension; everything else is one alarm per environment, state machine, function or table,
so 200 processes add 400 alarms and nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from lambdas.alarm_text import AlarmDescription
from lambdas.names import NAMESPACE, SERVICE
from orchestration.spec.config import EnvironmentConfig
from orchestration.spec.functions import ALARM_NOTIFIER, ALL_FUNCTIONS, FUNCTIONS
from orchestration.spec.names import state_machine_name
from orchestration.spec.tables import ALL_TABLES

RETRIED_BY_DESIGN = {
    "post-to-finance": "raises the finance error class so Step Functions retries the item",
    "check-gate": "raises GateClosedTooLong when a gate stays closed past its maximum pause",
    "record-result": "raises the finance error class when finance cannot confirm a failed post, so Step "
    "Functions retries the lookup",
    "summarize": "raises the finance error class when finance cannot re-check the run's failed lines, so Step "
    "Functions retries the check",
}
"""Functions whose errors are control flow: alarm on their error *rate*, not on one error."""


class State(StrEnum):
    OK = "OK"
    ALARM = "ALARM"
    INSUFFICIENT_DATA = "INSUFFICIENT_DATA"


class Statistic(StrEnum):
    SUM = "Sum"
    MAXIMUM = "Maximum"


class MissingData(StrEnum):
    NOT_BREACHING = "notBreaching"
    BREACHING = "breaching"


class MathKind(StrEnum):
    SUM = "sum"
    """``m0 + m1 + ...``"""
    PERCENT = "percent"
    """``100 * m0 / m1`` (no datapoint when ``m1`` has none)"""


@dataclass(frozen=True)
class MetricRef:
    namespace: str
    name: str
    dimensions: tuple[tuple[str, str], ...]
    statistic: Statistic = Statistic.SUM

    @property
    def key(self) -> tuple[str, str, tuple[tuple[str, str], ...]]:
        return (self.namespace, self.name, tuple(sorted(self.dimensions)))


@dataclass(frozen=True)
class AlarmSpec:
    """One alarm: what it watches, when it fires, and what on-call reads."""

    kind: str
    name: str
    title: str
    scope: str
    runbook: str
    metrics: tuple[MetricRef, ...]
    threshold: float
    period_seconds: int
    evaluation_periods: int = 1
    datapoints_to_alarm: int = 1
    missing_data: MissingData = MissingData.NOT_BREACHING
    math: MathKind | None = None
    unit: str = ""
    process: str | None = None
    bypass_notifier: bool = False
    """The notifier's own alarms go straight to the notification topic (it cannot format itself)."""

    @property
    def expression(self) -> str | None:
        ids = [f"m{i}" for i in range(len(self.metrics))]
        if self.math is MathKind.SUM:
            return " + ".join(ids)
        if self.math is MathKind.PERCENT:
            return f"100 * {ids[0]} / {ids[1]}"
        return None

    @property
    def metric_label(self) -> str:
        if self.math is MathKind.PERCENT:
            return f"{self.metrics[0].name} rate (% of {self.metrics[1].name})"
        if self.math is MathKind.SUM:
            return " + ".join(m.name for m in self.metrics)
        return self.metrics[0].name

    def description(self) -> str:
        """The AlarmDescription: the notifier reads title, scope and runbook back from it."""
        return AlarmDescription(title=self.title, scope=self.scope, runbook=self.runbook, unit=self.unit).render()


def _dims(**values: str) -> tuple[tuple[str, str], ...]:
    return tuple(values.items())


def alarm_catalog(config: EnvironmentConfig, *, account: str, partition: str = "aws") -> list[AlarmSpec]:
    """Every alarm of an environment. ``account``/``partition`` may be CDK tokens (rendered at synth)."""
    settings = config.alarms
    period = settings.period_seconds
    name = config.resource_name
    alarms: list[AlarmSpec] = []
    for profile in config.used_profiles():
        machine = state_machine_name(config, profile)
        arn = f"arn:{partition}:states:{config.region}:{account}:stateMachine:{machine}"
        for metric, title, runbook in (
            (
                "ExecutionsFailed",
                "Executions failed",
                "Open the failed execution in the Step Functions console, read the failing state's error; "
                "the run's pending transactions are re-run by starting the run again.",
            ),
            (
                "ExecutionsTimedOut",
                "Executions timed out",
                "An execution hit its timeout: check for a stuck task token (gate) or a hung finance call.",
            ),
            (
                "ExecutionThrottled",
                "Executions throttled",
                "Step Functions is throttling state transitions: lower batch concurrency or request a quota raise.",
            ),
        ):
            alarms.append(
                AlarmSpec(
                    kind=f"state-machine-{_kebab(metric)}",
                    name=name(f"{profile}-{_kebab(metric)}"),
                    title=title,
                    scope=f"state machine {machine}",
                    runbook=runbook,
                    metrics=(MetricRef("AWS/States", metric, _dims(StateMachineArn=arn)),),
                    threshold=1,
                    period_seconds=period,
                    unit="executions",
                )
            )
    for spec in ALL_FUNCTIONS:
        function = name(spec.name)
        errors = MetricRef("AWS/Lambda", "Errors", _dims(FunctionName=function))
        invocations = MetricRef("AWS/Lambda", "Invocations", _dims(FunctionName=function))
        bypass = spec is ALARM_NOTIFIER
        if spec.name in RETRIED_BY_DESIGN:
            alarms.append(
                AlarmSpec(
                    kind="lambda-error-rate",
                    name=name(f"{spec.name}-error-rate"),
                    title="Lambda error rate high",
                    scope=f"Lambda {function}",
                    runbook=f"This function {RETRIED_BY_DESIGN[spec.name]}; a sustained high rate means the "
                    "finance system or a gate is failing most work: check the health alarms and its logs.",
                    metrics=(errors, invocations),
                    math=MathKind.PERCENT,
                    threshold=settings.retried_error_rate_percent,
                    period_seconds=period,
                    evaluation_periods=3,
                    datapoints_to_alarm=2,
                    unit="%",
                )
            )
        else:
            alarms.append(
                AlarmSpec(
                    kind="lambda-errors",
                    name=name(f"{spec.name}-errors"),
                    title="Lambda errors",
                    scope=f"Lambda {function}",
                    runbook="Read the function's log group for the stack trace (filter on ERROR); "
                    "a deployment or permission change is the usual cause.",
                    metrics=(errors,),
                    threshold=settings.lambda_errors,
                    period_seconds=period,
                    unit="errors",
                    bypass_notifier=bypass,
                )
            )
        alarms.append(
            AlarmSpec(
                kind="lambda-throttles",
                name=name(f"{spec.name}-throttles"),
                title="Lambda throttled",
                scope=f"Lambda {function}",
                runbook="The account's concurrent executions are exhausted: check reserved concurrency "
                "and other workloads in the account.",
                metrics=(MetricRef("AWS/Lambda", "Throttles", _dims(FunctionName=function)),),
                threshold=1,
                period_seconds=period,
                unit="throttles",
                bypass_notifier=bypass,
            )
        )
    for table in ALL_TABLES:
        table_name = table.table_name(config)
        alarms.append(
            AlarmSpec(
                kind="dynamodb-throttled",
                name=name(f"{table.suffix}-table-throttled"),
                title="DynamoDB requests throttled",
                scope=f"table {table_name}",
                runbook="On-demand tables throttle on sudden spikes or hot keys: check the table's "
                "CloudWatch contributor insights; retries absorb short bursts.",
                metrics=(
                    MetricRef("AWS/DynamoDB", "ReadThrottleEvents", _dims(TableName=table_name)),
                    MetricRef("AWS/DynamoDB", "WriteThrottleEvents", _dims(TableName=table_name)),
                ),
                math=MathKind.SUM,
                threshold=1,
                period_seconds=period,
                unit="requests",
            )
        )
    health_period = settings.health_check_minutes * 60
    for target, what in (("hcm", "the HCM source (staging tables)"), ("finance", "the finance API")):
        alarms.append(
            AlarmSpec(
                kind="health-check-failed",
                name=name(f"{target}-health"),
                title="Health check failing",
                scope=f"{target} ({what})",
                runbook=f"The scheduled probe of {what} fails (unreachable, slow or refusing our credentials): "
                "check its status page and the health-check log; no data at all means the probe stopped.",
                metrics=(
                    MetricRef(NAMESPACE, "HealthCheckFailed", _dims(service=SERVICE, target=target), Statistic.MAXIMUM),
                ),
                threshold=1,
                period_seconds=health_period,
                evaluation_periods=3,
                datapoints_to_alarm=2,
                missing_data=MissingData.BREACHING,
                unit="failed probes",
            )
        )
    alarms.append(
        AlarmSpec(
            kind="gate-paused-too-long",
            name=name("gate-paused-too-long"),
            title="Run gave up on a closed gate",
            scope="all processes",
            runbook="A gate stayed closed past max_pause_seconds and the run stopped with its transactions "
            "pending: find the process with `ledgerflow gate status`, open the gate, start the run again.",
            metrics=(MetricRef(NAMESPACE, "GatePausedTooLong", _dims(service=SERVICE)),),
            threshold=settings.gate_paused_too_long,
            period_seconds=period,
            unit="runs",
        )
    )
    for spec in FUNCTIONS:
        if spec.routes_runs:
            queue = name(f"{spec.name}-dlq")
            alarms.append(
                AlarmSpec(
                    kind="run-not-started",
                    name=name(f"{spec.name}-dlq-not-empty"),
                    title="Run not started",
                    scope=f"queue {queue}",
                    runbook="The run trigger gave up on a runs-table record (its log line `run not started` names "
                    "the field or process): fix the HCM item, start the run by hand (docs: Operations, Start a run "
                    "by hand), then purge the message.",
                    metrics=(
                        MetricRef(
                            "AWS/SQS", "ApproximateNumberOfMessagesVisible", _dims(QueueName=queue), Statistic.MAXIMUM
                        ),
                    ),
                    threshold=1,
                    period_seconds=period,
                    unit="messages",
                )
            )
    alarms.append(
        AlarmSpec(
            kind="oldest-pending-age",
            name=name("oldest-pending-age"),
            title="Transactions waiting too long",
            scope="all processes",
            runbook="The oldest pending transaction is older than expected: look for a paused gate, a failed "
            "execution or a run that was never started (runs table, status pending).",
            metrics=(MetricRef(NAMESPACE, "OldestPendingAgeSeconds", _dims(service=SERVICE), Statistic.MAXIMUM),),
            threshold=settings.oldest_pending_age_seconds,
            period_seconds=period,
            evaluation_periods=2,
            datapoints_to_alarm=2,
            unit="seconds",
        )
    )
    for process in config.processes:
        dims = _dims(service=SERVICE, process=process)
        alarms.append(
            AlarmSpec(
                kind="transactions-failed",
                name=name(f"{_kebab(process)}-transactions-failed"),
                title="Transactions failed",
                scope=f"process {process}",
                runbook="Retries ran out (finance down, throttling or timeouts): see failure reasons with "
                "`ledgerflow run` report or the transactions table, fix the cause, re-submit the failed items.",
                metrics=(MetricRef(NAMESPACE, "TransactionsFailed", dims),),
                threshold=config.alarm_threshold(process, "transactions_failed"),
                period_seconds=period,
                unit="transactions",
                process=process,
            )
        )
        alarms.append(
            AlarmSpec(
                kind="transactions-rejected",
                name=name(f"{_kebab(process)}-transactions-rejected"),
                title="Transactions rejected",
                scope=f"process {process}",
                runbook="Bad HCM records or unknown GL accounts: read the rejection reasons in the "
                "transactions table and have the HCM owner correct the source records.",
                metrics=(MetricRef(NAMESPACE, "TransactionsRejected", dims),),
                threshold=config.alarm_threshold(process, "transactions_rejected"),
                period_seconds=period,
                unit="transactions",
                process=process,
            )
        )
    return alarms


def _kebab(name: str) -> str:
    return "".join(f"-{c.lower()}" if c.isupper() else c for c in name).lstrip("-").replace("_", "-")


def _trigger(spec: AlarmSpec) -> dict[str, object]:
    common: dict[str, object] = {
        "EvaluationPeriods": spec.evaluation_periods,
        "DatapointsToAlarm": spec.datapoints_to_alarm,
        "ComparisonOperator": "GreaterThanOrEqualToThreshold",
        "Threshold": float(spec.threshold),
        "TreatMissingData": spec.missing_data.value,
        "EvaluateLowSampleCountPercentile": "",
    }
    if spec.math is None:
        (metric,) = spec.metrics
        return {
            "MetricName": metric.name,
            "Namespace": metric.namespace,
            "StatisticType": "Statistic",
            "Statistic": metric.statistic.value.upper(),
            "Unit": None,
            "Dimensions": [{"value": value, "name": name} for name, value in metric.dimensions],
            "Period": spec.period_seconds,
            **common,
        }
    metrics: list[dict[str, object]] = [
        {"Expression": spec.expression, "Id": "e1", "Label": spec.metric_label, "ReturnData": True}
    ]
    for index, metric in enumerate(spec.metrics):
        metrics.append(
            {
                "Id": f"m{index}",
                "MetricStat": {
                    "Metric": {
                        "Dimensions": [{"value": value, "name": name} for name, value in metric.dimensions],
                        "MetricName": metric.name,
                        "Namespace": metric.namespace,
                    },
                    "Period": spec.period_seconds,
                    "Stat": metric.statistic.value,
                },
                "ReturnData": False,
            }
        )
    return {"Metrics": metrics, "Period": spec.period_seconds, **common}


def cloudwatch_message(
    spec: AlarmSpec,
    *,
    old: State,
    new: State,
    reason: str,
    at: datetime,
    region: str,
    account: str,
    test: bool = False,
) -> dict[str, object]:
    """The JSON document CloudWatch publishes to an alarm action's SNS topic on a state change."""
    message: dict[str, object] = {
        "AlarmName": spec.name,
        "AlarmDescription": spec.description(),
        "AWSAccountId": account,
        "NewStateValue": new.value,
        "NewStateReason": reason,
        "StateChangeTime": at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}+0000",
        "Region": region,
        "AlarmArn": f"arn:aws:cloudwatch:{region}:{account}:alarm:{spec.name}",
        "OldStateValue": old.value,
        "Trigger": _trigger(spec),
    }
    if test:
        message["LedgerflowTest"] = True
    return message
