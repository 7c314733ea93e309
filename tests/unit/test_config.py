"""Environment configuration: the shipped files load, and every bad file fails naming file and field."""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from orchestration.spec.config import (
    CONFIG_DIR,
    HISTORY_BUDGET,
    ConfigError,
    EnvironmentConfig,
    ProcessDefaults,
    config_path,
    known_environments,
    load_config,
    worst_case_history_events,
)

Mutate = Callable[[dict[str, Any]], None]


@pytest.fixture(scope="module")
def local_raw() -> dict[str, Any]:
    raw: dict[str, Any] = yaml.safe_load(config_path("local").read_text())
    return raw


def write_variant(tmp_path: Path, raw: dict[str, Any], mutate: Mutate) -> Path:
    variant = copy.deepcopy(raw)
    mutate(variant)
    path = tmp_path / "variant.yaml"
    path.write_text(yaml.safe_dump(variant))
    return path


def config_error(path: Path) -> str:
    with pytest.raises(ConfigError) as raised:
        load_config(path=path)
    message = str(raised.value)
    assert str(path) in message, f"error does not name the file: {message}"
    return message


def test_every_shipped_environment_loads() -> None:
    envs = known_environments()
    assert {"local", "dev"} <= set(envs)
    for env in envs:
        assert isinstance(load_config(env), EnvironmentConfig)


def test_process_settings_resolve_defaults_and_overrides(config: EnvironmentConfig, local_raw: dict[str, Any]) -> None:
    defaults = local_raw["defaults"]
    assert set(config.all_settings()) == set(local_raw["processes"])
    for name, overrides in local_raw["processes"].items():
        settings = config.process_settings(name)
        for field in ("batch_size", "chunk_size", "max_concurrency", "max_batches_per_execution"):
            assert getattr(settings, field) == (overrides or {}).get(field, defaults[field]), f"{name}.{field}"
        default_ledger = defaults.get("finance_ledger", ProcessDefaults.model_fields["finance_ledger"].default)
        assert settings.finance_ledger == (overrides or {}).get("finance_ledger", default_ledger)
        interval = (overrides or {}).get("pause_interval_seconds", defaults["pause_interval_seconds"])
        max_pause = (overrides or {}).get("max_pause_seconds", defaults["max_pause_seconds"])
        assert settings.max_pauses == math.ceil(max_pause / interval)
        profile = config.retry_profiles[config.profile_name(name)]
        assert worst_case_history_events(settings, profile) <= HISTORY_BUDGET


def test_unknown_retry_profile(tmp_path: Path, local_raw: dict[str, Any]) -> None:
    def mutate(raw: dict[str, Any]) -> None:
        raw["processes"]["expense_report"]["retry_profile"] = "heroic"

    message = config_error(write_variant(tmp_path, local_raw, mutate))
    assert "processes.expense_report.retry_profile" in message
    assert "'heroic'" in message


def test_unknown_default_retry_profile(tmp_path: Path, local_raw: dict[str, Any]) -> None:
    def mutate(raw: dict[str, Any]) -> None:
        raw["defaults"]["retry_profile"] = "missing"

    message = config_error(write_variant(tmp_path, local_raw, mutate))
    assert "retry_profile" in message and "'missing'" in message


def test_negative_batch_size(tmp_path: Path, local_raw: dict[str, Any]) -> None:
    def mutate(raw: dict[str, Any]) -> None:
        raw["defaults"]["batch_size"] = -5

    assert "defaults.batch_size" in config_error(write_variant(tmp_path, local_raw, mutate))


def test_negative_batch_size_override(tmp_path: Path, local_raw: dict[str, Any]) -> None:
    def mutate(raw: dict[str, Any]) -> None:
        raw["processes"]["supplier_invoice"]["batch_size"] = -1

    assert "processes.supplier_invoice.batch_size" in config_error(write_variant(tmp_path, local_raw, mutate))


def test_bad_email(tmp_path: Path, local_raw: dict[str, Any]) -> None:
    def mutate(raw: dict[str, Any]) -> None:
        raw["notifications"]["email"] = ["oncall@example.com", "not-an-address"]

    assert "notifications.email.1" in config_error(write_variant(tmp_path, local_raw, mutate))


def test_bad_sms(tmp_path: Path, local_raw: dict[str, Any]) -> None:
    def mutate(raw: dict[str, Any]) -> None:
        raw["notifications"]["sms"] = ["555-0100"]

    assert "notifications.sms.0" in config_error(write_variant(tmp_path, local_raw, mutate))


def test_unknown_top_level_key(tmp_path: Path, local_raw: dict[str, Any]) -> None:
    def mutate(raw: dict[str, Any]) -> None:
        raw["retries"] = {"max": 3}

    message = config_error(write_variant(tmp_path, local_raw, mutate))
    assert "retries" in message
    assert "Extra inputs are not permitted" in message


def test_unknown_nested_key(tmp_path: Path, local_raw: dict[str, Any]) -> None:
    def mutate(raw: dict[str, Any]) -> None:
        raw["finance"]["timeout"] = 3

    assert "finance.timeout" in config_error(write_variant(tmp_path, local_raw, mutate))


def test_bad_field_type(tmp_path: Path, local_raw: dict[str, Any]) -> None:
    def mutate(raw: dict[str, Any]) -> None:
        raw["retry_profiles"]["standard"]["throttled"]["max_attempts"] = "lots"

    assert "retry_profiles.standard.throttled.max_attempts" in config_error(write_variant(tmp_path, local_raw, mutate))


def test_bad_process_name(tmp_path: Path, local_raw: dict[str, Any]) -> None:
    def mutate(raw: dict[str, Any]) -> None:
        raw["processes"]["Payroll Journal"] = {}

    assert "processes.Payroll Journal" in config_error(write_variant(tmp_path, local_raw, mutate))


def test_history_budget_overflow(tmp_path: Path, local_raw: dict[str, Any]) -> None:
    def mutate(raw: dict[str, Any]) -> None:
        raw["processes"]["payroll_journal"]["max_batches_per_execution"] = 1000

    message = config_error(write_variant(tmp_path, local_raw, mutate))
    assert "processes.payroll_journal" in message
    assert f"budget {HISTORY_BUDGET}" in message


def test_history_budget_counts_pauses(tmp_path: Path, local_raw: dict[str, Any]) -> None:
    """Ten thousand one-second pauses alone exceed the history budget."""

    def mutate(raw: dict[str, Any]) -> None:
        raw["processes"]["expense_report"]["max_pause_seconds"] = 10_000

    message = config_error(write_variant(tmp_path, local_raw, mutate))
    assert "processes.expense_report" in message
    assert f"budget {HISTORY_BUDGET}" in message


def test_too_many_pauses_names_the_process(tmp_path: Path, local_raw: dict[str, Any]) -> None:
    """max_pauses is derived, so the error names the process whose pause fields produce it."""

    def mutate(raw: dict[str, Any]) -> None:
        raw["processes"]["expense_report"]["max_pause_seconds"] = 31_536_000

    message = config_error(write_variant(tmp_path, local_raw, mutate))
    assert "processes.expense_report: max_pauses" in message


def test_invalid_yaml(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("environment: local\nfinance: {base_url: simulator\n")
    assert "not valid YAML" in config_error(path)


def test_top_level_not_a_mapping(tmp_path: Path) -> None:
    path = tmp_path / "list.yaml"
    path.write_text("- local\n- dev\n")
    assert "mapping" in config_error(path)


def test_missing_environment_file() -> None:
    with pytest.raises(ConfigError) as raised:
        load_config("staging")
    message = str(raised.value)
    assert "staging.yaml" in message
    for env in known_environments():
        assert env in message


def test_unreadable_path(tmp_path: Path) -> None:
    assert "cannot read" in config_error(tmp_path / "absent.yaml")


def test_no_environment_given() -> None:
    with pytest.raises(ConfigError, match="no environment"):
        load_config()


def test_config_dir_is_the_project_config() -> None:
    assert config_path("local") == CONFIG_DIR / "local.yaml"
    assert config_path("local").is_file()
