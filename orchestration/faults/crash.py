"""Crash-after-post: a PostToFinance invocation that dies after the finance system accepted a line.

This is the one fault no HTTP response can simulate: the finance ledger holds the entry, but
the invocation never returns, so Step Functions never sees the outcome. It is injected at
the boundary of the in-process Lambda runtime (``LocalLambdaRuntime.interceptors``) and the
finance client, never inside ``lambdas/``: the handler code that runs is the deployed code.

The crash is raised inside the Powertools idempotent function, which (like a runtime that
dies mid-call and whose in-progress record has expired) leaves no completed idempotency
record, so the retry really reaches the finance system again: only the finance-side
idempotency keys stand between a retry and a second ledger entry.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import Any

from lambdas.finance_client import FinanceClient, FinanceRejected, PostResult
from lambdas.journal import Journal
from orchestration.engine.lambda_runtime import LocalLambdaRuntime

CRASH_ERROR = "Runtime.ExitError"
"""What the Lambda service reports when the runtime process exits mid-invocation."""


class LambdaRuntimeCrash(Exception):
    """The execution environment died; the runtime reports ``error_type`` as the Lambda service does."""

    error_type = CRASH_ERROR


class CrashAfterPost:
    """Makes a seeded share of post invocations crash right after the finance system accepted their batch.

    By default only first attempts crash, so Step Functions' retry of the crash error gets a
    clean second try and the scenario proves that the retry posts nothing twice. With
    ``every_attempt`` the retries crash too, until the ``Catch`` path (RecordResult) looks the
    lines up at finance and records the landed ones posted; only when finance is unreachable
    too is such a line recorded failed although it is in the ledger: the case
    ``ledgerflow reconcile`` reports and ``ledgerflow redrive`` repairs.
    """

    def __init__(self, function_name: str, rate: float, seed: int, *, every_attempt: bool = False) -> None:
        self._function = function_name
        self._rate = rate
        self._every_attempt = every_attempt
        self._rng = random.Random(f"crash-after-post:{seed}")
        self._lock = threading.Lock()
        self._armed = threading.local()
        self.crashed_keys: list[str] = []
        """Idempotency keys whose post landed in the ledger just before the invocation died."""

    def _draw(self) -> bool:
        with self._lock:
            return self._rng.random() < self._rate

    def intercept(self, name: str, payload: Any) -> AbstractContextManager[None]:
        """Arm the invocation's thread when this invocation is chosen to crash."""

        @contextmanager
        def scope() -> Iterator[None]:
            first_attempt = isinstance(payload, dict) and payload.get("retry_count", 0) == 0
            eligible = name == self._function and (first_attempt or self._every_attempt)
            self._armed.value = eligible and self._draw()
            try:
                yield
            finally:
                self._armed.value = False

        return scope()

    @contextmanager
    def installed(self, runtime: LocalLambdaRuntime) -> Iterator[CrashAfterPost]:
        """Wrap the finance client's post for the engine's lifetime and register the interceptor."""
        original = FinanceClient.post_entries
        crash = self

        def post_entries(
            self: FinanceClient, entries: Sequence[tuple[str, Journal]]
        ) -> list[PostResult | FinanceRejected]:
            answers = original(self, entries)
            accepted = [
                key for (key, _), answer in zip(entries, answers, strict=True) if isinstance(answer, PostResult)
            ]
            if accepted and getattr(crash._armed, "value", False):
                crash._armed.value = False
                with crash._lock:
                    crash.crashed_keys.extend(accepted)
                raise LambdaRuntimeCrash(
                    f"Runtime exited with error: signal: killed (after finance accepted {len(accepted)} entries)"
                )
            return answers

        FinanceClient.post_entries = post_entries  # type: ignore[method-assign]
        runtime.interceptors.append(self.intercept)
        try:
            yield self
        finally:
            FinanceClient.post_entries = original  # type: ignore[method-assign]
            runtime.interceptors.remove(self.intercept)
