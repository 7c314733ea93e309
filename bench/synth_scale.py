"""Synthesize ledgerflow with 10, 50 and 200 business processes and print the size of every stack.

    .venv/bin/python bench/synth_scale.py [--env dev] [--processes 10 50 200]

Processes are configuration: the data and orchestration stacks must not grow with them
(50 resources, 51,200 template bytes). The monitoring stack holds two alarms per process and
must stay under CloudFormation's hard limits (500 resources, 1 MB through S3). Exits 1 when
a stack exceeds its limits.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from pydantic import BaseModel

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

from bench.common import MachineInfo, finish, load_line, machine_info, write_results
from orchestration.infra.scale import (
    MAX_MONITORING_RESOURCES,
    MAX_MONITORING_TEMPLATE_BYTES,
    MAX_RESOURCES_PER_STACK,
    MAX_TEMPLATE_BYTES,
    StackSize,
    scaled_config,
    synth_sizes,
)
from orchestration.spec.config import load_config


class SynthScale(BaseModel):
    machine: MachineInfo
    stacks: list[StackSize]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", default="dev", help="base configuration (config/<env>.yaml)")
    parser.add_argument("--processes", type=int, nargs="+", default=[10, 50, 200])
    args = parser.parse_args(argv)
    base = load_config(args.env)
    rows: list[StackSize] = []
    machine = machine_info()
    for count in args.processes:
        started = time.perf_counter()
        rows += synth_sizes(scaled_config(base, count))
        print(f"synthesized {count} processes in {time.perf_counter() - started:.1f}s", file=sys.stderr)
    machine = finish(machine)
    lines = ["# Synthesized size by number of processes", "", "| processes | stack | resources | template bytes |"]
    lines.append("| ---: | --- | ---: | ---: |")
    for row in rows:
        flag = "  <-- over limit" if not row.within_limits else ""
        lines.append(f"| {row.processes} | {row.stack} | {row.resources} | {row.template_bytes:,} |{flag}")
    lines += [
        "",
        f"limits: {MAX_RESOURCES_PER_STACK} resources per stack, template < {MAX_TEMPLATE_BYTES:,} bytes; "
        f"monitoring {MAX_MONITORING_RESOURCES} resources, < {MAX_MONITORING_TEMPLATE_BYTES:,} bytes",
        "",
        f"machine: {load_line(machine)}",
    ]
    markdown = "\n".join(lines)
    print(markdown)
    write_results("synth-scale", SynthScale(machine=machine, stacks=rows), markdown)
    return 0 if all(row.within_limits for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
