"""The alarm catalog, its evaluation, the notification texts, and per-invocation metrics."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest

from lambdas import alarm_notifier, container, health_check
from lambdas.alarm_text import SMS_LIMIT, AlarmMessage, format_notification
from lambdas.observability import log_metrics, metrics
from orchestration.engine.cloudwatch import AlarmEvaluator, MetricStore
from orchestration.engine.metrics_capture import isolated_metrics, store_sink
from orchestration.sim.finance import FinanceSimulator
from orchestration.spec.alarms import (
    AlarmSpec,
    MathKind,
    MetricRef,
    MissingData,
    State,
    alarm_catalog,
    cloudwatch_message,
)
from orchestration.spec.config import EnvironmentConfig, load_config
from orchestration.spec.functions import ALL_FUNCTIONS
from orchestration.spec.names import topic_names
from tests.fixtures.aws import Aws

ENVIRONMENTS = ("local", "dev")


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_catalog_covers_every_required_alarm_with_config_thresholds(env: str) -> None:
    config = load_config(env)
    alarms = alarm_catalog(config, account="123456789012")
    names = [spec.name for spec in alarms]
    assert len(names) == len(set(names))
    metrics_watched = {metric.name for spec in alarms for metric in spec.metrics}
    assert {
        "ExecutionsFailed",
        "ExecutionsTimedOut",
        "ExecutionThrottled",
        "Errors",
        "Throttles",
        "ReadThrottleEvents",
        "WriteThrottleEvents",
        "TransactionsFailed",
        "TransactionsRejected",
        "GatePausedTooLong",
        "HealthCheckFailed",
        "OldestPendingAgeSeconds",
    } <= metrics_watched
    functions = {dict(m.dimensions).get("FunctionName") for spec in alarms for m in spec.metrics}
    assert {config.resource_name(spec.name) for spec in ALL_FUNCTIONS} <= functions
    for spec in alarms:
        assert spec.runbook and spec.title and spec.scope
        assert 1 <= spec.datapoints_to_alarm <= spec.evaluation_periods
        assert spec.period_seconds % 60 == 0
        assert len(spec.description()) <= 1024
    by_name = {spec.name: spec for spec in alarms}
    for process in config.processes:
        rejected = by_name[config.resource_name(f"{process.replace('_', '-')}-transactions-rejected")]
        assert rejected.threshold == config.alarm_threshold(process, "transactions_rejected")
        assert rejected.metrics[0].dimensions == (("service", "ledgerflow"), ("process", process))
    override = config.alarms.processes["payroll_journal"].transactions_rejected
    assert by_name[config.resource_name("payroll-journal-transactions-rejected")].threshold == override
    assert by_name[config.resource_name("finance-health")].missing_data is MissingData.BREACHING


def test_alarm_thresholds_name_an_unknown_process(config: EnvironmentConfig) -> None:
    raw = config.model_dump(mode="json")
    raw["alarms"]["processes"] = {"no_such_process": {"transactions_failed": 2}}
    with pytest.raises(ValueError, match=r"alarms\.processes\.no_such_process: unknown process"):
        EnvironmentConfig.model_validate(raw)


def _messages(config: EnvironmentConfig) -> list[tuple[AlarmSpec, dict[str, Any]]]:
    at = datetime(2026, 11, 25, 9, 30, 5, 123000, tzinfo=UTC)
    found = []
    for spec in alarm_catalog(config, account="123456789012"):
        for old, new, reason in (
            (State.OK, State.ALARM, "Threshold Crossed: 1 out of the last 1 datapoints [7.5 (25/11/26 09:25:00)]"),
            (State.ALARM, State.OK, "Threshold Crossed: 1 out of the last 1 datapoints [0.0 (25/11/26 09:30:00)]"),
        ):
            message = cloudwatch_message(
                spec, old=old, new=new, reason=reason, at=at, region=config.region, account="123456789012"
            )
            found.append((spec, message))
    return found


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_every_catalog_alarm_formats_a_complete_email_and_a_short_sms(env: str) -> None:
    config = load_config(env)
    for spec, message in _messages(config):
        parsed = AlarmMessage.model_validate_json(json.dumps(message))
        note = format_notification(parsed)
        state = "ALARM" if message["NewStateValue"] == "ALARM" else "RESOLVED"
        assert note.subject.startswith(f"{state}: {spec.title}")
        assert spec.scope in note.subject or len(note.subject) == 100
        for text in (
            f"Scope:         {spec.scope}",
            f"Alarm:         {spec.name}",
            f"Metric:        {spec.metric_label}",
            f"Threshold:     >= {spec.threshold:,g}",
            "Current value: 7.5" if state == "ALARM" else "Current value: 0",
            "Time:          2026-11-25 09:30:05 UTC",
            f"Runbook: {spec.runbook}",
            f"#alarmsV2:alarm/{spec.name}",
            f"https://{config.region}.console.aws.amazon.com/cloudwatch/home?region={config.region}",
        ):
            assert text in note.email, (spec.name, text, note.email)
        assert len(note.sms) <= SMS_LIMIT, note.sms
        assert note.sms.isascii()
        assert spec.title in note.sms and ("7.5" in note.sms if state == "ALARM" else "cleared" in note.sms)


def test_missing_data_and_unknown_alarms_still_read_well() -> None:
    config = load_config("local")
    spec = next(s for s in alarm_catalog(config, account="1") if s.name.endswith("hcm-health"))
    message = cloudwatch_message(
        spec,
        old=State.OK,
        new=State.ALARM,
        reason="Threshold Crossed: no datapoints were received for 3 periods and 3 missing datapoints were "
        "treated as [Breaching].",
        at=datetime.now(UTC),
        region="eu-west-1",
        account="1",
    )
    message["AlarmDescription"] = "someone's hand-made alarm"
    note = format_notification(AlarmMessage.model_validate(message))
    assert "Current value: no data" in note.email
    assert "Runbook: someone's hand-made alarm" in note.email
    assert "region=eu-west-1" in note.email


def _spec(**changes: Any) -> AlarmSpec:
    values: dict[str, Any] = {
        "kind": "k",
        "name": "n",
        "title": "t",
        "scope": "s",
        "runbook": "r",
        "metrics": (MetricRef("N", "M", ()),),
        "threshold": 2,
        "period_seconds": 60,
    }
    values.update(changes)
    return AlarmSpec(**values)


def test_evaluator_applies_periods_datapoints_and_missing_data_on_a_scaled_clock() -> None:
    store = MetricStore()
    evaluator = AlarmEvaluator(store, started=1000.0, time_scale=60, grace=0.5)
    spec = _spec(evaluation_periods=3, datapoints_to_alarm=2)
    assert evaluator.evaluate(spec, 1002.0) is None, "fewer complete periods than evaluation_periods"
    store.put("N", "M", {}, 0.5, 1000.1)
    store.put("N", "M", {}, 1, 1000.2)
    store.put("N", "M", {}, 5, 1001.5)
    evaluation = evaluator.evaluate(spec, 1003.6)
    assert evaluation is not None and evaluation.state is State.OK, "one breaching period of three"
    store.put("N", "M", {}, 3, 1002.5)
    evaluation = evaluator.evaluate(spec, 1003.6)
    assert evaluation is not None and evaluation.state is State.ALARM and evaluation.value == 3
    assert "[3 (" in evaluation.reason
    breaching = _spec(evaluation_periods=2, datapoints_to_alarm=2, missing_data=MissingData.BREACHING)
    silent = evaluator.evaluate(breaching, 1006.6)
    assert silent is not None and silent.state is State.ALARM and "no datapoints" in silent.reason


def test_evaluator_metric_math_sum_and_percent() -> None:
    store = MetricStore()
    evaluator = AlarmEvaluator(store, started=0.0, time_scale=60, grace=0)
    total = _spec(metrics=(MetricRef("N", "A", ()), MetricRef("N", "B", ())), math=MathKind.SUM, threshold=3)
    store.put("N", "A", {}, 1, 0.1)
    store.put("N", "B", {}, 2, 0.2)
    evaluation = evaluator.evaluate(total, 1.0)
    assert evaluation is not None and evaluation.state is State.ALARM and evaluation.value == 3
    rate = _spec(metrics=(MetricRef("N", "E", ()), MetricRef("N", "I", ())), math=MathKind.PERCENT, threshold=50)
    for at, error in ((1.1, 1), (1.2, 0), (1.3, 0), (1.4, 0)):
        store.put("N", "E", {}, error, at)
        store.put("N", "I", {}, 1, at)
    evaluation = evaluator.evaluate(rate, 2.0)
    assert evaluation is not None and evaluation.state is State.OK and evaluation.value == 25
    assert evaluator.datapoints(rate, 3.0)[-1] is None, "no invocations: no datapoint, not a division by zero"


def test_concurrent_invocations_keep_their_metrics_apart() -> None:
    """One flush per invocation holding only that invocation's metric and dimension (8 at once), for a handler
    decorated before the isolation began, as the deployed handlers are."""
    documents: list[dict[str, Any]] = []
    lock = threading.Lock()
    barrier = threading.Barrier(8, timeout=10)

    @log_metrics
    def handler(event: dict[str, Any], context: Any) -> None:
        metrics.add_dimension(name="process", value=f"process_{event['i']}")
        metrics.add_metric(name=f"Metric{event['i']}", unit="Count", value=event["i"])
        barrier.wait()

    def sink(document: dict[str, Any]) -> None:
        with lock:
            documents.append(document)

    with isolated_metrics(metrics, sink):
        threads = [threading.Thread(target=handler, args=({"i": i}, None)) for i in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert len(documents) == 8
    for document in documents:
        names = [m["Name"] for m in document["_aws"]["CloudWatchMetrics"][0]["Metrics"]]
        (name,) = names
        index = name.removeprefix("Metric")
        assert document["process"] == f"process_{index}"
        assert document[name] == [float(index)]
    store = MetricStore()
    store_sink(store)(documents[0])
    assert len(store.names()) == 1


def _captured_health(aws: Aws, finance: FinanceSimulator) -> tuple[dict[str, Any], MetricStore]:
    store = MetricStore()
    with isolated_metrics(metrics, store_sink(store)):
        from orchestration.engine.lambda_runtime import LocalContext

        result = health_check.handler({"time": "2026-11-25T09:00:30Z"}, LocalContext(function_name="health"))
    return result, store


def test_health_check_reports_each_target_and_never_raises(aws: Aws, finance: FinanceSimulator) -> None:
    aws.seed("payroll_journal", "old-run", 2)
    result, store = _captured_health(aws, finance)
    assert [p["ok"] for p in result["probes"]] == [True, True]
    assert result["oldest_pending_age_seconds"] is not None and result["oldest_pending_age_seconds"] >= 0
    at = datetime(2026, 11, 25, 9, 0, 30, tzinfo=UTC).timestamp()
    for target in ("hcm", "finance"):
        key = ("Ledgerflow", "HealthCheckFailed", (("service", "ledgerflow"), ("target", target)))
        assert store.between(key, at, at + 1) == [0.0]
    finance.set_outage(True)
    result, store = _captured_health(aws, finance)
    probes = {p["target"]: p for p in result["probes"]}
    assert probes["hcm"]["ok"] and not probes["finance"]["ok"]
    assert "FinanceOverloaded" in probes["finance"]["error"]
    key = ("Ledgerflow", "HealthCheckFailed", (("service", "ledgerflow"), ("target", "finance")))
    assert store.between(key, at, at + 1) == [1.0]


def test_notifier_publishes_email_and_sms_and_drops_a_new_alarm_settling(
    aws: Aws, monkeypatch: pytest.MonkeyPatch
) -> None:
    sns = boto3.client("sns", region_name=aws.config.region)
    topic = sns.create_topic(Name=topic_names(aws.config)[1])["TopicArn"]
    monkeypatch.setenv(alarm_notifier.NOTIFICATION_TOPIC_ENV, topic)
    container.reset()
    queue = boto3.client("sqs", region_name=aws.config.region)
    url = queue.create_queue(QueueName="capture")["QueueUrl"]
    arn = queue.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
    (spec, fired), *_ = _messages(aws.config)
    settled = dict(fired, OldStateValue="INSUFFICIENT_DATA", NewStateValue="OK")
    event = {"Records": [{"Sns": {"Message": json.dumps(m), "MessageId": "x"}} for m in (fired, settled)]}
    from orchestration.engine.lambda_runtime import LocalContext

    result = alarm_notifier.handler(event, LocalContext(function_name="notifier"))
    (published,) = result["published"]
    assert published["alarm"] == spec.name and published["state"] == "ALARM"
    delivered = json.loads(queue.receive_message(QueueUrl=url)["Messages"][0]["Body"])
    assert delivered["Subject"] == published["notification"]["subject"]
    assert delivered["Message"] == published["notification"]["email"]
    container.reset()
