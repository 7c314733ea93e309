"""``ledgerflow plan``: how long a monthly volume takes on AWS and what it costs, and when to redesign.

The figures come from three places and the output names each: per-unit counts measured by
``bench/throughput.py``, the environment's configuration, and published prices; the duration
assumptions are options, printed with the result.
"""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from orchestration.cli.common import EnvOption, JsonOption, ProcessesOption, out
from orchestration.planning.plan import Assumptions, Plan, make_plan
from orchestration.spec.config import load_config

app = typer.Typer()

DEFAULTS = Assumptions()


def duration(seconds: float) -> str:
    """Seconds as the largest sensible unit, for people."""
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    if seconds >= 60:
        return f"{seconds / 60:.1f} min"
    return f"{seconds:.1f} s"


def process_table(plan: Plan) -> Table:
    """Per process: how the volume is cut, what it uses, its history and one run's duration."""
    table = Table(title=f"ledgerflow plan: {plan.transactions:,} transactions a month ({plan.env})")
    columns = (
        "process",
        "transactions",
        "batch / chunk / MaxConc.",
        "executions",
        "batches",
        "Map items",
        "transitions",
        "Lambda calls",
        "DynamoDB RRU / WRU",
        "history events (expected / worst)",
        "one run",
    )
    for column in columns:
        table.add_column(column, justify="left" if column == "process" else "right")
    for p in plan.processes:
        table.add_row(
            p.process,
            f"{p.transactions:,}",
            f"{p.batch_size} / {p.chunk_size} / {p.max_concurrency}",
            f"{p.executions:,}",
            f"{p.batches:,}",
            f"{p.map_items:,}",
            f"{p.state_transitions:,.0f}",
            f"{p.lambda_invocations:,.0f}",
            f"{p.dynamodb_read_units:,.0f} / {p.dynamodb_write_units:,.0f}",
            f"{p.expected_history_events:,.0f} / {p.worst_case_history_events:,}",
            duration(p.run_seconds),
        )
    return table


def cost_table(plan: Plan) -> Table:
    """The month's bill by what AWS prices separately."""
    table = Table(title="Monthly cost (USD, on-demand, before free tiers)")
    table.add_column("item")
    table.add_column("USD", justify="right")
    for label, value in (
        ("Step Functions Standard transitions", plan.costs.step_functions),
        ("Lambda requests", plan.costs.lambda_requests),
        ("Lambda duration (arm64)", plan.costs.lambda_duration),
        ("DynamoDB on-demand requests", plan.costs.dynamodb),
        ("total", plan.total_cost),
        ("per 1,000 transactions", plan.cost_per_thousand_transactions),
    ):
        table.add_row(label, f"{value:,.4f}")
    return table


def print_plan(plan: Plan, console: Console) -> None:
    """Tables, then the assumptions and verdicts in words, so no figure is read without its basis."""
    console.print(process_table(plan))
    console.print(cost_table(plan))
    a = plan.assumptions
    console.print(
        f"assumptions: finance {a.finance_latency_ms:g} ms per batch request + {a.finance_entry_ms:g} ms per entry, "
        f"Lambda overhead {a.lambda_overhead_ms:g} ms "
        f"per invocation, DynamoDB {a.dynamodb_latency_ms:g} ms per call, {a.transition_latency_ms:g} ms per state "
        f"transition, Lambda memory {a.lambda_memory_mb} MB, {a.runs_per_month} run(s) per process a month",
        highlight=False,
    )
    console.print(f"longest run: {duration(plan.longest_run_seconds)}", highlight=False)
    console.print(f"Express child workflows: {plan.express.reason}", highlight=False)
    if plan.distributed_map:
        console.print("Distributed Map needed:", highlight=False)
        for reason in plan.distributed_map:
            console.print(f"  - {reason}", highlight=False)
    else:
        console.print(
            "Distributed Map: not needed (MaxConcurrency within the inline Map's ~40, histories under budget)",
            highlight=False,
        )
    for advice in plan.deadline:
        console.print(f"deadline: {advice}", highlight=False)
    for note in plan.notes:
        console.print(f"note: {note}", highlight=False)


@app.command()
def plan(
    transactions: Annotated[
        int, typer.Option("--transactions", min=1, help="transactions a month, split evenly across processes")
    ],
    env: EnvOption = "local",
    processes: ProcessesOption = None,
    finance_latency_ms: Annotated[
        float, typer.Option("--finance-latency-ms", min=0, help="one batch request's round trip to finance")
    ] = DEFAULTS.finance_latency_ms,
    finance_entry_ms: Annotated[
        float, typer.Option("--finance-entry-ms", min=0, help="finance's time per entry within a batch")
    ] = DEFAULTS.finance_entry_ms,
    lambda_overhead_ms: Annotated[
        float, typer.Option("--lambda-overhead-ms", min=0, help="one warm Lambda invocation before its I/O")
    ] = DEFAULTS.lambda_overhead_ms,
    dynamodb_latency_ms: Annotated[
        float, typer.Option("--dynamodb-latency-ms", min=0, help="one DynamoDB call from Lambda")
    ] = DEFAULTS.dynamodb_latency_ms,
    transition_latency_ms: Annotated[
        float, typer.Option("--transition-latency-ms", min=0, help="Step Functions latency per state transition")
    ] = DEFAULTS.transition_latency_ms,
    runs_per_month: Annotated[
        int, typer.Option("--runs-per-month", min=1, help="HCM runs per process a month (the volume is split)")
    ] = DEFAULTS.runs_per_month,
    max_concurrency: Annotated[
        int | None,
        typer.Option("--max-concurrency", min=1, help="what if every process ran at this MaxConcurrency"),
    ] = None,
    deadline_hours: Annotated[
        float | None,
        typer.Option("--deadline-hours", min=0.001, help="a run must finish within this; says what it needs"),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Estimate duration and monthly AWS cost of a monthly volume, and when to change the design."""
    config = load_config(env)
    chosen = [name.strip() for name in processes.split(",") if name.strip()] if processes else None
    assumptions = Assumptions(
        finance_latency_ms=finance_latency_ms,
        finance_entry_ms=finance_entry_ms,
        lambda_overhead_ms=lambda_overhead_ms,
        dynamodb_latency_ms=dynamodb_latency_ms,
        transition_latency_ms=transition_latency_ms,
        runs_per_month=runs_per_month,
    )
    result = make_plan(
        config,
        transactions,
        assumptions=assumptions,
        processes=chosen,
        max_concurrency=max_concurrency,
        deadline_hours=deadline_hours,
    )
    if as_json:
        typer.echo(json.dumps(result.model_dump(mode="json"), indent=2))
        return
    print_plan(result, out())
