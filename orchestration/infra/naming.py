"""Names and ARNs every stack derives from the configuration, so no stack imports another's tokens.

Resources carry explicit names (``<name_prefix>-<suffix>``), the same the local engine uses;
their ARNs can therefore be built from the configuration, which keeps the stacks free of
circular references and of cross-stack exports for anything but the table key.
"""

from __future__ import annotations

from aws_cdk import ArnFormat, Stack
from constructs import Construct

from orchestration.spec.config import EnvironmentConfig
from orchestration.spec.functions import FunctionSpec
from orchestration.spec.names import function_name, state_machine_name
from orchestration.spec.tables import Index, TableSpec


def function_log_group_name(config: EnvironmentConfig, spec: FunctionSpec) -> str:
    return f"/aws/lambda/{function_name(config, spec)}"


def state_machine_log_group_name(config: EnvironmentConfig, profile: str) -> str:
    # The /aws/vendedlogs/ prefix keeps the CloudWatch Logs resource policy that Step Functions
    # log delivery needs from growing with every log group.
    return f"/aws/vendedlogs/states/{state_machine_name(config, profile)}"


def table_arn(scope: Construct, config: EnvironmentConfig, spec: TableSpec) -> str:
    return Stack.of(scope).format_arn(service="dynamodb", resource="table", resource_name=spec.table_name(config))


def index_arn(scope: Construct, config: EnvironmentConfig, spec: TableSpec, index: Index) -> str:
    return f"{table_arn(scope, config, spec)}/index/{index.name}"


def state_machine_arn(scope: Construct, config: EnvironmentConfig, profile: str) -> str:
    return Stack.of(scope).format_arn(
        service="states",
        resource="stateMachine",
        resource_name=state_machine_name(config, profile),
        arn_format=ArnFormat.COLON_RESOURCE_NAME,
    )


def secret_arn(scope: Construct, secret_name: str) -> str:
    """ARN of a Secrets Manager secret by name: AWS appends ``-`` and six random characters."""
    return Stack.of(scope).format_arn(
        service="secretsmanager",
        resource="secret",
        resource_name=f"{secret_name}-??????",
        arn_format=ArnFormat.COLON_RESOURCE_NAME,
    )


def pascal(name: str) -> str:
    """``post-to-finance`` -> ``PostToFinance``: construct ids from spec and profile names."""
    return "".join(part[:1].upper() + part[1:] for part in name.replace("_", "-").split("-"))
