"""The run trigger on AWS: runs-table stream -> filtered event source mapping -> start-run, DLQ on failure."""

from __future__ import annotations

import json
from typing import Any

from lambdas.start_run import NEW_PENDING_RUN_FILTER
from orchestration.infra.orchestration_stack import STREAM_READ_ACTIONS, TRIGGER_RETRY_ATTEMPTS
from orchestration.spec.functions import FUNCTIONS
from orchestration.spec.names import function_name, state_machine_name
from tests.fixtures.synth import Synthesized
from tests.infra.support import data_output, flatten, function_roles, resources, role_grants

START_RUN = next(spec for spec in FUNCTIONS if spec.name == "start-run")


def only(template: dict[str, Any], kind: str) -> tuple[str, dict[str, Any]]:
    (item,) = resources(template, kind).items()
    return item


def test_one_filtered_mapping_from_the_runs_stream_to_start_run(synthesized: Synthesized) -> None:
    raw = synthesized.raw("orchestration")
    _, mapping = only(raw, "AWS::Lambda::EventSourceMapping")
    props = mapping["Properties"]
    functions = resources(raw, "AWS::Lambda::Function")
    target = functions[props["FunctionName"]["Ref"]]["Properties"]["FunctionName"]
    assert target == function_name(synthesized.config, START_RUN)
    assert "RunsTable" in flatten(props["EventSourceArn"]) and "StreamArn" in flatten(props["EventSourceArn"])
    (criteria,) = props["FilterCriteria"]["Filters"]
    assert json.loads(criteria["Pattern"]) == NEW_PENDING_RUN_FILTER
    assert json.loads(criteria["Pattern"])["eventName"] == ["INSERT"], "only new run items start a run"


def test_mapping_retries_a_bounded_number_of_times_bisects_and_reports_items(synthesized: Synthesized) -> None:
    template = synthesized.template("orchestration")
    (queue_id,) = template.find_resources("AWS::SQS::Queue")
    template.has_resource_properties(
        "AWS::Lambda::EventSourceMapping",
        {
            "BisectBatchOnFunctionError": True,
            "MaximumRetryAttempts": TRIGGER_RETRY_ATTEMPTS,
            "FunctionResponseTypes": ["ReportBatchItemFailures"],
            "StartingPosition": "TRIM_HORIZON",
            "DestinationConfig": {"OnFailure": {"Destination": {"Fn::GetAtt": [queue_id, "Arn"]}}},
        },
    )
    assert 0 < TRIGGER_RETRY_ATTEMPTS <= 10


def test_dead_letter_queue_is_encrypted_and_refuses_plain_http(synthesized: Synthesized) -> None:
    raw = synthesized.raw("orchestration")
    queue_id, queue = only(raw, "AWS::SQS::Queue")
    props = queue["Properties"]
    assert props["SqsManagedSseEnabled"] is True or "KmsMasterKeyId" in props
    assert props["QueueName"] == synthesized.config.resource_name("start-run-dlq")
    assert props["MessageRetentionPeriod"] == 14 * 24 * 3600, "the longest SQS keeps a message"
    _, policy = only(raw, "AWS::SQS::QueuePolicy")
    assert policy["Properties"]["Queues"] == [{"Ref": queue_id}]
    (statement,) = policy["Properties"]["PolicyDocument"]["Statement"]
    assert statement["Effect"] == "Deny"
    assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_start_run_role_allows_only_start_execution_stream_read_and_its_dlq(synthesized: Synthesized) -> None:
    config = synthesized.config
    raw = synthesized.raw("orchestration")
    grants = role_grants(raw, function_roles(raw)[function_name(config, START_RUN)])
    by_service: dict[str, set[tuple[str, str]]] = {}
    for grant in grants:
        by_service.setdefault(grant.action.split(":")[0], set()).add((grant.action, grant.resource))

    machines = {
        f"arn:aws:states:{config.region}:${{AWS::AccountId}}:stateMachine:{state_machine_name(config, profile)}"
        for profile in config.used_profiles()
    }
    assert by_service["states"] == {("states:StartExecution", arn) for arn in machines}

    (stream,) = {resource for _, resource in by_service["dynamodb"]}
    assert stream.startswith(data_output(config)) and "RunsTable" in stream and "StreamArn" in stream
    (_, mapping) = only(raw, "AWS::Lambda::EventSourceMapping")
    assert stream == flatten(mapping["Properties"]["EventSourceArn"]), "read exactly the stream it consumes"
    assert {action for action, _ in by_service["dynamodb"]} == set(STREAM_READ_ACTIONS)

    queue_id, _ = only(raw, "AWS::SQS::Queue")
    assert {resource for _, resource in by_service["sqs"]} == {f"${{{queue_id}.Arn}}"}
    assert "sqs:SendMessage" in {action for action, _ in by_service["sqs"]}
    assert not {action for action, _ in by_service["sqs"]} & {"sqs:ReceiveMessage", "sqs:DeleteMessage"}

    assert {action for action, _ in by_service["kms"]} == {"kms:Decrypt", "kms:DescribeKey"}
    assert set(by_service) == {"states", "dynamodb", "sqs", "kms", "logs", "xray"}
    assert not {g for g in grants if g.action.startswith("dynamodb:") and ":table/" in g.resource}, (
        "the trigger reads the stream, never the table"
    )


def test_start_run_is_not_invoked_by_any_state_machine(synthesized: Synthesized) -> None:
    raw = synthesized.raw("orchestration")
    start_run_id = next(
        logical_id
        for logical_id, fn in resources(raw, "AWS::Lambda::Function").items()
        if fn["Properties"]["FunctionName"] == function_name(synthesized.config, START_RUN)
    )
    for machine in resources(raw, "AWS::StepFunctions::StateMachine").values():
        assert start_run_id not in json.dumps(machine["Properties"]["DefinitionSubstitutions"])
        role = machine["Properties"]["RoleArn"]["Fn::GetAtt"][0]
        assert f"${{{start_run_id}.Arn}}" not in {g.resource for g in role_grants(raw, role)}
