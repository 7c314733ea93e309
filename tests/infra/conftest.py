"""Fixtures of the infrastructure tests: one CDK synth of the dev environment per session."""

from __future__ import annotations

import os

# jsii starts node when aws_cdk is first imported: silence its end-of-life banner before that.
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import App
from aws_cdk.assertions import Template

from orchestration.infra.app import LedgerflowStacks, build_stacks
from orchestration.spec.config import EnvironmentConfig, load_config

INFRA_DIR = Path(__file__).parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Keep the infra tests on one xdist worker (with ``--dist loadgroup``): one synth, not one per worker."""
    if not config.pluginmanager.hasplugin("xdist"):
        return
    for item in items:
        if INFRA_DIR in item.path.parents:
            item.add_marker(pytest.mark.xdist_group("cdk-synth"))


@dataclass
class Synthesized:
    """The synthesized dev app: construct tree, cloud assembly directory and templates."""

    config: EnvironmentConfig
    app: App
    stacks: LedgerflowStacks
    outdir: Path

    def raw(self, stack: str) -> dict[str, Any]:
        """Template of ``data``, ``orchestration`` or ``monitoring`` as written to the assembly."""
        stack_id = self.config.resource_name(stack)
        return dict(json.loads((self.outdir / f"{stack_id}.template.json").read_text()))

    def template(self, stack: str) -> Template:
        return Template.from_json(self.raw(stack))

    def template_files(self) -> list[Path]:
        return sorted(self.outdir.glob("*.template.json"))


@pytest.fixture(scope="session")
def dev_config() -> EnvironmentConfig:
    return load_config("dev")


@pytest.fixture(scope="session")
def synthesized(dev_config: EnvironmentConfig, tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    """Synthesize once (with cdk-nag: an unacknowledged finding fails the synth itself)."""
    outdir = tmp_path_factory.mktemp("cdk.out")
    app, stacks = build_stacks(dev_config, outdir=str(outdir))
    app.synth()
    return Synthesized(config=dev_config, app=app, stacks=stacks, outdir=outdir)


@pytest.fixture(scope="session")
def orchestration_template(synthesized: Synthesized) -> dict[str, Any]:
    return synthesized.raw("orchestration")


@pytest.fixture(scope="session")
def data_template(synthesized: Synthesized) -> dict[str, Any]:
    return synthesized.raw("data")


@pytest.fixture(scope="session")
def monitoring_template(synthesized: Synthesized) -> dict[str, Any]:
    return synthesized.raw("monitoring")
