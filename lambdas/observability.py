"""Logger, Metrics and Tracer shared by the handlers, configured by Powertools env vars."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from aws_lambda_powertools import Logger, Metrics, Tracer

from lambdas.names import NAMESPACE, SERVICE

logger = Logger(service=SERVICE)
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)
tracer = Tracer(service=SERVICE)

P = ParamSpec("P")
R = TypeVar("R")


def log_metrics(handler: Callable[P, R]) -> Callable[P, R]:
    """Powertools' ``metrics.log_metrics``, taken when the handler runs rather than when it is decorated.

    ``metrics.log_metrics`` binds the provider ``metrics`` holds at that moment; a caller may
    bring its own (``Metrics.provider``), and this way every invocation flushes through the
    provider in place when it runs, the same one its ``metrics.add_metric`` calls reach.
    """

    @functools.wraps(handler)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        flushing: Callable[P, R] = metrics.log_metrics(handler)
        return flushing(*args, **kwargs)

    return run
