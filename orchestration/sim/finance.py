"""Simulated legacy finance system used by tests and local demos.

The real finance system is a fragile on-premise ledger behind a thin HTTP
facade.  Its failure modes (overload under concurrency, throttling, slow
commits that still land, dropped connections, full outages) are what the
Step Functions retry/concurrency design has to survive, so this simulator
reproduces each of them on demand over a *real* socket.  Nothing is mocked:
the production ``FinanceClient`` talks to it exactly as it would talk to the
real system.

It keeps a general ledger: journals (a header and balanced lines, ``lambdas.journal``) on
the accounts of a chart, in open periods. Journals are posted in batches: ``POST
/journal-entries/batch`` with ``{"entries": [{"idempotency_key": K, "entry": {journal}},
...]}`` (at most ``MAX_BATCH_ENTRIES``) answers ``{"results": [...]}``, one result per journal
in order, each with its own status: 201 created, 200 duplicate (the key was seen before: same
``ledger_id``), or 400/422 with the ``error`` code of a refusal, as a Journal Import codes its
refusals: ``unbalanced_journal`` (EU02), ``closed_period`` (EP01), ``unknown_account`` (EF04),
``invalid_amount``, ``invalid_currency``, ``invalid_period``, ``invalid_request``. A
request-level failure (the faults below) applies to the whole batch.

Fault handling order for a POST mirrors where each failure happens in the
real stack:

1. outage              -> 503 ``{"error": "outage"}``
2. auth                -> 401 ``{"error": "unauthorized"}``
3. reset               -> socket closed without a response, nothing recorded
4. capacity / overload -> 503 ``{"error": "database_overloaded"}``
5. throttle            -> 429 ``{"error": "throttled"}`` + ``Retry-After: 1``
6. validation + record -> per entry: 400 / 422 / 201 / 200 (duplicate)
7. slow                -> the response is delayed *after* the entries are
   recorded (and the request has left the ledger's capacity), so a client
   that times out and retries with the same idempotency keys must get the
   dedup answers, never a second entry.

Every ``GET`` (health, ping, the ledger, and one entry by idempotency key) passes only
the outage and auth checks: the other faults model the ledger's write path.
"""

from __future__ import annotations

import contextlib
import hmac
import json
import logging
import random
import re
import socket
import struct
import threading
import time
import urllib.parse
from collections.abc import Iterable
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import TYPE_CHECKING, Any, NamedTuple, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from lambdas.journal import Journal, LedgerEntry
from lambdas.mapping import CURRENCIES

if TYPE_CHECKING:
    from orchestration.spec.chart import Chart
    from orchestration.spec.config import FinanceConfig

logger = logging.getLogger(__name__)

WIRE_AMOUNT = re.compile(r"^\d{1,15}\.\d{2}$")
"""An amount as the ledger takes it on the wire: a string with exactly two decimals, never a number."""

FAULT_KINDS: tuple[str, ...] = (
    "overload",
    "capacity",
    "throttle",
    "slow",
    "reset",
    "outage",
)

MAX_BATCH_ENTRIES = 100
"""The most entries one batch request may carry."""
BATCH_PATH = "/journal-entries/batch"
ENTRY_PATH_PREFIX = "/journal-entries/"
"""``GET /journal-entries/{idempotency_key}``: one entry by the key it was posted with."""

MAX_BODY_BYTES = 1 << 20
"""Refuse absurd bodies instead of buffering them (the real facade does too)."""


class FinanceFaults(BaseModel):
    """Fault-injection knobs.  Rates are probabilities per eligible request."""

    model_config = ConfigDict(extra="forbid")

    capacity: int | None = Field(default=None, ge=0)
    """Max concurrent in-flight POSTs (batches); above it the DB reports overload."""
    overload_rate: float = Field(default=0, ge=0, le=1)
    throttle_rate: float = Field(default=0, ge=0, le=1)
    slow_rate: float = Field(default=0, ge=0, le=1)
    slow_seconds: float = Field(default=2.0, ge=0)
    reset_rate: float = Field(default=0, ge=0, le=1)
    latency_seconds: float = Field(default=0, ge=0)
    """Commit time of every accepted batch, spent in flight: what makes concurrent posts pile up."""
    outage: bool = False
    seed: int = 0


class OutageTrip(NamedTuple):
    """An armed outage that began: when (``time.monotonic()``) and with how many entries in the ledger."""

    at: float
    posts: int


class FinanceStats(BaseModel):
    """Counters used by tests and load demos to assert on system behaviour."""

    requests: int = 0
    """Every HTTP request received (any method/path), including faulted ones."""
    posted: int = 0
    """New journals created in the ledger."""
    lines_posted: int = 0
    """Lines of the journals created."""
    duplicates_absorbed: int = 0
    """Entries answered from the idempotency table instead of creating an entry."""
    lookups: int = 0
    """``GET /journal-entries/{idempotency_key}`` requests answered (found or 404)."""
    rejected: int = 0
    """Permanent rejections: 400 (bad request), 401 (auth) and 422 (validation), per entry or request."""
    faults_injected: dict[str, int] = Field(default_factory=lambda: dict.fromkeys(FAULT_KINDS, 0))
    max_concurrent: int = 0
    """Peak number of simultaneously in-flight POSTs."""
    current_concurrent: int = 0
    max_concurrent_by_process: dict[str, int] = Field(default_factory=dict)
    """Peak in-flight POSTs per business process (the ``process:`` prefix of the idempotency key)."""
    current_by_process: dict[str, int] = Field(default_factory=dict)


class _Draws(BaseModel):
    """Random numbers for one POST, drawn atomically (see ``_draw``)."""

    reset: float
    overload: float
    throttle: float
    slow: float


class _Reply(BaseModel):
    status: int
    body: Any
    headers: dict[str, str] = Field(default_factory=dict)
    delay_seconds: float = 0
    """How long the answer takes to come back after the ledger is done with the request."""


class _Server(ThreadingHTTPServer):
    """HTTP server that knows its simulator and stays quiet about dead peers."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, sim: FinanceSimulator) -> None:
        self.sim = sim
        super().__init__(("127.0.0.1", 0), _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients time out, and reset faults kill sockets on purpose: broken
        # pipes are expected here and must not spam stderr with tracebacks.
        logger.debug("finance sim connection error from %s", client_address, exc_info=True)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes; with Nagle on, keep-alive
    # requests would stall ~40 ms each on delayed ACKs.
    disable_nagle_algorithm = True
    server: _Server

    # -- plumbing ---------------------------------------------------------

    def setup(self) -> None:
        super().setup()
        self.server.sim._track(self.connection, add=True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.sim._track(self.connection, add=False)

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the default per-request stderr logging."""

    def _read_body(self) -> bytes | None:
        """Always drain the body so a keep-alive connection stays in sync.

        Returns None (and marks the connection for closing) when the body is
        unreadable (bad or oversized Content-Length); the caller answers 400.
        """
        raw_len = self.headers.get("Content-Length")
        if raw_len is None:
            return b""
        try:
            length = int(raw_len)
        except ValueError:
            self.close_connection = True
            return None
        if length < 0 or length > MAX_BODY_BYTES:
            self.close_connection = True
            return None
        return self.rfile.read(length)

    def _send(self, reply: _Reply) -> None:
        payload = json.dumps(reply.body, separators=(",", ":")).encode()
        try:
            self.send_response(reply.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            for name, value in reply.headers.items():
                self.send_header(name, value)
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(payload)
            self.wfile.flush()
        except OSError:
            # The client gave up (e.g. timed out during a slow fault).
            self.close_connection = True

    def _reset(self) -> None:
        """Drop the connection with a TCP RST and no HTTP response at all."""
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
        except OSError:
            pass

    def _authorized(self) -> bool:
        token = self.server.sim._token
        if token is None:
            return True
        supplied = self.headers.get("Authorization", "")
        return hmac.compare_digest(supplied.encode(), f"Bearer {token}".encode())

    def _gate(self) -> _Reply | None:
        """Outage and auth checks shared by every endpoint."""
        sim = self.server.sim
        if sim._outage.is_set():
            sim._count_fault("outage")
            return _Reply(status=503, body={"error": "outage"})
        if not self._authorized():
            sim._count("rejected")
            return _Reply(
                status=401,
                body={"error": "unauthorized", "message": "bad or missing token"},
            )
        return None

    @property
    def _path(self) -> str:
        return self.path.split("?", 1)[0].rstrip("/") or "/"

    # -- endpoints ----------------------------------------------------------

    def do_GET(self) -> None:
        sim = self.server.sim
        sim._count("requests")
        if self._read_body() is None:
            self._send(_Reply(status=400, body={"error": "invalid_body"}))
            return
        lookup = self._path.startswith(ENTRY_PATH_PREFIX)
        if not lookup and self._path not in ("/health", "/ping", "/journal-entries", "/stats"):
            self._send(_Reply(status=404, body={"error": "not_found"}))
            return
        gated = self._gate()
        if gated is not None:
            self._send(gated)
            return
        if lookup:
            self._send(sim._lookup(urllib.parse.unquote(self._path.removeprefix(ENTRY_PATH_PREFIX))))
            return
        if self._path == "/health":
            self._send(_Reply(status=200, body={"status": "ok"}))
            return
        if self._path == "/ping":
            self._send(_Reply(status=200, body={"authenticated": True}))
            return
        if self._path == "/stats":
            self._send(_Reply(status=200, body=sim.stats().model_dump(mode="json")))
            return
        entries = [e.model_dump(mode="json") for e in sim.ledger()]
        self._send(_Reply(status=200, body=entries))

    def do_POST(self) -> None:
        sim = self.server.sim
        sim._count("requests")
        body = self._read_body()
        if self._path != BATCH_PATH:
            self._send(_Reply(status=404, body={"error": "not_found"}))
            return
        batch = _batch_request(body)
        process = batch[0][0].partition(":")[0] if isinstance(batch, list) else ""
        sim._enter(process)
        try:
            reply = self._post(batch)
        finally:
            # Leave *before* answering: once the client has its response the
            # request must no longer count against capacity, or a caller that
            # immediately sends the next request could see a phantom overload.
            sim._leave(process)
        if reply is None:
            self._reset()
            return
        if reply.delay_seconds:
            # Interruptible so stop() does not wait for sleeping handlers.
            sim._stopping.wait(reply.delay_seconds)
        self._send(reply)

    def _post(self, batch: list[tuple[str, Any]] | _Reply) -> _Reply | None:
        """Decide the answer to one batch POST; None means "reset the connection"."""
        sim = self.server.sim
        gated = self._gate()
        if gated is not None:
            return gated
        draws = sim._draw()
        faults = sim.faults
        if draws.reset < faults.reset_rate:
            sim._count_fault("reset")
            return None
        if faults.capacity is not None and sim._in_flight() > faults.capacity:
            sim._count_fault("capacity")
            return _Reply(status=503, body={"error": "database_overloaded"})
        if draws.overload < faults.overload_rate:
            sim._count_fault("overload")
            return _Reply(status=503, body={"error": "database_overloaded"})
        if draws.throttle < faults.throttle_rate:
            sim._count_fault("throttle")
            return _Reply(status=429, body={"error": "throttled"}, headers={"Retry-After": "1"})
        reply = sim._record_batch(batch) if isinstance(batch, list) else sim._refuse(batch)
        if faults.latency_seconds:
            sim._stopping.wait(faults.latency_seconds)
        if draws.slow < faults.slow_rate:
            # The entries are committed; only the answer is late, so the request no longer
            # holds the ledger's capacity while it travels (the client may retry meanwhile).
            sim._count_fault("slow")
            reply.delay_seconds = faults.slow_seconds
        return reply


class FinanceSimulator:
    """In-memory legacy ledger served over real HTTP on 127.0.0.1.

    Use as a context manager (or ``start()``/``stop()``) and point a
    ``FinanceClient`` at ``url``.
    """

    def __init__(
        self,
        chart: Chart,
        open_periods: Iterable[str],
        faults: FinanceFaults | None = None,
        token: str | None = None,
    ) -> None:
        self.chart = chart
        self.open_periods: frozenset[str] = frozenset(open_periods)
        self.faults: FinanceFaults = faults or FinanceFaults()
        self._token = token
        self._lock = threading.Lock()
        self._rng = random.Random(self.faults.seed)
        self._outage = threading.Event()
        if self.faults.outage:
            self._outage.set()
        self._outage_after_posts: int | None = None
        self._outage_began: OutageTrip | None = None
        self._stopping = threading.Event()
        self._entries: list[LedgerEntry] = []
        self._by_key: dict[str, str] = {}
        self._entry_by_key: dict[str, LedgerEntry] = {}
        self._stats = FinanceStats()
        self._connections: set[socket.socket] = set()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ------------------------------------------------------------

    def start(self) -> None:
        """Bind a free port and serve in a daemon thread."""
        if self._server is not None:
            raise RuntimeError("finance simulator already started")
        self._stopping.clear()
        server = _Server(self)
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="finance-sim",
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and drop open keep-alive connections."""
        server = self._server
        if server is None:
            return
        self._stopping.set()
        server.shutdown()
        server.server_close()
        with self._lock:
            conns = list(self._connections)
            self._connections.clear()
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None

    @classmethod
    def for_config(
        cls, finance: FinanceConfig, faults: FinanceFaults | None = None, token: str | None = None
    ) -> FinanceSimulator:
        """The ledger a configuration describes: its chart of accounts and its open periods."""
        return cls(finance.chart, finance.open_periods, faults, token)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("finance simulator not started")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    # -- runtime controls / inspection ----------------------------------------

    def set_outage(self, down: bool) -> None:
        """Simulate the whole system going down (or coming back); an armed outage is disarmed."""
        with self._lock:
            self._outage_after_posts = None
        if down:
            self._outage.set()
        else:
            self._outage.clear()

    def outage_after_posts(self, posts: int) -> None:
        """Go down the moment the ledger holds ``posts`` entries (at once if it already does).

        The request holding the entry that reaches the count is answered in full (the outage is
        checked per request, as a system going down between requests); every request after it
        meets the outage. Deciding inside the simulator, not by polling its counts, makes "an
        outage after the first posts" the same on a fast machine as on a slow one.
        """
        with self._lock:
            self._outage_after_posts = posts
            self._outage_began = None
            self._trip_outage()

    def outage_began(self) -> OutageTrip | None:
        """When an outage armed by ``outage_after_posts`` began and at how many entries, if it has."""
        with self._lock:
            return self._outage_began

    def _trip_outage(self) -> None:
        """With the lock held: start the armed outage once the ledger holds enough entries."""
        if self._outage_after_posts is not None and self._stats.posted >= self._outage_after_posts:
            self._outage.set()
            self._outage_after_posts = None
            self._outage_began = OutageTrip(at=time.monotonic(), posts=self._stats.posted)

    def ledger(self) -> list[LedgerEntry]:
        with self._lock:
            return list(self._entries)

    def stats(self) -> FinanceStats:
        with self._lock:
            return self._stats.model_copy(deep=True)

    # -- internals used by the handler ----------------------------------------

    def _track(self, conn: socket.socket, *, add: bool) -> None:
        with self._lock:
            if add:
                self._connections.add(conn)
            else:
                self._connections.discard(conn)

    def _count(self, field: str) -> None:
        with self._lock:
            setattr(self._stats, field, getattr(self._stats, field) + 1)

    def _count_fault(self, kind: str) -> None:
        with self._lock:
            self._stats.faults_injected[kind] += 1

    def _enter(self, process: str = "") -> None:
        with self._lock:
            stats = self._stats
            stats.current_concurrent += 1
            stats.max_concurrent = max(stats.max_concurrent, stats.current_concurrent)
            if process:
                now = stats.current_by_process.get(process, 0) + 1
                stats.current_by_process[process] = now
                stats.max_concurrent_by_process[process] = max(stats.max_concurrent_by_process.get(process, 0), now)

    def _leave(self, process: str = "") -> None:
        with self._lock:
            self._stats.current_concurrent -= 1
            if process:
                self._stats.current_by_process[process] -= 1

    def _in_flight(self) -> int:
        with self._lock:
            return self._stats.current_concurrent

    def _draw(self) -> _Draws:
        """Draw every fault decision for one request in a single locked step.

        A fixed number of draws per request keeps the *count* of injected
        faults reproducible for a given seed even when threads interleave.
        """
        with self._lock:
            r = self._rng.random
            return _Draws(reset=r(), overload=r(), throttle=r(), slow=r())

    def _reject(self, status: int, code: str, message: str) -> _Reply:
        return self._refuse(_Reply(status=status, body={"error": code, "message": message}))

    def _lookup(self, key: str) -> _Reply:
        """The entry posted under ``key`` (200), or 404 ``entry_not_found`` when none was."""
        with self._lock:
            self._stats.lookups += 1
            entry = self._entry_by_key.get(key)
        if entry is None:
            return _Reply(status=404, body={"error": "entry_not_found", "message": f"no entry for key {key!r}"})
        return _Reply(status=200, body=entry.model_dump(mode="json"))

    def _refuse(self, reply: _Reply) -> _Reply:
        """Count a permanent refusal (of one entry, or of a whole batch request) and answer it."""
        with self._lock:
            self._stats.rejected += 1
        return reply

    def _record_batch(self, batch: list[tuple[str, Any]]) -> _Reply:
        """Record each entry of a well-formed batch on its own: one result per entry, in order."""
        results = []
        for key, data in batch:
            reply = self._record(data, key)
            results.append({"idempotency_key": key, "status": reply.status, **reply.body})
        return _Reply(status=200, body={"results": results})

    def _record(self, data: Any, key: str) -> _Reply:
        """Validate one journal as the ledger does, then create or dedupe it atomically."""
        journal, refusal = self._journal(data)
        if refusal is not None:
            return self._refuse(refusal)
        assert journal is not None
        with self._lock:
            existing = self._by_key.get(key)
            if existing is not None:
                self._stats.duplicates_absorbed += 1
                return _Reply(status=200, body={"ledger_id": existing, "duplicate": True})
            ledger_id = f"L{len(self._entries) + 1:06d}"
            # The journal was validated just above: built without validating it again (under the lock).
            entry = LedgerEntry.model_construct(
                **dict(journal), ledger_id=ledger_id, idempotency_key=key, posted_at=datetime.now(UTC)
            )
            self._entries.append(entry)
            self._entry_by_key[key] = entry
            self._by_key[key] = ledger_id
            self._stats.posted += 1
            self._stats.lines_posted += len(journal.lines)
            self._trip_outage()
        return _Reply(status=201, body={"ledger_id": ledger_id, "duplicate": False})

    def _journal(self, data: Any) -> tuple[Journal | None, _Reply | None]:
        """The journal of one entry, or the ledger's coded refusal of it (a 422, never recorded).

        The codes are those of a Journal Import: EU02 unbalanced, EP01 closed period, EF04 an
        account that is not a combination of the chart.
        """
        if not isinstance(data, dict):
            return None, _refusal("invalid_request", "the entry must be a journal object")
        amount = _wire_amount_problem(data.get("lines"))
        if amount is not None:
            return None, _refusal("invalid_amount", amount)
        try:
            journal = Journal.model_validate(data)
        except ValidationError as exc:
            errors = exc.errors()
            unbalanced = next((e for e in errors if str(e["msg"]).startswith("Value error, unbalanced")), None)
            if unbalanced is not None:
                detail = str(unbalanced["msg"]).removeprefix("Value error, unbalanced: ")
                return None, _refusal("unbalanced_journal", f"EU02 {detail}")
            first = errors[0]
            where = ".".join(str(part) for part in first["loc"]) or "journal"
            code = "invalid_period" if first["loc"][:1] == ("period",) else "invalid_request"
            return None, _refusal(code, f"{where}: {first['msg']}")
        currencies = [code for code in journal.currencies if code not in CURRENCIES]
        if currencies:
            return None, _refusal("invalid_currency", f"currency {currencies[0]!r} not accepted")
        if journal.period not in self.open_periods:
            return None, _refusal("closed_period", f"EP01 period {journal.period} is closed")
        for line in journal.lines:
            problem = self.chart.problem_in_account(line.account)
            if problem:
                return None, _refusal("unknown_account", f"EF04 {problem}")
        return journal, None


def _wire_amount_problem(lines: Any) -> str | None:
    """Why a debit or credit on the wire is not an amount the ledger takes (``None`` when all are)."""
    if not isinstance(lines, list):
        return None
    for number, line in enumerate(lines):
        for side in ("debit", "credit"):
            raw = line.get(side) if isinstance(line, dict) else None
            if raw is not None and not (isinstance(raw, str) and WIRE_AMOUNT.match(raw)):
                return f"lines.{number}.{side}: {raw!r} is not an amount with exactly two decimals"
    return None


def _refusal(code: str, message: str) -> _Reply:
    return _Reply(status=422, body={"error": code, "message": message})


def _batch_request(body: bytes | None) -> list[tuple[str, Any]] | _Reply:
    """The (idempotency key, entry) pairs of a batch body, or the 400 that refuses the whole request."""

    def refused(code: str, message: str) -> _Reply:
        return _Reply(status=400, body={"error": code, "message": message})

    if body is None:
        return refused("invalid_body", "unreadable request body")
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return refused("invalid_json", "body is not valid JSON")
    entries = data.get("entries") if isinstance(data, dict) else None
    if not isinstance(entries, list) or not 1 <= len(entries) <= MAX_BATCH_ENTRIES:
        return refused("invalid_request", f"entries must be a list of 1 to {MAX_BATCH_ENTRIES} items")
    batch: list[tuple[str, Any]] = []
    for position, item in enumerate(entries):
        key = item.get("idempotency_key") if isinstance(item, dict) else None
        if not isinstance(key, str) or not key:
            return refused("missing_idempotency_key", f"entries[{position}].idempotency_key must be a non-empty string")
        batch.append((key, item.get("entry")))
    if len({key for key, _ in batch}) != len(batch):
        return refused("duplicate_idempotency_key", "each idempotency_key may appear once per batch")
    return batch
