"""GetTransactions: pending ids in config-sized batches and Map chunks (moto, the finance simulator)."""

from __future__ import annotations

from lambdas import (
    get_transactions,
)
from lambdas.models import TransactionStatus
from orchestration.engine.lambda_runtime import LocalContext
from tests.fixtures.aws import Aws
from tests.unit.handler_calls import (
    PROCESS,
    RUN_ID,
    run_state,
)


def test_get_transactions_pages_pending_ids_until_the_cursor_is_exhausted(aws: Aws, context: LocalContext) -> None:
    seeded = aws.seed(PROCESS, RUN_ID, 23)
    aws.seed(PROCESS, "other-run", 5)  # another run's transactions never leak in
    ids = [t["transaction_id"] for t in seeded.transactions]
    done = {
        ids[0]: TransactionStatus.POSTED,
        ids[5]: TransactionStatus.FAILED,
        ids[11]: TransactionStatus.REJECTED,
    }
    for tid, status in done.items():
        aws.set_status(RUN_ID, tid, status)
    settings = aws.config.process_settings(PROCESS).model_copy(update={"batch_size": 7, "chunk_size": 3})

    state = run_state(settings=settings.model_dump(), gate_open=True)
    seen: list[str] = []
    calls = 0
    while True:
        state = get_transactions.handler(state, context)
        calls += 1
        page = [tid for chunk in state["chunks"] for tid in chunk]
        assert len(page) <= settings.batch_size
        assert all(1 <= len(chunk) <= settings.chunk_size for chunk in state["chunks"])
        assert all(len(chunk) == settings.chunk_size for chunk in state["chunks"][:-1])
        assert state["has_work"] is bool(page)
        assert state["batches"] == calls
        seen += page
        if state["cursor"] is None:
            break
        assert calls < 20, "cursor never reached the end"

    assert calls >= 3
    assert len(seen) == len(set(seen))
    assert set(seen) == set(ids) - set(done)


def test_get_transactions_uses_process_settings_when_state_has_none(aws: Aws, context: LocalContext) -> None:
    process = "supplier_invoice"
    settings = aws.config.process_settings(process)
    count = settings.chunk_size * 2 + 1
    seeded = aws.seed(process, RUN_ID, count)

    out = get_transactions.handler(run_state(process=process), context)

    assert out["cursor"] is None
    assert [len(chunk) for chunk in out["chunks"]] == [settings.chunk_size, settings.chunk_size, 1]
    assert {tid for chunk in out["chunks"] for tid in chunk} == {t["transaction_id"] for t in seeded.transactions}


def test_get_transactions_of_an_empty_run_has_no_work(aws: Aws, context: LocalContext) -> None:
    out = get_transactions.handler(run_state(), context)
    assert out["has_work"] is False
    assert out["chunks"] == []
    assert out["cursor"] is None
