"""Named fault profiles for local runs (``--faults``), seeded so runs are reproducible."""

from __future__ import annotations

from enum import StrEnum

from orchestration.sim.finance import FinanceFaults


class FaultProfile(StrEnum):
    NONE = "none"
    TRANSIENT = "transient"
    CHAOS = "chaos"


OUTAGE_MARGIN_SECONDS = 2.0
"""How much an ``outage`` with no set duration outlasts the retry budget (see ``orchestration.run.runner``)."""


def finance_faults(profile: FaultProfile, *, seed: int, timeout_seconds: float) -> FinanceFaults:
    """Fault rates of the finance simulator for a profile.

    ``transient`` injects each retryable failure (503 overload, 429 throttling, a response
    slower than the client timeout, a connection reset) into a share of the batch requests
    (each carries a Map item's chunk of entries, so even a short run sees a few); ``chaos``
    raises the rates and adds a concurrency cap that overloads the finance database when too
    many batches arrive at once.
    """
    slow = timeout_seconds + 0.5
    if profile is FaultProfile.NONE:
        return FinanceFaults(seed=seed)
    if profile is FaultProfile.TRANSIENT:
        return FinanceFaults(
            overload_rate=0.1,
            throttle_rate=0.1,
            slow_rate=0.03,
            slow_seconds=slow,
            reset_rate=0.03,
            seed=seed,
        )
    return FinanceFaults(
        capacity=6,
        overload_rate=0.15,
        throttle_rate=0.15,
        slow_rate=0.05,
        slow_seconds=slow,
        reset_rate=0.08,
        seed=seed,
    )


def malformed_share(profile: FaultProfile) -> float:
    """Share of malformed HCM records a profile seeds."""
    return {FaultProfile.NONE: 0.0, FaultProfile.TRANSIENT: 0.03, FaultProfile.CHAOS: 0.05}[profile]
