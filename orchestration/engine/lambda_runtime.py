"""Runs Lambda tasks in-process: a botocore hook answers ``Invoke`` calls with our handlers.

moto's interpreter invokes Lambda tasks through boto3 (which would need docker); the hook
intercepts the request before it is sent, calls the handler, and answers the way the
Lambda service does, including ``X-Amz-Function-Error`` so ASL Retry/Catch match on the
exception's class name.
"""

from __future__ import annotations

import importlib
import io
import json
import threading
import traceback
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from botocore.awsrequest import AWSPreparedRequest, AWSResponse

from orchestration.functions import FUNCTIONS, FunctionSpec

Handler = Callable[[dict[str, Any], Any], Any]


class _Body(io.BytesIO):
    """A response body botocore can both ``read()`` and ``stream()``."""

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self.getvalue()


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


def function_name_from_url(url: str) -> str:
    """``.../functions/{name}/invocations``: the name may be a URL-encoded full ARN."""
    encoded = url.split("/functions/", 1)[1].split("/", 1)[0]
    name = unquote(encoded)
    if ":function:" in name:
        name = name.split(":function:", 1)[1]
    return name.split(":", 1)[0]


@dataclass
class InvocationStats:
    invocations: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)


class LocalLambdaRuntime:
    """Maps deployed function names to handler callables and answers invocations."""

    def __init__(self, names: dict[str, FunctionSpec]) -> None:
        self._specs = names
        self._handlers: dict[str, Handler] = {}
        self._lock = threading.Lock()
        self.stats = InvocationStats()

    @classmethod
    def for_functions(cls, function_name: Callable[[FunctionSpec], str]) -> LocalLambdaRuntime:
        return cls({function_name(spec): spec for spec in FUNCTIONS})

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
            body = {"errorType": "ResourceNotFoundException", "errorMessage": f"no local function {name!r}"}
            return json.dumps(body).encode(), True
        context = LocalContext(function_name=name, timeout_seconds=spec.timeout_seconds)
        with self._lock:
            self.stats.invocations[name] += 1
        try:
            result = self.handler(name)(payload, context)
        except Exception as exc:
            with self._lock:
                self.stats.errors[type(exc).__name__] += 1
            body = {
                "errorType": type(exc).__name__,
                "errorMessage": str(exc),
                "stackTrace": traceback.format_tb(exc.__traceback__)[-5:],
            }
            return json.dumps(body).encode(), True
        return json.dumps(result).encode(), False

    def before_send(self, request: AWSPreparedRequest, **_: Any) -> AWSResponse | None:
        """botocore ``before-send.lambda`` hook: answer Invoke, let other calls through."""
        if "/functions/" not in request.url or not request.url.rstrip("/").endswith("/invocations"):
            return None
        raw = request.body or b"{}"
        payload = json.loads(raw if isinstance(raw, bytes | str) else raw.read())
        body, failed = self.invoke(function_name_from_url(request.url), payload)
        headers = {"Content-Type": "application/json", "X-Amz-Executed-Version": "$LATEST"}
        if failed:
            headers["X-Amz-Function-Error"] = "Unhandled"
        return AWSResponse(request.url, 200, headers, _Body(body))
