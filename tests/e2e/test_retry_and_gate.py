"""ASL Retry/Catch paths and gate pause/resume, on the embedded engine."""

from __future__ import annotations

import time

from orchestration.ops.gates import resume_paused
from orchestration.sim.finance import FinanceFaults
from orchestration.spec.tables import RUNS
from tests.fixtures.system import ConfigFactory, SystemFactory
from tests.fixtures.waiting import wait_for_execution, wait_until

QUICK_RETRY = {"interval_seconds": 1, "backoff_rate": 1.0, "max_attempts": 1, "max_delay_seconds": 1}


def test_transient_errors_past_max_attempts_are_caught_and_recorded_as_failed(
    local_system: SystemFactory, make_config: ConfigFactory
) -> None:
    # Each error class has its own retrier: a long finance timeout keeps a post slowed by a busy
    # machine from timing out and spending the unavailable rule's attempt too.
    config = make_config(
        defaults={"chunk_size": 6, "batch_size": 12},
        finance={"timeout_seconds": 30},
        retry_profiles={"standard": {"throttled": QUICK_RETRY, "overloaded": QUICK_RETRY, "unavailable": QUICK_RETRY}},
    )
    system = local_system(config, FinanceFaults(throttle_rate=1.0))
    system.gates.set("payroll_journal", open_=True, reason="test")
    system.seed("payroll_journal", "always-throttled", 12)
    arn = system.engine.start_run("payroll_journal", "always-throttled")
    assert wait_for_execution(system.engine, arn)["status"] == "SUCCEEDED"
    history = system.engine.sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]
    failed_tasks = [e["taskFailedEventDetails"]["error"] for e in history if e["type"] == "TaskFailed"]
    assert failed_tasks == ["FinanceThrottled"] * (2 * 2), "2 chunks x (first try + 1 retry)"
    items = system.transactions("always-throttled")
    assert len(items) == 12
    for item in items:
        assert item["status"] == "failed"
        assert item["reason"].startswith("FinanceThrottled after 2 attempt(s)")
        assert int(item["attempts"]) == 2
    assert system.finance.ledger() == []


def test_transient_error_then_success_posts_once_and_counts_the_attempt(
    local_system: SystemFactory, make_config: ConfigFactory
) -> None:
    system = local_system(make_config(), FinanceFaults(throttle_rate=1.0))
    system.gates.set("expense_report", open_=True, reason="test")
    system.seed("expense_report", "recovers", 6)
    arn = system.engine.start_run("expense_report", "recovers")
    # One request per chunk: switch throttling off after the first throttled attempt, so the
    # retries that follow have the whole retry budget to succeed in.
    wait_until(lambda: system.finance.stats().faults_injected["throttle"] >= 1, timeout=30)
    system.finance.faults.throttle_rate = 0.0
    assert wait_for_execution(system.engine, arn)["status"] == "SUCCEEDED"
    items = system.transactions("recovers")
    assert {item["status"] for item in items} == {"posted"}
    assert all(int(item["attempts"]) >= 2 for item in items)
    assert len(system.finance.ledger()) == 6


def test_closed_gate_pauses_the_run_and_gate_open_resumes_it_at_once(
    local_system: SystemFactory, make_config: ConfigFactory
) -> None:
    config = make_config(defaults={"pause_interval_seconds": 30, "max_pause_seconds": 300})
    system = local_system(config)
    process = "supplier_invoice"
    system.gates.set(process, open_=False, reason="finance maintenance window")
    system.seed(process, "paused-run", 20)
    arn = system.engine.start_run(process, "paused-run")
    wait_until(lambda: system.run_record("paused-run").get("pause_token"), timeout=30)
    assert system.run_record("paused-run")["status"] == "paused"
    assert system.finance.ledger() == []
    assert {item["status"] for item in system.transactions("paused-run")} == {"pending"}

    system.gates.set(process, open_=True, reason="window over")
    opened = time.monotonic()
    resumed = resume_paused(system.engine.dynamodb, system.engine.sfn, RUNS.table_name(config), process)
    assert resumed == 1
    wait_until(lambda: system.finance.ledger(), timeout=20, interval=0.02)
    first_post = time.monotonic() - opened
    assert first_post < config.process_settings(process).pause_interval_seconds
    assert wait_for_execution(system.engine, arn)["status"] == "SUCCEEDED"
    assert {item["status"] for item in system.transactions("paused-run")} == {"posted"}
    assert len(system.finance.ledger()) == 20
    assert "pause_token" not in system.run_record("paused-run")


def test_gate_closed_past_the_maximum_pause_fails_clearly_and_leaves_transactions_pending(
    local_system: SystemFactory, make_config: ConfigFactory
) -> None:
    config = make_config(defaults={"pause_interval_seconds": 1, "max_pause_seconds": 2})
    system = local_system(config)
    system.seed("payroll_journal", "never-opened", 8)
    arn = system.engine.start_run("payroll_journal", "never-opened")
    result = wait_for_execution(system.engine, arn, timeout=60)
    assert result["status"] == "FAILED"
    assert result["error"] == "GateClosedTooLong"
    assert system.run_record("never-opened")["status"] == "gate_timeout"
    assert {item["status"] for item in system.transactions("never-opened")} == {"pending"}
    assert system.finance.ledger() == []
