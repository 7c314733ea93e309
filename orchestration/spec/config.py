"""Environment configuration: one YAML file per environment under ``config/``.

The same models drive the CDK app, the local engine and the CLI. A bad file fails fast
with an error naming the file and the field.
"""

from __future__ import annotations

import difflib
import math
import os
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, HttpUrl, ValidationError, model_validator

from lambdas.journal import Period
from lambdas.mapping import JournalRules
from lambdas.models import (
    BatchSize,
    ChunkSize,
    FinanceLedger,
    MaxBatchesPerExecution,
    MaxConcurrency,
    PauseIntervalSeconds,
    ProcessName,
    ProcessSettings,
)
from orchestration.errors import USAGE, LedgerflowError
from orchestration.spec.chart import Chart
from orchestration.spec.resources import folder

CONFIG_DIR = folder("config")
"""The shipped environments (``config/`` of the repository, or its copy in the installed package)."""
CONFIG_DIR_ENV = "LEDGERFLOW_CONFIG_DIR"
HISTORY_LIMIT = 25_000
HISTORY_BUDGET = 20_000
EVENTS_PER_TASK = 5
EVENTS_PER_RETRY = 3
EVENTS_PER_BATCH_OVERHEAD = 24
EVENTS_PER_PAUSE = 14
LAMBDA_SERVICE_RETRIES = 3
CRASH_RETRIES = 3
RECORD_RETRIES = 3


class ConfigError(LedgerflowError):
    """A configuration file is missing or invalid; the message names the file and field."""

    exit_code = USAGE


class UnknownProcess(LedgerflowError):
    """A process name the configuration does not know; the message suggests the closest."""

    exit_code = USAGE


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RetryRule(Model):
    interval_seconds: int = Field(ge=1, le=3600)
    backoff_rate: float = Field(ge=1.0, le=10.0)
    max_attempts: int = Field(ge=0, le=20)
    max_delay_seconds: int = Field(ge=1, le=86_400)

    def budget_seconds(self) -> float:
        """The longest an item keeps retrying under this rule (every delay at its maximum)."""
        return sum(
            min(self.interval_seconds * self.backoff_rate**attempt, self.max_delay_seconds)
            for attempt in range(self.max_attempts)
        )


class RetryProfile(Model):
    """Retry policy per transient error class of the finance system."""

    throttled: RetryRule
    overloaded: RetryRule
    unavailable: RetryRule

    def budget_seconds(self) -> float:
        return max(rule.budget_seconds() for rule in (self.throttled, self.overloaded, self.unavailable))

    def total_attempts(self) -> int:
        return self.throttled.max_attempts + self.overloaded.max_attempts + self.unavailable.max_attempts


MaxPauseSeconds = Annotated[
    int, Field(ge=1, le=31_536_000, description="longest a run waits on a closed gate before giving up")
]


class ProcessOverrides(Model):
    """What one process changes of the defaults; every bound is the defaults' (declared once, in ``lambdas.models``)."""

    batch_size: BatchSize | None = None
    chunk_size: ChunkSize | None = None
    max_concurrency: MaxConcurrency | None = None
    pause_interval_seconds: PauseIntervalSeconds | None = None
    max_pause_seconds: MaxPauseSeconds | None = None
    max_batches_per_execution: MaxBatchesPerExecution | None = None
    retry_profile: str | None = None
    finance_ledger: FinanceLedger | None = None
    journal: JournalRules = Field(description="how this process's HCM records become journals")


class ProcessDefaults(Model):
    batch_size: BatchSize
    chunk_size: ChunkSize
    max_concurrency: MaxConcurrency
    pause_interval_seconds: PauseIntervalSeconds
    max_pause_seconds: MaxPauseSeconds
    max_batches_per_execution: MaxBatchesPerExecution
    retry_profile: str
    finance_ledger: FinanceLedger = "GL"

    def merged(self, overrides: ProcessOverrides) -> ProcessDefaults:
        """These defaults with a process's overrides applied, validated again as a whole."""
        changed = overrides.model_dump(exclude_none=True, exclude={"journal"})
        return ProcessDefaults.model_validate(self.model_dump() | changed)


class FinanceConfig(Model):
    base_url: HttpUrl | Literal["simulator"] = Field(
        description="the finance API; 'simulator' runs the local HTTP simulator on 127.0.0.1"
    )
    timeout_seconds: float = Field(gt=0, le=60)
    token_secret_name: str | None = Field(default=None, description="Secrets Manager name of the API token")
    chart: Chart = Field(description="the finance system's chart of accounts: the segments of an account")
    open_periods: list[Period] = Field(min_length=1, description="accounting periods the ledger accepts journals for")


class Notifications(Model):
    email: list[Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]] = Field(default_factory=list)
    sms: list[Annotated[str, Field(pattern=r"^\+[1-9]\d{6,14}$")]] = Field(default_factory=list)


class ProcessAlarmThresholds(Model):
    """Per-process overrides of the business alarm thresholds (transactions per alarm period)."""

    transactions_failed: int | None = Field(default=None, ge=1)
    transactions_rejected: int | None = Field(default=None, ge=1)


class AlarmSettings(Model):
    """Thresholds and periods of the alarm catalog (``orchestration.spec.alarms``) for one environment."""

    period_seconds: int = Field(default=300, ge=60, le=86_400, multiple_of=60, description="alarm period")
    health_check_minutes: int = Field(default=1, ge=1, le=60, description="health check schedule")
    transactions_failed: int = Field(default=1, ge=1, description="failed transactions per period, per process")
    transactions_rejected: int = Field(default=10, ge=1, description="rejected transactions per period, per process")
    gate_paused_too_long: int = Field(default=1, ge=1, description="runs given up on a closed gate per period")
    oldest_pending_age_seconds: int = Field(default=7200, ge=60, description="age of the oldest pending transaction")
    lambda_errors: int = Field(default=1, ge=1, description="errors per period of a function that never raises")
    retried_error_rate_percent: float = Field(
        default=50, gt=0, le=100, description="error rate of a function that raises for Step Functions Retry"
    )
    local_time_scale: float = Field(
        default=60, ge=1, le=3600, description="local engine only: alarm-clock seconds per wall-clock second"
    )
    processes: dict[ProcessName, ProcessAlarmThresholds] = Field(default_factory=dict)


class EnvironmentConfig(Model):
    environment: str = Field(pattern=r"^[a-z][a-z0-9-]{0,20}$")
    region: str = Field(pattern=r"^[a-z]{2}(-[a-z]+)+-\d$")
    account: str | None = Field(default=None, pattern=r"^\d{12}$")
    name_prefix: str = Field(pattern=r"^[a-z][a-z0-9-]{2,30}$")
    retain_data: bool = Field(description="keep tables on stack deletion and enable deletion protection")
    finance: FinanceConfig
    retry_profiles: dict[str, RetryProfile] = Field(min_length=1)
    defaults: ProcessDefaults
    processes: dict[ProcessName, ProcessOverrides] = Field(min_length=1)
    notifications: Notifications = Field(default_factory=Notifications)
    alarms: AlarmSettings = Field(default_factory=AlarmSettings)

    @model_validator(mode="after")
    def _check_processes(self) -> EnvironmentConfig:
        for name in self.alarms.processes:
            if name not in self.processes:
                raise ValueError(
                    f"alarms.processes.{name}: unknown process; known: {', '.join(sorted(self.processes))}"
                )
        for name, process in self.processes.items():
            self._check_rules(name, process.journal)
            profile = self.profile_name(name)
            if profile not in self.retry_profiles:
                raise ValueError(
                    f"processes.{name}.retry_profile: unknown profile {profile!r}; "
                    f"known: {', '.join(sorted(self.retry_profiles))}"
                )
            try:
                settings = self.process_settings(name)
            except ValidationError as exc:
                # max_pauses is derived (max_pause_seconds / pause_interval_seconds): name the process.
                raise ValueError(f"processes.{name}: {format_validation_error(exc)}") from exc
            events = worst_case_history_events(settings, self.retry_profiles[profile])
            if events > HISTORY_BUDGET:
                raise ValueError(
                    f"processes.{name}: one execution could reach {events} history events "
                    f"(budget {HISTORY_BUDGET}, hard limit {HISTORY_LIMIT}); lower max_batches_per_execution "
                    "or batch_size, or raise chunk_size"
                )
        return self

    def _check_rules(self, process: str, rules: JournalRules) -> None:
        """Every account template of a process's rules can give an account of the chart."""
        for component, posting in rules.components.items():
            for side, template in posting.accounts():
                problem = self.finance.chart.problem_in_template(template)
                if problem:
                    raise ValueError(f"processes.{process}.journal.components.{component}.{side}: {problem}")

    def known_process(self, process: str) -> str:
        """``process`` if the config knows it; otherwise an error suggesting the closest name."""
        if process not in self.processes:
            raise UnknownProcess(f"unknown process {process!r}{self._closest(process)}; known: {self._known()}")
        return process

    def known_processes(self, names: list[str], *, argument: str = "--processes") -> list[str]:
        """``names`` without repeats if the config knows each; otherwise one error naming every unknown one."""
        unknown = [name for name in names if name not in self.processes]
        if unknown:
            named = ", ".join(f"{name}{self._closest(name)}" for name in unknown)
            raise UnknownProcess(f"{argument}: unknown process(es) {named}; known: {self._known()}")
        if not names:
            raise UnknownProcess(f"{argument}: no process named; known: {self._known()}")
        return list(dict.fromkeys(names))

    def _known(self) -> str:
        return ", ".join(sorted(self.processes))

    def _closest(self, name: str) -> str:
        close = difflib.get_close_matches(name, sorted(self.processes), n=1)
        return f" (did you mean {close[0]}?)" if close else ""

    def resolved(self, process: str) -> ProcessDefaults:
        """A process's settings as configured: the defaults with its overrides."""
        return self.defaults.merged(self.processes[process])

    def profile_name(self, process: str) -> str:
        return self.resolved(process).retry_profile

    def process_settings(self, process: str) -> ProcessSettings:
        """A process's runtime settings (defaults plus its overrides), as the Lambdas read them.

        The number of pauses a run may take is derived: ``max_pause_seconds`` over the pause
        interval, rounded up, at least one.
        """
        resolved = self.resolved(process)
        pauses = max(1, math.ceil(resolved.max_pause_seconds / resolved.pause_interval_seconds))
        fields = resolved.model_dump(exclude={"max_pause_seconds"})
        journal = self.processes[process].journal
        return ProcessSettings.model_validate({**fields, "process": process, "max_pauses": pauses, "journal": journal})

    def all_settings(self) -> dict[str, ProcessSettings]:
        return {name: self.process_settings(name) for name in self.processes}

    def alarm_threshold(self, process: str, field: str) -> int:
        """A business alarm threshold of one process: its override, else the environment's."""
        override = getattr(self.alarms.processes.get(process, ProcessAlarmThresholds()), field)
        return int(getattr(self.alarms, field) if override is None else override)

    def retry_budget_seconds(self) -> float:
        """The longest retry budget of any profile in use: an outage longer than this fails transactions."""
        return max(self.retry_profiles[profile].budget_seconds() for profile in self.used_profiles())

    def used_profiles(self) -> list[str]:
        return sorted({self.profile_name(name) for name in self.processes})

    def resource_name(self, suffix: str) -> str:
        return f"{self.name_prefix}-{suffix}"


def worst_case_history_events(settings: ProcessSettings, profile: RetryProfile) -> int:
    """Upper bound on one execution's history events, every retry and pause spent."""
    chunks = math.ceil(settings.batch_size / settings.chunk_size)
    retries = profile.total_attempts() + 3 * LAMBDA_SERVICE_RETRIES + CRASH_RETRIES + RECORD_RETRIES
    per_chunk = 2 + 3 * EVENTS_PER_TASK + EVENTS_PER_RETRY * retries
    per_batch = EVENTS_PER_BATCH_OVERHEAD + chunks * per_chunk
    return settings.max_batches_per_execution * per_batch + settings.max_pauses * EVENTS_PER_PAUSE + 20


def config_dir() -> Path:
    """The shipped environments, or the directory named by ``LEDGERFLOW_CONFIG_DIR``."""
    override = os.environ.get(CONFIG_DIR_ENV)
    return Path(override) if override else CONFIG_DIR


def config_path(env: str, directory: Path | None = None) -> Path:
    return (directory or config_dir()) / f"{env}.yaml"


def known_environments(directory: Path | None = None) -> list[str]:
    return sorted(p.stem for p in (directory or config_dir()).glob("*.yaml"))


def load_config(env: str | None = None, *, path: Path | None = None, argument: str = "--env") -> EnvironmentConfig:
    """Load and validate ``config/<env>.yaml`` (or ``path``); ``argument`` is how the caller chose ``env``."""
    if path is None:
        if env is None:
            raise ConfigError(f"{argument}: no environment given")
        path = config_path(env)
        if not path.exists():
            known = ", ".join(known_environments()) or "none"
            raise ConfigError(f"{argument} {env}: no such environment {env!r}: no {path} (known: {known})")
    try:
        raw = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    try:
        return EnvironmentConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(f"{path}: {format_validation_error(exc)}") from exc


def format_validation_error(exc: ValidationError) -> str:
    """One line per problem, each naming the dotted field path."""
    lines = []
    for err in exc.errors():
        where = ".".join(str(part) for part in err["loc"]) or "(top level)"
        message = str(err["msg"]).removeprefix("Value error, ")
        lines.append(message if where == "(top level)" else f"{where}: {message}")
    return "; ".join(lines)
