"""Runs Lambda tasks in-process, answering the interpreter's ``Invoke`` calls with our handlers.

moto's interpreter invokes Lambda tasks through a boto3 client (which would need docker).
``orchestration.engine.moto_patch`` hands it a ``LocalLambdaClient`` instead, which calls
the handler directly and answers the way the Lambda service does, including
``FunctionError`` so ASL Retry/Catch match on the exception's class name.
"""

from __future__ import annotations

import importlib
import io
import json
import threading
import time
import traceback
import uuid
from collections import Counter
from collections.abc import Callable
from contextlib import AbstractContextManager, ExitStack
from dataclasses import dataclass, field
from typing import Any

from lambdas.observability import metrics
from orchestration.engine.cloudwatch import MetricStore
from orchestration.spec.functions import FUNCTIONS, FunctionSpec

Handler = Callable[[dict[str, Any], Any], Any]
Interceptor = Callable[[str, Any], AbstractContextManager[None]]
"""Wraps one invocation (function name, payload): how local fault scenarios reach a handler."""


@dataclass
class LocalContext:
    """The attributes of a Lambda context object that the handlers and Powertools read."""

    function_name: str
    memory_limit_in_mb: int = 256
    timeout_seconds: int = 30
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    invoked_function_arn: str = ""
    log_group_name: str = ""
    log_stream_name: str = "local"
    function_version: str = "$LATEST"

    def get_remaining_time_in_millis(self) -> int:
        return self.timeout_seconds * 1000


def function_name_from_arn(name: str) -> str:
    """A function name, a full ARN, or a qualified ARN: the bare function name."""
    if ":function:" in name:
        name = name.split(":function:", 1)[1]
    return name.split(":", 1)[0]


@dataclass
class InvocationStats:
    invocations: Counter[str] = field(default_factory=Counter)
    errors: Counter[tuple[str, str]] = field(default_factory=Counter)
    """Function errors by (business process, error name): what Step Functions will retry or catch."""


class LocalLambdaRuntime:
    """Maps deployed function names to handler callables and answers invocations."""

    def __init__(self, names: dict[str, FunctionSpec], metric_store: MetricStore | None = None) -> None:
        self._specs = names
        self._handlers: dict[str, Handler] = {}
        self._lock = threading.Lock()
        self.stats = InvocationStats()
        self.metric_store = metric_store
        """Where the runtime reports ``AWS/Lambda`` Invocations and Errors, as the Lambda service does."""
        self.interceptors: list[Interceptor] = []

    @classmethod
    def for_functions(
        cls,
        function_name: Callable[[FunctionSpec], str],
        specs: tuple[FunctionSpec, ...] = FUNCTIONS,
        metric_store: MetricStore | None = None,
    ) -> LocalLambdaRuntime:
        return cls({function_name(spec): spec for spec in specs}, metric_store)

    def _service_metrics(self, name: str, *, error: bool) -> None:
        if self.metric_store is None:
            return
        now = time.time()
        dimensions = {"FunctionName": name}
        self.metric_store.put("AWS/Lambda", "Invocations", dimensions, 1.0, now)
        self.metric_store.put("AWS/Lambda", "Errors", dimensions, 1.0 if error else 0.0, now)

    def handler(self, name: str) -> Handler:
        with self._lock:
            if name not in self._handlers:
                spec = self._specs[name]
                module = importlib.import_module(f"lambdas.{spec.module}")
                self._handlers[name] = module.handler
            return self._handlers[name]

    def invoke(self, name: str, payload: Any) -> tuple[bytes, bool]:
        """Run one invocation; returns the response body and whether it is a function error."""
        spec = self._specs.get(name)
        if spec is None:
            missing = {"errorType": "ResourceNotFoundException", "errorMessage": f"no local function {name!r}"}
            return json.dumps(missing).encode(), True
        context = LocalContext(function_name=name, timeout_seconds=spec.timeout_seconds)
        with self._lock:
            self.stats.invocations[name] += 1
        try:
            with ExitStack() as stack:
                for intercept in self.interceptors:
                    stack.enter_context(intercept(name, payload))
                result = self.handler(name)(payload, context)
        except Exception as exc:
            self._service_metrics(name, error=True)
            # A simulated runtime failure reports the Lambda service's error name (e.g. Runtime.ExitError).
            error_type = str(getattr(exc, "error_type", type(exc).__name__))
            with self._lock:
                process = str(payload.get("process", "")) if isinstance(payload, dict) else ""
                self.stats.errors[(process, error_type)] += 1
            body: dict[str, Any] = {
                "errorType": error_type,
                "errorMessage": str(exc),
                "stackTrace": traceback.format_tb(exc.__traceback__)[-5:],
            }
            return json.dumps(body).encode(), True
        finally:
            # Metrics are disabled locally, and a disabled flush keeps the values: drop them, or
            # Powertools' automatic flush at 100 values would print EMF into the CLI's stdout.
            metrics.clear_metrics()
        self._service_metrics(name, error=False)
        return json.dumps(result).encode(), False

    def client(self) -> LocalLambdaClient:
        return LocalLambdaClient(self)


class LocalLambdaClient:
    """The one Lambda client method the interpreter calls, answered without botocore."""

    def __init__(self, runtime: LocalLambdaRuntime) -> None:
        self._runtime = runtime

    def invoke(self, FunctionName: str, Payload: bytes | str | None = None, **_: Any) -> dict[str, Any]:
        raw = Payload if Payload is not None else b"{}"
        body, failed = self._runtime.invoke(function_name_from_arn(FunctionName), json.loads(raw))
        response: dict[str, Any] = {
            "StatusCode": 200,
            "Payload": io.BytesIO(body),
            "ExecutedVersion": "$LATEST",
        }
        if failed:
            response["FunctionError"] = "Unhandled"
        return response
