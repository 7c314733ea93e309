"""DynamoDB served by moto in a worker process, so the tables and the handlers use two cores.

In one process, a local run shares one interpreter lock between the Step Functions
interpreter, the handlers, botocore, the finance simulator and moto answering DynamoDB.
``dynamodb_in_worker`` starts one process (``python -m orchestration.engine.dynamodb_worker``)
that holds the run's DynamoDB (moto, with the same DynamoDB patches as in-process) and answers
every DynamoDB request botocore sends. It joins botocore the way moto itself does, through the
public ``before-send`` event: a handler for ``before-send.dynamodb`` (more specific than moto's
``before-send``, so botocore calls it first) sends the request as botocore signed it for AWS
(method, URL, headers, body) and returns the worker's answer, and moto in this process is told
to pass DynamoDB through (its ``core.passthrough`` setting, ``IN_WORKER``), so it does not
answer the same request a second time. The handlers, the engine and the tests see one DynamoDB,
served from another process; Step Functions, SNS, SSM and CloudWatch stay in-process.

The worker answers one request at a time, as ``atomic_requests`` serves in-process ones
(DynamoDB applies each request atomically; moto's backend is not thread-safe), in the order
they arrive; callers on many threads send theirs without waiting for each other's answers
(see ``DynamoDBWorker``). A waiting caller does not hold the interpreter lock, so the
interpreter and the other handlers run meanwhile. The worker exits when told to, when the
engine closes the socket, or when the engine's process dies (end of file).
"""

from __future__ import annotations

import collections
import copy
import os
import signal
import socket
import subprocess
import sys
import threading
import traceback
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from botocore.awsrequest import AWSPreparedRequest, AWSResponse
from botocore.compat import HTTPHeaders
from botocore.handlers import BUILTIN_HANDLERS
from moto import mock_aws
from moto.core.botocore_stubber import BotocoreStubber, MockRawResponse
from moto.core.config import DefaultConfig, default_user_config
from moto.core.models import botocore_stubber

from orchestration.engine.moto_patch import check_moto_version, dynamodb_patches
from orchestration.errors import LedgerflowError

SERVICE = "dynamodb"
"""DynamoDB's name both in botocore's events (its hyphenized service id) and in moto's config."""
EVENT = f"before-send.{SERVICE}"
STOP_SECONDS = 10
ANSWER_SECONDS = 300
"""Longest wait for one answer (a full scan of a large table takes seconds): past it, the worker is hung."""
TRACEBACK_FRAMES = 4
"""Innermost frames of a failure inside the worker sent back with its error."""
PACKAGE_ROOT = Path(__file__).resolve().parents[2]
"""Where ``orchestration`` and ``lambdas`` are importable from, for the worker's interpreter."""

Message = tuple[str, str, dict[str, str], bytes]
"""One request as botocore would send it: method, URL, headers, body."""


class WorkerFailed(LedgerflowError):
    """The DynamoDB worker process could not answer a request."""


def _body_bytes(body: Any) -> bytes:
    if body is None:
        return b""
    if isinstance(body, str):
        return body.encode()
    if isinstance(body, bytes | bytearray):
        return bytes(body)
    return bytes(body.read())


def _headers(values: dict[str, str]) -> HTTPHeaders:
    """Headers as botocore hands them to moto: looked up whatever the case."""
    headers = HTTPHeaders()
    for key, value in values.items():
        headers[key] = value
    return headers


def in_worker_config(base: DefaultConfig) -> DefaultConfig:
    """``base`` (a ``mock_aws`` config) with moto in this process passing DynamoDB through to the worker."""
    config = copy.deepcopy(base)
    core = copy.deepcopy(default_user_config.get("core", {}))
    core.update(config.get("core", {}))
    passthrough = core.setdefault("passthrough", {})
    passthrough["services"] = [*passthrough.get("services", []), SERVICE]
    config["core"] = core
    return config


def serve(connection: Connection) -> None:
    """The worker's loop: moto with the engine's DynamoDB patches, one request at a time, until told to stop."""
    with mock_aws(), dynamodb_patches(), suppress(EOFError, OSError):
        # End of file, or a reset on either read or write: the engine has gone, so has the worker.
        while (message := connection.recv()) is not None:
            connection.send(_answer(botocore_stubber, message))


def _answer(stubber: BotocoreStubber, message: Message) -> tuple[str, Any]:
    """moto's answer to one request: ``("ok", (status, headers, body))`` or ``("error", trace)``."""
    method, url, headers, body = message
    request = AWSPreparedRequest(method, url, _headers(headers), body, stream_output=False)
    try:
        answered = stubber.process_request(request)
    except Exception:
        # Any failure goes back to the caller, who raises it; the worker serves on.
        return "error", traceback.format_exc(limit=-TRACEBACK_FRAMES)
    if answered is None:
        return "error", f"moto has no DynamoDB route for {url}"
    status, response_headers, response_body = answered
    return "ok", (status, dict(response_headers), _body_bytes(response_body))


class _Pending:
    """One request sent and not yet answered: where the reader thread leaves its answer."""

    __slots__ = ("answer", "done")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.answer: tuple[str, Any] = ("error", "no answer")


class DynamoDBWorker:
    """The worker process and the socket to it; ``answer`` may be called from any thread.

    Requests are pipelined: a caller sends its request and waits for its own answer, which a
    reader thread hands over. The worker answers in the order it reads, so answers pair with
    the requests in the order they were sent (the order of ``_pending``, appended under the
    send lock). The worker never waits for a caller to pick an answer up: while the engine's
    threads queue for the interpreter lock, the requests they already sent are being answered.
    A caller interrupted while it waits (Ctrl-C) leaves its answer to be read and dropped; the
    pairing of the others is unchanged.
    """

    def __init__(self) -> None:
        ours, theirs = socket.socketpair()
        environment = dict(os.environ)
        environment["PYTHONPATH"] = os.pathsep.join(
            part for part in (str(PACKAGE_ROOT), environment.get("PYTHONPATH", "")) if part
        )
        with theirs:
            self._process = subprocess.Popen(
                # -P: the worker's working directory is not put on its module path.
                [sys.executable, "-P", "-m", __name__, str(theirs.fileno())],
                pass_fds=(theirs.fileno(),),
                env=environment,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
            )
        self._connection = Connection(ours.detach())
        self._send_lock = threading.Lock()
        self._pending: collections.deque[_Pending] = collections.deque()
        self._broken: str | None = None
        """Why no request can be sent any more, once none can."""
        self._reader = threading.Thread(target=self._read_answers, name="dynamodb-worker-answers", daemon=True)
        self._reader.start()

    def answer(self, request: AWSPreparedRequest) -> AWSResponse:
        """Send one request and wait for its answer."""
        message: Message = (
            request.method,
            request.url,
            {key: value if isinstance(value, str) else value.decode() for key, value in request.headers.items()},
            _body_bytes(request.body),
        )
        pending = self._send(message)
        if not pending.done.wait(ANSWER_SECONDS):
            # A worker that holds one request this long is hung: stop it, failing every caller.
            self._process.kill()
            raise WorkerFailed(f"the DynamoDB worker did not answer within {ANSWER_SECONDS:.0f} s")
        kind, payload = pending.answer
        if kind == "broken":
            raise WorkerFailed(f"the DynamoDB worker process is no longer usable: {payload}")
        if kind != "ok":
            raise WorkerFailed(f"the DynamoDB worker failed {request.method} {request.url}:\n{payload}")
        status, headers, body = payload
        return AWSResponse(request.url, status, headers, MockRawResponse(body))

    def _send(self, message: Message) -> _Pending:
        """Queue the caller's slot, then send: the slot is in place before its answer can arrive.

        A send that does not complete (the worker died, or Ctrl-C between a large message's
        header and body) may leave the stream cut mid-message, so it ends the worker.
        """
        pending = _Pending()
        with self._send_lock:
            if self._broken is not None:
                raise WorkerFailed(f"the DynamoDB worker process is no longer usable: {self._broken}")
            self._pending.append(pending)
            try:
                self._connection.send(message)
            except BaseException as exc:
                self._process.kill()
                self._fail_pending(f"a request could not be sent whole ({exc!r})")
                if isinstance(exc, OSError):
                    raise WorkerFailed(f"the DynamoDB worker process is no longer usable: {self._broken}") from exc
                raise
        return pending

    def _read_answers(self) -> None:
        """The reader thread: each answer to the oldest request still pending, until the worker ends.

        It never takes the send lock while the worker runs: a sender may hold it, blocked on a
        full socket, until the worker reads on, and the worker may be blocked sending the next
        answer until this thread reads it.
        """
        try:
            while True:
                answer = self._connection.recv()
                try:
                    pending = self._pending.popleft()
                except IndexError:
                    continue  # its caller was failed already (the worker was being stopped)
                pending.answer = answer
                pending.done.set()
        except BaseException as exc:
            if not isinstance(exc, EOFError | OSError):
                # Not the worker's end: the stream cannot be read on, so the worker is stopped
                # (a sender blocked on a full socket then fails instead of waiting for it).
                self._process.kill()
            with self._send_lock:
                self._fail_pending(f"it stopped (exit code {self._process.poll()}): {exc!r}")

    def _fail_pending(self, why: str) -> None:
        """With the send lock held: no more requests; every caller still waiting gets ``why``."""
        if self._broken is None:
            self._broken = why
        while self._pending:
            pending = self._pending.popleft()
            pending.answer = ("broken", self._broken)
            pending.done.set()

    def close(self) -> None:
        """Tell the worker to stop once it has answered what was sent; later calls raise ``WorkerFailed``."""
        with self._send_lock:
            if self._broken is None:
                self._broken = "it was stopped with the engine"
                with suppress(OSError):
                    self._connection.send(None)
        try:
            self._process.wait(STOP_SECONDS)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._reader.join(STOP_SECONDS)
        with self._send_lock:
            self._fail_pending(self._broken)
        self._connection.close()


_ANSWERING: list[DynamoDBWorker] = []
"""The worker that answers DynamoDB while its context lasts (at most one)."""


def _forward(request: AWSPreparedRequest, **_: Any) -> AWSResponse | None:
    """The ``before-send.dynamodb`` handler: the worker's answer while one runs; otherwise botocore goes on."""
    if not _ANSWERING or not botocore_stubber.enabled:
        return None
    return _ANSWERING[0].answer(request)


# Every botocore session registers the built-in handlers when it is created, as moto's own
# stubber is registered; the handler answers nothing until a worker runs.
BUILTIN_HANDLERS.append((EVENT, _forward))


@contextmanager
def dynamodb_in_worker() -> Iterator[DynamoDBWorker]:
    """Answer DynamoDB requests from a worker process while the context lasts (see module docstring).

    Enter it inside ``mock_aws(config=in_worker_config(...))``: moto in this process then passes
    DynamoDB through, and still answers every other service.
    """
    check_moto_version()
    if SERVICE not in default_user_config.get("core", {}).get("passthrough", {}).get("services", []):
        raise RuntimeError("enter dynamodb_in_worker inside mock_aws(config=in_worker_config(...))")
    if _ANSWERING:
        raise RuntimeError("a DynamoDB worker already answers in this process")
    with ExitStack() as stack:
        worker = DynamoDBWorker()
        _ANSWERING.append(worker)
        stack.callback(_ANSWERING.remove, worker)
        # Closed while still answering: a request from a thread still running meets WorkerFailed,
        # never an empty in-process DynamoDB.
        stack.callback(worker.close)
        yield worker


if __name__ == "__main__":
    # Ctrl-C reaches the whole process group: the engine stops the worker (or its end of the
    # socket closes), so the worker itself ignores it rather than print a traceback.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    serve(Connection(int(sys.argv[1])))
