"""The suite's shared fixtures, registered once as plugins (``tests/fixtures/``), never imported from a conftest."""

from __future__ import annotations

import os

import pytest

# jsii starts node when aws_cdk is first imported (the infra tests import it when collected):
# silence its end-of-life banner before that.
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

pytest_plugins = ["tests.fixtures.aws", "tests.fixtures.system", "tests.fixtures.synth"]


def pytest_configure(config: pytest.Config) -> None:
    # Powertools warns when a handler ends without adding a metric; expected for most handlers.
    config.addinivalue_line("filterwarnings", "ignore:No application metrics to publish")
