"""Alarms on the local engine: an outage fires and clears the finance alarms and no others; a clean run fires none."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from lambdas.alarm_text import SMS_LIMIT
from orchestration.cli import app
from orchestration.run.runner import run_local
from tests.fixtures.system import ConfigFactory

runner = CliRunner()
SHORT_RETRIES = {"interval_seconds": 1, "backoff_rate": 1.0, "max_attempts": 2, "max_delay_seconds": 1}


def test_finance_outage_fires_and_clears_the_finance_alarms_and_no_others(make_config: ConfigFactory) -> None:
    # A retry budget of 2 s keeps the outage (budget + margin) and the test short. Small items,
    # two at a time: the outage starts after the first posts, while most items are still to go
    # (eight items of ten side by side could all post before the scenario sees the first one).
    config = make_config(
        defaults={"chunk_size": 5, "max_concurrency": 2, "batch_size": 40},
        retry_profiles={"standard": dict.fromkeys(("throttled", "overloaded", "unavailable"), SHORT_RETRIES)},
    )
    report = run_local(config, processes=["expense_report"], transactions=80, faults="outage", seed=3)
    assert report.ok and report.failed > 0, "the outage outlasts the retry budget of the items in flight"
    fired = {alarm.name: alarm for alarm in report.alarms}
    finance_alarms = {
        config.resource_name("finance-health"),
        config.resource_name("post-to-finance-error-rate"),
        config.resource_name("expense-report-transactions-failed"),
    }
    # RecordResult and Summarize raise while finance cannot confirm failed lines (Step Functions
    # retries them): their error-rate alarms may fire with the outage too, and nothing else may.
    confirming = {config.resource_name("record-result-error-rate"), config.resource_name("summarize-error-rate")}
    assert finance_alarms <= set(fired) <= finance_alarms | confirming
    subscribers = {("email", e) for e in config.notifications.email} | {("sms", n) for n in config.notifications.sms}
    for alarm in report.alarms:
        assert alarm.recovered_at is not None, f"{alarm.name} did not recover to OK"
        assert alarm.notifications[0].state == "ALARM"
        assert alarm.notifications[-1].state == "OK"
        for notification in alarm.notifications:
            assert {(d.protocol, d.endpoint) for d in notification.deliveries} == subscribers
            for delivery in notification.deliveries:
                if delivery.protocol == "sms":
                    assert delivery.text and len(delivery.text) <= SMS_LIMIT
                else:
                    assert delivery.subject and alarm.scope in delivery.subject
                    assert delivery.body and "Runbook: " in delivery.body and "Console: https://" in delivery.body
    failed = fired[config.resource_name("expense-report-transactions-failed")]
    assert failed.peak_value is not None and failed.peak_value >= 1


def test_clean_run_fires_no_alarm_and_json_lists_alarms() -> None:
    result = runner.invoke(
        app, ["run", "--local", "--transactions", "40", "--processes", "payroll_journal", "--faults", "none", "--json"]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["alarms"] == []


def test_alarms_list_and_local_test_notification() -> None:
    listed = runner.invoke(app, ["alarms", "list", "--env", "dev", "--json"])
    assert listed.exit_code == 0, listed.output
    rows = json.loads(listed.stdout)
    assert {"ledgerflow-dev-finance-health", "ledgerflow-dev-payroll-journal-transactions-failed"} <= {
        row["name"] for row in rows
    }
    assert all(row["runbook"] for row in rows)
    sent = runner.invoke(app, ["alarms", "test", "--env", "local"])
    assert sent.exit_code == 0, sent.output
    assert "[TEST] ALARM: Test notification" in sent.stdout
    assert "THIS IS A TEST NOTIFICATION" in sent.stdout
    assert "SMS to +15555550100" in sent.stdout
    unknown = runner.invoke(app, ["alarms", "list", "--env", "nope"])
    assert unknown.exit_code == 2 and "--env" in unknown.output
