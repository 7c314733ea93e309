"""Local load run: 5,000 transactions across three processes under a fault profile, invariants checked.

    .venv/bin/python bench/reliability_load.py [--transactions 5000] [--faults chaos] [--seed 7]

Takes a few minutes under chaos (retries and outages sleep for real). Prints one
table per process and the run totals, then every broken invariant; exits 1 if any invariant
is broken or the finance system saw more concurrent posts of a process than its MaxConcurrency.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from orchestration.run.runner import run_local
from orchestration.spec.config import load_config


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", default="local", help="configuration (config/<env>.yaml)")
    parser.add_argument("--transactions", type=int, default=5000)
    parser.add_argument("--faults", default="chaos", help="a --faults value (presets and scenarios)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--timeout", type=float, default=3600)
    args = parser.parse_args(argv)
    config = load_config(args.env)
    processes = list(config.processes)
    report = run_local(
        config,
        processes=processes,
        transactions=args.transactions,
        faults=args.faults,
        seed=args.seed,
        timeout_seconds=args.timeout,
    )
    print(f"faults={report.faults} seed={report.seed} transactions={report.transactions}\n")
    print(
        "| process | transactions | posted | rejected | failed | lost | duplicates | retries | executions "
        "| finance peak concurrent | MaxConcurrency |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    over = []
    for p in report.processes:
        peak = report.finance_max_concurrent_by_process.get(p.process, 0)
        cap = config.process_settings(p.process).max_concurrency
        if peak > cap:
            over.append(p.process)
        print(
            f"| {p.process} | {p.hcm_count} | {p.posted} | {p.rejected} | {p.failed} | {p.lost} | {p.duplicates} "
            f"| {p.retries} | {p.executions} | {peak} | {cap} |"
        )
    print(
        f"| **total** | {report.transactions} | {report.posted} | {report.rejected} | {report.failed} | {report.lost} "
        f"| {report.duplicates} | {report.retries} | {sum(p.executions for p in report.processes)} "
        f"| {report.finance_max_concurrent} | |"
    )
    print(f"\nfinance faults injected: {report.finance_faults_injected}")
    print(f"finance duplicates absorbed (same idempotency key posted again): {report.finance_duplicates_absorbed}")
    print(f"largest execution: {report.max_history_events} history events; {report.state_transitions} transitions")
    print(f"wall time: {report.seconds:.0f} s ({report.transactions_per_second} transactions/s)")
    for violation in report.invariant_violations:
        print(f"invariant broken: {violation}")
    for process in over:
        print(f"finance saw more concurrent posts of {process} than its MaxConcurrency")
    ok = report.ok and not over
    print("invariants hold" if ok else "INVARIANTS BROKEN")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
