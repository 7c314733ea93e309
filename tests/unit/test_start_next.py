"""StartNext: the continuation of a long run, started once (moto, the finance simulator)."""

from __future__ import annotations

import json

import boto3

from lambdas import (
    start_next,
)
from lambdas.models import RunInput
from orchestration.engine.lambda_runtime import LocalContext
from tests.fixtures.aws import Aws
from tests.unit.handler_calls import (
    PROCESS,
    RUN_ID,
    run_state,
)


def test_start_next_starts_the_continuation_once(aws: Aws, context: LocalContext) -> None:
    sfn = boto3.client("stepfunctions")
    arn = sfn.create_state_machine(
        name="ledgerflow-local-process-standard",
        definition=json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}}),
        roleArn="arn:aws:iam::123456789012:role/unit",
    )["stateMachineArn"]
    state = run_state(cursor="opaque-cursor", sequence=2, batches=8, gate_open=True)
    event = {"state": state, "state_machine_arn": arn}

    first = start_next.handler(event, context)
    second = start_next.handler(event, context)

    assert first == second == {"next_execution": f"{RUN_ID}-3"}
    executions = sfn.list_executions(stateMachineArn=arn)["executions"]
    assert [e["name"] for e in executions] == [f"{RUN_ID}-3"]
    started = sfn.describe_execution(executionArn=executions[0]["executionArn"])
    assert RunInput.model_validate_json(started["input"]) == RunInput(
        process=PROCESS, run_id=RUN_ID, cursor="opaque-cursor", sequence=3
    )

    # Once the continuation has finished, a late retry of StartNext is refused and tolerated.
    sfn.stop_execution(executionArn=executions[0]["executionArn"])
    assert start_next.handler(event, context) == {"next_execution": f"{RUN_ID}-3"}
    assert len(sfn.list_executions(stateMachineArn=arn)["executions"]) == 1
