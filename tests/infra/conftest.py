"""The infrastructure tests share one CDK synth (``tests.fixtures.synth``): keep them on one xdist worker."""

from __future__ import annotations

from pathlib import Path

import pytest

INFRA_DIR = Path(__file__).parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Keep the infra tests on one xdist worker (with ``--dist loadgroup``): one synth, not one per worker."""
    if not config.pluginmanager.hasplugin("xdist"):
        return
    for item in items:
        if INFRA_DIR in item.path.parents:
            item.add_marker(pytest.mark.xdist_group("cdk-synth"))
