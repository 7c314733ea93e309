"""WaitForGate: a paused run's task token on its run record (moto, the finance simulator)."""

from __future__ import annotations

from lambdas import (
    wait_for_gate,
)
from orchestration.engine.lambda_runtime import LocalContext
from tests.fixtures.aws import Aws
from tests.unit.handler_calls import (
    PROCESS,
    RUN_ID,
    run_state,
)


def test_wait_for_gate_stores_the_token_on_the_run_record(aws: Aws, context: LocalContext) -> None:
    aws.seed(PROCESS, RUN_ID, 1)

    out = wait_for_gate.handler({"state": run_state(pauses=1), "token": "task-token-123"}, context)

    assert out == {"waiting": True}
    run = aws.run(RUN_ID)
    assert run["pause_token"] == "task-token-123"
    assert run["status"] == "paused"
    assert run["process"] == PROCESS
