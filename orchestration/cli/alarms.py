"""``ledgerflow alarms list|test``: the alarm catalog with its thresholds, and a test notification for on-call."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from lambdas.names import NAMESPACE, SERVICE
from orchestration.cli.common import EnvOption, fail, out, reporting_aws_errors
from orchestration.errors import FAILURE
from orchestration.ops.aws import AwsTarget
from orchestration.spec.alarms import AlarmSpec, MetricRef, State, alarm_catalog, cloudwatch_message
from orchestration.spec.config import EnvironmentConfig, load_config
from orchestration.spec.names import topic_names

if TYPE_CHECKING:
    from orchestration.engine.monitor import Delivery, FiredAlarm

app = typer.Typer(help="The alarm catalog: list it, or send a test notification to on-call.", no_args_is_help=True)


def catalog_table(config: EnvironmentConfig, alarms: list[AlarmSpec]) -> Table:
    table = Table(title=f"Alarm catalog: {config.environment} ({len(alarms)} alarms)")
    for column in ("alarm", "scope", "metric", "threshold", "period", "datapoints", "missing data"):
        table.add_column(column)
    for spec in alarms:
        table.add_row(
            spec.name,
            spec.scope,
            spec.metric_label,
            f">= {spec.threshold:g} {spec.unit}".rstrip(),
            f"{spec.period_seconds} s",
            f"{spec.datapoints_to_alarm} of {spec.evaluation_periods}",
            spec.missing_data.value,
        )
    return table


@app.command("list")
def list_alarms(
    env: EnvOption = "local",
    as_json: Annotated[bool, typer.Option("--json", help="one JSON object per alarm, with its runbook")] = False,
) -> None:
    """Show every alarm of the catalog with its threshold, period, datapoints and runbook."""
    config = load_config(env)
    account = config.account or "<account>"
    alarms = alarm_catalog(config, account=account)
    if as_json:
        rows = [
            {
                "name": spec.name,
                "title": spec.title,
                "scope": spec.scope,
                "process": spec.process,
                "metric": spec.metric_label,
                "threshold": spec.threshold,
                "unit": spec.unit,
                "period_seconds": spec.period_seconds,
                "evaluation_periods": spec.evaluation_periods,
                "datapoints_to_alarm": spec.datapoints_to_alarm,
                "treat_missing_data": spec.missing_data.value,
                "runbook": spec.runbook,
            }
            for spec in alarms
        ]
        typer.echo(json.dumps(rows, indent=2))
        return
    out().print(catalog_table(config, alarms))


def test_alarm(config: EnvironmentConfig) -> AlarmSpec:
    """The alarm a test notification pretends to come from (not in the catalog, never deployed)."""
    return AlarmSpec(
        kind="test",
        name=config.resource_name("test-notification"),
        title="Test notification",
        scope="on-call delivery check",
        runbook="No action needed: this message checks that your email and phone receive ledgerflow alarms.",
        metrics=(MetricRef(NAMESPACE, "TestNotification", (("service", SERVICE),)),),
        threshold=1,
        period_seconds=config.alarms.period_seconds,
        unit="test",
    )


def test_message(config: EnvironmentConfig, account: str) -> dict[str, Any]:
    now = datetime.now(UTC)
    reason = f"Threshold Crossed: 1 out of the last 1 datapoints [1.0 ({now:%d/%m/%y %H:%M:%S})] (test)."
    return cloudwatch_message(
        test_alarm(config),
        old=State.OK,
        new=State.ALARM,
        reason=reason,
        at=now,
        region=config.region,
        account=account,
        test=True,
    )


def print_deliveries(console: Console, deliveries: list[Delivery]) -> None:
    for delivery in deliveries:
        if delivery.protocol == "email":
            console.print(f"[bold]email to {delivery.endpoint}[/]  subject: {delivery.subject}", highlight=False)
            console.print(delivery.body or "", highlight=False, markup=False)
        else:
            console.print(
                f"[bold]SMS to {delivery.endpoint}[/] ({len(delivery.text or '')} chars): {delivery.text}",
                highlight=False,
            )


def alarm_report(console: Console, alarms: list[FiredAlarm]) -> None:
    """The alarms a run fired, and what each subscriber was sent."""
    if not alarms:
        console.print("[green]alarms: none fired[/]")
        return
    table = Table(title="Alarms fired")
    for column in ("alarm", "scope", "metric", "threshold", "peak", "fired", "recovered"):
        table.add_column(column)
    for alarm in alarms:
        table.add_row(
            alarm.name,
            alarm.scope,
            alarm.metric,
            f">= {alarm.threshold:g}",
            "" if alarm.peak_value is None else f"{alarm.peak_value:g}",
            alarm.fired_at[11:23],
            (alarm.recovered_at or "still in ALARM")[11:23],
        )
    console.print(table)
    for alarm in alarms:
        for notification in alarm.notifications:
            console.rule(f"{notification.state}: {alarm.name} at {notification.at[11:23]}")
            print_deliveries(console, notification.deliveries)


def send_local_test(config: EnvironmentConfig) -> list[Delivery]:
    """Through the local engine's alarm topic and the real notifier Lambda, to the local notification topic."""
    # The engine (moto, the handlers) loads only here: the CLI's other commands start fast.
    from orchestration.engine.local import ACCOUNT, LocalEngine
    from orchestration.sim.finance import FinanceSimulator

    with FinanceSimulator.for_config(config.finance) as finance, LocalEngine.start(config, finance.url) as engine:
        monitor = engine.monitor()
        return monitor.publish_alarm(test_message(config, ACCOUNT))


def send_aws_test(config: EnvironmentConfig, target: AwsTarget) -> tuple[str, list[dict[str, Any]]]:
    """Publish the test document to the deployed alarm topic: the notifier formats and forwards it."""
    account = config.account or str(target.sts().get_caller_identity()["Account"])
    alarm_topic, notification_topic = (f"arn:aws:sns:{config.region}:{account}:{name}" for name in topic_names(config))
    sns = target.sns()
    response = sns.publish(TopicArn=alarm_topic, Message=json.dumps(test_message(config, account)))
    subscribers = sns.list_subscriptions_by_topic(TopicArn=notification_topic)["Subscriptions"]
    return str(response["MessageId"]), [dict(s) for s in subscribers]


@app.command("test")
def test(env: EnvOption = "local") -> None:
    """Send a clearly marked [TEST] notification through the real topics, so on-call can check email and phone."""
    config = load_config(env)
    console = out()
    if config.finance.base_url == "simulator":
        deliveries = send_local_test(config)
        if not deliveries:
            raise fail("notifications: no email or sms subscriber configured", FAILURE)
        console.print(f"[green]test notification published to the local topic {topic_names(config)[1]}[/]")
        print_deliveries(console, deliveries)
        return
    target = AwsTarget(config.region)
    with reporting_aws_errors(target):
        message_id, subscribers = send_aws_test(config, target)
    console.print(f"[green]test notification published to {topic_names(config)[0]} (message {message_id})[/]")
    for subscriber in subscribers:
        pending = " (confirmation pending)" if subscriber["SubscriptionArn"] == "PendingConfirmation" else ""
        console.print(f"  {subscriber['Protocol']}: {subscriber['Endpoint']}{pending}", highlight=False)
