"""Local alarms: the alarm catalog evaluated against the local engine's metrics, notifications through local SNS.

``LocalMonitor`` runs two threads while a local run lasts:

* the **schedule** invokes the health-check Lambda (through the in-process runtime) every
  ``health_check_minutes`` of the scaled alarm clock, as the EventBridge rule does on AWS;
* the **evaluator** records the state machines' failed / timed-out executions as ``AWS/States``
  metrics, evaluates every alarm of ``alarm_catalog`` with ``AlarmEvaluator`` and, on a state
  change, publishes the CloudWatch alarm document to the local alarm topic and hands it to the
  alarm-notifier Lambda, which publishes the email and SMS texts to the notification topic.

The handlers' Powertools metrics and the runtime's ``AWS/Lambda`` metrics reach the same
``MetricStore`` (see ``metrics_capture`` and ``lambda_runtime``).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from orchestration.engine.cloudwatch import AlarmEvaluator, MetricStore
from orchestration.engine.lambda_runtime import LocalLambdaRuntime
from orchestration.spec.alarms import AlarmSpec, State, alarm_catalog, cloudwatch_message
from orchestration.spec.config import EnvironmentConfig
from orchestration.spec.functions import ALARM_NOTIFIER, HEALTH_CHECK, FunctionSpec

if TYPE_CHECKING:
    from mypy_boto3_sns import SNSClient
    from mypy_boto3_stepfunctions import SFNClient
    from mypy_boto3_stepfunctions.literals import ExecutionStatusType

STATE_MACHINE_METRICS: dict[ExecutionStatusType, str] = {
    "FAILED": "ExecutionsFailed",
    "TIMED_OUT": "ExecutionsTimedOut",
}


class Delivery(BaseModel):
    """What one subscriber receives: an email (subject and body) or an SMS (text)."""

    protocol: str
    endpoint: str
    subject: str | None = None
    body: str | None = None
    text: str | None = None


class AlarmNotification(BaseModel):
    state: str
    at: str
    value: float | None
    deliveries: list[Delivery] = Field(default_factory=list)


class FiredAlarm(BaseModel):
    name: str
    title: str
    scope: str
    process: str | None
    metric: str
    threshold: float
    fired_at: str
    recovered_at: str | None = None
    peak_value: float | None = None
    notifications: list[AlarmNotification] = Field(default_factory=list)


def topic_names(config: EnvironmentConfig) -> tuple[str, str]:
    """The alarm topic (CloudWatch publishes there) and the notification topic (people subscribe)."""
    return config.resource_name("alarms"), config.resource_name("notifications")


class LocalMonitor:
    def __init__(
        self,
        config: EnvironmentConfig,
        *,
        runtime: LocalLambdaRuntime,
        store: MetricStore,
        sfn: SFNClient,
        sns: SNSClient,
        state_machines: list[str],
        account: str,
        function_name: Callable[[FunctionSpec], str],
        tick_seconds: float | None = None,
    ) -> None:
        self.config = config
        self.runtime = runtime
        self.store = store
        self.sfn = sfn
        self.sns = sns
        self.state_machines = state_machines
        self.account = account
        self.alarms: list[AlarmSpec] = alarm_catalog(config, account=account)
        self.evaluator = AlarmEvaluator(store, started=time.time(), time_scale=config.alarms.local_time_scale)
        self._health_function = function_name(HEALTH_CHECK)
        self._notifier_function = function_name(ALARM_NOTIFIER)
        shortest = min(self.evaluator.wall_period(spec) for spec in self.alarms)
        self.tick_seconds = tick_seconds or max(0.05, shortest / 8)
        self.states: dict[str, State] = {spec.name: State.INSUFFICIENT_DATA for spec in self.alarms}
        self.fired: dict[str, FiredAlarm] = {}
        self._seen_executions: set[str] = set()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        alarm_topic, notification_topic = topic_names(config)
        self.alarm_topic_arn = str(sns.create_topic(Name=alarm_topic)["TopicArn"])
        self.notification_topic_arn = str(sns.create_topic(Name=notification_topic)["TopicArn"])
        for address in config.notifications.email:
            sns.subscribe(TopicArn=self.notification_topic_arn, Protocol="email", Endpoint=address)
        for number in config.notifications.sms:
            sns.subscribe(TopicArn=self.notification_topic_arn, Protocol="sms", Endpoint=number)

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> None:
        """Probe once (the first, cold invocation), then create the alarms: periods count from now."""
        self._probe()
        self.evaluator.started = time.time()
        for target, name in ((self._schedule_loop, "health-schedule"), (self._evaluate_loop, "alarm-evaluator")):
            thread = threading.Thread(target=target, name=f"ledgerflow-{name}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self, *, settle_seconds: float = 0.0) -> None:
        """Stop after every alarm is back to OK, or after ``settle_seconds`` (what comes first)."""
        deadline = time.monotonic() + settle_seconds
        while time.monotonic() < deadline and any(state is State.ALARM for state in self.states.values()):
            time.sleep(self.tick_seconds)
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)

    def health_interval(self) -> float:
        """Wall seconds between two health checks."""
        return self.config.alarms.health_check_minutes * 60 / self.config.alarms.local_time_scale

    def outage_minimum_seconds(self) -> float:
        """An outage the health alarm must see: enough probes to fire it, whatever the retry budget."""
        health = max(
            spec.evaluation_periods * self.evaluator.wall_period(spec)
            for spec in self.alarms
            if spec.kind == "health-check-failed"
        )
        return health + self.health_interval()

    def settle_seconds(self) -> float:
        """Wall time for the slowest alarm to see ``evaluation_periods`` clean periods after the last event."""
        return max((spec.evaluation_periods + 2) * self.evaluator.wall_period(spec) for spec in self.alarms)

    # -- threads -------------------------------------------------------------------------------

    def _schedule_loop(self) -> None:
        """One invocation per schedule slot, stamped with the slot's time as EventBridge does,
        so a late invocation on a busy machine still reports for its own period."""
        interval = self.health_interval()
        slot = self.evaluator.started + interval / 2
        while not self._stop.wait(max(0.0, slot - time.time())):
            self._probe(slot)
            slot += interval

    def _probe(self, slot: float | None = None) -> None:
        at = datetime.fromtimestamp(slot or time.time(), UTC)
        event = {
            "source": "aws.events",
            "detail-type": "Scheduled Event",
            "time": at.isoformat(timespec="milliseconds"),
            "detail": {},
        }
        self.runtime.invoke(self._health_function, event)

    def _evaluate_loop(self) -> None:
        while not self._stop.wait(self.tick_seconds):
            self.tick(time.time())

    def tick(self, now: float) -> None:
        self._record_executions(now)
        for spec in self.alarms:
            evaluation = self.evaluator.evaluate(spec, now)
            if evaluation is None or evaluation.state is self.states[spec.name]:
                continue
            old = self.states[spec.name]
            self.states[spec.name] = evaluation.state
            if old is State.INSUFFICIENT_DATA and evaluation.state is State.OK:
                # CloudWatch publishes this too, and the notifier drops it (AlarmMessage.is_initial_ok):
                # skipped here to spare a busy machine forty no-op invocations at start-up.
                continue
            self._notify(spec, old, evaluation.state, evaluation.reason, evaluation.value, now)

    def _record_executions(self, now: float) -> None:
        for arn in self.state_machines:
            for status, metric in STATE_MACHINE_METRICS.items():
                page = self.sfn.list_executions(stateMachineArn=arn, statusFilter=status)
                for execution in page["executions"]:
                    if execution["executionArn"] in self._seen_executions:
                        continue
                    self._seen_executions.add(execution["executionArn"])
                    self.store.put("AWS/States", metric, {"StateMachineArn": arn}, 1.0, now)

    # -- notifications --------------------------------------------------------------------------

    def _notify(self, spec: AlarmSpec, old: State, new: State, reason: str, value: float | None, now: float) -> None:
        at = datetime.fromtimestamp(now, UTC)
        message = cloudwatch_message(
            spec, old=old, new=new, reason=reason, at=at, region=self.config.region, account=self.account
        )
        deliveries = self.publish_alarm(message, bypass_notifier=spec.bypass_notifier)
        if new is State.ALARM:
            record = self.fired.get(spec.name)
            if record is None:
                record = FiredAlarm(
                    name=spec.name,
                    title=spec.title,
                    scope=spec.scope,
                    process=spec.process,
                    metric=spec.metric_label,
                    threshold=spec.threshold,
                    fired_at=at.isoformat(timespec="milliseconds"),
                )
                self.fired[spec.name] = record
            record.recovered_at = None
        else:
            record = self.fired.get(spec.name)
            if record is None:
                return
            record.recovered_at = at.isoformat(timespec="milliseconds")
        if value is not None:
            record.peak_value = value if record.peak_value is None else max(record.peak_value, value)
        stamp = at.isoformat(timespec="milliseconds")
        record.notifications.append(AlarmNotification(state=new.value, at=stamp, value=value, deliveries=deliveries))

    def publish_alarm(self, message: dict[str, Any], *, bypass_notifier: bool = False) -> list[Delivery]:
        """Publish as CloudWatch does, then deliver as SNS does: to the notifier Lambda, or raw."""
        if bypass_notifier:
            subject = f'{message["NewStateValue"]}: "{message["AlarmName"]}" in {message["Region"]}'
            raw = json.dumps(message)
            self.sns.publish(TopicArn=self.notification_topic_arn, Subject=subject[:100], Message=raw)
            return self._deliveries(subject[:100], raw, raw[:160])
        body = json.dumps(message)
        published = self.sns.publish(TopicArn=self.alarm_topic_arn, Message=body)
        event = {
            "Records": [
                {
                    "EventSource": "aws:sns",
                    "EventVersion": "1.0",
                    "EventSubscriptionArn": f"{self.alarm_topic_arn}:local-notifier",
                    "Sns": {
                        "Type": "Notification",
                        "MessageId": published["MessageId"],
                        "TopicArn": self.alarm_topic_arn,
                        "Subject": None,
                        "Message": body,
                        "Timestamp": datetime.now(UTC).isoformat(),
                    },
                }
            ]
        }
        response, failed = self.runtime.invoke(self._notifier_function, event)
        result = json.loads(response)
        if failed:
            raise RuntimeError(f"alarm notifier failed on {message['AlarmName']}: {result.get('errorMessage')}")
        deliveries: list[Delivery] = []
        for item in result["published"]:
            notification = item["notification"]
            deliveries += self._deliveries(notification["subject"], notification["email"], notification["sms"])
        return deliveries

    def _deliveries(self, subject: str, email: str, sms: str) -> list[Delivery]:
        """What each subscriber of the notification topic receives (SNS picks the text per protocol)."""
        subscriptions = self.sns.list_subscriptions_by_topic(TopicArn=self.notification_topic_arn)["Subscriptions"]
        deliveries = []
        for subscription in subscriptions:
            if subscription["Protocol"] == "email":
                deliveries.append(
                    Delivery(protocol="email", endpoint=subscription["Endpoint"], subject=subject, body=email)
                )
            elif subscription["Protocol"] == "sms":
                deliveries.append(Delivery(protocol="sms", endpoint=subscription["Endpoint"], text=sms))
        return deliveries

    def report(self) -> list[FiredAlarm]:
        return sorted(self.fired.values(), key=lambda alarm: (alarm.fired_at, alarm.name))


@contextmanager
def running(monitor: LocalMonitor, *, settle: bool = True) -> Iterator[LocalMonitor]:
    monitor.start()
    try:
        yield monitor
    finally:
        monitor.stop(settle_seconds=monitor.settle_seconds() if settle else 0.0)
