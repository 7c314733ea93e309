"""One local run per fault scenario (and one combining them): the invariants hold after each.

Volumes are small (tens of transactions) because faults are slow on purpose (timeouts, retry
intervals, outages); each test also checks that its fault really happened.
"""

from __future__ import annotations

from typing import Any

from orchestration.run.report import RunReport
from orchestration.run.runner import run_local
from tests.fixtures.system import ConfigFactory
from tests.reliability.invariants import assert_invariants

SMALL = {"batch_size": 20, "chunk_size": 4}
TWO = ["payroll_journal", "expense_report"]


def run(
    make_config: ConfigFactory,
    faults: str,
    *,
    transactions: int = 40,
    processes: list[str] | None = None,
    **config: Any,
) -> RunReport:
    built = make_config(
        defaults=SMALL | config.pop("defaults", {}), processes={"expense_report": {"batch_size": 20}}, **config
    )
    report = run_local(built, processes=processes or TWO, transactions=transactions, faults=faults, seed=21)
    assert_invariants(report, built)
    return report


def test_finance_overload_503s_are_retried_until_posted(make_config: ConfigFactory) -> None:
    report = run(make_config, "overload=0.3")
    assert report.finance_faults_injected["overload"] > 0
    assert report.retries > 0
    assert report.posted == report.transactions


def test_overload_from_too_much_concurrency_is_retried_and_never_exceeds_max_concurrency(
    make_config: ConfigFactory,
) -> None:
    report = run(make_config, "capacity=1", transactions=48)
    assert report.finance_max_concurrent > 1, "more posts in flight than the finance system can take"
    assert report.finance_faults_injected["capacity"] > 0
    assert report.retries > 0


def test_429_throttling_is_retried(make_config: ConfigFactory) -> None:
    report = run(make_config, "throttle=0.3")
    assert report.finance_faults_injected["throttle"] > 0
    assert report.retries > 0


def test_slow_responses_past_the_timeout_land_once_through_the_idempotency_key(make_config: ConfigFactory) -> None:
    report = run(make_config, "slow=0.4", transactions=30)
    assert report.finance_faults_injected["slow"] > 0
    assert report.finance_duplicates_absorbed > 0, "a timed-out post that landed was retried and deduped"


def test_connection_resets_are_retried(make_config: ConfigFactory) -> None:
    report = run(make_config, "reset=0.2")
    assert report.finance_faults_injected["reset"] > 0
    assert report.retries > 0


def test_finance_outage_of_a_set_duration_is_ridden_out(make_config: ConfigFactory) -> None:
    report = run(make_config, "outage=3", transactions=60)
    assert report.evidence.outage_started_after_posts is not None
    assert report.evidence.outage_seconds == 3
    assert report.finance_faults_injected["outage"] > 0


def test_crash_after_the_post_before_the_result_is_recorded_never_posts_twice(make_config: ConfigFactory) -> None:
    report = run(make_config, "crash_after_post=0.5")
    assert report.evidence.crashes > 0
    assert report.finance_duplicates_absorbed >= report.evidence.crashes, "each crashed post was deduped on retry"
    assert report.posted == report.transactions


def test_a_crash_after_the_post_then_an_outage_outlasting_the_retries_records_the_post(
    make_config: ConfigFactory,
) -> None:
    """The lost answer of a crashed post is confirmed at finance by key: posted, never failed while in the ledger."""
    report = run(make_config, "outage,crash_after_post=1", transactions=40)
    assert report.evidence.crashes > 0
    assert report.evidence.outage_started_after_posts is not None
    assert report.failed > 0, "the outage outlasted the retries of the items in flight"
    assert report.finance_lookups > 0, "failed items were looked up at finance before being recorded"


def test_a_slow_answer_then_an_outage_outlasting_the_retries_records_the_post(make_config: ConfigFactory) -> None:
    """An entry that landed after the client timed out is confirmed at finance when the retries run out."""
    report = run(make_config, "outage,slow=1", transactions=40)
    assert report.finance_faults_injected["slow"] > 0
    assert report.failed > 0, "the outage outlasted the retries of the items in flight"
    assert report.finance_lookups > 0


def test_duplicate_hcm_entries_for_the_same_run_start_no_second_execution(make_config: ConfigFactory) -> None:
    report = run(make_config, "duplicate_run=2")
    assert report.evidence.duplicate_run_entries == 2 * len(TWO)
    assert report.evidence.duplicate_run_entries_absorbed == 2 * len(TWO)
    assert all(p.executions == 1 for p in report.processes)


def test_the_same_transaction_uuid_delivered_twice_is_posted_once(make_config: ConfigFactory) -> None:
    report = run(make_config, "duplicate_delivery=0.3")
    assert report.evidence.redelivered_same_run > 0
    assert report.evidence.redelivered_absorbed == report.evidence.redelivered_same_run
    assert len(report.evidence.redelivery_runs) == len(TWO)
    assert sum(p.ledger_count for p in report.processes) == report.posted


def test_malformed_hcm_records_are_rejected_with_reasons(make_config: ConfigFactory) -> None:
    report = run(make_config, "malformed=0.5")
    assert report.rejected > 0
    reasons = " ".join(r for p in report.processes for r in p.rejection_reasons)
    assert "missing field" in reasons or "not a number" in reasons or "currency" in reasons


def test_gate_closed_and_reopened_mid_run_pauses_then_finishes(make_config: ConfigFactory) -> None:
    report = run(
        make_config,
        "gate_flap=2",
        transactions=60,
        processes=["payroll_journal"],
        defaults={"batch_size": 8, "chunk_size": 4, "pause_interval_seconds": 30},
    )
    assert report.evidence.gate_closures == 1
    assert report.evidence.runs_paused == [report.processes[0].run_id]
    assert report.evidence.gate_resumes >= 1, "reopening sent the stored task token"


def test_every_scenario_combined_with_the_chaos_preset(make_config: ConfigFactory) -> None:
    report = run(
        make_config,
        "chaos,crash_after_post=0.5,duplicate_run,duplicate_delivery=0.1,malformed=0.1,gate_flap=2,outage=2",
        transactions=100,  # batches after the outage, whose first attempts can crash
    )
    assert report.rejected > 0
    assert report.evidence.crashes > 0
    assert report.evidence.gate_closures == len(TWO)
    assert report.evidence.outage_started_after_posts is not None
