"""``bench/cli_run.py``: the command a user types, run from outside and read back from its JSON."""

from __future__ import annotations

import pytest

from bench.cli_run import LEDGERFLOW, main, run_once


def test_a_run_reports_the_commands_own_figures_and_its_whole_time(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--transactions", "30", "--repeat", "1", "--no-write"]) == 0
    table = capsys.readouterr().out
    assert "`ledgerflow run --local --env local --transactions 30 --faults none --json`" in table
    [row] = [line for line in table.splitlines() if line.startswith("| 1 |")]
    cells = [cell.strip() for cell in row.strip("|").split("|")]
    run_seconds, tps, command_seconds = float(cells[1]), float(cells[2].replace(",", "")), float(cells[5])
    assert tps == pytest.approx(30 / run_seconds, rel=0.05)
    assert command_seconds > run_seconds, "the command's time includes start-up, seeding and reconciliation"


def test_a_command_that_cannot_report_is_an_error_naming_its_exit_code() -> None:
    with pytest.raises(RuntimeError, match="exited 2 without a report"):
        run_once([str(LEDGERFLOW), "run", "--local", "--env", "no-such-env", "--json"])
