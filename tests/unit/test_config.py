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


# -- mapping rules and the chart of accounts ------------------------------------------------


def rules_of(raw: dict[str, Any], process: str) -> dict[str, Any]:
    rules: dict[str, Any] = raw["processes"][process]["journal"]
    return rules


@pytest.mark.parametrize(
    ("template", "why"),
    [
        ("{company}-9999-{cost_centre}", "'{company}-9999-{cost_centre}': account '9999' is not in finance.chart"),
        ("{company}-6000", "'{company}-6000' has 2 segment(s), the chart 3"),
        (
            "{company}-6000-CC{cost}",
            "'{company}-6000-CC{cost}': cost_centre 'CC{cost}' is neither a value nor one {field}",
        ),
    ],
)
def test_an_account_template_the_chart_cannot_give_is_named_with_its_rule(
    tmp_path: Path, local_raw: dict[str, Any], template: str, why: str
) -> None:
    def mutate(raw: dict[str, Any]) -> None:
        rules_of(raw, "payroll_journal")["components"]["gross_pay"]["debit"] = template

    message = config_error(write_variant(tmp_path, local_raw, mutate))
    assert f"processes.payroll_journal.journal.components.gross_pay.debit: {why}" in message


def test_a_posting_needs_a_side(tmp_path: Path, local_raw: dict[str, Any]) -> None:
    def mutate(raw: dict[str, Any]) -> None:
        rules_of(raw, "supplier_invoice")["components"]["tax"] = {"description": "tax"}

    message = config_error(write_variant(tmp_path, local_raw, mutate))
    assert "processes.supplier_invoice.journal.components.tax" in message
    assert "a posting needs a debit account, a credit account, or both" in message


def test_rules_that_never_credit_could_only_give_unbalanced_journals(tmp_path: Path, local_raw: dict[str, Any]) -> None:
    def mutate(raw: dict[str, Any]) -> None:
        rules_of(raw, "expense_report")["components"] = {"meals": {"debit": "{company}-6210-{cost_centre}"}}

    message = config_error(write_variant(tmp_path, local_raw, mutate))
    assert "processes.expense_report.journal" in message
    assert "no component posts a credit: every journal would be unbalanced" in message


def test_every_process_needs_its_rules(tmp_path: Path, local_raw: dict[str, Any]) -> None:
    message = config_error(
        write_variant(tmp_path, local_raw, lambda raw: raw["processes"]["expense_report"].pop("journal"))
    )
    assert "processes.expense_report.journal" in message


def test_a_new_process_is_configuration_only(tmp_path: Path, local_raw: dict[str, Any]) -> None:
    def mutate(raw: dict[str, Any]) -> None:
        raw["processes"]["mileage_claim"] = {
            "finance_ledger": "EXPENSES",
            "journal": {
                "source": "HCM Expenses",
                "category": "Mileage",
                "components": {
                    "mileage": {"debit": "{company}-6200-{cost_centre}"},
                    "reimbursement": {"credit": "{company}-2300-000"},
                },
            },
        }

    config = load_config(path=write_variant(tmp_path, local_raw, mutate))
    settings = config.process_settings("mileage_claim")
    assert settings.journal.description == "{process} {period}"
    assert list(settings.journal.components) == ["mileage", "reimbursement"]


@pytest.mark.parametrize(
    ("chart", "field", "why"),
    [
        ({"summary_segment": "natural"}, "finance.chart", "summary_segment: 'natural' is not a segment"),
        ({"separator": "--"}, "finance.chart.separator", "at most 1 character"),
        ({"segments": []}, "finance.chart.segments", "at least 1 item"),
    ],
)
def test_a_chart_of_accounts_that_cannot_be_read_is_named(
    tmp_path: Path, local_raw: dict[str, Any], chart: dict[str, Any], field: str, why: str
) -> None:
    message = config_error(write_variant(tmp_path, local_raw, lambda raw: raw["finance"]["chart"].update(chart)))
    assert field in message and why in message


def test_a_segment_value_holding_the_separator_is_named(tmp_path: Path, local_raw: dict[str, Any]) -> None:
    def mutate(raw: dict[str, Any]) -> None:
        raw["finance"]["chart"]["segments"][2]["values"]["CC-9"] = "Dashed"

    message = config_error(write_variant(tmp_path, local_raw, mutate))
    assert "segments.cost_centre: value 'CC-9' is empty or holds the separator" in message


def test_open_periods_are_accounting_periods(tmp_path: Path, local_raw: dict[str, Any]) -> None:
    message = config_error(write_variant(tmp_path, local_raw, lambda raw: raw["finance"].update(open_periods=["Nov"])))
    assert "finance.open_periods.0" in message
