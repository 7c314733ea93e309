"""The monitoring stack: the alarm catalog as CloudWatch alarms, the topics, the health check and the notifier."""

from __future__ import annotations

from typing import Any

from aws_cdk.assertions import Match

from orchestration.engine.local import LocalEngine
from orchestration.spec.alarms import alarm_catalog
from tests.fixtures.synth import Synthesized
from tests.infra.support import flatten, resources, role_grants

ACCOUNT_TOKEN = "${AWS::AccountId}"


def _dimensions(raw: list[dict[str, Any]], account: str) -> tuple[tuple[str, str], ...]:
    return tuple(
        sorted(
            (d["Name"], flatten(d["Value"]).replace(account, "<account>").replace("${AWS::Partition}", "aws"))
            for d in raw
        )
    )


def template_alarms(raw: dict[str, Any]) -> dict[str, tuple[Any, ...]]:
    """Alarm name -> (metrics with dimensions and statistic, expression, threshold, period, M, N, missing data)."""
    found = {}
    for alarm in resources(raw, "AWS::CloudWatch::Alarm").values():
        props = alarm["Properties"]
        if "Metrics" in props:
            metrics = sorted(
                (
                    m["Id"],
                    m["MetricStat"]["Metric"]["Namespace"],
                    m["MetricStat"]["Metric"]["MetricName"],
                    _dimensions(m["MetricStat"]["Metric"].get("Dimensions", []), ACCOUNT_TOKEN),
                    m["MetricStat"]["Stat"],
                    m["MetricStat"]["Period"],
                )
                for m in props["Metrics"]
                if "MetricStat" in m
            )
            (expression,) = [m["Expression"] for m in props["Metrics"] if "Expression" in m]
        else:
            metrics = [
                (
                    "m0",
                    props["Namespace"],
                    props["MetricName"],
                    _dimensions(props.get("Dimensions", []), ACCOUNT_TOKEN),
                    props["Statistic"],
                    props["Period"],
                )
            ]
            expression = None
        found[props["AlarmName"]] = (
            tuple(metrics),
            expression,
            float(props["Threshold"]),
            props["EvaluationPeriods"],
            props["DatapointsToAlarm"],
            props["ComparisonOperator"],
            props["TreatMissingData"],
        )
    return found


def evaluated_alarms(monitor_alarms: list[Any], account: str) -> dict[str, tuple[Any, ...]]:
    found = {}
    for spec in monitor_alarms:
        metrics = tuple(
            sorted(
                (
                    f"m{i}",
                    m.namespace,
                    m.name,
                    tuple(sorted((k, v.replace(account, "<account>")) for k, v in m.dimensions)),
                    m.statistic.value,
                    spec.period_seconds,
                )
                for i, m in enumerate(spec.metrics)
            )
        )
        found[spec.name] = (
            metrics,
            spec.expression,
            float(spec.threshold),
            spec.evaluation_periods,
            spec.datapoints_to_alarm,
            "GreaterThanOrEqualToThreshold",
            spec.missing_data.value,
        )
    return found


def test_synthesized_alarms_are_the_alarms_the_local_engine_evaluates(synthesized: Synthesized) -> None:
    config = synthesized.config
    with LocalEngine.start(config, "http://127.0.0.1:9") as engine:
        monitor = engine.monitor()
        local = evaluated_alarms(monitor.alarms, monitor.account)
    template = template_alarms(synthesized.raw("monitoring"))
    assert template == local
    assert len(template) == len(alarm_catalog(config, account="1"))


def test_every_alarm_has_alarm_and_ok_actions_and_a_runbook(synthesized: Synthesized) -> None:
    raw = synthesized.raw("monitoring")
    topics = {t["Properties"]["TopicName"]: logical for logical, t in resources(raw, "AWS::SNS::Topic").items()}
    alarm_topic = topics[synthesized.config.resource_name("alarms")]
    notification_topic = topics[synthesized.config.resource_name("notifications")]
    for alarm in resources(raw, "AWS::CloudWatch::Alarm").values():
        props = alarm["Properties"]
        direct = "alarm-notifier" in props["AlarmName"]
        expected = [{"Ref": notification_topic if direct else alarm_topic}]
        assert props["AlarmActions"] == expected and props["OKActions"] == expected, props["AlarmName"]
        assert "\nRunbook: " in props["AlarmDescription"] and "\nScope: " in props["AlarmDescription"]


def test_topics_encrypted_with_a_rotated_cmk_cloudwatch_can_use(synthesized: Synthesized) -> None:
    raw = synthesized.raw("monitoring")
    topics = resources(raw, "AWS::SNS::Topic")
    assert len(topics) == 2
    key_ids = {topic["Properties"]["KmsMasterKeyId"]["Fn::GetAtt"][0] for topic in topics.values()}
    (key_id,) = key_ids
    key = raw["Resources"][key_id]
    assert key["Properties"]["EnableKeyRotation"] is True
    cloudwatch = [
        s
        for s in key["Properties"]["KeyPolicy"]["Statement"]
        if s.get("Principal") == {"Service": "cloudwatch.amazonaws.com"}
    ]
    assert cloudwatch and {"kms:Decrypt", "kms:GenerateDataKey*"} <= set(cloudwatch[0]["Action"])


def test_topic_policies_deny_publishing_without_tls_and_let_this_account_alarms_publish(
    synthesized: Synthesized,
) -> None:
    template = synthesized.template("monitoring")
    template.resource_count_is("AWS::SNS::TopicPolicy", 2)
    template.all_resources_properties(
        "AWS::SNS::TopicPolicy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Effect": "Deny",
                                "Action": "sns:Publish",
                                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                            }
                        )
                    ]
                )
            }
        },
    )
    for policy in resources(synthesized.raw("monitoring"), "AWS::SNS::TopicPolicy").values():
        (allow,) = [s for s in policy["Properties"]["PolicyDocument"]["Statement"] if s["Effect"] == "Allow"]
        assert allow["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
        source = flatten(allow["Condition"]["ArnLike"]["aws:SourceArn"])
        assert source.endswith(f":cloudwatch:{synthesized.config.region}:${{AWS::AccountId}}:alarm:*")


def test_people_subscribe_to_the_notification_topic_and_the_notifier_to_the_alarm_topic(
    synthesized: Synthesized,
) -> None:
    raw = synthesized.raw("monitoring")
    notifications = synthesized.config.notifications
    topics = {logical: t["Properties"]["TopicName"] for logical, t in resources(raw, "AWS::SNS::Topic").items()}
    subs = sorted(
        (topics[s["Properties"]["TopicArn"]["Ref"]], s["Properties"]["Protocol"], flatten(s["Properties"]["Endpoint"]))
        for s in resources(raw, "AWS::SNS::Subscription").values()
    )
    people = [(p, e) for topic, p, e in subs if topic.endswith("-notifications")]
    assert sorted(people) == sorted(
        [("email", e) for e in notifications.email] + [("sms", n) for n in notifications.sms]
    )
    (notifier,) = [(p, e) for topic, p, e in subs if topic.endswith("-alarms")]
    assert notifier[0] == "lambda" and "AlarmNotifier" in notifier[1]


def test_monitoring_lambdas_have_their_own_least_privilege_roles(synthesized: Synthesized) -> None:
    raw = synthesized.raw("monitoring")
    config = synthesized.config
    roles = {
        fn["Properties"]["FunctionName"]: fn["Properties"]["Role"]["Fn::GetAtt"][0]
        for fn in resources(raw, "AWS::Lambda::Function").values()
    }
    assert set(roles) == {config.resource_name("health-check"), config.resource_name("alarm-notifier")}
    notifier = {g.action for g in role_grants(raw, roles[config.resource_name("alarm-notifier")])}
    assert notifier == {
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        "sns:Publish",
        "kms:GenerateDataKey",
        "kms:Decrypt",
        "xray:PutTraceSegments",
        "xray:PutTelemetryRecords",
    }
    health = role_grants(raw, roles[config.resource_name("health-check")])
    assert {g.action for g in health if g.action.startswith("dynamodb:")} == {"dynamodb:GetItem", "dynamodb:Query"}
    assert all(g.resource.endswith("-runs") for g in health if g.action == "dynamodb:GetItem")
    assert "secretsmanager:GetSecretValue" in {g.action for g in health}
    (rule,) = resources(raw, "AWS::Events::Rule").values()
    assert rule["Properties"]["ScheduleExpression"] == f"rate({config.alarms.health_check_minutes} minute)"
