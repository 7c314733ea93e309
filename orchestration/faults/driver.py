"""Drives the fault scenarios of a local run that are not finance responses.

The finance simulator injects 503/429/slow/reset answers by itself; this module does the
rest of a ``FaultPlan`` while the runs execute: the crash-after-post interceptor, a finance
outage of a set duration, gates closed and reopened mid-run, duplicate HCM run entries and
the same transaction UUIDs delivered twice. It records what it did (``ScenarioEvidence``) so
tests can check that each fault really happened, not only that the run survived it.
"""

from __future__ import annotations

import contextlib
import functools
import random
import threading
import time
from contextlib import ExitStack
from types import TracebackType
from typing import Any, Self

from pydantic import BaseModel, Field

from lambdas.models import RunStatus, TransactionStatus
from lambdas.store import applied, now_iso
from orchestration.engine.local import LocalEngine
from orchestration.faults.crash import CrashAfterPost
from orchestration.faults.scenarios import FaultPlan
from orchestration.ops.gates import GateStore, resume_paused
from orchestration.sim.finance import FinanceSimulator
from orchestration.sim.hcm import SeededRun
from orchestration.spec.config import EnvironmentConfig
from orchestration.spec.functions import FUNCTIONS
from orchestration.spec.names import function_name
from orchestration.spec.tables import RUNS, TRANSACTIONS

POLL_SECONDS = 0.05
OUTAGE_END_GRACE_SECONDS = 5.0
"""How much longer than its set length ``finish`` waits for an outage under way to end."""
REDELIVERY_SUFFIX = "redelivery"


class ScenarioEvidence(BaseModel):
    """What the driver actually injected during the run."""

    crashes: int = 0
    outage_started_after_posts: int | None = None
    outage_seconds: float = 0.0
    gate_closures: int = 0
    gate_resumes: int = 0
    duplicate_run_entries: int = 0
    duplicate_run_entries_absorbed: int = 0
    runs_paused: list[str] = Field(default_factory=list, description="runs seen paused by a closed gate")
    redelivered_same_run: int = 0
    redelivered_absorbed: int = 0
    redelivery_runs: dict[str, str] = Field(default_factory=dict, description="redelivery run id -> process")


def post_function_name(config: EnvironmentConfig) -> str:
    spec = next(s for s in FUNCTIONS if s.calls_finance)
    return function_name(config, spec)


class ScenarioDriver:
    """Use as a context around starting and waiting for the runs of one local run."""

    def __init__(self, plan: FaultPlan, engine: LocalEngine, finance: FinanceSimulator, gates: GateStore) -> None:
        self.plan = plan
        self.engine = engine
        self.finance = finance
        self.gates = gates
        self.evidence = ScenarioEvidence()
        self._rng = random.Random(f"scenario:{plan.seed}")
        self._stop = threading.Event()
        self._stack = ExitStack()
        self._crash: CrashAfterPost | None = None
        self._watcher: threading.Thread | None = None
        self._seeded: list[SeededRun] = []
        self._processes: list[str] = []
        self._redeliveries: list[dict[str, Any]] = []
        self._outage_ended = threading.Event()

    def __enter__(self) -> Self:
        if self.plan.crash_after_post:
            crash = CrashAfterPost(post_function_name(self.engine.config), self.plan.crash_after_post, self.plan.seed)
            self._crash = self._stack.enter_context(crash.installed(self.engine.runtime))
        if self.plan.outage_seconds:
            self.finance.outage_after_posts(self.plan.outage_after_posts)
        if self.plan.outage_seconds or self.plan.gate_flap_seconds or self.plan.duplicate_delivery:
            self._watcher = threading.Thread(target=self._watch, name="scenario-driver", daemon=True)
            self._watcher.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop.set()
        if self._watcher is not None:
            self._watcher.join(timeout=30)
        self.finance.set_outage(False)
        if self.plan.gate_flap_seconds:
            for process in self._processes:
                self.gates.set(process, open_=True, reason="scenario over", who="ledgerflow scenarios")
        self._stack.close()

    # -- runs -----------------------------------------------------------------

    def start_run(self, seeded: SeededRun) -> None:
        """Start a run the way the HCM trigger would, plus the duplicate deliveries the plan asks for."""
        self._seeded.append(seeded)
        if seeded.process not in self._processes:
            self._processes.append(seeded.process)
        self.engine.start_run(seeded.process, seeded.run_id)
        if self.plan.duplicate_runs:
            self._deliver_run_entry_again(seeded)
        if self.plan.duplicate_delivery:
            self._redeliveries += self._redelivered(seeded)
            self._start_redelivery_run(seeded)

    def finish(self) -> None:
        """After the runs ended: an outage under way runs its full length (the alarms must see it end),
        then the remaining duplicate run entries arrive late, once the runs are done."""
        if self.finance.outage_began() is not None:
            self._outage_ended.wait(timeout=self.plan.outage_seconds + OUTAGE_END_GRACE_SECONDS)
        self._stop.set()
        if self._watcher is not None:
            self._watcher.join(timeout=60)
        for seeded in self._seeded:
            for _ in range(self.plan.duplicate_runs - 1):
                self._deliver_run_entry_again(seeded)
        if self._crash is not None:
            self.evidence.crashes = len(self._crash.crashed_keys)

    @property
    def extra_runs(self) -> dict[str, str]:
        """Runs the scenarios added (run id -> process), to wait for and to check like the others."""
        return dict(self.evidence.redelivery_runs)

    def _deliver_run_entry_again(self, seeded: SeededRun) -> None:
        """A duplicate HCM entry for the same run: a conditional write of the entry, then the trigger again."""
        self.evidence.duplicate_run_entries += 1
        runs = self.engine.tables.Table(RUNS.table_name(self.engine.config))
        entry = {"run_id": seeded.run_id, "process": seeded.process, "status": RunStatus.PENDING.value}
        if not applied(
            lambda: runs.put_item(
                Item={**entry, "created_at": now_iso()}, ConditionExpression="attribute_not_exists(run_id)"
            )
        ):
            self.evidence.duplicate_run_entries_absorbed += 1
        # The execution name is the run id: while the run is running Step Functions returns the same
        # execution, and once it has ended the start is refused. Either way no second execution exists.
        with contextlib.suppress(self.engine.sfn.exceptions.ExecutionAlreadyExists):
            self.engine.start_run(seeded.process, seeded.run_id)

    def _redelivered(self, seeded: SeededRun) -> list[dict[str, Any]]:
        share = self.plan.duplicate_delivery
        chosen = [t for t in seeded.transactions if self._rng.random() < share]
        return chosen or seeded.transactions[:1]

    def _start_redelivery_run(self, seeded: SeededRun) -> None:
        """The HCM puts transactions it already delivered into a second run of the same process."""
        run_id = f"{seeded.run_id}-{REDELIVERY_SUFFIX}"
        copies = self._redelivered(seeded)
        config = self.engine.config
        table = self.engine.tables.Table(TRANSACTIONS.table_name(config))
        with table.batch_writer() as writer:
            for record in copies:
                item = {k: v for k, v in record.items() if k != "malformed"}
                writer.put_item(Item={**item, "run_id": run_id, "status": TransactionStatus.PENDING.value})
        self.engine.tables.Table(RUNS.table_name(config)).put_item(
            Item={
                "run_id": run_id,
                "process": seeded.process,
                "status": RunStatus.PENDING.value,
                "transaction_count": len(copies),
                "period": copies[0].get("period", ""),
                "created_at": now_iso(),
            }
        )
        self.evidence.redelivery_runs[run_id] = seeded.process
        self.engine.start_run(seeded.process, run_id)

    def _redeliver_same_run(self) -> None:
        """The HCM sends records again into the run already under way: the write must not reset them."""
        table = self.engine.tables.Table(TRANSACTIONS.table_name(self.engine.config))
        for record in list(self._redeliveries):
            self.evidence.redelivered_same_run += 1
            item = {k: v for k, v in record.items() if k != "malformed"}
            put = functools.partial(
                table.put_item, Item=item, ConditionExpression="attribute_not_exists(transaction_id)"
            )
            if not applied(put):
                self.evidence.redelivered_absorbed += 1

    # -- timed faults ---------------------------------------------------------

    def _posts(self) -> int:
        return self.finance.stats().posted

    def _watch(self) -> None:
        """Start and end the timed faults once the first posts have landed."""
        outage_until: float | None = None
        flap_until: float | None = None
        redelivered = not self.plan.duplicate_delivery
        outage_done = not self.plan.outage_seconds
        flap_done = not self.plan.gate_flap_seconds
        while not self._stop.is_set() and not (outage_done and flap_done and redelivered):
            posts = self._posts()
            now = time.monotonic()
            if not redelivered and self._redeliveries and posts >= 1:
                self._redeliver_same_run()
                redelivered = True
            if not outage_done:
                if outage_until is None:
                    outage_until = self._outage_trip()
                elif now >= outage_until:
                    self.finance.set_outage(False)
                    self._outage_ended.set()
                    self.evidence.outage_seconds = self.plan.outage_seconds
                    outage_done = True
            if not flap_done:
                if flap_until is None and posts >= self.plan.gate_flap_after_posts:
                    for process in self._processes:
                        self.gates.set(process, open_=False, reason="scenario: gate flap", who="ledgerflow scenarios")
                        self.evidence.gate_closures += 1
                    flap_until = now + self.plan.gate_flap_seconds
                elif flap_until is not None and now >= flap_until:
                    self._reopen_gates()
                    flap_done = True
                elif flap_until is not None:
                    self._note_paused_runs()
            self._stop.wait(POLL_SECONDS)
        if outage_until is None and not outage_done:
            outage_until = self._outage_trip()  # it began after the last look, as the runs ended
        if outage_until is not None and not outage_done:
            self.finance.set_outage(False)
            self.evidence.outage_seconds = self.plan.outage_seconds - max(0.0, outage_until - time.monotonic())
        if flap_until is not None and not flap_done:
            self._reopen_gates()

    def _outage_trip(self) -> float | None:
        """When the armed outage ends, noting its start as evidence, once the simulator has tripped it."""
        trip = self.finance.outage_began()
        if trip is None:
            return None
        self.evidence.outage_started_after_posts = trip.posts
        return trip.at + self.plan.outage_seconds

    def _note_paused_runs(self) -> None:
        runs = self.engine.tables.Table(RUNS.table_name(self.engine.config))
        for seeded in self._seeded:
            if seeded.run_id in self.evidence.runs_paused:
                continue
            item = runs.get_item(Key={"run_id": seeded.run_id}, ConsistentRead=True).get("Item", {})
            if item.get("status") == RunStatus.PAUSED:
                self.evidence.runs_paused.append(seeded.run_id)

    def _reopen_gates(self) -> None:
        config = self.engine.config
        for process in self._processes:
            self.gates.set(process, open_=True, reason="scenario: gate reopened", who="ledgerflow scenarios")
            self.evidence.gate_resumes += resume_paused(
                self.engine.dynamodb, self.engine.sfn, RUNS.table_name(config), process
            )
