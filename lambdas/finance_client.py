"""HTTP client for the legacy finance system, used by the Lambda handlers.

Design constraints, and why:

* **No retries here.**  Step Functions owns retry policy (backoff, jitter,
  max attempts, and the shared concurrency budget of the Map state).  A
  client that also retried would multiply load on an already overloaded
  ledger and hide failures from the state machine, so the pool is created
  with ``retries=False`` and every failure surfaces as an exception.
* **Exception class names are an API.**  Lambda reports ``errorType`` as the
  exception's class name, and the state machine's ``Retry``/``Catch`` blocks
  match on those names.  Transient failures (worth retrying with the *same*
  idempotency key) are listed in ``TRANSIENT_ERRORS``; ``FinanceRejected`` is
  permanent and must go to the error path instead.
* **Keep-alive.**  One ``urllib3.PoolManager`` per client instance, so a warm
  Lambda reuses its TCP connection across invocations; nothing is created at
  import time, which keeps the module cheap to import in tests.

Only stdlib, urllib3, pydantic and the entry models of ``lambdas.journal`` are imported: this
module ships inside the Lambda bundle and must not depend on test/orchestration code. The
operator commands read the ledger with the same client (``list_entries``).
"""

from __future__ import annotations

import json
import re
import time
import urllib.parse
from collections.abc import Sequence
from types import TracebackType
from typing import Any, Self

import urllib3
from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError
from urllib3.exceptions import (
    HTTPError,
    MaxRetryError,
    NewConnectionError,
    ProtocolError,
)
from urllib3.exceptions import (
    TimeoutError as Urllib3TimeoutError,
)

from lambdas.journal import Journal, LedgerEntry, LedgerRecord

__all__ = [
    "TRANSIENT_ERRORS",
    "FinanceClient",
    "FinanceError",
    "FinanceOverloaded",
    "FinanceRejected",
    "FinanceThrottled",
    "FinanceTimeout",
    "FinanceUnavailable",
    "PostResult",
]


# -- errors -------------------------------------------------------------------


class FinanceError(Exception):
    """Base class for every failure talking to the finance system.

    ``status`` is the HTTP status when a response was received (None for
    network-level failures); ``code`` is the ``error`` field of the body.
    """

    def __init__(self, message: str, *, status: int | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code

    def __reduce__(self) -> tuple[Any, ...]:
        # Subclasses take keyword-only/extra arguments, which breaks the default
        # exception pickling; rebuild from args + attributes instead.
        return (_rebuild_error, (type(self), self.args, dict(self.__dict__)))


def _rebuild_error(cls: type[FinanceError], args: tuple[Any, ...], state: dict[str, Any]) -> FinanceError:
    err = cls.__new__(cls)
    err.args = args
    err.__dict__.update(state)
    return err


class FinanceOverloaded(FinanceError):
    """503: the ledger database is saturated (or down).  Back off and retry."""


class FinanceThrottled(FinanceError):
    """429: the facade is rate limiting us.  Retry after ``retry_after``."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = 429,
        code: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, status=status, code=code)
        self.retry_after = retry_after


class FinanceTimeout(FinanceError):
    """Connect or read timeout.

    The entry may or may not have been recorded; retrying with the same
    idempotency key is safe and returns the dedup answer if it was.
    """


class FinanceUnavailable(FinanceError):
    """Connection refused/reset, protocol error, garbled reply, or 5xx != 503."""


class FinanceRejected(FinanceError):
    """4xx: the finance system refused the entry.  Retrying cannot help.

    ``code`` is the machine-readable ``error`` field (e.g. ``unknown_account``)
    and ``reason`` the human-readable ``message``.
    """

    def __init__(self, code: str, reason: str = "", *, status: int = 422) -> None:
        super().__init__(f"{status} {code}: {reason}", status=status, code=code)
        self.code: str = code
        self.reason = reason


TRANSIENT_ERRORS: tuple[str, ...] = (
    "FinanceOverloaded",
    "FinanceThrottled",
    "FinanceTimeout",
    "FinanceUnavailable",
)
"""Error names the state machine should retry (``ErrorEquals`` list)."""


# -- models -------------------------------------------------------------------


class PostResult(BaseModel):
    """Successful post: the ledger id, and whether it was a dedup answer."""

    model_config = ConfigDict(frozen=True)

    ledger_id: str
    duplicate: bool


class _BatchItem(BaseModel):
    """One entry's answer inside a batch response."""

    idempotency_key: str
    status: int
    ledger_id: str | None = None
    duplicate: bool = False
    error: str | None = None
    message: str = ""


class _BatchResponse(BaseModel):
    results: list[_BatchItem]


_LEDGER = TypeAdapter(list[LedgerEntry])


# -- client -------------------------------------------------------------------

_RETRY_AFTER_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*$")


class FinanceClient:
    """Thin, retry-free client for the finance system's HTTP facade."""

    def __init__(self, base_url: str, timeout_seconds: float, token: str | None = None) -> None:
        if timeout_seconds <= 0:
            raise ValueError("timeout_seconds must be positive")
        self.base_url = base_url.rstrip("/")
        self.timeout_seconds = timeout_seconds
        self._token = token
        # total= bounds connect + read together, so one call can never run
        # past the budget the Lambda reserved for it.
        self._timeout = urllib3.Timeout(total=timeout_seconds)
        self._pool = urllib3.PoolManager(
            num_pools=2,
            maxsize=10,
            retries=False,
            timeout=self._timeout,
            headers={"Connection": "keep-alive"},
        )

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Drop pooled connections."""
        self._pool.clear()

    # -- public API -----------------------------------------------------------

    def post_entries(self, entries: Sequence[tuple[str, Journal]]) -> list[PostResult | FinanceRejected]:
        """Post (idempotency key, journal) pairs in one request; one answer per journal, in order.

        The keys must be stable across retries of the same business transactions: they turn
        "timed out, but actually recorded" into a harmless ``duplicate=True`` on the next
        attempt. An entry the finance system refuses comes back as a ``FinanceRejected``; a
        failure of the whole request raises a ``FinanceError`` subclass.
        """
        if not entries or any(not key for key, _ in entries):
            raise ValueError("post_entries needs entries, each with a non-empty idempotency key")
        headers = self._headers()
        headers["Content-Type"] = "application/json"
        body = {"entries": [{"idempotency_key": key, "entry": entry.model_dump(mode="json")} for key, entry in entries]}
        status, resp_headers, data = self._request(
            "POST", "/journal-entries/batch", body=json.dumps(body).encode(), headers=headers
        )
        if status != 200:
            raise _error_for(status, resp_headers, data)
        try:
            results = _BatchResponse.model_validate_json(data).results
        except ValidationError as exc:
            # Treated as transient: the entries may have landed, and a retry with
            # the same keys is safe and will return clean dedup answers.
            raise FinanceUnavailable(f"malformed batch response ({status}): {data[:200]!r}", status=status) from exc
        if [r.idempotency_key for r in results] != [key for key, _ in entries]:
            raise FinanceUnavailable("batch response does not answer the posted keys in order", status=status)
        return [_entry_answer(result) for result in results]

    def find_entry(self, idempotency_key: str) -> LedgerRecord | None:
        """The entry posted under ``idempotency_key``, or ``None`` when the ledger has none (404).

        This is how a post whose answer was lost (crash, timeout, retries exhausted) is
        confirmed without posting again. Transport and 5xx/429 failures raise the same
        transient errors as ``post_entries``, so the caller can tell "absent" from "unknown".
        """
        if not idempotency_key:
            raise ValueError("idempotency_key must be non-empty")
        path = f"/journal-entries/{urllib.parse.quote(idempotency_key, safe='')}"
        status, resp_headers, data = self._request("GET", path, body=None, headers=self._headers())
        if status == 404:
            return None
        if status != 200:
            raise _error_for(status, resp_headers, data)
        try:
            return LedgerRecord.model_validate_json(data)
        except ValidationError as exc:
            raise FinanceUnavailable(f"malformed lookup response ({status}): {data[:200]!r}", status=status) from exc

    def list_entries(self) -> list[LedgerEntry]:
        """Every entry the ledger holds (``GET /journal-entries``): what reconciliation compares with."""
        status, resp_headers, data = self._request("GET", "/journal-entries", body=None, headers=self._headers())
        if status != 200:
            raise _error_for(status, resp_headers, data)
        try:
            return _LEDGER.validate_json(data)
        except ValidationError as exc:
            raise FinanceUnavailable(f"malformed ledger response ({status}): {data[:200]!r}", status=status) from exc

    def health(self) -> float:
        """Probe ``GET /health``; return the round-trip latency in seconds."""
        started = time.perf_counter()
        status, resp_headers, data = self._request("GET", "/health", body=None, headers=self._headers())
        elapsed = time.perf_counter() - started
        if status != 200:
            raise _error_for(status, resp_headers, data)
        return elapsed

    def ping(self) -> None:
        """Authenticated no-op ``GET /ping``: proves our credentials are accepted, records nothing."""
        status, resp_headers, data = self._request("GET", "/ping", body=None, headers=self._headers())
        if status != 200:
            raise _error_for(status, resp_headers, data)

    # -- internals ------------------------------------------------------------

    def _headers(self) -> dict[str, str]:
        headers = {"Accept": "application/json"}
        if self._token is not None:
            headers["Authorization"] = f"Bearer {self._token}"
        return headers

    def _request(
        self,
        method: str,
        path: str,
        *,
        body: bytes | None,
        headers: dict[str, str],
    ) -> tuple[int, dict[str, str], bytes]:
        """Send one request, translating transport failures to FinanceErrors."""
        url = f"{self.base_url}{path}"
        try:
            resp = self._pool.request(
                method,
                url,
                body=body,
                headers=headers,
                timeout=self._timeout,
                retries=False,
                redirect=False,
            )
        except (HTTPError, OSError) as exc:
            raise _transport_error(exc, method, url) from exc
        return resp.status, dict(resp.headers), resp.data


def _transport_error(exc: Exception, method: str, url: str) -> FinanceError:
    """Map a urllib3/socket exception onto the transient error taxonomy."""
    if isinstance(exc, MaxRetryError) and exc.reason is not None:
        # Only reachable if someone re-enables retries; unwrap the cause.
        return _transport_error(exc.reason, method, url)
    # NewConnectionError subclasses ConnectTimeoutError for historical
    # reasons, so it must be checked before the timeout branch.
    if isinstance(exc, NewConnectionError | ProtocolError | ConnectionError):
        return FinanceUnavailable(f"{method} {url}: connection failed: {exc}")
    if isinstance(exc, Urllib3TimeoutError | TimeoutError):
        return FinanceTimeout(f"{method} {url}: timed out: {exc}")
    return FinanceUnavailable(f"{method} {url}: {type(exc).__name__}: {exc}")


def _error_body(data: bytes) -> tuple[str | None, str]:
    try:
        parsed: Any = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        return None, data[:200].decode("utf-8", "replace")
    if not isinstance(parsed, dict):
        return None, str(parsed)[:200]
    code = parsed.get("error")
    message = parsed.get("message")
    return (
        code if isinstance(code, str) else None,
        message if isinstance(message, str) else (code or ""),
    )


def _retry_after(headers: dict[str, str]) -> float | None:
    for name, value in headers.items():
        if name.lower() == "retry-after":
            match = _RETRY_AFTER_RE.match(value)
            return float(match.group(1)) if match else None
    return None


def _entry_answer(result: _BatchItem) -> PostResult | FinanceRejected:
    if result.status in (200, 201) and result.ledger_id:
        return PostResult(ledger_id=result.ledger_id, duplicate=result.duplicate)
    if 400 <= result.status < 500:
        return FinanceRejected(result.error or f"http_{result.status}", result.message, status=result.status)
    raise FinanceUnavailable(f"entry {result.idempotency_key}: unexpected answer {result.status}", status=result.status)


def _error_for(status: int, headers: dict[str, str], data: bytes) -> FinanceError:
    """Map a non-success HTTP status onto the error taxonomy."""
    code, message = _error_body(data)
    detail = f"{status} {code or 'error'}: {message}".rstrip(": ")
    if status == 503:
        return FinanceOverloaded(detail, status=status, code=code)
    if status == 429:
        return FinanceThrottled(detail, status=status, code=code, retry_after=_retry_after(headers))
    if 400 <= status < 500:
        return FinanceRejected(code or f"http_{status}", message, status=status)
    return FinanceUnavailable(detail, status=status, code=code)
