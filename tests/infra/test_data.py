"""The tables: built from ALL_TABLES, on demand, encrypted with a rotated CMK, PITR, TTL, GSIs."""

from __future__ import annotations

from typing import Any

from aws_cdk import App
from aws_cdk.assertions import Match, Template

from orchestration.infra.data_stack import DataStack
from orchestration.spec.config import EnvironmentConfig
from orchestration.spec.tables import ALL_TABLES, RUNS
from tests.fixtures.synth import Synthesized
from tests.infra.support import resources


def tables(raw: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {t["Properties"]["TableName"]: t for t in resources(raw, "AWS::DynamoDB::Table").values()}


def test_tables_follow_the_specs(synthesized: Synthesized) -> None:
    config = synthesized.config
    built = tables(synthesized.raw("data"))
    assert sorted(built) == sorted(spec.table_name(config) for spec in ALL_TABLES)
    for spec in ALL_TABLES:
        props = built[spec.table_name(config)]["Properties"]
        keys = {k["KeyType"]: k["AttributeName"] for k in props["KeySchema"]}
        assert keys == {"HASH": spec.partition_key} | ({"RANGE": spec.sort_key} if spec.sort_key else {})
        assert {a["AttributeName"] for a in props["AttributeDefinitions"]} == set(spec.key_attributes())
        assert props["BillingMode"] == "PAY_PER_REQUEST"
        if spec.ttl_attribute:
            assert props["TimeToLiveSpecification"] == {"AttributeName": spec.ttl_attribute, "Enabled": True}
        else:
            assert "TimeToLiveSpecification" not in props
        if spec.stream_view:
            assert props["StreamSpecification"] == {"StreamViewType": spec.stream_view}
        else:
            assert "StreamSpecification" not in props
        indexes = {i["IndexName"]: i for i in props.get("GlobalSecondaryIndexes", [])}
        assert sorted(indexes) == sorted(i.name for i in spec.indexes)
        for index in spec.indexes:
            schema = {k["KeyType"]: k["AttributeName"] for k in indexes[index.name]["KeySchema"]}
            assert schema == {"HASH": index.partition_key} | ({"RANGE": index.sort_key} if index.sort_key else {})


def test_the_runs_stream_is_published_to_the_trigger_only(synthesized: Synthesized) -> None:
    """The stream ARN leaves the data stack as one output, read (Fn::GetStackOutput) by the run trigger alone."""
    data = synthesized.raw("data")
    (runs,) = [
        logical_id
        for logical_id, table in resources(data, "AWS::DynamoDB::Table").items()
        if table["Properties"]["TableName"] == RUNS.table_name(synthesized.config)
    ]
    outputs = {name: output["Value"] for name, output in data.get("Outputs", {}).items()}
    (stream_output,) = [name for name, value in outputs.items() if value == {"Fn::GetAtt": [runs, "StreamArn"]}]
    reference = {"StackName": synthesized.config.resource_name("data"), "OutputName": stream_output}
    users = [
        (logical_id, resource["Type"])
        for logical_id, resource in synthesized.raw("orchestration")["Resources"].items()
        if _reads_output(resource, reference)
    ]
    assert sorted(kind for _, kind in users) == ["AWS::IAM::Policy", "AWS::Lambda::EventSourceMapping"]
    assert all(logical_id.startswith("StartRun") for logical_id, _ in users)


def test_tables_encrypted_with_a_rotated_cmk_and_pitr(synthesized: Synthesized) -> None:
    template = synthesized.template("data")
    (key_id,) = template.find_resources("AWS::KMS::Key", {"Properties": {"EnableKeyRotation": True}})
    template.all_resources_properties(
        "AWS::DynamoDB::Table",
        {
            "SSESpecification": {
                "SSEEnabled": True,
                "SSEType": "KMS",
                "KMSMasterKeyId": {"Fn::GetAtt": [key_id, "Arn"]},
            },
            "PointInTimeRecoverySpecification": Match.object_like({"PointInTimeRecoveryEnabled": True}),
        },
    )


def test_dev_tables_are_destroyed_with_the_stack(synthesized: Synthesized) -> None:
    assert not synthesized.config.retain_data
    for table in resources(synthesized.raw("data"), "AWS::DynamoDB::Table").values():
        assert table["DeletionPolicy"] == "Delete"
        assert not table["Properties"].get("DeletionProtectionEnabled", False)


def test_retain_data_keeps_tables_and_protects_them(dev_config: EnvironmentConfig) -> None:
    config = dev_config.model_copy(update={"retain_data": True})
    stack = DataStack(App(), "retained", config=config)
    raw = dict(Template.from_stack(stack).to_json())
    for table in resources(raw, "AWS::DynamoDB::Table").values():
        assert (table["DeletionPolicy"], table["UpdateReplacePolicy"]) == ("Retain", "Retain")
        assert table["Properties"]["DeletionProtectionEnabled"] is True
    for key in resources(raw, "AWS::KMS::Key").values():
        assert key["DeletionPolicy"] == "Retain"


def _reads_output(value: Any, reference: dict[str, str]) -> bool:
    """Whether a template value reads the stack output ``reference`` names (anywhere inside it)."""
    if isinstance(value, dict):
        read = value.get("Fn::GetStackOutput")
        if isinstance(read, dict) and all(read.get(key) == wanted for key, wanted in reference.items()):
            return True
        return any(_reads_output(inner, reference) for inner in value.values())
    if isinstance(value, list):
        return any(_reads_output(inner, reference) for inner in value)
    return False
