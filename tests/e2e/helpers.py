"""Polling helpers for end-to-end tests: wait on real execution state, never on fixed sleeps."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from orchestration.engine.local import LocalEngine

TERMINAL = {"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"}


def wait_until(predicate: Callable[[], Any], timeout: float, interval: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s")


def wait_for_execution(engine: LocalEngine, arn: str, timeout: float = 120) -> dict[str, Any]:
    def finished() -> dict[str, Any] | None:
        description = engine.sfn.describe_execution(executionArn=arn)
        return description if description["status"] in TERMINAL else None

    result: dict[str, Any] = wait_until(finished, timeout, interval=0.2)
    return result
