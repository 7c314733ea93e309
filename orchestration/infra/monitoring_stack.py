"""MonitoringStack: an encrypted SNS topic for on-call, and alarms that publish to it.

Alarms cover the state machines (failed, timed out, throttled executions), every Lambda
(errors, throttles) and the silent failures an execution survives: transactions recorded
as failed, runs left incomplete and gates closed past their maximum pause.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aws_cdk import ArnFormat, Duration, RemovalPolicy, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct

from orchestration.asl import state_machine_name
from orchestration.config import EnvironmentConfig
from orchestration.functions import FUNCTIONS
from orchestration.infra import naming

PERIOD = Duration.minutes(5)
STATE_MACHINE_METRICS = ("ExecutionsFailed", "ExecutionsTimedOut", "ExecutionThrottled")
FUNCTION_METRICS = ("Errors", "Throttles")


@dataclass(frozen=True)
class ApplicationMetric:
    """A Powertools metric the handlers emit (namespace Ledgerflow, dimension service)."""

    name: str
    description: str


APPLICATION_METRICS = (
    ApplicationMetric("TransactionsFailed", "transactions recorded as failed after their retries ran out"),
    ApplicationMetric("TransactionsLeftPending", "runs finished with transactions still pending"),
    ApplicationMetric("GatePausedTooLong", "a gate stayed closed past the maximum pause; the run gave up"),
)


class MonitoringStack(Stack):
    def __init__(
        self, scope: Construct, construct_id: str, *, config: EnvironmentConfig, **kwargs: Any
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.config = config
        removal = RemovalPolicy.RETAIN if config.retain_data else RemovalPolicy.DESTROY
        key = kms.Key(
            self,
            "AlarmTopicKey",
            description=f"{config.name_prefix}: encryption of the alarm topic",
            enable_key_rotation=True,
            removal_policy=removal,
        )
        # CloudWatch cannot use the AWS-managed SNS key: the AWS-documented statement lets alarm
        # actions encrypt what they publish ("*" in a key policy means this key).
        key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowCloudWatchAlarmsToPublish",
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                resources=["*"],
            )
        )
        self.topic = sns.Topic(
            self,
            "AlarmTopic",
            topic_name=config.resource_name("alarms"),
            display_name=f"ledgerflow {config.environment} alarms",
            master_key=key,
            enforce_ssl=True,
        )
        self.topic.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowCloudWatchAlarmsOfThisAccount",
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["sns:Publish"],
                resources=[self.topic.topic_arn],
                conditions={
                    "ArnLike": {
                        "aws:SourceArn": self.format_arn(
                            service="cloudwatch",
                            resource="alarm",
                            resource_name="*",
                            arn_format=ArnFormat.COLON_RESOURCE_NAME,
                        )
                    },
                },
            )
        )
        for address in config.notifications.email:
            self.topic.add_subscription(subscriptions.EmailSubscription(address))
        for number in config.notifications.sms:
            self.topic.add_subscription(subscriptions.SmsSubscription(number))
        self.alarms: list[cloudwatch.Alarm] = []
        self._state_machine_alarms()
        self._function_alarms()
        self._application_alarms()

    def _alarm(self, construct_id: str, metric: cloudwatch.Metric, description: str) -> None:
        alarm = cloudwatch.Alarm(
            self,
            construct_id,
            alarm_name=self.config.resource_name(_kebab(construct_id)),
            alarm_description=description,
            metric=metric,
            threshold=1,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        action = cw_actions.SnsAction(self.topic)
        alarm.add_alarm_action(action)
        alarm.add_ok_action(action)
        self.alarms.append(alarm)

    def _state_machine_alarms(self) -> None:
        for profile in self.config.used_profiles():
            name = state_machine_name(self.config, profile)
            for metric_name in STATE_MACHINE_METRICS:
                metric = cloudwatch.Metric(
                    namespace="AWS/States",
                    metric_name=metric_name,
                    dimensions_map={"StateMachineArn": naming.state_machine_arn(self, self.config, profile)},
                    statistic="Sum",
                    period=PERIOD,
                )
                self._alarm(
                    f"{naming.pascal(profile)}{metric_name}",
                    metric,
                    f"state machine {name}: {metric_name} >= 1 in 5 min",
                )

    def _function_alarms(self) -> None:
        for spec in FUNCTIONS:
            name = naming.function_name(self.config, spec)
            for metric_name in FUNCTION_METRICS:
                metric = cloudwatch.Metric(
                    namespace="AWS/Lambda",
                    metric_name=metric_name,
                    dimensions_map={"FunctionName": name},
                    statistic="Sum",
                    period=PERIOD,
                )
                self._alarm(
                    f"{naming.pascal(spec.name)}{metric_name}",
                    metric,
                    f"Lambda {name}: {metric_name} >= 1 in 5 min",
                )

    def _application_alarms(self) -> None:
        for item in APPLICATION_METRICS:
            metric = cloudwatch.Metric(
                namespace=naming.METRICS_NAMESPACE,
                metric_name=item.name,
                dimensions_map={"service": naming.SERVICE_NAME},
                statistic="Sum",
                period=PERIOD,
            )
            self._alarm(item.name, metric, f"ledgerflow: {item.description}")


def _kebab(name: str) -> str:
    return "".join(f"-{c.lower()}" if c.isupper() else c for c in name).lstrip("-")
