"""Resource names every target derives from the configuration, defined once.

Resources carry explicit names (``<name_prefix>-<suffix>``), the same on AWS and in the local
engine, so the stacks, the engine and the operator commands build them instead of looking
them up, and no stack needs another's exports for them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from orchestration.spec.config import EnvironmentConfig
    from orchestration.spec.functions import FunctionSpec

EXAMPLE_ACCOUNT = "123456789012"
"""The account of the local engine (moto's default) and of definitions rendered for validators."""


def function_name(config: EnvironmentConfig, spec: FunctionSpec) -> str:
    return config.resource_name(spec.name)


def function_arn(config: EnvironmentConfig, spec: FunctionSpec, *, account: str = EXAMPLE_ACCOUNT) -> str:
    return f"arn:aws:lambda:{config.region}:{account}:function:{function_name(config, spec)}"


def state_machine_name(config: EnvironmentConfig, profile: str) -> str:
    """One state machine per retry profile in use."""
    return config.resource_name(f"process-{profile}")


def topic_names(config: EnvironmentConfig) -> tuple[str, str]:
    """The alarm topic (CloudWatch publishes there) and the notification topic (people subscribe)."""
    return config.resource_name("alarms"), config.resource_name("notifications")
