"""Run every fault scenario once at a small volume and print one table row per scenario.

    .venv/bin/python bench/reliability_scenarios.py [--transactions 40] [--seed 21]

The same runs as ``tests/reliability/test_scenarios.py`` (two processes, small batches), for
a human-readable summary; exits 1 if any run breaks an invariant.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from orchestration.run.runner import run_local
from orchestration.spec.config import CONFIG_DIR, EnvironmentConfig

SCENARIOS = (
    "overload=0.3",
    "capacity=1",
    "throttle=0.3",
    "slow=0.4",
    "reset=0.2",
    "outage=3",
    "crash_after_post=0.5",
    "outage,crash_after_post=1",
    "outage,slow=1",
    "duplicate_run=2",
    "duplicate_delivery=0.3",
    "malformed=0.5",
    "gate_flap=2",
    "chaos,crash_after_post=0.5,duplicate_run,duplicate_delivery=0.1,malformed=0.1,gate_flap=2,outage=2",
)


def small_config() -> EnvironmentConfig:
    raw: dict[str, Any] = yaml.safe_load((CONFIG_DIR / "local.yaml").read_text())
    raw["defaults"].update({"batch_size": 20, "chunk_size": 4})
    raw["processes"]["expense_report"]["batch_size"] = 20
    return EnvironmentConfig.model_validate(raw)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--transactions", type=int, default=40)
    parser.add_argument("--seed", type=int, default=21)
    args = parser.parse_args(argv)
    config = small_config()
    print("| scenario | transactions | posted / rejected / failed | lost | duplicates | retries | evidence |")
    print("| --- | ---: | --- | ---: | ---: | ---: | --- |")
    broken = 0
    for faults in SCENARIOS:
        report = run_local(
            config,
            processes=["payroll_journal", "expense_report"],
            transactions=args.transactions,
            faults=faults,
            seed=args.seed,
        )
        evidence = report.evidence
        facts = [f"{kind} {n}" for kind, n in report.finance_faults_injected.items()]
        facts += [f"dedup answers {report.finance_duplicates_absorbed}"] if report.finance_duplicates_absorbed else []
        facts += [f"crashes {evidence.crashes}"] if evidence.crashes else []
        facts += [f"runs paused {len(evidence.runs_paused)}"] if evidence.gate_closures else []
        facts += [f"duplicate run entries {evidence.duplicate_run_entries}"] if evidence.duplicate_run_entries else []
        if evidence.redelivery_runs:
            copies = evidence.redelivered_same_run
            facts.append(f"redelivered {copies} in-run + {len(evidence.redelivery_runs)} second runs")
        if report.invariant_violations:
            broken += 1
            facts.append(f"INVARIANTS BROKEN: {len(report.invariant_violations)}")
        print(
            f"| {report.faults} | {report.transactions} | {report.posted} / {report.rejected} / {report.failed} "
            f"| {report.lost} | {report.duplicates} | {report.retries} | {', '.join(facts)} |"
        )
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
