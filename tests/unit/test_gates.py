"""The gate store: conditional writes with an audit trail, safe under concurrent operators."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto.core.botocore_stubber import BotocoreStubber

from lambdas import check_gate, summarize, wait_for_gate
from orchestration.engine.lambda_runtime import LocalContext
from orchestration.ops.gates import Gate, GateConflict, GateStore, resume_paused
from tests.fixtures.aws import Aws

PROCESS = "payroll_journal"


def store(aws: Aws, client: Any | None = None) -> GateStore:
    return GateStore(client or aws.dynamodb, aws.gates_table, aws.audit_table)


def test_missing_gate_is_closed(aws: Aws) -> None:
    gate = store(aws).get(PROCESS)
    assert gate.exists is False
    assert gate.open is False
    assert gate.version == 0
    assert store(aws).history(PROCESS) == []


def test_set_get_and_history(aws: Aws) -> None:
    gates = store(aws)

    opened = gates.set(PROCESS, open_=True, reason="period open", who="alice")
    assert opened.open is True and opened.exists is True and opened.version == 1
    assert gates.get(PROCESS) == opened

    closed = gates.set(PROCESS, open_=False, reason="month-end close", who="bob")
    assert closed.version == 2
    assert gates.get(PROCESS) == Gate(
        process=PROCESS,
        open=False,
        exists=True,
        reason="month-end close",
        changed_by="bob",
        changed_at=closed.changed_at,
        version=2,
    )

    history = gates.history(PROCESS)
    assert [(h.version, h.old_open, h.new_open, h.changed_by, h.reason) for h in history] == [
        (1, False, True, "alice", "period open"),
        (2, True, False, "bob", "month-end close"),
    ]
    assert history[-1].changed_at == closed.changed_at
    assert gates.history("expense_report") == []


def test_gates_are_per_process(aws: Aws) -> None:
    gates = store(aws)
    gates.set(PROCESS, open_=True, reason="open", who="alice")
    assert gates.get("expense_report").exists is False
    assert gates.get(PROCESS).open is True


def test_set_defaults_the_operator(aws: Aws) -> None:
    gate = store(aws).set(PROCESS, open_=True, reason="open")
    assert gate.changed_by
    assert store(aws).history(PROCESS)[0].changed_by == gate.changed_by


def test_check_gate_reads_what_the_store_writes(aws: Aws) -> None:
    context = LocalContext(function_name="unit")
    state = {"process": PROCESS, "run_id": "r1"}
    store(aws).set(PROCESS, open_=True, reason="open", who="alice")
    assert check_gate.handler(state, context)["gate_open"] is True
    store(aws).set(PROCESS, open_=False, reason="closed", who="alice")
    assert check_gate.handler(state, context)["gate_open"] is False


@pytest.fixture
def atomic_requests(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Make each mocked AWS request atomic, as each DynamoDB request is.

    moto's in-memory backend is not thread-safe: a failed ``TransactWriteItems`` restores
    a snapshot of the whole table, which can erase a write another thread made meanwhile.
    Serialising whole requests (never the store's read-then-write) removes that artefact
    of the mock without hiding races in the code under test.
    """
    lock = threading.Lock()
    original = BotocoreStubber.__call__

    def atomic(self: BotocoreStubber, event_name: str, request: Any, **kwargs: Any) -> Any:
        with lock:
            return original(self, event_name, request, **kwargs)

    monkeypatch.setattr(BotocoreStubber, "__call__", atomic)
    yield


ROUNDS = 20


def test_concurrent_operators_never_lose_an_update(aws: Aws, atomic_requests: None) -> None:
    clients = [boto3.client("dynamodb", region_name=aws.config.region) for _ in range(2)]
    written: list[list[Gate]] = [[], []]
    conflicts = [0, 0]
    start = threading.Barrier(2)
    failures: list[BaseException] = []

    def operator(index: int) -> None:
        gates = store(aws, clients[index])
        try:
            start.wait()
            for round_ in range(ROUNDS):
                try:
                    written[index].append(
                        gates.set(
                            PROCESS,
                            open_=round_ % 2 == 0,
                            reason=f"op{index} round {round_}",
                            who=f"op{index}",
                        )
                    )
                except GateConflict:
                    conflicts[index] += 1
        except BaseException as exc:  # surfaced in the main thread below
            failures.append(exc)

    threads = [threading.Thread(target=operator, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)
    assert failures == []

    successes = len(written[0]) + len(written[1])
    assert successes + sum(conflicts) == 2 * ROUNDS
    assert successes > ROUNDS
    final = store(aws).get(PROCESS)
    history = store(aws).history(PROCESS)
    assert final.version == successes == len(history)

    # Every successful write got its own version, and the audit trail holds exactly those writes.
    versions = sorted(g.version for g in written[0] + written[1])
    assert versions == list(range(1, successes + 1))
    assert [h.version for h in history] == versions
    by_version = {g.version: g for g in written[0] + written[1]}
    for record in history:
        gate = by_version[record.version]
        assert (record.new_open, record.reason, record.changed_by, record.changed_at) == (
            gate.open,
            gate.reason,
            gate.changed_by,
            gate.changed_at,
        )

    # The old -> new chain is unbroken: each change starts from the state the previous one left.
    assert history[0].old_open is False
    for previous, record in itertools.pairwise(history):
        assert record.old_open == previous.new_open
    assert final.open == history[-1].new_open
    assert final.reason == history[-1].reason


def test_resume_paused_sends_the_token_of_each_run_paused_on_the_gate(aws: Aws) -> None:
    context = LocalContext(function_name="unit")

    def state(process: str, run_id: str) -> dict[str, Any]:
        return {"process": process, "run_id": run_id, "pauses": 1}

    for process, run_id in ((PROCESS, "waiting-1"), (PROCESS, "waiting-2"), ("expense_report", "other")):
        aws.seed(process, run_id, 1)
        wait_for_gate.handler({"state": state(process, run_id), "token": f"token-{run_id}"}, context)
    aws.seed(PROCESS, "paused-no-token", 1)
    check_gate.handler(state(PROCESS, "paused-no-token"), context)
    aws.seed(PROCESS, "finished", 1)
    wait_for_gate.handler({"state": state(PROCESS, "finished"), "token": "token-finished"}, context)
    summarize.handler(state(PROCESS, "finished"), context)

    sent: list[str] = []
    sfn = boto3.client("stepfunctions", region_name=aws.config.region)
    sfn.meta.events.register(
        "provide-client-params.states.SendTaskSuccess", lambda params, **_: sent.append(params["taskToken"])
    )

    resumed = resume_paused(aws.dynamodb, sfn, aws.runs_table, PROCESS)

    assert resumed == 2
    assert sorted(sent) == ["token-waiting-1", "token-waiting-2"]
