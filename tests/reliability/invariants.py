"""The invariants every reliability scenario asserts on a local run's report."""

from __future__ import annotations

from orchestration.ops.reconciliation import trial_balance_problems
from orchestration.run.report import RunReport
from orchestration.spec.config import EnvironmentConfig


def assert_invariants(report: RunReport, config: EnvironmentConfig) -> None:
    """Exactly one terminal state each, the ledger holds each posted transaction once, totals reconcile,
    nothing pending, and the finance system never saw more concurrent posts of a process than its MaxConcurrency."""
    assert report.invariant_violations == []
    assert report.lost == 0
    assert report.duplicates == 0
    assert report.posted + report.rejected + report.failed == report.transactions
    for process in report.processes:
        assert process.posted + process.rejected + process.failed == process.hcm_count
        assert process.ledger_count == process.posted
        assert process.ledger_amount == process.hcm_amount
        assert process.ledger_lines == process.hcm_lines
        assert sum(process.rejection_reasons.values()) == process.rejected
        assert sum(process.failure_reasons.values()) == process.failed
        assert "no reason recorded" not in process.rejection_reasons
        assert "no reason recorded" not in process.failure_reasons
        assert process.execution_status[-1] == "SUCCEEDED"
    assert trial_balance_problems(report.trial_balance) == []
    for name, peak in report.finance_max_concurrent_by_process.items():
        assert peak <= config.process_settings(name).max_concurrency, name
    assert report.ok
