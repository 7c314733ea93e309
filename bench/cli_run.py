"""The throughput target as a user meets it: ``ledgerflow run --local`` on a shipped configuration.

    .venv/bin/python bench/cli_run.py [--transactions 5000] [--repeat 3] [--env local] [--faults none]

``bench/throughput.py`` varies one process's settings; this runs the command a user types, with
the environment's own configuration (``config/local.yaml``: three processes, each with its own
MaxConcurrency, batch and chunk size), each repeat in a fresh process. With ``--json`` the
command shows no live progress (the progress line re-reads every row once a second, which
costs a run about a tenth of its speed). Per repeat it reports the run's own figures, as the
command prints them (wall time from the first execution's start until every run is seen
finished, transactions/s, transitions per transaction), and the command's whole time from
launch to exit: imports, engine start, seeding and reconciliation included.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pydantic import BaseModel

from bench.common import MachineInfo, finish, load_line, machine_info, write_results

BENCH_DIR = Path(__file__).resolve().parent
LEDGERFLOW = Path(sys.executable).parent / "ledgerflow"
TARGET_TRANSACTIONS_PER_SECOND = 1000.0
"""The target: at least 1,000 transactions/s end to end at 5,000 transactions, no faults."""


class CliRun(BaseModel):
    """One ``ledgerflow run --local --json`` from launch to exit."""

    ok: bool
    transactions: int
    seconds: float
    transactions_per_second: float
    lines: int
    """Journal lines posted and rejected: a transaction is one journal of several lines."""
    lines_per_second: float
    transitions_per_transaction: float
    lambda_invocations: int
    command_seconds: float
    load_average_before: tuple[float, float, float]


class CliRunReport(BaseModel):
    machine: MachineInfo
    command: list[str]
    """As typed (the virtualenv's ``ledgerflow``), without the machine's path."""
    runs: list[CliRun]
    median_transactions_per_second: float
    median_lines_per_second: float
    median_command_seconds: float


def command(args: argparse.Namespace) -> list[str]:
    return [
        str(LEDGERFLOW),
        "run",
        "--local",
        "--env",
        args.env,
        "--transactions",
        str(args.transactions),
        "--faults",
        args.faults,
        "--json",
    ]


def run_once(argv: list[str]) -> CliRun:
    """Launch the command, wait for it, read its JSON report; a run that could not report is an error."""
    load = os.getloadavg()
    started = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, stdin=subprocess.DEVNULL, check=False)
    elapsed = time.perf_counter() - started
    try:
        report = json.loads(done.stdout)
    except json.JSONDecodeError:
        raise RuntimeError(f"{' '.join(argv)} exited {done.returncode} without a report:\n{done.stderr}") from None
    return CliRun(
        ok=done.returncode == 0,
        transactions=report["transactions"],
        seconds=report["seconds"],
        transactions_per_second=report["transactions_per_second"],
        lines=report["lines"],
        lines_per_second=report["lines_per_second"],
        transitions_per_transaction=report["transitions_per_transaction"],
        lambda_invocations=report["lambda_invocations"],
        command_seconds=round(elapsed, 2),
        load_average_before=load,
    )


def markdown(report: CliRunReport) -> str:
    lines = [
        f"`{' '.join(report.command)}`",
        "",
        "| repeat | run wall s | tx/s | lines | lines/s | transitions/tx | Lambda invocations "
        "| command s (launch to exit) | load before |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for index, run in enumerate(report.runs, 1):
        lines.append(
            f"| {index} | {run.seconds:.2f} | {run.transactions_per_second:,.1f} | "
            f"{run.lines:,} | {run.lines_per_second:,.1f} | {run.transitions_per_transaction:.4f} | "
            f"{run.lambda_invocations} | {run.command_seconds:.2f} | "
            f"{run.load_average_before[0]:.2f} |"
        )
    verdict = "met" if report.median_transactions_per_second >= TARGET_TRANSACTIONS_PER_SECOND else "not met"
    lines += [
        "",
        f"median: {report.median_transactions_per_second:,.1f} tx/s, "
        f"{report.median_lines_per_second:,.1f} lines/s, command {report.median_command_seconds:.2f} s; "
        f"target {TARGET_TRANSACTIONS_PER_SECOND:,.0f} tx/s: {verdict}",
        "",
        f"machine: {load_line(report.machine)}",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the command ``--repeat`` times; exit 1 if any run lost or duplicated a transaction."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--transactions", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--env", default="local", help="configuration environment (config/<env>.yaml)")
    parser.add_argument("--faults", default="none")
    parser.add_argument("--no-write", action="store_true", help="print only; write nothing under bench/results/")
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    if not LEDGERFLOW.exists():
        parser.error(f"{LEDGERFLOW} not found: run this with the project's virtualenv (make install)")
    argv_run = command(args)
    info = machine_info()
    runs = []
    for index in range(args.repeat):
        run = run_once(argv_run)
        print(
            f"repeat {index + 1}: {run.transactions_per_second} tx/s, run {run.seconds} s, "
            f"command {run.command_seconds} s (load {run.load_average_before[0]:.2f})",
            file=sys.stderr,
        )
        runs.append(run)
    report = CliRunReport(
        machine=finish(info),
        command=["ledgerflow", *argv_run[1:]],
        runs=runs,
        median_transactions_per_second=statistics.median(r.transactions_per_second for r in runs),
        median_lines_per_second=statistics.median(r.lines_per_second for r in runs),
        median_command_seconds=statistics.median(r.command_seconds for r in runs),
    )
    table = markdown(report)
    print(table)
    if not args.no_write:
        for path in write_results("cli-run", report, "# `ledgerflow run --local` as typed\n\n" + table):
            print(f"wrote {path.relative_to(BENCH_DIR.parent)}", file=sys.stderr)
    return 0 if all(r.ok for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
