"""Per-invocation Powertools Metrics for the in-process Lambda runtime, delivered to a local metric store.

On AWS each Lambda container runs one invocation at a time, so the module-level ``metrics``
object of ``lambdas.observability`` holds one invocation's metrics. Locally the interpreter
runs tasks on many threads of one process, and Powertools keeps its metric set in shared
dictionaries: concurrent invocations would mix their metrics into one flush. Here each
thread is one warm "container": ``isolated_metrics`` gives the provider thread-local state
(metric set, dimensions, metadata), so what a thread's invocation adds is what its flush
serializes, and hands each flush's EMF document to a sink instead of printing it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import AmazonCloudWatchEMFProvider

from orchestration.alarms import MetricStore

EmfSink = Callable[[dict[str, Any]], None]


class _ThreadState(threading.local):
    def __init__(self) -> None:
        self.metric_set: dict[str, Any] = {}
        self.dimension_set: dict[str, str] = {}
        self.dimension_sets: list[dict[str, str]] = []
        self.metadata_set: dict[str, Any] = {}
        self.timestamp: int | None = None
        self.fresh = True


def _thread_attribute(name: str) -> property:
    def get(self: IsolatedEMFProvider) -> Any:
        state = self._ledgerflow_state
        if state.fresh:
            state.fresh = False
            state.dimension_set.update({k: str(v) for k, v in self.default_dimensions.items()})
        return getattr(state, name)

    def set_(self: IsolatedEMFProvider, value: Any) -> None:
        setattr(self._ledgerflow_state, name, value)

    return property(get, set_)


class IsolatedEMFProvider(AmazonCloudWatchEMFProvider):
    """The EMF provider with per-thread state; flushes go to ``_ledgerflow_sink``."""

    _ledgerflow_state: _ThreadState
    _ledgerflow_sink: EmfSink
    metric_set = _thread_attribute("metric_set")  # type: ignore[assignment]
    dimension_set = _thread_attribute("dimension_set")  # type: ignore[assignment]
    dimension_sets = _thread_attribute("dimension_sets")  # type: ignore[assignment]
    metadata_set = _thread_attribute("metadata_set")  # type: ignore[assignment]
    timestamp = _thread_attribute("timestamp")  # type: ignore[assignment]

    def flush_metrics(self, raise_on_empty_metrics: bool = False) -> None:
        if self.metric_set:
            self._ledgerflow_sink(dict(self.serialize_metric_set()))
        self.clear_metrics()


@contextmanager
def isolated_metrics(metrics: Metrics, sink: EmfSink) -> Iterator[None]:
    """Give ``metrics`` per-thread state and send every flush to ``sink`` until the context exits."""
    provider = metrics.provider
    if not isinstance(provider, AmazonCloudWatchEMFProvider):
        raise TypeError(f"expected the CloudWatch EMF provider, got {type(provider).__name__}")
    original = type(provider)
    provider._ledgerflow_state = _ThreadState()  # type: ignore[attr-defined]
    provider._ledgerflow_sink = sink  # type: ignore[attr-defined]
    provider.__class__ = IsolatedEMFProvider
    try:
        yield
    finally:
        provider.__class__ = original
        del provider._ledgerflow_state  # type: ignore[attr-defined]
        del provider._ledgerflow_sink  # type: ignore[attr-defined]
        provider.clear_metrics()


def store_sink(store: MetricStore) -> EmfSink:
    """A sink writing each EMF document's values into ``store`` (one datapoint per value)."""

    def sink(document: dict[str, Any]) -> None:
        aws = document["_aws"]
        at = int(aws["Timestamp"]) / 1000
        for directive in aws["CloudWatchMetrics"]:
            namespace = directive["Namespace"]
            for dimension_names in directive["Dimensions"]:
                dimensions = {name: str(document[name]) for name in dimension_names}
                for metric in directive["Metrics"]:
                    raw = document[metric["Name"]]
                    for value in raw if isinstance(raw, list) else [raw]:
                        store.put(namespace, metric["Name"], dimensions, float(value), at)

    return sink
