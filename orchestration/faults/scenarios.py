"""Named fault scenarios for local runs: ``--faults overload,crash_after_post,gate_flap=5``.

A ``--faults`` value is a comma-separated list of presets (``none``, ``transient``,
``chaos``: the profiles of ``orchestration.faults.profiles``) and scenarios, each optionally with
``=VALUE`` to change its one knob (a rate, a capacity or a number of seconds). They combine:
finance fault rates take the highest value asked for, and every draw is seeded, so the same
value and ``--seed`` reproduce the same run. The result is one ``FaultPlan``; the local
runner hands it to ``orchestration.faults.driver`` which drives the faults that are not finance
responses (outage timing, crashes, duplicate deliveries, gate flaps).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from orchestration.errors import USAGE, LedgerflowError
from orchestration.faults.profiles import FaultProfile, finance_faults, malformed_share
from orchestration.sim.finance import FinanceFaults

Knob = Literal["rate", "capacity", "seconds", "count"]


class FaultSpecError(LedgerflowError):
    """A ``--faults`` value names an unknown scenario or gives one a bad value."""

    exit_code = USAGE


@dataclass(frozen=True)
class Scenario:
    """One named fault: what it injects, its knob, and the knob's default."""

    name: str
    knob: Knob
    default: float
    help: str


CAPACITY_LATENCY_SECONDS = 0.2
"""Commit time under the capacity scenario, so concurrent posts really overlap at the finance system."""

SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario("overload", "rate", 0.2, "finance answers 503 database_overloaded at random"),
        Scenario(
            "capacity",
            "capacity",
            3,
            f"finance commits take {CAPACITY_LATENCY_SECONDS}s and answers 503 when more posts than this are in flight",
        ),
        Scenario("throttle", "rate", 0.2, "finance answers 429 throttled with Retry-After"),
        Scenario("slow", "rate", 0.1, "finance records the entry but answers after the client timeout"),
        Scenario("reset", "rate", 0.1, "finance drops the connection without an answer"),
        Scenario(
            "outage",
            "seconds",
            0,
            "finance is down (503 outage) for this long, starting after the first posts; without a value, "
            "long enough for the retries in flight to run out and the health alarm to fire",
        ),
        Scenario(
            "crash_after_post",
            "rate",
            0.25,
            "PostToFinance dies right after a successful post, before its result is recorded",
        ),
        Scenario("duplicate_run", "count", 2, "the HCM delivers each run entry this many extra times"),
        Scenario(
            "duplicate_delivery",
            "rate",
            0.1,
            "this share of transactions is delivered again: into the same run mid-run and in a second run",
        ),
        Scenario("malformed", "rate", 0.2, "this share of HCM records is malformed (every MALFORMED_KINDS defect)"),
        Scenario("gate_flap", "seconds", 3, "each gate is closed after the first posts and reopened this much later"),
    )
}
PRESETS: tuple[str, ...] = tuple(profile.value for profile in FaultProfile)
MAX_SECONDS = 600
MAX_COUNT = 10


class FaultPlan(BaseModel):
    """Everything a local run injects, resolved from a ``--faults`` value and a seed."""

    model_config = ConfigDict(extra="forbid")

    spec: str = Field(description="the normalised --faults value, for reports")
    seed: int
    finance: FinanceFaults
    malformed_share: float = Field(default=0.0, ge=0, le=1)
    crash_after_post: float = Field(default=0.0, ge=0, le=1)
    outage_seconds: float = Field(default=0.0, ge=0)
    outage_auto: bool = Field(default=False, description="the runner sizes the outage from the retry budget")
    outage_after_posts: int = Field(default=5, ge=0, description="ledger entries before the outage starts")
    gate_flap_seconds: float = Field(default=0.0, ge=0)
    gate_flap_after_posts: int = Field(default=5, ge=0, description="ledger entries before the gates close")
    duplicate_runs: int = Field(default=0, ge=0)
    duplicate_delivery: float = Field(default=0.0, ge=0, le=1)


def valid_names() -> list[str]:
    return [*PRESETS, *SCENARIOS]


def _unknown(name: str) -> FaultSpecError:
    close = difflib.get_close_matches(name, valid_names(), n=1)
    hint = f" (did you mean {close[0]}?)" if close else ""
    return FaultSpecError(f"--faults: unknown scenario {name!r}{hint}; valid: {', '.join(valid_names())}")


def _knob_value(scenario: Scenario, raw: str | None) -> float:
    """The knob value of one ``name=VALUE`` term, checked against the knob's range."""
    if raw is None:
        return scenario.default
    try:
        value = float(raw)
    except ValueError:
        raise FaultSpecError(f"--faults: {scenario.name}={raw!r}: {scenario.knob} must be a number") from None
    ok = {
        "rate": 0 < value <= 1,
        "capacity": value >= 1 and value.is_integer(),
        "seconds": 0 < value <= MAX_SECONDS,
        "count": 1 <= value <= MAX_COUNT and value.is_integer(),
    }[scenario.knob]
    if not ok:
        expected = {
            "rate": "a rate in (0, 1]",
            "capacity": "a whole number of posts >= 1",
            "seconds": f"seconds in (0, {MAX_SECONDS}]",
            "count": f"a whole number from 1 to {MAX_COUNT}",
        }[scenario.knob]
        raise FaultSpecError(f"--faults: {scenario.name}={raw}: expected {expected}")
    return value


def _merge_finance(base: FinanceFaults, other: FinanceFaults) -> FinanceFaults:
    """Combine two finance fault settings: the highest rate of each kind, the tightest capacity."""
    capacities = [c for c in (base.capacity, other.capacity) if c is not None]
    return base.model_copy(
        update={
            "capacity": min(capacities) if capacities else None,
            "overload_rate": max(base.overload_rate, other.overload_rate),
            "throttle_rate": max(base.throttle_rate, other.throttle_rate),
            "slow_rate": max(base.slow_rate, other.slow_rate),
            "slow_seconds": max(base.slow_seconds, other.slow_seconds),
            "reset_rate": max(base.reset_rate, other.reset_rate),
            "latency_seconds": max(base.latency_seconds, other.latency_seconds),
        }
    )


def parse_faults(value: str | FaultProfile, *, seed: int, timeout_seconds: float) -> FaultPlan:
    """Resolve a ``--faults`` value into a plan; raises ``FaultSpecError`` naming the bad term."""
    terms = [term.strip() for term in str(value).split(",") if term.strip()]
    if not terms:
        raise FaultSpecError(f"--faults: empty value; valid: {', '.join(valid_names())}")
    slow_seconds = timeout_seconds + 0.5
    finance = FinanceFaults(seed=seed, slow_seconds=slow_seconds)
    plan: dict[str, float | int] = {}
    normalised: list[str] = []
    for term in terms:
        name, _, raw = term.partition("=")
        name = name.strip().lower()
        if name in PRESETS:
            if raw:
                raise FaultSpecError(f"--faults: preset {name!r} takes no value (got {term!r})")
            profile = FaultProfile(name)
            finance = _merge_finance(finance, finance_faults(profile, seed=seed, timeout_seconds=timeout_seconds))
            plan["malformed_share"] = max(float(plan.get("malformed_share", 0.0)), malformed_share(profile))
            normalised.append(name)
            continue
        scenario = SCENARIOS.get(name)
        if scenario is None:
            raise _unknown(name)
        knob = _knob_value(scenario, raw.strip() or None)
        normalised.append(name if knob == scenario.default else f"{name}={knob:g}")
        if name == "capacity":
            limited = FinanceFaults(capacity=int(knob), latency_seconds=CAPACITY_LATENCY_SECONDS)
            finance = _merge_finance(finance, limited)
        elif name in ("overload", "throttle", "slow", "reset"):
            rate = FinanceFaults(**{f"{name}_rate": knob, "slow_seconds": slow_seconds})
            finance = _merge_finance(finance, rate)
        elif name == "outage":
            if raw.strip():
                plan["outage_seconds"] = knob
            else:
                plan["outage_auto"] = True
        elif name == "crash_after_post":
            plan["crash_after_post"] = knob
        elif name == "duplicate_run":
            plan["duplicate_runs"] = int(knob)
        elif name == "duplicate_delivery":
            plan["duplicate_delivery"] = knob
        elif name == "malformed":
            plan["malformed_share"] = max(float(plan.get("malformed_share", 0.0)), knob)
        else:
            plan["gate_flap_seconds"] = knob
    return FaultPlan(spec=",".join(dict.fromkeys(normalised)), seed=seed, finance=finance, **plan)
