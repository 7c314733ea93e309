"""Pydantic models shared by every handler, the local engine and the CDK app.

The state machine passes one small ``RunState`` object from task to task, so every
handler validates the same shape at its boundary and the ASL stays free of plumbing.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from lambdas.mapping import JournalRules

ProcessName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{1,62}$")]
# A run id names executions (``<run_id>-<sequence>``, at most 80 characters): keep it short and plain.
RunId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]

# The bounds of every process setting, declared once: the environment config's defaults and
# overrides and the settings bundled with the Lambdas all use these.
BatchSize = Annotated[int, Field(ge=1, le=1000, description="max transaction UUIDs per GetTransactions call")]
ChunkSize = Annotated[int, Field(ge=1, le=100, description="transactions carried by one Map item")]
MaxConcurrency = Annotated[int, Field(ge=1, le=40, description="Map MaxConcurrency toward the finance system")]
PauseIntervalSeconds = Annotated[int, Field(ge=1, le=86_400, description="re-check interval while the gate is closed")]
MaxBatchesPerExecution = Annotated[int, Field(ge=1, le=1000, description="batches before continuing anew")]
FinanceLedger = Annotated[str, Field(min_length=1, description="the finance system's ledger of the process")]


class StrictModel(BaseModel):
    """Rejects unknown fields, so a misspelt key is an error rather than a silent default."""

    model_config = ConfigDict(extra="forbid")


class ProcessSettings(StrictModel):
    """Per-process settings the Lambdas and the state machine read at run time."""

    process: ProcessName
    batch_size: BatchSize
    chunk_size: ChunkSize
    max_concurrency: MaxConcurrency
    pause_interval_seconds: PauseIntervalSeconds
    max_pauses: int = Field(ge=1, le=10_000, description="pause intervals before the run gives up")
    max_batches_per_execution: MaxBatchesPerExecution
    finance_ledger: FinanceLedger
    journal: JournalRules = Field(description="how the process's HCM records become journals")
    retry_profile: str | None = Field(
        default=None,
        description="retry profile, i.e. the state machine a run of this process starts on (the run "
        "trigger picks it from the bundled settings)",
    )


class RunStatus(StrEnum):
    """Status of a run item in the runs table, from the HCM's entry to the run's end."""

    PENDING = "pending"
    """The HCM has just written the entry; no execution has picked it up yet."""
    RUNNING = "running"
    PAUSED = "paused"
    """Waiting on a closed gate (its task token is on the item)."""
    GATE_TIMEOUT = "gate_timeout"
    """The gate stayed closed past the process's maximum pause; the transactions stay pending."""
    COMPLETED = "completed"
    INCOMPLETE = "incomplete"
    """The run ended with transactions still pending."""


class TransactionStatus(StrEnum):
    PENDING = "pending"
    POSTED = "posted"
    REJECTED = "rejected"
    FAILED = "failed"


class TaskFailure(BaseModel):
    """The ``Catch`` ResultPath object Step Functions adds after retries are exhausted."""

    Error: str
    Cause: str = ""


class RunInput(StrictModel):
    """The input of every execution: which run, and where in it to continue."""

    process: ProcessName
    run_id: RunId
    cursor: str | None = None
    sequence: int = Field(default=0, ge=0)


class RunState(RunInput):
    """State carried between the tasks of one execution."""

    pauses: int = 0
    batches: int = 0
    gate_open: bool | None = None
    settings: ProcessSettings | None = None
    chunks: list[list[str]] = Field(default_factory=list)
    has_work: bool = False
    unconfirmed: TaskFailure | None = Field(
        default=None,
        description="why Summarize's re-check of failed transactions at finance could not answer (set on the "
        "SummarizeUnconfirmed path): the run is then counted without it",
    )


class ChunkInput(StrictModel):
    """One Map item: a small group of transaction UUIDs of one run."""

    process: ProcessName
    run_id: str
    ids: list[str] = Field(min_length=1)


class PostChunkInput(ChunkInput):
    """PostToFinance's input: the Map item plus the state's retry count (``$$.State.RetryCount``)."""

    retry_count: int = Field(default=0, ge=0)


class Rejection(StrictModel):
    transaction_id: str
    reason: str


class Posted(StrictModel):
    transaction_id: str
    ledger_id: str
    duplicate: bool
    attempt: int


class Failed(StrictModel):
    transaction_id: str
    reason: str


class PostOutcome(StrictModel):
    """What one PostToFinance invocation achieved; also carried in the error when it gives up."""

    posted: list[Posted] = Field(default_factory=list)
    rejected: list[Rejection] = Field(default_factory=list)
    failed: list[Failed] = Field(default_factory=list)
    attempt: int = 1


class RecordInput(ChunkInput):
    """RecordResult's input: the Map item PostToFinance gave up on, and why (its ``Catch``)."""

    failure: TaskFailure
    unconfirmed: TaskFailure | None = Field(
        default=None,
        description="why the finance lookup that confirms a failed item's transactions could not answer "
        "(set on the RecordUnconfirmed path): the transactions are then recorded failed without it",
    )


class ChunkCounts(StrictModel):
    posted: int = 0
    rejected: int = 0
    failed: int = 0


class RunSummary(StrictModel):
    process: ProcessName
    run_id: str
    status: RunStatus
    total: int
    posted: int
    rejected: int
    failed: int
    pending: int
