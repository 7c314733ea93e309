"""Bad input everywhere: one clear message naming what is wrong, a non-zero exit, no traceback, no write.

Covers malformed config (each field type), unknown or misspelt process names, invalid CLI
arguments, an ASL file with a placeholder nothing substitutes, and events that fail
validation at a handler's boundary.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from orchestration.cli import app
from orchestration.engine import local
from orchestration.spec import asl
from orchestration.spec.asl import PROCESS_TRANSACTIONS
from orchestration.spec.config import config_path
from orchestration.spec.functions import FUNCTIONS
from orchestration.spec.tables import RUNS
from tests.fixtures.system import ConfigFactory, SystemFactory
from tests.fixtures.waiting import wait_for_execution

runner = CliRunner()
Mutate = Callable[[dict[str, Any]], None]
COMMANDS = (
    ["run", "--local", "--transactions", "5", "--faults", "none"],
    ["reconcile", "payroll_journal", "--finance-url", "http://127.0.0.1:9"],
    ["failures", "payroll_journal"],
    ["redrive", "payroll_journal"],
)


def assert_clean_error(result: Any, *expected: str, code: int = 2) -> None:
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    text = " ".join(result.output.split())
    assert text.count("error:") == 1, text
    for fragment in expected:
        assert fragment in text, text


def _set(path: str, value: Any) -> Mutate:
    def mutate(raw: dict[str, Any]) -> None:
        *parents, leaf = path.split(".")
        node = raw
        for part in parents:
            node = node[part]
        node[leaf] = value

    return mutate


def _drop(path: str) -> Mutate:
    def mutate(raw: dict[str, Any]) -> None:
        *parents, leaf = path.split(".")
        node = raw
        for part in parents:
            node = node[part]
        del node[leaf]

    return mutate


CONFIG_CASES: dict[str, tuple[Mutate, str]] = {
    "int as text": (_set("defaults.batch_size", "ten"), "defaults.batch_size"),
    "int out of range": (
        _set("processes.payroll_journal.max_concurrency", 0),
        "processes.payroll_journal.max_concurrency",
    ),
    "float as text": (_set("finance.timeout_seconds", "fast"), "finance.timeout_seconds"),
    "float out of range": (_set("retry_profiles.standard.throttled.backoff_rate", 0.5), "backoff_rate"),
    "bool": (_set("retain_data", "maybe"), "retain_data"),
    "pattern string": (_set("region", "Mars"), "region"),
    "url": (_set("finance.base_url", "ftp:/nowhere"), "finance.base_url"),
    "list": (_set("finance.open_periods", []), "finance.open_periods"),
    "period": (_set("finance.open_periods", ["2026-13"]), "finance.open_periods.0"),
    "chart segment": (_set("finance.chart.segments", []), "finance.chart.segments"),
    "rule account not in the chart": (
        _set("processes.payroll_journal.journal.components.gross_pay.debit", "{company}-9999-{cost_centre}"),
        "processes.payroll_journal.journal.components.gross_pay.debit",
    ),
    "rule account of the wrong shape": (
        _set("processes.expense_report.journal.components.meals.debit", "6210-{cost_centre}"),
        "processes.expense_report.journal.components.meals.debit",
    ),
    "rule without a side": (
        _set("processes.supplier_invoice.journal.components.tax", {"description": "tax"}),
        "processes.supplier_invoice.journal.components.tax",
    ),
    "rule unknown key": (
        _set("processes.supplier_invoice.journal.components.tax.debet", "{company}-1400-000"),
        "processes.supplier_invoice.journal.components.tax.debet",
    ),
    "rules that never credit": (
        _set("processes.expense_report.journal.components", {"meals": {"debit": "{company}-6210-{cost_centre}"}}),
        "processes.expense_report.journal",
    ),
    "rules missing": (_drop("processes.expense_report.journal"), "processes.expense_report.journal"),
    "rules without components": (
        _set("processes.payroll_journal.journal.components", {}),
        "processes.payroll_journal.journal.components",
    ),
    "mapping": (_set("retry_profiles", ["standard"]), "retry_profiles"),
    "email": (_set("notifications.email", ["not-an-address"]), "notifications.email.0"),
    "unknown key": (_set("defaults.batch_sise", 10), "defaults.batch_sise"),
    "missing field": (_drop("finance"), "finance"),
    "unknown reference": (_set("processes.payroll_journal.retry_profile", "gentle"), "unknown profile 'gentle'"),
    "process name": (_set("processes.Payroll", {}), "processes.Payroll"),
}


@pytest.fixture(scope="module")
def local_raw() -> dict[str, Any]:
    raw: dict[str, Any] = yaml.safe_load(config_path("local").read_text())
    return raw


@pytest.mark.parametrize("case", sorted(CONFIG_CASES))
@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c[0])
def test_malformed_config_names_the_file_and_field(
    case: str, command: list[str], local_raw: dict[str, Any], tmp_path: Path
) -> None:
    mutate, field = CONFIG_CASES[case]
    variant = copy.deepcopy(local_raw)
    mutate(variant)
    path = tmp_path / "broken.yaml"
    path.write_text(yaml.safe_dump(variant))
    assert_clean_error(runner.invoke(app, [*command, "--config", str(path)]), "broken.yaml", field)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("region: [unclosed\n", "not valid YAML"),
        ("- a list\n- at the top\n", "expected a mapping at the top level"),
    ],
)
def test_unparseable_config_files_name_the_file(text: str, expected: str, tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    for command in COMMANDS:
        assert_clean_error(runner.invoke(app, [*command, "--config", str(path)]), "bad.yaml", expected)


def test_missing_config_file_and_unknown_environment_are_named(tmp_path: Path) -> None:
    missing = runner.invoke(app, ["failures", "payroll_journal", "--config", str(tmp_path / "none.yaml")])
    assert_clean_error(missing, "none.yaml", "cannot read")
    unknown = runner.invoke(app, ["run", "--local", "--env", "prdo"])
    assert_clean_error(unknown, "no such environment 'prdo'", "local")


@pytest.mark.parametrize("command", ["reconcile", "failures", "redrive"])
def test_misspelt_process_names_get_a_suggestion(command: str) -> None:
    result = runner.invoke(app, [command, "expense_reprot", "--finance-url", "http://127.0.0.1:9"][:2])
    assert_clean_error(result, "unknown process 'expense_reprot'", "did you mean expense_report?")


def test_run_with_misspelt_processes_names_each_one() -> None:
    result = runner.invoke(app, ["run", "--local", "--processes", "payroll_journal,suplier_invoice,zzz"])
    assert_clean_error(result, "--processes", "suplier_invoice (did you mean supplier_invoice?)", "zzz")


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--faults", "thrlotle"], "unknown scenario 'thrlotle' (did you mean throttle?); valid: none, transient"),
        (["--faults", "throttle=2"], "throttle=2: expected a rate in (0, 1]"),
        (["--faults", "capacity=1.5"], "capacity=1.5: expected a whole number"),
        (["--faults", "outage=soon"], "outage='soon': seconds must be a number"),
        (["--faults", "outage=-1"], "outage=-1: expected seconds"),
        (["--faults", "chaos=1"], "preset 'chaos' takes no value"),
        (["--faults", ","], "--faults: empty value"),
    ],
)
def test_invalid_fault_specs_name_the_term_and_list_valid_names(args: list[str], expected: str) -> None:
    assert_clean_error(runner.invoke(app, ["run", "--local", *args]), expected)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["run", "--local", "--transactions", "0"], "--transactions"),
        (["run", "--local", "--transactions", "many"], "--transactions"),
        (["run", "--local", "--seed", "x"], "--seed"),
        (["run", "--local", "--frobnicate"], "--frobnicate"),
        (["reconcile"], "Missing argument 'process'"),
        (["reconcile", "payroll_journal", "--period", "2026-13"], "--period: '2026-13' is not YYYY-MM"),
        (["failures", "payroll_journal", "--period", "November"], "--period: 'November' is not YYYY-MM"),
    ],
)
def test_invalid_cli_arguments_name_the_argument(args: list[str], expected: str) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert expected in " ".join(result.output.split())


def test_reconcile_without_a_reachable_finance_system_says_which_url(
    local_system: SystemFactory, make_config: ConfigFactory
) -> None:
    system = local_system(make_config())
    result = runner.invoke(app, ["reconcile", "payroll_journal", "--finance-url", "http://127.0.0.1:9"])
    assert_clean_error(result, "finance ledger", "http://127.0.0.1:9/journal-entries", code=1)
    simulator = runner.invoke(app, ["reconcile", "payroll_journal"])
    assert_clean_error(simulator, "finance.base_url is the local simulator; pass --endpoint-url", "--finance-url")
    assert system.finance.ledger() == []


def _broken_asl(tmp_path: Path) -> Path:
    text = PROCESS_TRANSACTIONS.read_text().replace(
        '"FunctionName": "${SummarizeFunctionArn}"', '"FunctionName": "${SummariseFunctionArn}"'
    )
    path = tmp_path / "process_transactions.asl.json"
    path.write_text(text)
    return path


def test_asl_with_a_missing_substitution_stops_the_run_naming_the_placeholder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(local, "PROCESS_TRANSACTIONS", _broken_asl(tmp_path))
    result = runner.invoke(app, ["run", "--local", "--transactions", "5", "--faults", "none"])
    assert_clean_error(
        result, "process_transactions.asl.json", "no substitution for placeholder(s) SummariseFunctionArn"
    )


def test_render_with_a_missing_substitution_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(asl, "PROCESS_TRANSACTIONS", _broken_asl(tmp_path))
    out = tmp_path / "rendered"
    assert asl.main([str(out)]) == 2
    assert "SummariseFunctionArn" in capsys.readouterr().err
    assert list(out.glob("*.json")) == [], "nothing rendered before the error"


@pytest.mark.parametrize(
    ("run_input", "error", "named"),
    [
        (
            {"process": "payroll_jornal", "run_id": "r-1", "cursor": None, "sequence": 0},
            "UnknownProcess",
            "payroll_jornal",
        ),
        ({"process": "payroll_journal", "run_id": "bad id!", "cursor": None, "sequence": 0}, "InvalidEvent", "run_id"),
        ({"process": "payroll_journal", "run_id": "r-2", "cursor": None, "sequence": -1}, "InvalidEvent", "sequence"),
    ],
)
def test_execution_input_that_fails_validation_fails_the_execution_without_writing(
    run_input: dict[str, Any], error: str, named: str, local_system: SystemFactory, make_config: ConfigFactory
) -> None:
    system = local_system(make_config())
    machine = system.engine.state_machine_for("payroll_journal")
    arn = system.engine.sfn.start_execution(stateMachineArn=machine, name="bad-input-0", input=json.dumps(run_input))[
        "executionArn"
    ]
    result = wait_for_execution(system.engine, arn)
    assert result["status"] == "FAILED"
    assert result["error"] == error
    assert named in result["cause"]
    runs = system.dynamodb.Table(RUNS.table_name(system.config)).scan()["Items"]
    assert runs == []
    assert system.finance.ledger() == []


def test_every_handler_refuses_an_invalid_event_naming_its_model(
    local_system: SystemFactory, make_config: ConfigFactory
) -> None:
    system = local_system(make_config())
    for spec in FUNCTIONS:
        body, failed = system.engine.runtime.invoke(local.function_name(system.config, spec), {"process": "x"})
        error = json.loads(body)
        assert failed, spec.name
        assert error["errorType"] == "InvalidEvent", spec.name
        assert error["errorMessage"].split(":")[0].endswith(("State", "Input", "Event")), spec.name
