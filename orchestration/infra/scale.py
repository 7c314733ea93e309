"""Synthesis size of the app for a given number of business processes (bench and tests)."""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path

from orchestration.config import EnvironmentConfig, ProcessOverrides
from orchestration.infra.app import build_stacks

MAX_RESOURCES_PER_STACK = 50
MAX_TEMPLATE_BYTES = 51_200  # CloudFormation TemplateBody limit (inline)


@dataclass(frozen=True)
class StackSize:
    processes: int
    stack: str
    resources: int
    template_bytes: int

    @property
    def within_limits(self) -> bool:
        return self.resources <= MAX_RESOURCES_PER_STACK and self.template_bytes < MAX_TEMPLATE_BYTES


def scaled_config(base: EnvironmentConfig, processes: int) -> EnvironmentConfig:
    """``base`` with ``processes`` generated processes spread over its retry profiles."""
    profiles = sorted(base.retry_profiles)
    generated = {
        f"process_{i:04d}": ProcessOverrides(
            retry_profile=profiles[i % len(profiles)], finance_ledger=f"L{i % 7}"
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
