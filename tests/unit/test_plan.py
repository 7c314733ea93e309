"""``ledgerflow plan``: the arithmetic against a case computed by hand, the redesign verdicts, the CLI.

The hand-computed case uses its own round coefficients and the published prices, so every
figure below can be checked with a pencil; the packaged data files are checked separately
(they load, carry their provenance, and price Lambda at the CDK stack's memory size).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from orchestration.cli import app
from orchestration.planning.plan import (
    Assumptions,
    FunctionCoefficients,
    Level,
    LevelCoefficients,
    MeasuredCoefficients,
    Plan,
    PlanError,
    Price,
    Prices,
    load_coefficients,
    load_prices,
    make_plan,
)
from orchestration.spec.config import CONFIG_DIR, EnvironmentConfig
from orchestration.spec.functions import TASK_FUNCTIONS

runner = CliRunner()

COEFFICIENTS = MeasuredCoefficients(
    measured_on="2026-11-25",
    how="round numbers for a hand computation",
    machine="none",
    cases=[],
    transitions=LevelCoefficients(per_execution=2, per_batch=6, per_map_item=3),
    history_events=LevelCoefficients(per_execution=10, per_batch=20, per_map_item=17),
    functions={
        "check-gate": FunctionCoefficients(
            level=Level.BATCH,
            invocations_per_unit=1,
            dynamodb_per="invocation",
            dynamodb_calls=2,
            read_units=1,
            write_units=1,
            local_mean_ms=0,
        ),
        "post-to-finance": FunctionCoefficients(
            level=Level.MAP_ITEM,
            invocations_per_unit=1,
            dynamodb_per="transaction",
            dynamodb_calls=2,
            read_units=0,
            write_units=2,
            calls_finance=True,
            local_mean_ms=0,
        ),
    },
)


def price(usd: float) -> Price:
    return Price(usd=usd, per="unit", verified=True)


PRICES = Prices(
    region="us-east-1",
    checked_on="2026-11-25",
    sources={},
    not_verified=[],
    excluded=[],
    standard_transition=price(0.000025),
    express_request=price(0.000001),
    express_gb_second=price(0.00001667),
    lambda_request=price(0.0000002),
    lambda_arm_gb_second=price(0.0000133334),
    dynamodb_write_request_unit=price(0.000000625),
    dynamodb_read_request_unit=price(0.000000125),
)

ASSUMPTIONS = Assumptions(
    finance_latency_ms=100,
    finance_entry_ms=90,
    lambda_overhead_ms=10,
    dynamodb_latency_ms=5,
    transition_latency_ms=20,
    lambda_memory_mb=1024,
    runs_per_month=1,
)


@pytest.fixture
def config() -> EnvironmentConfig:
    """``config/local.yaml`` with payroll_journal at batch 100, chunk 10, MaxConcurrency 5, 4 batches/execution."""
    raw: dict[str, Any] = yaml.safe_load((CONFIG_DIR / "local.yaml").read_text())
    raw["processes"]["payroll_journal"].update(
        batch_size=100, chunk_size=10, max_concurrency=5, max_batches_per_execution=4
    )
    return EnvironmentConfig.model_validate(raw)


def hand_case(config: EnvironmentConfig, **kwargs: Any) -> Plan:
    return make_plan(
        config,
        1000,
        assumptions=ASSUMPTIONS,
        processes=["payroll_journal"],
        coefficients=COEFFICIENTS,
        prices=PRICES,
        **kwargs,
    )


def test_the_plan_matches_a_hand_computation(config: EnvironmentConfig) -> None:
    plan = hand_case(config)
    (p,) = plan.processes
    # 1,000 transactions, one run: ceil(1000/100) = 10 batches, ceil(10/4) = 3 executions,
    # ceil(1000/10) = 100 Map items (10 per batch).
    assert (p.batches, p.executions, p.map_items) == (10, 3, 100)
    # transitions: 2*3 + 6*10 + 3*100 = 6 + 60 + 300 = 366
    assert p.state_transitions == pytest.approx(366)
    # Lambda: check-gate once per batch (10) + post once per item (100) = 110 invocations.
    assert p.lambda_invocations == pytest.approx(110)
    # check-gate: 10 ms overhead + 2 calls * 5 ms = 20 ms.
    # post: 10 ms + (2 calls/line * 10 lines) * 5 ms + one batch request (100 ms + 10 entries * 90 ms)
    # = 10 + 100 + 1000 = 1,110 ms.
    # GB-seconds at 1 GB: 10 * 0.020 + 100 * 1.110 = 0.2 + 111 = 111.2
    assert p.lambda_gb_seconds == pytest.approx(111.2)
    # DynamoDB: reads 1 per check * 10 = 10; writes 1 per check * 10 + 2 per transaction * 1,000 = 2,010.
    assert (p.dynamodb_read_units, p.dynamodb_write_units) == (pytest.approx(10), pytest.approx(2010))
    # One item: 1.110 s of posting + 3 transitions * 0.020 s = 1.170 s; 10 items at MaxConcurrency 5 = 2 rounds.
    assert p.item_seconds == pytest.approx(1.170)
    assert p.express_child_seconds == pytest.approx(2.340)
    # One batch: 2.340 + check-gate 0.020 + 6 transitions * 0.020 = 2.480 s.
    assert p.batch_seconds == pytest.approx(2.480)
    # The run: 10 batches * 2.480 + 3 executions * (2 transitions * 0.020) = 24.80 + 0.12 = 24.92 s.
    assert p.run_seconds == pytest.approx(24.92)
    # The fullest execution: 4 batches, 40 items: 10 + 20*4 + 17*40 = 10 + 80 + 680 = 770 events.
    assert p.expected_history_events == pytest.approx(770)
    # Cost: transitions 366 * 0.000025 = 0.00915; requests 110 * 0.0000002 = 0.000022;
    # duration 111.2 * 0.0000133334 = 0.00148267408; DynamoDB 10 * 0.000000125 + 2,010 * 0.000000625
    # = 0.00000125 + 0.00125625 = 0.0012575; total 0.01191217408.
    assert plan.costs.step_functions == pytest.approx(0.00915)
    assert plan.costs.lambda_requests == pytest.approx(0.000022)
    assert plan.costs.lambda_duration == pytest.approx(0.00148267408)
    assert plan.costs.dynamodb == pytest.approx(0.0012575)
    assert plan.total_cost == pytest.approx(0.01191217408)
    assert plan.cost_per_thousand_transactions == pytest.approx(0.01191217408)
    # Express: the Maps' 100 * 3 = 300 transitions cost 0.0075 on Standard; one child per batch,
    # 2.34 s billed as 2.4 s at 64 MB = 0.15 GB-s: 10 * (0.000001 + 0.15 * 0.00001667) = 0.000035005.
    assert plan.express.standard_map_cost == pytest.approx(0.0075)
    assert plan.express.express_children_cost == pytest.approx(0.000035005)
    assert plan.express.possible and plan.express.cheaper
    assert plan.distributed_map == []


def test_maxconcurrency_above_the_inline_map_limit_needs_a_distributed_map(config: EnvironmentConfig) -> None:
    plan = hand_case(config, max_concurrency=50)
    assert len(plan.distributed_map) == 1
    assert "MaxConcurrency 50 is above the inline Map's ~40" in plan.distributed_map[0]


def test_a_deadline_says_what_concurrency_it_needs(config: EnvironmentConfig) -> None:
    # 0.005 h = 18 s against 24.92 s. Without the Map rounds the run takes 24.92 - 10 * 2 * 1.17 = 1.52 s,
    # leaving 16.48 s: floor(16.48 / (10 batches * 1.17 s)) = 1 round per batch, so 10 items at once.
    plan = hand_case(config, deadline_hours=0.005)
    (advice,) = plan.deadline
    assert "over the 0.005 h deadline" in advice and "max_concurrency 10 would do (within the inline Map)" in advice
    assert plan.distributed_map == []


def test_a_deadline_no_inline_map_can_meet_needs_batches_in_parallel(config: EnvironmentConfig) -> None:
    # 0.003 h = 10.8 s: with 1.52 s of fixed stages, 9.28 s is less than 10 batches * 1 round * 1.17 s.
    plan = hand_case(config, deadline_hours=0.003)
    (reason,) = plan.distributed_map
    assert "batches one after another take too long" in reason and "Distributed Map" in reason
    assert plan.deadline == []


def test_express_is_refused_when_a_batch_would_outlast_five_minutes(config: EnvironmentConfig) -> None:
    # 30 s per entry: an item takes 10 * 30 = 300 s and more, two rounds per batch: over 300 s.
    slow = ASSUMPTIONS.model_copy(update={"finance_entry_ms": 30_000})
    plan = make_plan(
        config, 1000, assumptions=slow, processes=["payroll_journal"], coefficients=COEFFICIENTS, prices=PRICES
    )
    assert not plan.express.possible and "300 s limit" in plan.express.reason


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        ({"transactions": 0}, "--transactions"),
        ({"transactions": 10, "max_concurrency": 0}, "--max-concurrency"),
        ({"transactions": 10, "deadline_hours": 0}, "--deadline-hours"),
        ({"transactions": 10, "processes": ["payrol_journal"]}, "--processes"),
    ],
)
def test_bad_arguments_are_named(config: EnvironmentConfig, kwargs: dict[str, Any], named: str) -> None:
    transactions = kwargs.pop("transactions")
    with pytest.raises(PlanError, match=named):
        make_plan(config, transactions, coefficients=COEFFICIENTS, prices=PRICES, **kwargs)


def test_the_packaged_data_loads_with_its_provenance() -> None:
    from orchestration.infra.lambda_function import MEMORY_MB

    prices, coefficients = load_prices(), load_coefficients()
    assert prices.sources and prices.not_verified and prices.checked_on
    assert coefficients.how and coefficients.cases and coefficients.measured_on
    assert set(coefficients.functions) >= {"check-gate", "get-transactions", "post-to-finance", "summarize"}
    assert set(coefficients.functions) <= {spec.name for spec in TASK_FUNCTIONS}, "measured on the current definition"
    assert Assumptions().lambda_memory_mb == MEMORY_MB


def test_the_cli_prints_the_plan_and_its_assumptions() -> None:
    result = runner.invoke(app, ["plan", "--transactions", "100000", "--env", "dev"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assumptions = "assumptions: finance 200 ms per batch request + 20 ms per entry"
    for expected in ("Monthly cost", assumptions, "Express child workflows", "note:"):
        assert expected in result.output
    as_json = runner.invoke(app, ["plan", "--transactions", "100000", "--json"], catch_exceptions=False)
    plan = json.loads(as_json.output)
    assert plan["transactions"] == 100000 and plan["total_cost"] > 0


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--transactions", "0"], "--transactions"),
        (["--transactions", "-5"], "--transactions"),
        (["--transactions", "10", "--finance-latency-ms", "-1"], "--finance-latency-ms"),
        (["--transactions", "10", "--processes", "payrol_journal"], "--processes"),
        (["--transactions", "10", "--env", "staging"], "staging"),
    ],
)
def test_the_cli_names_a_bad_argument_and_exits_2(args: list[str], named: str) -> None:
    result = runner.invoke(app, ["plan", *args])
    assert result.exit_code == 2
    assert named in result.output
