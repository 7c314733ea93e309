"""``ledgerflow gate``: every command against moto, and one clear line for each way AWS is out of reach."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from moto import mock_aws
from typer.testing import CliRunner, Result

from lambdas.names import execution_name
from orchestration.cli import app
from orchestration.engine.local import provision_state_machines
from orchestration.spec.config import CONFIG_DIR, CONFIG_DIR_ENV
from tests.fixtures.aws import Aws

runner = CliRunner()


def ledgerflow(*args: str) -> Result:
    return runner.invoke(app, ["gate", *args], catch_exceptions=False)


def output_json(result: Result) -> Any:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def one_line_error(result: Result, code: int) -> str:
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


def test_list_shows_every_configured_process_and_a_missing_row_as_closed(aws: Aws) -> None:
    assert ledgerflow("open", "payroll_journal", "--reason", "window over").exit_code == 0
    gates = {gate["process"]: gate for gate in output_json(ledgerflow("list", "--json"))}
    assert set(gates) == set(aws.config.processes)
    assert gates["payroll_journal"]["open"] is True
    assert gates["expense_report"]["open"] is False
    assert gates["expense_report"]["exists"] is False
    assert "treated as closed" in gates["expense_report"]["reason"]
    table = ledgerflow("list").stdout
    assert "closed (no gate row)" in table and "window over" in table


@pytest.fixture
def machines(aws: Aws) -> dict[str, str]:
    """The state machines, as the local engine provisions them (not executed here)."""
    return provision_state_machines(aws.config)


def test_close_then_open_writes_the_gate_and_its_audit_history(aws: Aws, machines: dict[str, str]) -> None:
    closed = output_json(ledgerflow("close", "supplier_invoice", "--reason", "period close", "--json"))
    assert (closed["open"], closed["reason"], closed["version"]) == (False, "period close", 1)
    opened = output_json(ledgerflow("open", "supplier_invoice", "--json"))
    assert (opened["open"], opened["version"], opened["resumed"]) == (True, 2, 0)
    status = output_json(ledgerflow("status", "supplier_invoice", "--json"))
    assert (status["open"], status["version"], status["running"], status["paused"]) == (True, 2, 0, 0)
    history = output_json(ledgerflow("history", "supplier_invoice", "--json"))
    assert [(h["old_open"], h["new_open"], h["reason"], h["version"]) for h in history] == [
        (False, False, "period close", 1),
        (False, True, "reopened", 2),
    ]
    assert all(h["changed_by"] and h["changed_at"] for h in history)
    assert "open -> closed" not in ledgerflow("history", "supplier_invoice").stdout
    assert "closed -> open" in ledgerflow("history", "supplier_invoice").stdout


def test_close_refuses_an_empty_reason_and_writes_nothing(aws: Aws) -> None:
    assert "--reason" in one_line_error(ledgerflow("close", "payroll_journal", "--reason", "  "), 2)
    assert output_json(ledgerflow("history", "payroll_journal", "--json")) == []


def test_status_counts_running_executions_and_those_paused_on_the_gate(aws: Aws, machines: dict[str, str]) -> None:
    sfn = boto3.client("stepfunctions", region_name=aws.config.region)
    runs = aws.resource.Table(aws.runs_table)
    for run_id, process, status in (
        ("run-a", "payroll_journal", "running"),
        ("run-b", "payroll_journal", "paused"),
        ("run-c", "payroll_journal", "paused"),
        ("run-d", "expense_report", "paused"),
    ):
        runs.put_item(Item={"run_id": run_id, "process": process, "status": status})
        machine = machines[aws.config.profile_name(process)]
        sfn.start_execution(stateMachineArn=machine, name=execution_name(run_id, 0), input="{}")
    status = output_json(ledgerflow("status", "payroll_journal", "--json"))
    assert (status["running"], status["paused"]) == (1, 2)
    assert "1 running, 2 paused on the gate" in ledgerflow("status", "payroll_journal").stdout


@pytest.mark.parametrize(
    "args",
    [
        ("status", "payrol_journal"),
        ("close", "payrol_journal", "--reason", "x"),
        ("open", "payrol_journal"),
        ("history", "payrol_journal"),
    ],
)
def test_an_unknown_process_is_named_with_the_known_ones_and_exits_2(aws: Aws, args: tuple[str, ...]) -> None:
    line = one_line_error(ledgerflow(*args), 2)
    assert "unknown process 'payrol_journal'" in line
    for process in aws.config.processes:
        assert process in line
    assert output_json(ledgerflow("history", "payroll_journal", "--json")) == []


def test_an_unknown_environment_is_named_and_exits_2() -> None:
    line = one_line_error(ledgerflow("list", "--env", "staging"), 2)
    assert "no such environment 'staging'" in line and "local" in line


@pytest.fixture
def no_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("LEDGERFLOW_ENDPOINT_URL", raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)


def test_no_credentials_is_one_clear_line(no_credentials: None) -> None:
    line = one_line_error(ledgerflow("list"), 1)
    assert "no AWS credentials found" in line and "--endpoint-url" in line


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_an_unreachable_endpoint_is_one_clear_line(no_credentials: None) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    line = one_line_error(ledgerflow("status", "payroll_journal", "--endpoint-url", url), 1)
    assert f"cannot reach endpoint {url}" in line


def test_the_endpoint_comes_from_the_environment_too(no_credentials: None, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("LEDGERFLOW_ENDPOINT_URL", url)
    assert f"cannot reach endpoint {url}" in one_line_error(ledgerflow("list"), 1)


def test_a_missing_table_is_one_clear_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        line = one_line_error(ledgerflow("close", "payroll_journal", "--reason", "x"), 1)
    assert "table ledgerflow-local-gates not found at AWS region us-east-1" in line


def test_a_wrong_region_names_the_region(aws: Aws, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    raw = yaml.safe_load((CONFIG_DIR / "local.yaml").read_text())
    raw["region"] = "eu-west-1"
    (tmp_path / "local.yaml").write_text(yaml.safe_dump(raw))
    monkeypatch.setenv(CONFIG_DIR_ENV, str(tmp_path))
    line = one_line_error(ledgerflow("history", "payroll_journal"), 1)
    assert "table ledgerflow-local-gate-audit not found at AWS region eu-west-1" in line
