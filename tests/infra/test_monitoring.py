"""The alarm topic (CMK, TLS only) and the alarms publishing to it."""

from __future__ import annotations

from aws_cdk.assertions import Match

from orchestration.functions import FUNCTIONS
from orchestration.infra import naming
from orchestration.infra.monitoring_stack import APPLICATION_METRICS, FUNCTION_METRICS, STATE_MACHINE_METRICS
from tests.infra.conftest import Synthesized
from tests.infra.support import flatten, resources


def test_topic_encrypted_with_a_rotated_cmk_cloudwatch_can_use(synthesized: Synthesized) -> None:
    raw = synthesized.raw("monitoring")
    ((_, topic),) = resources(raw, "AWS::SNS::Topic").items()
    key_id = topic["Properties"]["KmsMasterKeyId"]["Fn::GetAtt"][0]
    key = raw["Resources"][key_id]
    assert key["Properties"]["EnableKeyRotation"] is True
    cloudwatch = [
        s
        for s in key["Properties"]["KeyPolicy"]["Statement"]
        if s.get("Principal") == {"Service": "cloudwatch.amazonaws.com"}
    ]
    assert cloudwatch and {"kms:Decrypt", "kms:GenerateDataKey*"} <= set(cloudwatch[0]["Action"])


def test_topic_policy_denies_publishing_without_tls(synthesized: Synthesized) -> None:
    template = synthesized.template("monitoring")
    template.has_resource_properties(
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


def test_topic_policy_lets_this_account_alarms_publish(synthesized: Synthesized) -> None:
    raw = synthesized.raw("monitoring")
    ((_, policy),) = resources(raw, "AWS::SNS::TopicPolicy").items()
    (allow,) = [s for s in policy["Properties"]["PolicyDocument"]["Statement"] if s["Effect"] == "Allow"]
    assert allow["Principal"] == {"Service": "cloudwatch.amazonaws.com"} and allow["Action"] == "sns:Publish"
    source = flatten(allow["Condition"]["ArnLike"]["aws:SourceArn"])
    assert source.endswith(f":cloudwatch:{synthesized.config.region}:${{AWS::AccountId}}:alarm:*")


def test_subscriptions_from_config(synthesized: Synthesized) -> None:
    notifications = synthesized.config.notifications
    subs = resources(synthesized.raw("monitoring"), "AWS::SNS::Subscription").values()
    endpoints = sorted((s["Properties"]["Protocol"], s["Properties"]["Endpoint"]) for s in subs)
    assert endpoints == sorted(
        [("email", e) for e in notifications.email] + [("sms", n) for n in notifications.sms]
    )


def test_alarms_cover_state_machines_functions_and_silent_failures(synthesized: Synthesized) -> None:
    config = synthesized.config
    raw = synthesized.raw("monitoring")
    (topic_id,) = resources(raw, "AWS::SNS::Topic")
    alarms = list(resources(raw, "AWS::CloudWatch::Alarm").values())
    seen = set()
    for alarm in alarms:
        props = alarm["Properties"]
        assert props["AlarmActions"] == [{"Ref": topic_id}] and props["OKActions"] == [{"Ref": topic_id}]
        dimensions = {d["Name"]: flatten(d["Value"]) for d in props.get("Dimensions", [])}
        seen.add((props["Namespace"], props["MetricName"], tuple(sorted(dimensions.items()))))
    expected_lambda = {
        ("AWS/Lambda", metric, (("FunctionName", naming.function_name(config, spec)),))
        for spec in FUNCTIONS
        for metric in FUNCTION_METRICS
    }
    assert expected_lambda <= seen
    states = {(ns, metric, dims[0][1].rsplit(":", 1)[1]) for ns, metric, dims in seen if ns == "AWS/States"}
    assert states == {
        ("AWS/States", metric, config.resource_name(f"process-{profile}"))
        for profile in config.used_profiles()
        for metric in STATE_MACHINE_METRICS
    }
    assert "ExecutionThrottled" in STATE_MACHINE_METRICS  # singular: the real CloudWatch metric name
    assert {m for ns, m, _ in seen if ns == naming.METRICS_NAMESPACE} == {m.name for m in APPLICATION_METRICS}
    assert len(alarms) == len(seen)
