"""Fixtures of the reliability suite: the e2e system fixtures plus the invariant checks every scenario asserts."""

from __future__ import annotations

from tests.e2e.conftest import local_system, make_config

__all__ = ["local_system", "make_config"]
