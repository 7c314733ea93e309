"""``ledgerflow reconcile | failures | redrive`` in-process against a running local engine.

Each test breaks a run for real (exhausted retries, a crash after a post that finance stays
down to confirm, a gate that never opened), checks what the commands report, repairs with
``redrive`` and then checks that the invariants hold and that nothing already posted was
posted again.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from typer.testing import CliRunner

from lambdas.record_result import UNCONFIRMED_NOTE
from orchestration.cli import app
from orchestration.faults.crash import CrashAfterPost
from orchestration.ops.reconciliation import invariant_violations
from orchestration.ops.records import run_executions, transactions
from orchestration.ops.repair import process_state_machine, reconcile
from orchestration.sim.finance import FinanceFaults
from tests.fixtures.system import ConfigFactory, SystemFactory
from tests.fixtures.waiting import wait_for_execution, wait_until

runner = CliRunner()
QUICK = {"interval_seconds": 1, "backoff_rate": 1.0, "max_attempts": 1, "max_delay_seconds": 1}
QUICK_PROFILE = {"standard": {"throttled": QUICK, "overloaded": QUICK, "unavailable": QUICK}}


def cli(system: Any, *args: str) -> Any:
    extra = ["--finance-url", system.finance.url] if args[0] == "reconcile" else []
    return runner.invoke(app, [*args, *extra])


def finished(system: Any, process: str, run_id: str) -> None:
    machine = process_state_machine(system.engine.sfn, system.config, process)

    def done() -> bool:
        executions = run_executions(system.engine.sfn, machine, run_id)
        return bool(executions) and all(e["status"] != "RUNNING" for e in executions)

    wait_until(done, timeout=120, interval=0.2)


def assert_reconciled(system: Any, process: str) -> None:
    result = reconcile(system.engine.tables, system.config, system.finance.ledger(), process)
    assert invariant_violations([result]) == []
    assert result.ok


def test_failures_lists_reasons_and_redrive_posts_only_the_failed_ones(
    local_system: SystemFactory, make_config: ConfigFactory
) -> None:
    config = make_config(defaults={"chunk_size": 5, "batch_size": 30}, retry_profiles=QUICK_PROFILE)
    system = local_system(config, FinanceFaults(throttle_rate=0.5, seed=4))
    process, run_id = "payroll_journal", "half-throttled"
    system.gates.set(process, open_=True, reason="test")
    system.seed(process, run_id, 30)
    wait_for_execution(system.engine, system.engine.start_run(process, run_id))

    listed = cli(system, "failures", process, "--json")
    assert listed.exit_code == 0, listed.output
    rows = json.loads(listed.stdout)
    failed = [r for r in rows if r["status"] == "failed"]
    assert failed, "half the posts are throttled past one retry"
    assert all(r["reason"].startswith("FinanceThrottled after 2 attempt(s)") and r["attempts"] == 2 for r in failed)
    posted_before = {
        i["transaction_id"]: i["ledger_id"] for i in system.transactions(run_id) if i["status"] == "posted"
    }
    assert len(posted_before) + len(failed) == 30

    system.finance.faults.throttle_rate = 0.0
    stats_before = system.finance.stats()
    redriven = cli(system, "redrive", process, "--json")
    assert redriven.exit_code == 0, redriven.output
    result = json.loads(redriven.stdout)
    assert result["resubmitted"] == len(failed)
    assert result["runs"][0]["execution"].endswith(f"{run_id}-1")
    finished(system, process, run_id)

    items = {i["transaction_id"]: i for i in system.transactions(run_id)}
    assert {i["status"] for i in items.values()} == {"posted"}
    assert all(items[tid]["ledger_id"] == ledger_id for tid, ledger_id in posted_before.items())
    assert all(int(items[r["transaction_id"]]["redrives"]) == 1 for r in failed)
    stats_after = system.finance.stats()
    assert stats_after.posted - stats_before.posted == len(failed), "only the failed ones reached the ledger"
    assert stats_after.duplicates_absorbed == stats_before.duplicates_absorbed, "no posted one was sent again"
    assert Counter(e.transaction_id for e in system.finance.ledger()).most_common(1)[0][1] == 1
    assert_reconciled(system, process)
    again = cli(system, "redrive", process, "--json")
    assert json.loads(again.stdout)["resubmitted"] == 0


def test_a_crashed_post_finance_cannot_confirm_is_flagged_by_reconcile_and_repaired_by_redrive(
    local_system: SystemFactory, make_config: ConfigFactory
) -> None:
    """The residual case: finance goes down right after a crashed post and stays down through the
    post's retries, RecordResult's lookup and Summarize's re-check, so the line is recorded failed
    "could not be confirmed"; reconcile flags it and redrive posts it without a second entry."""
    system = local_system(
        make_config(
            retry_profiles=QUICK_PROFILE,
            defaults={"chunk_size": 5, "batch_size": 20},
            processes={"expense_report": {"batch_size": 20}},
        )
    )
    process, run_id = "expense_report", "crash-then-outage"
    system.gates.set(process, open_=True, reason="test")
    system.seed(process, run_id, 10)
    crash = CrashAfterPost("ledgerflow-local-post-to-finance", 1.0, seed=1, every_attempt=True)
    with crash.installed(system.engine.runtime):
        execution = system.engine.start_run(process, run_id)
        wait_until(lambda: crash.crashed_keys, timeout=30, interval=0.02)
        system.finance.set_outage(True)
        assert wait_for_execution(system.engine, execution, timeout=120)["status"] == "SUCCEEDED"
    system.finance.set_outage(False)
    landed = {entry.idempotency_key for entry in system.finance.ledger()}
    assert landed == set(crash.crashed_keys), "each crashed post landed once, nothing after the outage began"

    found = cli(system, "reconcile", process, "--json")
    assert found.exit_code == 1, found.output
    differences = json.loads(found.stdout)["differences"]
    assert Counter(d["kind"] for d in differences) == {"in_ledger_not_posted": len(landed)}
    listed = json.loads(cli(system, "failures", process, "--json").stdout)
    assert len(listed) == 10
    assert all(UNCONFIRMED_NOTE in r["reason"] and r["attempts"] >= 1 for r in listed)

    assert cli(system, "redrive", process).exit_code == 0
    finished(system, process, run_id)
    assert {i["status"] for i in system.transactions(run_id)} == {"posted"}
    assert len(system.finance.ledger()) == 10
    assert system.finance.stats().duplicates_absorbed >= len(landed), "the crashed posts came back as dedup answers"
    clean = cli(system, "reconcile", process, "--period", "2026-11")
    assert clean.exit_code == 0, clean.output
    assert "reconciled" in clean.output


def test_redrive_restarts_a_run_left_pending_by_a_closed_gate(
    local_system: SystemFactory, make_config: ConfigFactory
) -> None:
    system = local_system(make_config(defaults={"pause_interval_seconds": 1, "max_pause_seconds": 1}))
    process, run_id = "supplier_invoice", "gate-never-opened"
    system.seed(process, run_id, 12)
    assert wait_for_execution(system.engine, system.engine.start_run(process, run_id))["status"] == "FAILED"
    found = cli(system, "reconcile", process, "--json")
    assert found.exit_code == 1
    assert Counter(d["kind"] for d in json.loads(found.stdout)["differences"]) == {"pending": 12}

    system.gates.set(process, open_=True, reason="window open")
    result = json.loads(cli(system, "redrive", process, "--json").stdout)
    assert result["runs"][0]["stranded_pending"] == 12
    finished(system, process, run_id)
    assert len(system.finance.ledger()) == 12
    assert_reconciled(system, process)


def test_redrive_skips_a_running_run_and_refuses_unknown_names_without_writing(
    local_system: SystemFactory, make_config: ConfigFactory
) -> None:
    config = make_config(defaults={"pause_interval_seconds": 30, "max_pause_seconds": 300})
    system = local_system(config)
    process, run_id = "payroll_journal", "still-paused"
    system.seed(process, run_id, 5)
    system.engine.start_run(process, run_id)
    wait_until(lambda: system.run_record(run_id).get("pause_token"), timeout=30)
    before = system.transactions(run_id)

    running = json.loads(cli(system, "redrive", process, "--json").stdout)
    assert running["runs"][0]["skipped"] == "an execution of this run is still running"
    unknown_run = cli(system, "redrive", process, "--run", "no-such-run")
    assert unknown_run.exit_code == 2
    assert "has no run 'no-such-run'" in unknown_run.output
    misspelt = cli(system, "redrive", "payroll_jounral")
    assert misspelt.exit_code == 2
    assert "did you mean payroll_journal?" in misspelt.output
    assert system.transactions(run_id) == before
    assert len(transactions(system.engine.tables, config, [run_id])) == 5
