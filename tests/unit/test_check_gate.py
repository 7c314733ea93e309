"""CheckGate: the gate check before every batch (moto, the finance simulator)."""

from __future__ import annotations

import pytest

from lambdas import (
    check_gate,
    wait_for_gate,
)
from lambdas.errors import GateClosedTooLong
from lambdas.models import TransactionStatus
from orchestration.engine.lambda_runtime import LocalContext
from tests.fixtures.aws import Aws
from tests.unit.handler_calls import (
    PROCESS,
    RUN_ID,
    gates,
    run_state,
)


def test_check_gate_open_attaches_settings_and_resets_pauses(aws: Aws, context: LocalContext) -> None:
    aws.seed(PROCESS, RUN_ID, 1)
    wait_for_gate.handler({"state": run_state(pauses=2), "token": "tok-1"}, context)
    gates(aws).set(PROCESS, open_=True, reason="period open", who="tester")

    out = check_gate.handler(run_state(pauses=2), context)

    assert out["gate_open"] is True
    assert out["pauses"] == 0
    assert out["settings"] == aws.config.process_settings(PROCESS).model_dump()
    run = aws.run(RUN_ID)
    assert run["status"] == "running"
    assert "pause_token" not in run


def test_check_gate_without_gate_row_fails_closed(aws: Aws, context: LocalContext) -> None:
    aws.seed(PROCESS, RUN_ID, 1)

    out = check_gate.handler(run_state(pauses=3), context)

    assert out["gate_open"] is False
    assert out["pauses"] == 4
    assert out["settings"]["process"] == PROCESS
    run = aws.run(RUN_ID)
    assert run["status"] == "paused"
    assert "no gate row" in run["pause_reason"]
    assert run["paused_since"]


def test_check_gate_closed_row_pauses_with_its_reason(aws: Aws, context: LocalContext) -> None:
    aws.seed(PROCESS, RUN_ID, 1)
    gates(aws).set(PROCESS, open_=False, reason="month-end close", who="tester")

    out = check_gate.handler(run_state(), context)

    assert out["gate_open"] is False
    assert out["pauses"] == 1
    assert aws.run(RUN_ID)["pause_reason"] == "month-end close"


def test_check_gate_gives_up_after_max_pauses(aws: Aws, context: LocalContext) -> None:
    aws.seed(PROCESS, RUN_ID, 1)
    max_pauses = aws.config.process_settings(PROCESS).max_pauses

    last = check_gate.handler(run_state(pauses=max_pauses - 1), context)
    assert last["pauses"] == max_pauses
    assert aws.run(RUN_ID)["status"] == "paused"

    with pytest.raises(GateClosedTooLong, match=RUN_ID):
        check_gate.handler(last, context)
    assert aws.run(RUN_ID)["status"] == "gate_timeout"
    # The transactions stay pending for the next run.
    items = aws.resource.Table(aws.transactions_table).scan()["Items"]
    assert {item["status"] for item in items} == {TransactionStatus.PENDING.value}
