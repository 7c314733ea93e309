"""The run trigger: records read from the runs table's (moto) stream, delivered the way Lambda does."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from lambdas import start_run
from lambdas.models import RunInput, RunStatus
from lambdas.settings import PROCESSES_FILE_ENV, STATE_MACHINE_ARNS_ENV, UnroutableProcess, state_machine_arn
from orchestration.engine.lambda_runtime import LocalContext
from orchestration.infra.assets import processes_json
from orchestration.spec.config import EnvironmentConfig, load_config
from orchestration.spec.names import state_machine_name
from tests.fixtures.aws import Aws

PATIENT_PROCESS = "payroll_journal"  # retry profile "patient" in config/dev.yaml
STANDARD_PROCESS = "expense_report"  # retry profile "standard"
TRIVIAL_DEFINITION = json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}})


@pytest.fixture(scope="module")
def dev() -> EnvironmentConfig:
    """Two retry profiles, so routing a process to its profile's state machine is observable."""
    return load_config("dev")


@pytest.fixture
def machines(aws: Aws, dev: EnvironmentConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """One state machine per profile and the environment the CDK stack gives the function:
    the bundled process settings (with retry profiles) and ``STATE_MACHINE_ARNS``."""
    sfn = boto3.client("stepfunctions")
    arns = {
        profile: sfn.create_state_machine(
            name=state_machine_name(dev, profile),
            definition=TRIVIAL_DEFINITION,
            roleArn="arn:aws:iam::123456789012:role/unit",
        )["stateMachineArn"]
        for profile in dev.used_profiles()
    }
    bundled = tmp_path / "bundled-processes.json"
    bundled.write_text(processes_json(dev))
    monkeypatch.setenv(PROCESSES_FILE_ENV, str(bundled))
    monkeypatch.setenv(STATE_MACHINE_ARNS_ENV, json.dumps(arns))
    return arns


@pytest.fixture
def handler_logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """Captures the handlers' logger, which Powertools does not propagate to the root logger."""
    handler_logger = logging.getLogger("ledgerflow")
    handler_logger.addHandler(caplog.handler)
    try:
        yield caplog
    finally:
        handler_logger.removeHandler(caplog.handler)


def failure_reasons(logs: pytest.LogCaptureFixture) -> dict[str, str]:
    """``{sequence number: reason}`` of every record the handler reported as not started."""
    return {
        r.__dict__["sequence_number"]: r.__dict__["reason"] for r in logs.records if r.getMessage() == "run not started"
    }


def stream_event(aws: Aws) -> dict[str, Any]:
    """Every record on the runs table's stream so far, shaped as the Lambda event source delivers them."""
    stream_arn = aws.dynamodb.describe_table(TableName=aws.runs_table)["Table"]["LatestStreamArn"]
    # moto 5.2.5 serves the regional endpoint only, not botocore's account-based streams-ddb one.
    streams = boto3.client("dynamodbstreams", config=Config(account_id_endpoint_mode="disabled"))
    records = []
    for shard in streams.describe_stream(StreamArn=stream_arn)["StreamDescription"]["Shards"]:
        iterator = streams.get_shard_iterator(
            StreamArn=stream_arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        records += streams.get_records(ShardIterator=iterator)["Records"]
    for record in records:
        change = record["dynamodb"]
        change["ApproximateCreationDateTime"] = change["ApproximateCreationDateTime"].timestamp()
        record["eventSourceARN"] = stream_arn
    return {"Records": records}


def sequence_numbers(event: dict[str, Any], run_id: str) -> list[str]:
    return [r["dynamodb"]["SequenceNumber"] for r in event["Records"] if r["dynamodb"]["Keys"]["run_id"]["S"] == run_id]


def executions(arn: str) -> dict[str, dict[str, Any]]:
    """Executions of a state machine by name, with their input."""
    sfn = boto3.client("stepfunctions")
    found = {}
    for execution in sfn.list_executions(stateMachineArn=arn)["executions"]:
        described = sfn.describe_execution(executionArn=execution["executionArn"])
        found[execution["name"]] = {"arn": execution["executionArn"], "input": json.loads(described["input"])}
    return found


def put_run(aws: Aws, **item: Any) -> None:
    aws.resource.Table(aws.runs_table).put_item(
        Item={"status": RunStatus.PENDING.value, "transaction_count": 1, **item}
    )


def test_a_new_run_starts_its_first_execution_on_its_profiles_state_machine(
    aws: Aws, machines: dict[str, str], context: LocalContext
) -> None:
    aws.seed(PATIENT_PROCESS, "payroll-2026-11", 3)
    aws.seed(STANDARD_PROCESS, "expenses-2026-11", 2)

    assert start_run.handler(stream_event(aws), context) == {"batchItemFailures": []}

    patient, standard = executions(machines["patient"]), executions(machines["standard"])
    assert list(patient) == ["payroll-2026-11-0"]
    assert list(standard) == ["expenses-2026-11-0"]
    assert RunInput.model_validate(patient["payroll-2026-11-0"]["input"]) == RunInput(
        process=PATIENT_PROCESS, run_id="payroll-2026-11", cursor=None, sequence=0
    )
    assert RunInput.model_validate(standard["expenses-2026-11-0"]["input"]) == RunInput(
        process=STANDARD_PROCESS, run_id="expenses-2026-11"
    )


def test_redelivered_records_and_duplicate_hcm_entries_start_nothing_more(
    aws: Aws, machines: dict[str, str], context: LocalContext
) -> None:
    aws.seed(STANDARD_PROCESS, "expenses-dup", 2)
    first = stream_event(aws)
    assert start_run.handler(first, context) == {"batchItemFailures": []}

    # The same batch again (a retried invocation), while the execution is still running.
    assert start_run.handler(first, context) == {"batchItemFailures": []}
    # The HCM writes the same run again (MODIFY), then deletes and re-creates it (REMOVE, INSERT).
    put_run(aws, run_id="expenses-dup", process=STANDARD_PROCESS)
    aws.resource.Table(aws.runs_table).delete_item(Key={"run_id": "expenses-dup"})
    put_run(aws, run_id="expenses-dup", process=STANDARD_PROCESS)
    everything = stream_event(aws)
    assert [r["eventName"] for r in everything["Records"]] == ["INSERT", "MODIFY", "REMOVE", "INSERT"]
    assert start_run.handler(everything, context) == {"batchItemFailures": []}
    # And once the execution has ended, Step Functions refuses the name: still a success, still one.
    (execution,) = executions(machines["standard"]).values()
    boto3.client("stepfunctions").stop_execution(executionArn=execution["arn"])
    assert start_run.handler(everything, context) == {"batchItemFailures": []}

    assert list(executions(machines["standard"])) == ["expenses-dup-0"]
    assert executions(machines["patient"]) == {}


def test_a_malformed_record_is_a_batch_item_failure_naming_the_field_and_the_others_start(
    aws: Aws, machines: dict[str, str], context: LocalContext, handler_logs: pytest.LogCaptureFixture
) -> None:
    aws.seed(STANDARD_PROCESS, "expenses-before", 1)
    put_run(aws, run_id="no-process")
    put_run(aws, run_id="bad id with spaces", process=STANDARD_PROCESS)
    aws.seed(PATIENT_PROCESS, "payroll-after", 1)
    event = stream_event(aws)

    response = start_run.handler(event, context)

    missing, bad_id = sequence_numbers(event, "no-process"), sequence_numbers(event, "bad id with spaces")
    assert response == {"batchItemFailures": [{"itemIdentifier": n} for n in missing + bad_id]}
    assert list(executions(machines["standard"])) == ["expenses-before-0"]
    assert list(executions(machines["patient"])) == ["payroll-after-0"]
    reasons = failure_reasons(handler_logs)
    assert set(reasons) == set(missing + bad_id)
    assert "dynamodb.NewImage.process" in reasons[missing[0]] and "Field required" in reasons[missing[0]]
    assert "dynamodb.NewImage.run_id" in reasons[bad_id[0]]


def test_an_unknown_process_fails_its_record_only(
    aws: Aws, machines: dict[str, str], context: LocalContext, handler_logs: pytest.LogCaptureFixture
) -> None:
    put_run(aws, run_id="stranger-1", process="not_configured")
    aws.seed(STANDARD_PROCESS, "expenses-ok", 1)
    event = stream_event(aws)

    response = start_run.handler(event, context)

    assert response == {"batchItemFailures": [{"itemIdentifier": n} for n in sequence_numbers(event, "stranger-1")]}
    assert list(executions(machines["standard"])) == ["expenses-ok-0"]
    (reason,) = failure_reasons(handler_logs).values()
    assert "unknown process 'not_configured'" in reason


def test_a_batch_of_only_failures_is_still_reported_item_by_item(
    aws: Aws, machines: dict[str, str], context: LocalContext
) -> None:
    put_run(aws, run_id="no-process-a")
    put_run(aws, run_id="no-process-b")
    event = stream_event(aws)
    expected = sequence_numbers(event, "no-process-a") + sequence_numbers(event, "no-process-b")
    assert start_run.handler(event, context) == {"batchItemFailures": [{"itemIdentifier": n} for n in expected]}


def test_a_run_inserted_in_another_status_is_not_started(
    aws: Aws, machines: dict[str, str], context: LocalContext
) -> None:
    put_run(aws, run_id="already-done", process=STANDARD_PROCESS, status="completed")
    assert start_run.handler(stream_event(aws), context) == {"batchItemFailures": []}
    assert all(executions(arn) == {} for arn in machines.values())


def matches(pattern: dict[str, Any], record: dict[str, Any]) -> bool:
    """Lambda event filtering for the pattern subset the trigger uses: nested keys, lists of exact values."""
    for key, rule in pattern.items():
        value = record.get(key)
        if isinstance(rule, list):
            if value not in rule:
                return False
        elif not isinstance(value, dict) or not matches(rule, value):
            return False
    return True


def test_the_event_filter_passes_exactly_the_records_the_function_starts(aws: Aws, machines: dict[str, str]) -> None:
    aws.seed(STANDARD_PROCESS, "filtered-run", 1)
    put_run(aws, run_id="filtered-run", process=STANDARD_PROCESS, status="running")
    aws.resource.Table(aws.runs_table).delete_item(Key={"run_id": "filtered-run"})
    put_run(aws, run_id="inserted-done", process=STANDARD_PROCESS, status="completed")
    records = stream_event(aws)["Records"]
    assert [r["eventName"] for r in records] == ["INSERT", "MODIFY", "REMOVE", "INSERT"]

    passed = [matches(start_run.NEW_PENDING_RUN_FILTER, r) for r in records]
    started = [start_run.start_recorded_run(start_run.RunRecord.model_validate(r)) is not None for r in records]

    assert passed == started == [True, False, False, False]


def test_routing_needs_the_retry_profile_in_the_bundled_settings(
    aws: Aws, machines: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert state_machine_arn(PATIENT_PROCESS) == machines["patient"]
    monkeypatch.setenv(STATE_MACHINE_ARNS_ENV, json.dumps({"standard": machines["standard"]}))
    with pytest.raises(UnroutableProcess, match="retry profile 'patient'"):
        state_machine_arn(PATIENT_PROCESS)
    # Settings without profiles cannot route: the error says which process.
    unrouted = tmp_path / "unrouted.json"
    unrouted.write_text(
        json.dumps({name: s.model_dump(exclude={"retry_profile"}) for name, s in aws.config.all_settings().items()})
    )
    monkeypatch.setenv(PROCESSES_FILE_ENV, str(unrouted))
    with pytest.raises(UnroutableProcess, match=f"process '{STANDARD_PROCESS}' has no retry_profile"):
        state_machine_arn(STANDARD_PROCESS)


def test_the_plain_function_returns_the_same_execution_every_time(aws: Aws, machines: dict[str, str]) -> None:
    sfn = boto3.client("stepfunctions")
    first = start_run.start_first_execution(sfn, machines["standard"], STANDARD_PROCESS, "plain-run")
    assert start_run.start_first_execution(sfn, machines["standard"], STANDARD_PROCESS, "plain-run") == first
    sfn.stop_execution(executionArn=first)
    assert start_run.start_first_execution(sfn, machines["standard"], STANDARD_PROCESS, "plain-run") == first
    assert [e["arn"] for e in executions(machines["standard"]).values()] == [first]
