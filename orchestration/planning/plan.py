"""Capacity and cost planning: how long a monthly volume takes and what it costs on AWS.

``ledgerflow plan`` multiplies three things and says which is which:

- per-unit figures measured by ``bench/throughput.py`` on the real definition and handlers
  (``data/coefficients.json``): state transitions, history events and Lambda invocations
  per execution, per batch and per Map item; DynamoDB calls and request units per Lambda
  invocation or per transaction, by function;
- the environment's configuration per process: batch_size, chunk_size, MaxConcurrency and
  max_batches_per_execution decide how many executions, batches and Map items a volume makes;
- published AWS prices (``data/prices.json``, with their date, source and what could not be
  verified), and duration assumptions (finance latency per post, Lambda overhead, DynamoDB
  latency, Step Functions per-transition latency) that the caller can change and that are printed.

It also says when Express child workflows would be cheaper than running the Map inside the
Standard execution, and when a Distributed Map is needed (MaxConcurrency above the inline
Map's ~40, or an execution's history near the 25,000-event limit).
"""

from __future__ import annotations

import json
import math
from enum import StrEnum
from importlib import resources
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from lambdas.models import ProcessSettings
from orchestration.errors import USAGE, LedgerflowError
from orchestration.spec.config import HISTORY_BUDGET, HISTORY_LIMIT, EnvironmentConfig, worst_case_history_events

DATA_PACKAGE = "orchestration.planning.data"
DATA_PATH = DATA_PACKAGE.replace(".", "/")
INLINE_MAP_CONCURRENCY = 40
"""Inline Map runs at most ~40 iterations at once; more needs a Distributed Map."""
EXPRESS_MAX_SECONDS = 300
"""An Express execution ends after 5 minutes."""
EXPRESS_BILLING_MB = 64
"""Express memory is billed in 64-MB chunks; a child running our Map stays within one (assumed)."""
EXPRESS_ROUNDING_SECONDS = 0.1
"""Express duration is rounded up to the next 100 ms."""
SECONDS_PER_MONTH = 30 * 24 * 3600


class Level(StrEnum):
    """What a figure is counted per: the three units a volume is cut into."""

    EXECUTION = "execution"
    BATCH = "batch"
    MAP_ITEM = "map_item"


class Frozen(BaseModel):
    """Data-file models: unknown keys are errors, so a renamed field cannot be silently ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class LevelCoefficients(Frozen):
    """A figure per execution, per batch and per Map item (fitted together, see ``how``)."""

    per_execution: float
    per_batch: float
    per_map_item: float

    def total(self, executions: float, batches: float, items: float) -> float:
        """The figure for a volume cut into this many executions, batches and Map items."""
        return self.per_execution * executions + self.per_batch * batches + self.per_map_item * items


class FunctionCoefficients(Frozen):
    """One Lambda function: how often it runs and what it asks of DynamoDB."""

    level: Level
    invocations_per_unit: float = Field(ge=0, description="invocations per execution, batch or Map item (its level)")
    dynamodb_per: Literal["invocation", "transaction"] = Field(
        description="what its DynamoDB work scales with: a fixed amount per invocation, or one per line"
    )
    dynamodb_calls: float = Field(ge=0, description="DynamoDB API calls per invocation or per transaction")
    read_units: float = Field(ge=0, description="read request units (estimated) per invocation or per transaction")
    write_units: float = Field(ge=0, description="write request units (estimated) per invocation or per transaction")
    calls_finance: bool = False
    local_mean_ms: float = Field(ge=0, description="mean duration on the local engine (informative, load-dependent)")


class MeasuredCoefficients(Frozen):
    """What ``bench/throughput.py --write-coefficients`` measured; ``how`` says how."""

    measured_on: str
    how: str
    machine: str
    cases: list[str]
    transitions: LevelCoefficients
    history_events: LevelCoefficients
    functions: dict[str, FunctionCoefficients]


class Price(Frozen):
    """One price with its unit, and whether it was read on AWS's own pages."""

    usd: float = Field(ge=0)
    per: str
    verified: bool
    note: str = ""


class Prices(Frozen):
    """Published on-demand prices (one region), with where they came from and what is unverified."""

    region: str
    checked_on: str
    sources: dict[str, str]
    not_verified: list[str]
    excluded: list[str]
    standard_transition: Price
    express_request: Price
    express_gb_second: Price
    lambda_request: Price
    lambda_arm_gb_second: Price
    dynamodb_write_request_unit: Price
    dynamodb_read_request_unit: Price


class Assumptions(Frozen):
    """Duration assumptions: not measurable locally, so stated, defaulted and printed."""

    finance_latency_ms: float = Field(default=200.0, ge=0, description="one batch request's round trip to finance")
    finance_entry_ms: float = Field(default=20.0, ge=0, description="finance's time per entry within a batch")
    lambda_overhead_ms: float = Field(default=20.0, ge=0, description="one warm invocation, before its I/O")
    dynamodb_latency_ms: float = Field(default=6.0, ge=0, description="one DynamoDB call from Lambda")
    transition_latency_ms: float = Field(default=25.0, ge=0, description="Step Functions per state transition")
    lambda_memory_mb: int = Field(default=256, ge=128, le=10_240, description="the CDK stack's MEMORY_MB")
    runs_per_month: int = Field(default=1, ge=1, description="HCM runs per process per month")


class ProcessPlan(BaseModel):
    """One process's share of the monthly volume, cut by its configuration."""

    process: str
    transactions: int
    runs: int
    batch_size: int
    chunk_size: int
    max_concurrency: int
    max_batches_per_execution: int
    executions: int
    batches: int
    map_items: int
    state_transitions: float
    lambda_invocations: float
    lambda_gb_seconds: float
    dynamodb_read_units: float
    dynamodb_write_units: float
    item_seconds: float
    batch_seconds: float
    run_seconds: float
    expected_history_events: float
    worst_case_history_events: int
    express_child_seconds: float


class Costs(BaseModel):
    """Monthly USD, before free tiers."""

    step_functions: float
    lambda_requests: float
    lambda_duration: float
    dynamodb: float

    @property
    def total(self) -> float:
        """The month's bill for what is priced here."""
        return self.step_functions + self.lambda_requests + self.lambda_duration + self.dynamodb


class ExpressComparison(BaseModel):
    """The Map of each batch run as an Express child workflow instead of inside the Standard execution."""

    possible: bool
    cheaper: bool
    standard_map_cost: float
    express_children_cost: float
    reason: str


class Plan(BaseModel):
    env: str
    transactions: int
    assumptions: Assumptions
    coefficients_measured_on: str
    prices_checked_on: str
    processes: list[ProcessPlan]
    costs: Costs
    total_cost: float
    cost_per_thousand_transactions: float
    longest_run_seconds: float
    express: ExpressComparison
    distributed_map: list[str]
    """Why an inline Map is not enough; empty when it is."""
    deadline: list[str]
    """What each process over ``--deadline-hours`` needs within the inline Map (a Distributed Map need is above)."""
    notes: list[str]


class PlanError(LedgerflowError):
    """A plan cannot be made from these arguments; the message names the argument."""

    exit_code = USAGE


def load_coefficients() -> MeasuredCoefficients:
    """The measured figures shipped with the package (refreshed by ``bench/throughput.py``)."""
    text = resources.files(DATA_PACKAGE).joinpath("coefficients.json").read_text()
    return MeasuredCoefficients.model_validate(json.loads(text))


def load_prices() -> Prices:
    """The published prices shipped with the package: one file, dated, with its sources."""
    text = resources.files(DATA_PACKAGE).joinpath("prices.json").read_text()
    return Prices.model_validate(json.loads(text))


def split_volume(total: int, parts: int) -> list[int]:
    """The volume split evenly over processes, as ``ledgerflow run`` splits it."""
    base, extra = divmod(total, parts)
    return [base + (1 if i < extra else 0) for i in range(parts)]


def invocation_ms(fn: FunctionCoefficients, lines: int, assumptions: Assumptions) -> float:
    """Duration of one invocation handling ``lines`` transactions: overhead, DynamoDB calls, its post.

    A function that calls finance sends its lines in one batch request: one round trip plus the
    finance system's time for each entry.
    """
    calls = fn.dynamodb_calls * (lines if fn.dynamodb_per == "transaction" else 1)
    post_ms = assumptions.finance_latency_ms + lines * assumptions.finance_entry_ms if fn.calls_finance else 0.0
    return assumptions.lambda_overhead_ms + calls * assumptions.dynamodb_latency_ms + post_ms


def plan_process(
    process: str,
    transactions: int,
    settings: ProcessSettings,
    worst_case_events: int,
    coefficients: MeasuredCoefficients,
    assumptions: Assumptions,
) -> ProcessPlan:
    """Cut one process's monthly volume into runs, executions, batches and items, and add it up."""
    runs = max(1, min(assumptions.runs_per_month, transactions))
    per_run = math.ceil(transactions / runs)
    batches_per_run = math.ceil(per_run / settings.batch_size)
    executions_per_run = max(1, math.ceil(batches_per_run / settings.max_batches_per_execution))
    items_per_batch = math.ceil(settings.batch_size / settings.chunk_size)
    items_per_run = math.ceil(per_run / settings.chunk_size)
    executions, batches, items = runs * executions_per_run, runs * batches_per_run, runs * items_per_run
    lines = {
        Level.EXECUTION: per_run,
        Level.BATCH: min(settings.batch_size, per_run),
        Level.MAP_ITEM: min(settings.chunk_size, per_run),
    }
    units = {Level.EXECUTION: executions, Level.BATCH: batches, Level.MAP_ITEM: items}
    invocations = gb_seconds = reads = writes = 0.0
    stage_ms = dict.fromkeys(Level, 0.0)
    for fn in coefficients.functions.values():
        count = fn.invocations_per_unit * units[fn.level]
        ms = invocation_ms(fn, lines[fn.level], assumptions)
        invocations += count
        gb_seconds += count * ms / 1000 * assumptions.lambda_memory_mb / 1024
        stage_ms[fn.level] += fn.invocations_per_unit * ms
        per = transactions if fn.dynamodb_per == "transaction" else count
        reads += fn.read_units * per
        writes += fn.write_units * per
    transition_s = assumptions.transition_latency_ms / 1000
    item_seconds = stage_ms[Level.MAP_ITEM] / 1000 + coefficients.transitions.per_map_item * transition_s
    rounds = math.ceil(min(items_per_batch, items_per_run) / settings.max_concurrency)
    map_seconds = rounds * item_seconds
    batch_seconds = map_seconds + stage_ms[Level.BATCH] / 1000 + coefficients.transitions.per_batch * transition_s
    execution_overhead = stage_ms[Level.EXECUTION] / 1000 + coefficients.transitions.per_execution * transition_s
    run_seconds = batches_per_run * batch_seconds + executions_per_run * execution_overhead
    batches_in_fullest = min(settings.max_batches_per_execution, batches_per_run)
    expected_events = coefficients.history_events.total(1, batches_in_fullest, batches_in_fullest * items_per_batch)
    return ProcessPlan(
        process=process,
        transactions=transactions,
        runs=runs,
        batch_size=settings.batch_size,
        chunk_size=settings.chunk_size,
        max_concurrency=settings.max_concurrency,
        max_batches_per_execution=settings.max_batches_per_execution,
        executions=executions,
        batches=batches,
        map_items=items,
        state_transitions=coefficients.transitions.total(executions, batches, items),
        lambda_invocations=invocations,
        lambda_gb_seconds=gb_seconds,
        dynamodb_read_units=reads,
        dynamodb_write_units=writes,
        item_seconds=item_seconds,
        batch_seconds=batch_seconds,
        run_seconds=run_seconds,
        expected_history_events=expected_events,
        worst_case_history_events=worst_case_events,
        express_child_seconds=map_seconds,
    )


def costs_of(processes: list[ProcessPlan], prices: Prices) -> Costs:
    """Every process's usage at the published prices, by what AWS bills separately."""
    return Costs(
        step_functions=sum(p.state_transitions for p in processes) * prices.standard_transition.usd,
        lambda_requests=sum(p.lambda_invocations for p in processes) * prices.lambda_request.usd,
        lambda_duration=sum(p.lambda_gb_seconds for p in processes) * prices.lambda_arm_gb_second.usd,
        dynamodb=sum(p.dynamodb_read_units for p in processes) * prices.dynamodb_read_request_unit.usd
        + sum(p.dynamodb_write_units for p in processes) * prices.dynamodb_write_request_unit.usd,
    )


def express_comparison(
    processes: list[ProcessPlan], coefficients: MeasuredCoefficients, prices: Prices
) -> ExpressComparison:
    """Each batch's Map as one Express child: the Map items' transitions leave the Standard bill,
    one request and its duration (64 MB, rounded to 100 ms) join the Express bill."""
    standard = sum(p.map_items * coefficients.transitions.per_map_item for p in processes)
    standard_cost = standard * prices.standard_transition.usd
    express_cost = 0.0
    for p in processes:
        billed = math.ceil(p.express_child_seconds / EXPRESS_ROUNDING_SECONDS) * EXPRESS_ROUNDING_SECONDS
        gb_seconds = billed * EXPRESS_BILLING_MB / 1024
        express_cost += p.batches * (prices.express_request.usd + gb_seconds * prices.express_gb_second.usd)
    too_long = [p for p in processes if p.express_child_seconds > EXPRESS_MAX_SECONDS]
    if too_long:
        names = ", ".join(f"{p.process} ({p.express_child_seconds:.0f} s)" for p in too_long)
        return ExpressComparison(
            possible=False,
            cheaper=False,
            standard_map_cost=standard_cost,
            express_children_cost=express_cost,
            reason=f"a batch's Map would outlast Express's {EXPRESS_MAX_SECONDS} s limit: {names}; "
            "lower batch_size or raise max_concurrency first",
        )
    cheaper = express_cost < standard_cost
    verdict = "cheaper" if cheaper else "not cheaper"
    return ExpressComparison(
        possible=True,
        cheaper=cheaper,
        standard_map_cost=standard_cost,
        express_children_cost=express_cost,
        reason=f"Express children are {verdict}: ${express_cost:,.4f} for one child per batch against "
        f"${standard_cost:,.4f} of Standard transitions inside the Maps (Express runs are at-least-once "
        "when started asynchronously and keep no execution history: our idempotent posts cover the first, "
        "CloudWatch Logs, billed separately, the second)",
    )


def distributed_map_reasons(processes: list[ProcessPlan], deadline_hours: float | None) -> list[str]:
    """Why a process would need a Distributed Map; empty when the inline Map suffices."""
    reasons = []
    for p in processes:
        if p.max_concurrency > INLINE_MAP_CONCURRENCY:
            reasons.append(
                f"{p.process}: MaxConcurrency {p.max_concurrency} is above the inline Map's ~{INLINE_MAP_CONCURRENCY}"
            )
        peak = max(p.expected_history_events, p.worst_case_history_events)
        if peak > HISTORY_BUDGET:
            reasons.append(
                f"{p.process}: an execution could reach {peak:,.0f} "
                f"history events (limit {HISTORY_LIMIT:,}): a Distributed Map keeps each item's events in its child"
            )
        if deadline_hours is not None and p.run_seconds > deadline_hours * 3600:
            text, needs_distributed = deadline_reason(p, deadline_hours)
            if needs_distributed:
                reasons.append(text)
    return reasons


def deadline_advice(processes: list[ProcessPlan], deadline_hours: float | None) -> list[str]:
    """Processes over the deadline that a higher MaxConcurrency within the inline Map would bring in."""
    if deadline_hours is None:
        return []
    found = [deadline_reason(p, deadline_hours) for p in processes if p.run_seconds > deadline_hours * 3600]
    return [text for text, needs_distributed in found if not needs_distributed]


def deadline_reason(p: ProcessPlan, deadline_hours: float) -> tuple[str, bool]:
    """What a run over its deadline needs, and whether that is a Distributed Map."""
    over = f"{p.process}: a run takes {p.run_seconds / 3600:.1f} h, over the {deadline_hours:g} h deadline; "
    batches_per_run = p.batches / p.runs
    items_per_batch = math.ceil(p.batch_size / p.chunk_size)
    rounds_now = math.ceil(items_per_batch / p.max_concurrency)
    fixed = p.run_seconds - batches_per_run * rounds_now * p.item_seconds
    budget = deadline_hours * 3600 - fixed
    rounds = math.floor(budget / (batches_per_run * p.item_seconds)) if p.item_seconds > 0 else 0
    if rounds < 1:
        text = over + (
            f"even with all {items_per_batch} items of a batch at once, batches one after another take too long: "
            "run batches in parallel (a Distributed Map over batches, or more executions at once)"
        )
        return text, True
    needed = math.ceil(items_per_batch / rounds)
    if needed > INLINE_MAP_CONCURRENCY:
        return over + f"it needs MaxConcurrency ~{needed}, above the inline Map's ~{INLINE_MAP_CONCURRENCY}", True
    return over + f"max_concurrency {needed} would do (within the inline Map)", False


def make_plan(
    config: EnvironmentConfig,
    transactions: int,
    *,
    assumptions: Assumptions | None = None,
    processes: list[str] | None = None,
    max_concurrency: int | None = None,
    deadline_hours: float | None = None,
    coefficients: MeasuredCoefficients | None = None,
    prices: Prices | None = None,
) -> Plan:
    """The plan for ``transactions`` a month, split evenly over the processes."""
    if transactions < 1:
        raise PlanError(f"--transactions must be at least 1, got {transactions}")
    if max_concurrency is not None and max_concurrency < 1:
        raise PlanError(f"--max-concurrency must be at least 1, got {max_concurrency}")
    if deadline_hours is not None and deadline_hours <= 0:
        raise PlanError(f"--deadline-hours must be above 0, got {deadline_hours}")
    assumptions = assumptions or Assumptions()
    coefficients = coefficients or load_coefficients()
    prices = prices or load_prices()
    chosen = processes or list(config.processes)
    unknown = [name for name in chosen if name not in config.processes]
    if unknown:
        raise PlanError(f"--processes: unknown process(es) {', '.join(unknown)}; known: {', '.join(config.processes)}")
    plans = []
    for process, share in zip(chosen, split_volume(transactions, len(chosen)), strict=True):
        settings = config.process_settings(process)
        if max_concurrency is not None:
            settings = settings.model_copy(update={"max_concurrency": max_concurrency})
        worst = worst_case_history_events(settings, config.retry_profiles[config.profile_name(process)])
        plans.append(plan_process(process, share, settings, worst, coefficients, assumptions))
    costs = costs_of(plans, prices)
    return Plan(
        env=config.environment,
        transactions=transactions,
        assumptions=assumptions,
        coefficients_measured_on=coefficients.measured_on,
        prices_checked_on=prices.checked_on,
        processes=plans,
        costs=costs,
        total_cost=costs.total,
        cost_per_thousand_transactions=costs.total / transactions * 1000,
        longest_run_seconds=max(p.run_seconds for p in plans),
        express=express_comparison(plans, coefficients, prices),
        distributed_map=distributed_map_reasons(plans, deadline_hours),
        deadline=deadline_advice(plans, deadline_hours),
        notes=[
            "no faults assumed: every retry adds transitions, invocations and DynamoDB writes",
            f"prices: on-demand {prices.region}, checked {prices.checked_on}, before free tiers; "
            f"{len(prices.not_verified)} not verified on AWS's own pages (see {DATA_PATH}/prices.json)",
            f"not included: {'; '.join(prices.excluded)}",
            f"per-unit figures measured {coefficients.measured_on} by bench/throughput.py on the local engine "
            f"({len(coefficients.cases)} runs; how: {DATA_PACKAGE}/coefficients.json)",
            f"processes run in parallel; a process's {assumptions.runs_per_month} run(s) a month run one at a time",
        ],
    )
