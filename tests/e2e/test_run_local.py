"""`ledgerflow run --local` end to end: real ASL, real handlers, real HTTP finance simulator."""

from __future__ import annotations

import json
from collections import Counter
from decimal import Decimal

from typer.testing import CliRunner

from orchestration.cli import app
from orchestration.faults.profiles import FaultProfile
from orchestration.run.report import ProcessProgress
from orchestration.run.runner import run_local
from orchestration.spec.config import HISTORY_LIMIT, worst_case_history_events
from tests.fixtures.system import ConfigFactory, SystemFactory
from tests.fixtures.waiting import wait_for_execution

runner = CliRunner()


def test_cli_run_with_transient_faults_and_malformed_records_loses_nothing() -> None:
    result = runner.invoke(
        app, ["run", "--local", "--transactions", "240", "--faults", "transient", "--seed", "11", "--json"]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    for key in ("transactions", "posted", "rejected", "failed", "lost", "duplicates", "retries"):
        assert key in report
    assert report["transactions"] == 240
    assert report["lost"] == 0
    assert report["duplicates"] == 0
    assert report["posted"] + report["rejected"] + report["failed"] == 240
    assert report["rejected"] > 0, "the transient profile seeds malformed records"
    assert report["retries"] > 0, "the transient profile injects retryable finance faults"
    assert report["state_transitions"] > 0
    assert 0 < report["max_history_events"] < HISTORY_LIMIT
    for process in report["processes"]:
        assert process["ledger_count"] == process["posted"]
        assert process["ledger_amount"] == process["hcm_amount"]
        assert process["execution_status"][-1] == "SUCCEEDED"


def test_cli_run_of_journals_rejects_unbalanced_and_closed_period_ones_and_its_trial_balance_balances() -> None:
    result = runner.invoke(app, ["run", "--local", "--transactions", "300", "--faults", "malformed=0.3", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)

    reasons: Counter[str] = Counter()
    for process in report["processes"]:
        reasons.update(process["rejection_reasons"])
        assert process["ledger_lines"] == process["hcm_lines"] >= 2 * process["posted"]
    assert {"unbalanced", "closed_period", "unknown_account", "unmapped component"} <= set(reasons)
    assert report["posted"] + report["rejected"] == 300
    assert report["lines"] == sum(process["hcm_lines"] for process in report["processes"])

    balance = report["trial_balance"]
    assert len(balance) > 10
    for side in ("hcm", "ledger"):
        debits = sum(Decimal(line[f"{side}_debit"]) for line in balance)
        credits = sum(Decimal(line[f"{side}_credit"]) for line in balance)
        assert debits == credits > 0, side
    for line in balance:
        assert (line["hcm_debit"], line["hcm_credit"]) == (line["ledger_debit"], line["ledger_credit"]), line
    posted_debits = sum(Decimal(process["ledger_amount"]) for process in report["processes"])
    assert sum(Decimal(line["ledger_debit"]) for line in balance) == posted_debits


def test_each_malformed_record_is_rejected_with_a_reason_naming_the_defect(
    local_system: SystemFactory, make_config: ConfigFactory
) -> None:
    system = local_system(make_config())
    process = "expense_report"
    system.gates.set(process, open_=True, reason="test")
    seeded = system.seed(process, "malformed-run", 120, malformed_share=0.25)
    assert len(seeded.malformed) > 10
    arn = system.engine.start_run(process, "malformed-run")
    assert wait_for_execution(system.engine, arn)["status"] == "SUCCEEDED"
    items = {item["transaction_id"]: item for item in system.transactions("malformed-run")}
    expected_words = {
        "missing_field": "malformed: missing field(s): ",
        "bad_currency": "malformed: bad currency: ",
        "non_numeric_amount": "malformed: bad amount: '12O.50' is not a number",
        "too_many_decimals": "malformed: bad amount: '10.125' has more than 2 decimals",
        "unknown_account": "finance: unknown_account: EF04 account ",
        "bad_period": "malformed: bad period: ",
        "unbalanced": "malformed: unbalanced: debits ",
        "closed_period": "finance: closed_period: EP01 period 2026-10 is closed (HTTP 422)",
        "unmapped_component": "malformed: unmapped component: 'unmapped_bonus'",
        "mixed_currency": "malformed: mixed-currency journal: ",
    }
    for record in seeded.transactions:
        item = items[record["transaction_id"]]
        if record.get("malformed"):
            assert item["status"] == "rejected"
            assert item["reason"].startswith(expected_words[record["malformed"]]), record["malformed"]
        else:
            assert item["status"] == "posted"
            assert item["ledger_id"].startswith("L")
    ledger_ids = Counter(entry.transaction_id for entry in system.finance.ledger())
    assert all(count == 1 for count in ledger_ids.values())
    assert len(ledger_ids) == sum(1 for r in seeded.transactions if not r.get("malformed"))


def test_volume_past_one_execution_continues_in_new_executions_under_the_history_limit(
    make_config: ConfigFactory,
) -> None:
    config = make_config(
        defaults={"batch_size": 20, "chunk_size": 5, "max_batches_per_execution": 2, "max_concurrency": 4},
        processes={"payroll_journal": {"max_concurrency": 4}},
    )
    report = run_local(config, processes=["payroll_journal"], transactions=130, faults=FaultProfile.NONE, seed=5)
    process = report.processes[0]
    assert report.ok
    assert process.posted == 130
    assert process.executions == 4, "7 batches at 2 per execution need 4 executions"
    assert process.execution_status == ["SUCCEEDED"] * 4
    bound = worst_case_history_events(
        config.process_settings("payroll_journal"), config.retry_profiles[config.profile_name("payroll_journal")]
    )
    assert report.max_history_events <= bound < HISTORY_LIMIT


def test_progress_reports_every_process_and_its_retries_until_all_are_done(make_config: ConfigFactory) -> None:
    snapshots: list[list[ProcessProgress]] = []
    report = run_local(
        make_config(),
        processes=["payroll_journal", "supplier_invoice"],
        transactions=90,
        faults=FaultProfile.CHAOS,
        seed=3,
        on_progress=snapshots.append,
    )
    assert report.ok
    final = {p.process: p for p in snapshots[-1]}
    assert set(final) == {"payroll_journal", "supplier_invoice"}
    assert all(p.pending == 0 and p.posted + p.rejected + p.failed == p.total for p in final.values())
    assert sum(p.retrying for p in final.values()) > 0
