"""Per-invocation Powertools Metrics for the in-process Lambda runtime, delivered to a local metric store.

On AWS each Lambda container runs one invocation at a time, so the module-level ``metrics``
object of ``lambdas.observability`` holds one invocation's metrics. Locally the interpreter
runs tasks on many threads of one process, and one provider's metric set would mix their
metrics into one flush. Here each thread is one warm "container": ``isolated_metrics`` gives
``metrics`` a provider of its own, through Powertools' seam for it (``Metrics.provider``, which
a caller may bring), that keeps one stock EMF provider per thread and hands each flush's EMF
document to a sink instead of printing it. The handlers flush through whatever provider
``metrics`` holds when they run (``lambdas.observability.log_metrics``).
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricResolution, MetricUnit
from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import AmazonCloudWatchEMFProvider

from orchestration.engine.cloudwatch import MetricStore

if TYPE_CHECKING:
    from aws_lambda_powertools.metrics.provider.cloudwatch_emf.types import CloudWatchEMFOutput

EmfSink = Callable[[dict[str, Any]], None]


class ThreadEMFProvider(AmazonCloudWatchEMFProvider):
    """An EMF provider whose metric state is one stock provider per thread; flushes go to ``sink``."""

    def __init__(self, *, namespace: str | None, service: str | None, sink: EmfSink) -> None:
        super().__init__(namespace=namespace, service=service)
        self._sink = sink
        self._threads = threading.local()

    def _own(self) -> AmazonCloudWatchEMFProvider:
        provider: AmazonCloudWatchEMFProvider | None = getattr(self._threads, "provider", None)
        if provider is None:
            provider = AmazonCloudWatchEMFProvider(
                namespace=self.namespace, service=self.service, default_dimensions=dict(self.default_dimensions)
            )
            self._threads.provider = provider
        return provider

    def add_metric(
        self, name: str, unit: MetricUnit | str, value: float, resolution: MetricResolution | int = 60
    ) -> None:
        self._own().add_metric(name=name, unit=unit, value=value, resolution=resolution)

    def add_dimension(self, name: str, value: str) -> None:
        self._own().add_dimension(name=name, value=value)

    def add_dimensions(self, **dimensions: str) -> None:
        self._own().add_dimensions(**dimensions)

    def add_metadata(self, key: str, value: Any) -> None:
        self._own().add_metadata(key=key, value=value)

    def set_timestamp(self, timestamp: int | dt.datetime) -> None:
        self._own().set_timestamp(timestamp)

    def serialize_metric_set(
        self,
        metrics: dict[str, Any] | None = None,
        dimensions: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> CloudWatchEMFOutput:
        return self._own().serialize_metric_set(metrics=metrics, dimensions=dimensions, metadata=metadata)

    def clear_metrics(self) -> None:
        self._own().clear_metrics()

    def flush_metrics(self, raise_on_empty_metrics: bool = False) -> None:
        own = self._own()
        if own.metric_set:
            self._sink(dict(own.serialize_metric_set()))
        own.clear_metrics()


@contextmanager
def isolated_metrics(metrics: Metrics, sink: EmfSink) -> Iterator[ThreadEMFProvider]:
    """Give ``metrics`` per-thread state and send every flush to ``sink`` until the context exits."""
    original = metrics.provider
    provider = ThreadEMFProvider(namespace=original.namespace, service=original.service, sink=sink)
    metrics.provider = provider
    try:
        yield provider
    finally:
        metrics.provider = original


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
