"""Named fault profiles for local runs (``--faults``), seeded so runs are reproducible."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from orchestration.finance_sim import FinanceFaults


class FaultProfile(StrEnum):
    NONE = "none"
    TRANSIENT = "transient"
    CHAOS = "chaos"
    OUTAGE = "outage"


@dataclass(frozen=True)
class OutageWindow:
    """The finance system goes down ``start_after_seconds`` after the run starts, for ``duration_seconds``."""

    start_after_seconds: float
    duration_seconds: float


OUTAGE_START_SECONDS = 0.5
OUTAGE_MARGIN_SECONDS = 2.0


def outage_window(profile: FaultProfile, retry_budget_seconds: float, minimum_seconds: float) -> OutageWindow | None:
    """When the ``outage`` profile takes the finance system down (no random faults besides).

    It starts shortly after the first successful post and outlasts the retry budget by a
    margin (and at least ``minimum_seconds``), so the items in flight when it starts run out
    of retries and fail, and the items after it post normally.
    """
    if profile is not FaultProfile.OUTAGE:
        return None
    return OutageWindow(OUTAGE_START_SECONDS, max(retry_budget_seconds + OUTAGE_MARGIN_SECONDS, minimum_seconds))


def finance_faults(profile: FaultProfile, *, seed: int, timeout_seconds: float) -> FinanceFaults:
    """Fault rates of the finance simulator for a profile.

    ``transient`` injects each retryable failure (503 overload, 429 throttling, a response
    slower than the client timeout, a connection reset) at a few percent; ``chaos`` adds a
    concurrency cap that overloads the finance database when too many posts arrive at once.
    """
    slow = timeout_seconds + 0.5
    if profile in (FaultProfile.NONE, FaultProfile.OUTAGE):
        return FinanceFaults(seed=seed)
    if profile is FaultProfile.TRANSIENT:
        return FinanceFaults(
            overload_rate=0.02,
            throttle_rate=0.02,
            slow_rate=0.005,
            slow_seconds=slow,
            reset_rate=0.005,
            seed=seed,
        )
    return FinanceFaults(
        capacity=12,
        overload_rate=0.05,
        throttle_rate=0.05,
        slow_rate=0.01,
        slow_seconds=slow,
        reset_rate=0.02,
        seed=seed,
    )


def malformed_share(profile: FaultProfile) -> float:
    """Share of malformed HCM records a profile seeds."""
    shares = {FaultProfile.NONE: 0.0, FaultProfile.TRANSIENT: 0.03, FaultProfile.CHAOS: 0.05}
    return shares.get(profile, 0.0)
