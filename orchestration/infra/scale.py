"""Synthesis size of the app for a given number of business processes (bench and tests)."""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path

from orchestration.infra.app import build_stacks
from orchestration.spec.config import EnvironmentConfig, ProcessOverrides

MAX_RESOURCES_PER_STACK = 50
MAX_TEMPLATE_BYTES = 51_200  # CloudFormation TemplateBody limit (inline)
# The monitoring stack holds two alarms per process: it is deployed through S3 (cdk deploy does
# that for large templates) and bound by CloudFormation's hard limits instead.
MONITORING_SUFFIX = "-monitoring"
MAX_MONITORING_RESOURCES = 500
MAX_MONITORING_TEMPLATE_BYTES = 1_000_000


@dataclass(frozen=True)
class StackSize:
    processes: int
    stack: str
    resources: int
    template_bytes: int

    @property
    def limits(self) -> tuple[int, int]:
        """(max resources, template bytes must stay below) for this stack."""
        if self.stack.endswith(MONITORING_SUFFIX):
            return MAX_MONITORING_RESOURCES, MAX_MONITORING_TEMPLATE_BYTES
        return MAX_RESOURCES_PER_STACK, MAX_TEMPLATE_BYTES

    @property
    def within_limits(self) -> bool:
        resources, template_bytes = self.limits
        return self.resources <= resources and self.template_bytes < template_bytes


def scaled_config(base: EnvironmentConfig, processes: int) -> EnvironmentConfig:
    """``base`` with ``processes`` generated processes spread over its retry profiles (and mapping rules)."""
    profiles = sorted(base.retry_profiles)
    rules = [process.journal for process in base.processes.values()]
    generated = {
        f"process_{i:04d}": ProcessOverrides(
            retry_profile=profiles[i % len(profiles)], finance_ledger=f"L{i % 7}", journal=rules[i % len(rules)]
        )
        for i in range(processes)
    }
    return base.model_copy(update={"processes": generated})


def template_sizes(outdir: Path, processes: int) -> list[StackSize]:
    manifest = json.loads((outdir / "manifest.json").read_text())
    rows = []
    for name, artifact in manifest["artifacts"].items():
        if artifact["type"] != "aws:cloudformation:stack":
            continue
        path = outdir / artifact["properties"]["templateFile"]
        template = json.loads(path.read_text())
        rows.append(
            StackSize(
                processes=processes,
                stack=artifact["properties"].get("stackName", name),
                resources=len(template.get("Resources", {})),
                template_bytes=path.stat().st_size,
            )
        )
    return sorted(rows, key=lambda row: row.stack)


def synth_sizes(config: EnvironmentConfig, *, outdir: Path | None = None) -> list[StackSize]:
    """Synthesize ``config`` (cdk-nag included) and measure every stack template."""
    if outdir is None:
        with tempfile.TemporaryDirectory(prefix="ledgerflow-synth-") as tmp:
            return synth_sizes(config, outdir=Path(tmp))
    app, _ = build_stacks(config, outdir=str(outdir))
    app.synth()
    return template_sizes(outdir, len(config.processes))
