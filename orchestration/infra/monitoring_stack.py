"""MonitoringStack: the alarm catalog as CloudWatch alarms, a health check, and notifications people can read.

* ``orchestration.spec.alarms.alarm_catalog`` is rendered alarm by alarm (the local engine evaluates
  the same list), each with an ALARM and an OK action.
* Alarms publish to the **alarm topic**; the alarm-notifier Lambda, its only subscriber, turns
  each CloudWatch document into an email and an SMS and publishes them to the **notification
  topic**, where the email and SMS subscribers from config live. The notifier's own alarms
  publish raw to the notification topic (it cannot format its own failure).
* The health-check Lambda runs on an EventBridge schedule and publishes ``HealthCheckFailed``,
  latency and the oldest pending age as Powertools metrics.

Both topics are encrypted with one customer-managed key CloudWatch may use, and refuse non-TLS
publishers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aws_cdk import ArnFormat, Duration, RemovalPolicy, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct

from lambdas.alarm_notifier import NOTIFICATION_TOPIC_ENV
from lambdas.names import NAMESPACE, SERVICE
from orchestration.infra import naming
from orchestration.infra.lambda_function import LedgerflowFunction, powertools_layer_arn
from orchestration.infra.orchestration_stack import function_environment
from orchestration.spec.alarms import AlarmSpec, MissingData, alarm_catalog
from orchestration.spec.config import EnvironmentConfig
from orchestration.spec.functions import ALARM_NOTIFIER, HEALTH_CHECK, FunctionSpec
from orchestration.spec.tables import RUNS

MISSING_DATA = {
    MissingData.NOT_BREACHING: cloudwatch.TreatMissingData.NOT_BREACHING,
    MissingData.BREACHING: cloudwatch.TreatMissingData.BREACHING,
}


class MonitoringStack(Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: EnvironmentConfig,
        code_dir: Path,
        table_key: kms.IKey,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.config = config
        self.table_key = table_key
        self.removal = RemovalPolicy.RETAIN if config.retain_data else RemovalPolicy.DESTROY
        self.key = kms.Key(
            self,
            "AlarmTopicKey",
            description=f"{config.name_prefix}: encryption of the alarm and notification topics",
            enable_key_rotation=True,
            removal_policy=self.removal,
        )
        # CloudWatch cannot use the AWS-managed SNS key: the AWS-documented statement lets alarm
        # actions encrypt what they publish ("*" in a key policy means this key).
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowCloudWatchAlarmsToPublish",
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                resources=["*"],
            )
        )
        self.topic = self._topic("AlarmTopic", "alarms", f"ledgerflow {config.environment} alarms")
        self.notification_topic = self._topic("NotificationTopic", "notifications", f"ledgerflow {config.environment}")
        for address in config.notifications.email:
            self.notification_topic.add_subscription(subscriptions.EmailSubscription(address))
        for number in config.notifications.sms:
            self.notification_topic.add_subscription(subscriptions.SmsSubscription(number))
        code = lambda_.Code.from_asset(str(code_dir))
        layer = lambda_.LayerVersion.from_layer_version_arn(
            self, "PowertoolsLayer", powertools_layer_arn(config.region)
        )
        self.notifier = self._notifier(code, layer)
        self.health_check = self._health_check(code, layer)
        self.catalog = alarm_catalog(config, account=self.account, partition=self.partition)
        self.alarms = [self._alarm(spec) for spec in self.catalog]

    # -- topics ---------------------------------------------------------------------------------

    def _topic(self, construct_id: str, suffix: str, display_name: str) -> sns.Topic:
        topic = sns.Topic(
            self,
            construct_id,
            topic_name=self.config.resource_name(suffix),
            display_name=display_name,
            master_key=self.key,
            enforce_ssl=True,
        )
        topic.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowCloudWatchAlarmsOfThisAccount",
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["sns:Publish"],
                resources=[topic.topic_arn],
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
        return topic

    # -- Lambdas --------------------------------------------------------------------------------

    def _function(
        self,
        spec: FunctionSpec,
        code: lambda_.Code,
        layer: lambda_.ILayerVersion,
        environment: dict[str, str],
        statements: list[iam.PolicyStatement],
    ) -> lambda_.Function:
        return LedgerflowFunction(
            self,
            self.config,
            spec,
            code=code,
            layer=layer,
            environment=environment,
            statements=statements,
            removal=self.removal,
        ).function

    def _notifier(self, code: lambda_.Code, layer: lambda_.ILayerVersion) -> lambda_.Function:
        environment = {
            NOTIFICATION_TOPIC_ENV: self.notification_topic.topic_arn,
            "POWERTOOLS_SERVICE_NAME": SERVICE,
            "POWERTOOLS_METRICS_NAMESPACE": NAMESPACE,
        }
        statements = [
            iam.PolicyStatement(
                sid="PublishNotifications",
                actions=["sns:Publish"],
                resources=[self.notification_topic.topic_arn],
            ),
            iam.PolicyStatement(
                sid="EncryptForTheNotificationTopic",
                actions=["kms:GenerateDataKey", "kms:Decrypt"],
                resources=[self.key.key_arn],
                conditions={"StringEquals": {"kms:ViaService": f"sns.{self.config.region}.amazonaws.com"}},
            ),
        ]
        function = self._function(ALARM_NOTIFIER, code, layer, environment, statements)
        self.topic.add_subscription(subscriptions.LambdaSubscription(function))
        return function

    def _health_check(self, code: lambda_.Code, layer: lambda_.ILayerVersion) -> lambda_.Function:
        config = self.config
        runs = naming.table_arn(self, config, RUNS)
        statements = [
            iam.PolicyStatement(sid="ProbeRunsTable", actions=["dynamodb:GetItem"], resources=[runs]),
            iam.PolicyStatement(
                sid="QueryOpenRuns",
                actions=["dynamodb:Query"],
                resources=[naming.index_arn(self, config, RUNS, index) for index in RUNS.indexes],
            ),
            iam.PolicyStatement(
                sid="UseTableKeyThroughDynamoDB",
                actions=["kms:Decrypt", "kms:DescribeKey"],
                resources=[self.table_key.key_arn],
                conditions={"StringEquals": {"kms:ViaService": f"dynamodb.{config.region}.amazonaws.com"}},
            ),
        ]
        if config.finance.token_secret_name:
            statements.append(
                iam.PolicyStatement(
                    sid="ReadFinanceToken",
                    actions=["secretsmanager:GetSecretValue"],
                    resources=[naming.secret_arn(self, config.finance.token_secret_name)],
                )
            )
        function = self._function(HEALTH_CHECK, code, layer, function_environment(config, HEALTH_CHECK), statements)
        events.Rule(
            self,
            "HealthCheckSchedule",
            rule_name=config.resource_name("health-check"),
            description="probe the HCM source and the finance API",
            schedule=events.Schedule.rate(Duration.minutes(config.alarms.health_check_minutes)),
            targets=[targets.LambdaFunction(function, retry_attempts=0)],
        )
        return function

    # -- alarms ---------------------------------------------------------------------------------

    def _alarm(self, spec: AlarmSpec) -> cloudwatch.Alarm:
        period = Duration.seconds(spec.period_seconds)
        metrics = [
            cloudwatch.Metric(
                namespace=metric.namespace,
                metric_name=metric.name,
                dimensions_map=dict(metric.dimensions),
                statistic=metric.statistic.value,
                period=period,
            )
            for metric in spec.metrics
        ]
        watched: cloudwatch.IMetric = metrics[0]
        if spec.expression is not None:
            watched = cloudwatch.MathExpression(
                expression=spec.expression,
                using_metrics={f"m{i}": metric for i, metric in enumerate(metrics)},
                label=spec.metric_label,
                period=period,
            )
        alarm = cloudwatch.Alarm(
            self,
            naming.pascal(spec.name.removeprefix(f"{self.config.name_prefix}-")),
            alarm_name=spec.name,
            alarm_description=spec.description(),
            metric=watched,
            threshold=spec.threshold,
            evaluation_periods=spec.evaluation_periods,
            datapoints_to_alarm=spec.datapoints_to_alarm,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=MISSING_DATA[spec.missing_data],
        )
        action = cw_actions.SnsAction(self.notification_topic if spec.bypass_notifier else self.topic)
        alarm.add_alarm_action(action)
        alarm.add_ok_action(action)
        return alarm
