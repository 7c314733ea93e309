"""The finance simulator and the production client, against each other.

Everything runs over a real socket on 127.0.0.1: no mocks.  Fault tests use
rates of exactly 0 or 1 (or capacity limits observed through ``stats()``) so
they are deterministic, never flaky.
"""

from __future__ import annotations

import contextlib
import json
import pickle
import threading
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import pytest
import urllib3
from pydantic import ValidationError

from lambdas.finance_client import (
    TRANSIENT_ERRORS,
    FinanceClient,
    FinanceError,
    FinanceOverloaded,
    FinanceRejected,
    FinanceThrottled,
    FinanceTimeout,
    FinanceUnavailable,
    LedgerRecord,
    PostResult,
)
from lambdas.journal import Journal
from orchestration.sim.finance import FinanceFaults, FinanceSimulator
from orchestration.spec.config import load_config

FINANCE = load_config("local").finance
"""The shipped local ledger: company-account-cost_centre accounts, periods 2026-11 and 2026-12 open."""

SimFactory = Callable[..., FinanceSimulator]
ClientFactory = Callable[..., FinanceClient]


@pytest.fixture
def make_sim() -> Iterator[SimFactory]:
    """Start simulators on free ports; all are stopped at teardown."""
    sims: list[FinanceSimulator] = []

    def _make(faults: FinanceFaults | None = None, token: str | None = None) -> FinanceSimulator:
        sim = FinanceSimulator.for_config(FINANCE, faults=faults, token=token)
        sim.start()
        sims.append(sim)
        return sim

    yield _make
    for sim in sims:
        sim.stop()


@pytest.fixture
def make_client() -> Iterator[ClientFactory]:
    clients: list[FinanceClient] = []

    def _make(sim: FinanceSimulator, timeout: float = 2.0, token: str | None = None) -> FinanceClient:
        client = FinanceClient(sim.url, timeout_seconds=timeout, token=token)
        clients.append(client)
        return client

    yield _make
    for client in clients:
        client.close()


@pytest.fixture
def raw() -> Iterator[urllib3.PoolManager]:
    """Bare HTTP access, for inputs the client's model would refuse to send."""
    pool = urllib3.PoolManager(retries=False, timeout=2.0)
    yield pool
    pool.clear()


def entry(
    tx: str = "TX-1",
    *,
    amount: str = "1234.50",
    credit: str | None = None,
    debit_account: str = "100-6000-CC100",
    currency: str = "USD",
    **header: Any,
) -> Journal:
    """A payroll journal: gross pay debited to salaries, credited to payroll payable."""
    return Journal.model_validate(
        {
            "transaction_id": tx,
            "ledger": "PAYROLL",
            "source": "HCM Payroll",
            "category": "Payroll",
            "period": "2026-11",
            "accounting_date": "2026-11-30",
            "description": "Payroll 2026-11 E42",
            "lines": [
                line(debit_account, debit=amount, currency=currency),
                line("100-2200-000", credit=credit or amount, currency=currency),
            ],
        }
        | header
    )


def line(account: str, *, currency: str = "USD", **side: Any) -> dict[str, Any]:
    return {"account": account, "currency": currency, "description": "gross pay", "source_ref": "gross_pay", **side}


def wire(**overrides: Any) -> dict[str, Any]:
    """The journal as JSON, header fields replaced by ``overrides``."""
    return entry().model_dump(mode="json") | overrides


def wire_lines(*lines: dict[str, Any]) -> dict[str, Any]:
    return wire(lines=list(lines))


def post_one(client: FinanceClient, journal: Journal, idempotency_key: str) -> PostResult:
    """A batch of one, its answer as a single post would give it (a refusal raised)."""
    [answer] = client.post_entries([(idempotency_key, journal)])
    if isinstance(answer, FinanceRejected):
        raise answer
    return answer


def batch_body(*entries: dict[str, Any], keys: list[str] | None = None) -> dict[str, Any]:
    keys = keys or [f"k{i}" for i in range(len(entries))]
    return {"entries": [{"idempotency_key": k, "entry": e} for k, e in zip(keys, entries, strict=True)]}


def wait_for(predicate: Callable[[], bool], timeout: float = 2.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.005)


# -- happy path and idempotency ----------------------------------------------------


def test_post_then_same_key_is_deduplicated(make_sim: SimFactory, make_client: ClientFactory) -> None:
    sim = make_sim()
    client = make_client(sim)

    first = post_one(client, entry(), idempotency_key="run-1:TX-1")
    again = post_one(client, entry(), idempotency_key="run-1:TX-1")

    assert first == PostResult(ledger_id="L000001", duplicate=False)
    assert again == PostResult(ledger_id="L000001", duplicate=True)
    deadline = time.monotonic() + 5
    while not sim.ledger() and time.monotonic() < deadline:
        time.sleep(0.01)
    [stored] = sim.ledger()
    assert stored.ledger_id == "L000001"
    assert stored.idempotency_key == "run-1:TX-1"
    assert stored.lines == entry().lines, "the ledger stores the journal with its lines"
    assert (stored.total_debit, stored.total_credit) == (Decimal("1234.50"), Decimal("1234.50"))
    stats = sim.stats()
    assert (stats.posted, stats.duplicates_absorbed, stats.requests) == (1, 1, 2)


def test_distinct_keys_get_sequential_ledger_ids(make_sim: SimFactory, make_client: ClientFactory) -> None:
    sim = make_sim()
    client = make_client(sim)
    ids = [post_one(client, entry(f"TX-{i}"), idempotency_key=f"k{i}").ledger_id for i in range(3)]
    assert ids == ["L000001", "L000002", "L000003"]
    assert [e.transaction_id for e in sim.ledger()] == ["TX-0", "TX-1", "TX-2"]


def test_amount_is_sent_with_exactly_two_decimals(make_sim: SimFactory, make_client: ClientFactory) -> None:
    sim = make_sim()
    post_one(make_client(sim), entry(amount="7.5"), idempotency_key="k")
    sent = entry(amount="7.5").model_dump(mode="json")["lines"]
    assert [(sent_line["debit"], sent_line["credit"]) for sent_line in sent] == [("7.50", None), (None, "7.50")]
    assert sim.ledger()[0].total_debit == Decimal("7.50")


@pytest.mark.parametrize(
    "bad",
    [
        {"amount": "1.234"},
        {"amount": "-5.00"},
        {"amount": "0"},
        {"currency": "usd"},
        {"period": "2025-13"},
        {"accounting_date": "2026-11-31"},
        {"lines": []},
        {"bogus": 1},
    ],
)
def test_the_journal_model_refuses_malformed_journals(bad: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        entry(**bad)


def test_the_journal_model_refuses_an_unbalanced_journal_naming_both_totals() -> None:
    with pytest.raises(ValidationError, match=r"unbalanced: debits 1,250\.00 != credits 1,249\.99 USD"):
        entry(amount="1250.00", credit="1249.99")


def test_a_line_is_a_debit_or_a_credit_never_both_never_neither() -> None:
    for sides in ({"debit": "1.00", "credit": "1.00"}, {}):
        with pytest.raises(ValidationError, match="a debit or a credit, exactly one"):
            Journal.model_validate(wire_lines(line("100-6000-CC100", **sides), line("100-2200-000", credit="1.00")))


def test_health_and_listing(make_sim: SimFactory, make_client: ClientFactory, raw: urllib3.PoolManager) -> None:
    sim = make_sim()
    client = make_client(sim)
    assert 0 <= client.health() < 1
    post_one(client, entry(), idempotency_key="k")

    listing = raw.request("GET", f"{sim.url}/journal-entries")
    assert listing.status == 200
    assert [e["ledger_id"] for e in json.loads(listing.data)] == ["L000001"]
    assert raw.request("GET", f"{sim.url}/nope").status == 404


def test_keep_alive_reuses_one_connection(make_sim: SimFactory, make_client: ClientFactory) -> None:
    sim = make_sim()
    client = make_client(sim)
    for i in range(5):
        post_one(client, entry(f"TX-{i}"), idempotency_key=f"k{i}")
    client.health()
    # One server-side connection carried every request.
    assert len(sim._connections) == 1


# -- permanent rejections ---------------------------------------------------------


def test_unknown_account_is_refused_with_ef04_and_not_recorded(
    make_sim: SimFactory, make_client: ClientFactory
) -> None:
    sim = make_sim()
    with pytest.raises(FinanceRejected) as err:
        post_one(make_client(sim), entry(debit_account="100-6000-XX999"), idempotency_key="k")
    assert (err.value.code, err.value.status) == ("unknown_account", 422)
    assert err.value.reason == "EF04 account '100-6000-XX999': cost_centre 'XX999' is not in the chart"
    assert sim.ledger() == []
    assert sim.stats().rejected == 1


def test_an_account_of_the_wrong_shape_is_unknown(make_sim: SimFactory, make_client: ClientFactory) -> None:
    sim = make_sim()
    with pytest.raises(FinanceRejected) as err:
        post_one(make_client(sim), entry(debit_account="6000-SALARIES"), idempotency_key="k")
    assert err.value.code == "unknown_account"
    assert "has 2 segment(s), the chart 3" in err.value.reason


def test_a_closed_period_is_refused_with_ep01(make_sim: SimFactory, make_client: ClientFactory) -> None:
    sim = make_sim()
    with pytest.raises(FinanceRejected) as err:
        post_one(make_client(sim), entry(period="2026-10", accounting_date="2026-10-31"), idempotency_key="k")
    assert (err.value.code, err.value.reason) == ("closed_period", "EP01 period 2026-10 is closed")
    assert post_one(make_client(sim), entry(period="2026-12"), idempotency_key="k").duplicate is False, (
        "a refused journal leaves its key free, and the next open period is accepted"
    )
    assert [e.period for e in sim.ledger()] == ["2026-12"]


def test_unaccepted_currency_is_rejected(make_sim: SimFactory, make_client: ClientFactory) -> None:
    sim = make_sim()
    with pytest.raises(FinanceRejected) as err:
        post_one(make_client(sim), entry(currency="XYZ"), idempotency_key="k")
    assert err.value.code == "invalid_currency"


@pytest.mark.parametrize(
    ("body", "code", "message"),
    [
        (
            wire_lines(line("100-6000-CC100", debit="12.5"), line("100-2200-000", credit="12.50")),
            "invalid_amount",
            "lines.0.debit: '12.5'",
        ),
        (
            wire_lines(line("100-6000-CC100", debit="1.00"), line("100-2200-000", credit="1.234")),
            "invalid_amount",
            "lines.1.credit",
        ),
        (
            wire_lines(line("100-6000-CC100", debit=12.5), line("100-2200-000", credit="12.50")),
            "invalid_amount",
            "12.5",
        ),
        (
            wire_lines(line("100-6000-CC100", debit="10.00"), line("100-2200-000", credit="9.99")),
            "unbalanced_journal",
            "EU02 debits 10.00 != credits 9.99 USD",
        ),
        (wire_lines(line("100-6000-CC100", debit="10.00")), "invalid_request", "lines"),
        (
            wire_lines(line("100-6000-CC100", debit="1.00", credit="1.00"), line("100-2200-000", credit="1.00")),
            "invalid_request",
            "exactly one",
        ),
        (wire(period="2025-13"), "invalid_period", "period"),
        (wire(period="25-01"), "invalid_period", "period"),
        (wire(period="2026-10"), "closed_period", "EP01 period 2026-10 is closed"),
        (
            wire_lines(
                line("100-6000-CC100", debit="1.00", currency="XYZ"),
                line("100-2200-000", credit="1.00", currency="XYZ"),
            ),
            "invalid_currency",
            "XYZ",
        ),
        (
            wire_lines(line("300-6000-CC100", debit="1.00"), line("100-2200-000", credit="1.00")),
            "unknown_account",
            "EF04",
        ),
    ],
)
def test_server_side_validation(
    make_sim: SimFactory, raw: urllib3.PoolManager, body: dict[str, Any], code: str, message: str
) -> None:
    sim = make_sim()
    resp = raw.request("POST", f"{sim.url}/journal-entries/batch", json=batch_body(body))
    assert resp.status == 200
    [result] = json.loads(resp.data)["results"]
    assert (result["idempotency_key"], result["status"], result["error"]) == ("k0", 422, code)
    assert message in result["message"]
    assert sim.ledger() == []


def test_each_entry_of_a_batch_gets_its_own_answer(make_sim: SimFactory, make_client: ClientFactory) -> None:
    sim = make_sim()
    client = make_client(sim)
    post_one(client, entry("TX-0"), "k0")

    answers = client.post_entries(
        [("k0", entry("TX-0")), ("k1", entry("TX-1", debit_account="100-6000-XX999")), ("k2", entry("TX-2"))]
    )

    assert answers[0] == PostResult(ledger_id="L000001", duplicate=True)
    assert isinstance(answers[1], FinanceRejected) and answers[1].code == "unknown_account"
    assert answers[2] == PostResult(ledger_id="L000002", duplicate=False)
    assert [e.idempotency_key for e in sim.ledger()] == ["k0", "k2"]
    stats = sim.stats()
    assert (stats.requests, stats.posted, stats.duplicates_absorbed, stats.rejected) == (2, 2, 1, 1)


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"entries": []}, "invalid_request"),
        ({"entries": [{"entry": wire()}] * 101}, "invalid_request"),
        ({"nope": 1}, "invalid_request"),
        ({"entries": [{"entry": wire()}]}, "missing_idempotency_key"),
        (batch_body(wire(), wire(), keys=["k", "k"]), "duplicate_idempotency_key"),
    ],
)
def test_a_malformed_batch_is_refused_whole(
    make_sim: SimFactory, raw: urllib3.PoolManager, body: dict[str, Any], code: str
) -> None:
    sim = make_sim()
    resp = raw.request("POST", f"{sim.url}/journal-entries/batch", json=body)
    assert resp.status == 400
    assert json.loads(resp.data)["error"] == code
    assert sim.ledger() == []
    assert sim.stats().rejected == 1


def test_the_client_refuses_an_empty_idempotency_key_before_sending() -> None:
    with pytest.raises(ValueError, match="non-empty idempotency key"):
        FinanceClient("http://127.0.0.1:9", timeout_seconds=1).post_entries([("", entry())])


def test_auth_token_mismatch_is_rejected(make_sim: SimFactory, make_client: ClientFactory) -> None:
    sim = make_sim(token="s3cret")
    for token in ("wrong", None):
        bad = make_client(sim, token=token)
        with pytest.raises(FinanceRejected) as err:
            post_one(bad, entry(), idempotency_key="k")
        assert (err.value.status, err.value.code) == (401, "unauthorized")
        with pytest.raises(FinanceRejected):
            bad.health()

    good = make_client(sim, token="s3cret")
    assert post_one(good, entry(), idempotency_key="k").duplicate is False
    assert good.health() >= 0
    assert len(sim.ledger()) == 1


# -- transient faults ------------------------------------------------------------


@pytest.mark.parametrize(
    ("faults", "kind", "error"),
    [
        (FinanceFaults(overload_rate=1), "overload", FinanceOverloaded),
        (FinanceFaults(capacity=0), "capacity", FinanceOverloaded),
        (FinanceFaults(throttle_rate=1), "throttle", FinanceThrottled),
        (FinanceFaults(reset_rate=1), "reset", FinanceUnavailable),
        (FinanceFaults(outage=True), "outage", FinanceOverloaded),
    ],
)
def test_fault_maps_to_transient_error(
    make_sim: SimFactory,
    make_client: ClientFactory,
    faults: FinanceFaults,
    kind: str,
    error: type[FinanceError],
) -> None:
    sim = make_sim(faults)
    with pytest.raises(error) as err:
        post_one(make_client(sim), entry(), idempotency_key="k")
    assert type(err.value).__name__ in TRANSIENT_ERRORS
    assert sim.ledger() == []
    stats = sim.stats()
    assert stats.faults_injected[kind] == 1
    assert sum(stats.faults_injected.values()) == 1
    assert stats.current_concurrent == 0


def test_throttle_carries_retry_after(make_sim: SimFactory, make_client: ClientFactory) -> None:
    sim = make_sim(FinanceFaults(throttle_rate=1))
    with pytest.raises(FinanceThrottled) as err:
        post_one(make_client(sim), entry(), idempotency_key="k")
    assert (err.value.status, err.value.code, err.value.retry_after) == (429, "throttled", 1.0)


def test_capacity_rejects_request_above_limit(make_sim: SimFactory, make_client: ClientFactory) -> None:
    # A 2 s commit holds the first request's capacity slot: long enough for the second
    # request to arrive even on a loaded machine.
    sim = make_sim(FinanceFaults(capacity=1, latency_seconds=2.0))
    client = make_client(sim, timeout=4.0)
    results: list[PostResult] = []
    holder = threading.Thread(target=lambda: results.append(post_one(client, entry("A"), "kA")))
    holder.start()
    # Deterministic: the first request is recorded and still committing.
    wait_for(lambda: sim.stats().current_concurrent == 1 and len(sim.ledger()) == 1)

    with pytest.raises(FinanceOverloaded) as err:
        post_one(client, entry("B"), "kB")
    assert err.value.code == "database_overloaded"
    holder.join()

    assert results == [PostResult(ledger_id="L000001", duplicate=False)]
    stats = sim.stats()
    assert stats.faults_injected["capacity"] == 1
    assert stats.max_concurrent == 2
    assert [e.transaction_id for e in sim.ledger()] == ["A"]


def test_slow_response_times_out_but_retry_gets_dedup_answer(make_sim: SimFactory, make_client: ClientFactory) -> None:
    sim = make_sim(FinanceFaults(slow_rate=1, slow_seconds=0.4))

    with pytest.raises(FinanceTimeout):
        post_one(make_client(sim, timeout=0.1), entry(), idempotency_key="run-1:TX-1")
    # The entry landed even though the client never heard back.
    [stored] = sim.ledger()

    retry = post_one(make_client(sim, timeout=2.0), entry(), idempotency_key="run-1:TX-1")
    assert retry == PostResult(ledger_id=stored.ledger_id, duplicate=True)
    assert len(sim.ledger()) == 1
    stats = sim.stats()
    assert (stats.posted, stats.duplicates_absorbed, stats.faults_injected["slow"]) == (1, 1, 2)


def test_outage_can_be_toggled_at_runtime(make_sim: SimFactory, make_client: ClientFactory) -> None:
    sim = make_sim()
    client = make_client(sim)
    assert client.health() >= 0

    sim.set_outage(True)
    with pytest.raises(FinanceOverloaded) as err:
        client.health()
    assert err.value.code == "outage"
    with pytest.raises(FinanceOverloaded):
        post_one(client, entry(), idempotency_key="k")
    assert sim.ledger() == []

    sim.set_outage(False)
    assert client.health() >= 0
    assert post_one(client, entry(), idempotency_key="k").duplicate is False
    assert sim.stats().faults_injected["outage"] == 2


def test_an_armed_outage_begins_at_the_entry_that_reaches_the_count(
    make_sim: SimFactory, make_client: ClientFactory
) -> None:
    sim = make_sim()
    client = make_client(sim)
    sim.outage_after_posts(2)
    assert post_one(client, entry("TX-1"), idempotency_key="k1").duplicate is False
    assert sim.outage_began() is None
    assert post_one(client, entry("TX-2"), idempotency_key="k2").duplicate is False, "the second entry is answered"
    assert sim.outage_began() is not None
    with pytest.raises(FinanceOverloaded) as err:
        post_one(client, entry("TX-3"), idempotency_key="k3")
    assert err.value.code == "outage"
    assert [e.transaction_id for e in sim.ledger()] == ["TX-1", "TX-2"]

    sim.set_outage(False)
    assert post_one(client, entry("TX-3"), idempotency_key="k3").duplicate is False


def test_an_armed_outage_answers_the_whole_batch_that_reaches_the_count(
    make_sim: SimFactory, make_client: ClientFactory
) -> None:
    sim = make_sim()
    client = make_client(sim)
    sim.outage_after_posts(2)
    answers = client.post_entries([(f"k{i}", entry(f"TX-{i}")) for i in range(3)])
    assert all(isinstance(answer, PostResult) and not answer.duplicate for answer in answers), (
        "the request holding the second entry is answered in full"
    )
    trip = sim.outage_began()
    assert trip is not None and trip.posts == 2
    with pytest.raises(FinanceOverloaded):
        post_one(client, entry("TX-9"), idempotency_key="k9")
    assert len(sim.ledger()) == 3


def test_an_armed_outage_is_disarmed_by_setting_the_outage(make_sim: SimFactory, make_client: ClientFactory) -> None:
    sim = make_sim()
    client = make_client(sim)
    sim.outage_after_posts(1)
    sim.set_outage(False)
    post_one(client, entry("TX-1"), idempotency_key="k1")
    post_one(client, entry("TX-2"), idempotency_key="k2")
    assert sim.outage_began() is None
    assert client.health() >= 0


# -- lookup by idempotency key ------------------------------------------------------


def test_find_entry_returns_the_entry_posted_under_the_key_and_none_when_absent(
    make_sim: SimFactory, make_client: ClientFactory, raw: urllib3.PoolManager
) -> None:
    sim = make_sim(FinanceFaults(overload_rate=0, throttle_rate=0))
    client = make_client(sim)
    posted = post_one(client, entry("TX-7"), idempotency_key="payroll_journal:TX-7")

    found = client.find_entry("payroll_journal:TX-7")
    assert found == LedgerRecord(
        ledger_id=posted.ledger_id, idempotency_key="payroll_journal:TX-7", transaction_id="TX-7"
    )
    assert client.find_entry("payroll_journal:TX-8") is None
    assert client.find_entry("expense_report:TX-7") is None, "the key, not the transaction id, is looked up"
    absent = raw.request("GET", f"{sim.url}/journal-entries/payroll_journal%3ATX-8")
    assert (absent.status, json.loads(absent.data)["error"]) == (404, "entry_not_found")
    stats = sim.stats()
    assert (stats.lookups, stats.posted, stats.duplicates_absorbed) == (4, 1, 0), "a lookup never posts"


def test_find_entry_raises_the_transient_errors_of_posting(make_sim: SimFactory, make_client: ClientFactory) -> None:
    sim = make_sim()
    client = make_client(sim)
    post_one(client, entry(), idempotency_key="k")
    sim.set_outage(True)
    with pytest.raises(FinanceOverloaded) as err:
        client.find_entry("k")
    assert err.value.code == "outage"
    assert sim.stats().faults_injected["outage"] == 1
    sim.set_outage(False)
    assert client.find_entry("k") is not None

    url = sim.url
    sim.stop()
    with pytest.raises(FinanceUnavailable):
        FinanceClient(url, timeout_seconds=1.0).find_entry("k")


def test_lookups_pass_only_the_outage_and_auth_checks_like_every_get(
    make_sim: SimFactory, make_client: ClientFactory
) -> None:
    """Write-path faults (reset, overload, throttle, slow) never touch a GET; a bad token does."""
    sim = make_sim(FinanceFaults(reset_rate=1, overload_rate=1, throttle_rate=1, slow_rate=1), token="t")
    assert make_client(sim, token="t").find_entry("k") is None
    with pytest.raises(FinanceRejected) as err:
        make_client(sim, token="wrong").find_entry("k")
    assert err.value.status == 401
    assert sum(sim.stats().faults_injected.values()) == 0


def test_connection_refused_is_unavailable(make_sim: SimFactory) -> None:
    sim = make_sim()
    url = sim.url
    sim.stop()
    client = FinanceClient(url, timeout_seconds=1.0)
    with pytest.raises(FinanceUnavailable):
        client.health()
    with pytest.raises(FinanceUnavailable):
        post_one(client, entry(), idempotency_key="k")


def test_max_concurrent_counts_peak_in_flight_posts(make_sim: SimFactory, make_client: ClientFactory) -> None:
    sim = make_sim(FinanceFaults(latency_seconds=0.5))
    client = make_client(sim)
    workers = [threading.Thread(target=post_one, args=(client, entry(f"TX-{i}"), f"k{i}")) for i in range(4)]
    for worker in workers:
        worker.start()
    # All four are recorded and committing at the same time.
    wait_for(lambda: sim.stats().current_concurrent == 4)
    for worker in workers:
        worker.join()

    stats = sim.stats()
    assert stats.max_concurrent == 4
    assert stats.current_concurrent == 0
    assert len(sim.ledger()) == 4


def test_fault_counts_are_reproducible_for_a_seed(make_sim: SimFactory, make_client: ClientFactory) -> None:
    def overloads(seed: int) -> int:
        sim = make_sim(FinanceFaults(overload_rate=0.3, seed=seed))
        client = make_client(sim)
        for i in range(30):
            with contextlib.suppress(FinanceOverloaded):
                post_one(client, entry(f"TX-{i}"), idempotency_key=f"k{i}")
        return sim.stats().faults_injected["overload"]

    first = overloads(7)
    assert first == overloads(7)
    assert 0 < first < 30


# -- contracts ----------------------------------------------------------------------


def test_fault_config_is_validated() -> None:
    with pytest.raises(ValidationError):
        FinanceFaults(overload_rate=1.5)
    with pytest.raises(ValidationError):
        FinanceFaults(reset_rate=-0.1)
    with pytest.raises(ValidationError):
        FinanceFaults(unknown_knob=1)  # type: ignore[call-arg]


def test_error_taxonomy() -> None:
    for name in TRANSIENT_ERRORS:
        cls = globals()[name]
        assert issubclass(cls, FinanceError)
        # Handlers re-raise transient errors by type with a single message.
        assert str(cls("payload")) == "payload"
    assert "FinanceRejected" not in TRANSIENT_ERRORS
    assert issubclass(FinanceRejected, FinanceError)

    rejected = pickle.loads(pickle.dumps(FinanceRejected("unknown_account", "no such account", status=422)))
    assert (rejected.code, rejected.reason, rejected.status) == ("unknown_account", "no such account", 422)
    throttled = pickle.loads(pickle.dumps(FinanceThrottled("slow down", retry_after=1.0)))
    assert throttled.retry_after == 1.0


def test_a_slow_answer_no_longer_holds_the_ledgers_capacity(make_sim: SimFactory, make_client: ClientFactory) -> None:
    """The entries are committed before the late answer travels: a retry meanwhile is not an overload."""
    sim = make_sim(FinanceFaults(capacity=1, slow_rate=1, slow_seconds=1.5))
    client = make_client(sim, timeout=4.0)
    holder = threading.Thread(target=post_one, args=(client, entry("A"), "kA"))
    holder.start()
    wait_for(lambda: len(sim.ledger()) == 1 and sim.stats().current_concurrent == 0)

    assert post_one(make_client(sim, timeout=4.0), entry("B"), "kB").duplicate is False
    holder.join()

    stats = sim.stats()
    assert stats.faults_injected["capacity"] == 0
    assert stats.faults_injected["slow"] == 2
    assert [e.transaction_id for e in sim.ledger()] == ["A", "B"]
