"""One Lambda function the ledgerflow way, for every stack that deploys one.

Each function gets its own log group (retention set, no managed policy), its own role with
an inline policy (its log group, then exactly what the caller grants), arm64 on the newest
Python runtime, the public Powertools layer and X-Ray.
"""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from orchestration.infra import naming
from orchestration.infra.compliance import XRAY_WILDCARD_REASON, acknowledge
from orchestration.spec.config import EnvironmentConfig
from orchestration.spec.functions import FunctionSpec
from orchestration.spec.names import function_name

# Newest Python runtime in aws-cdk-lib 2.275 (cdk-nag AwsSolutions-L1 follows the installed CDK).
RUNTIME = lambda_.Runtime.PYTHON_3_14
# Public Powertools v3 layer, published per Python version and architecture; version 36 carries
# aws-lambda-powertools[all] 3.31.1 (pydantic v2, aws-xray-sdk). Bump it deliberately.
POWERTOOLS_LAYER_ACCOUNT = "017000801446"
POWERTOOLS_LAYER_VERSION = 36
MEMORY_MB = 256
FUNCTION_LOG_RETENTION = logs.RetentionDays.ONE_MONTH


def powertools_layer_arn(region: str) -> str:
    python = RUNTIME.name.removeprefix("python").replace(".", "")
    return (
        f"arn:aws:lambda:{region}:{POWERTOOLS_LAYER_ACCOUNT}:layer:"
        f"AWSLambdaPowertoolsPythonV3-python{python}-arm64:{POWERTOOLS_LAYER_VERSION}"
    )


class LedgerflowFunction(Construct):
    """The function of ``spec`` with its log group, and a role allowed its logs plus ``statements``."""

    def __init__(
        self,
        scope: Construct,
        config: EnvironmentConfig,
        spec: FunctionSpec,
        *,
        code: lambda_.Code,
        layer: lambda_.ILayerVersion,
        environment: dict[str, str],
        statements: list[iam.PolicyStatement],
        removal: RemovalPolicy,
    ) -> None:
        super().__init__(scope, naming.pascal(spec.name))
        name = function_name(config, spec)
        self.log_group = logs.LogGroup(
            self,
            "LogGroup",
            log_group_name=naming.function_log_group_name(config, spec),
            retention=FUNCTION_LOG_RETENTION,
            removal_policy=removal,
        )
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"{name}: only what this function needs",
        )
        self.function = lambda_.Function(
            self,
            "Function",
            function_name=name,
            description=f"ledgerflow {spec.name} ({config.environment})",
            runtime=RUNTIME,
            architecture=lambda_.Architecture.ARM_64,
            handler=spec.handler,
            code=code,
            layers=[layer],
            memory_size=MEMORY_MB,
            timeout=Duration.seconds(spec.timeout_seconds),
            tracing=lambda_.Tracing.ACTIVE,
            log_group=self.log_group,
            role=self.role,
            environment=environment,
        )
        self.role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="WriteOwnLogs",
                actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                resources=[self.log_group.log_group_arn],
            )
        )
        for statement in statements:
            self.role.add_to_principal_policy(statement)
        policy = self.role.node.try_find_child("DefaultPolicy")
        acknowledge(policy or self.role, "AwsSolutions-IAM5[Resource::*]", XRAY_WILDCARD_REASON)
