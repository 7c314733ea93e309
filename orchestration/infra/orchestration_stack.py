"""OrchestrationStack: one Lambda per ``FunctionSpec`` and one Standard state machine per retry profile.

Every business process shares these resources: the process name travels in the execution
input and its settings in ``lambdas/processes.json`` of the code asset, so the number of
processes never changes the resource count.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from orchestration.asl import PROCESS_TRANSACTIONS, state_machine_name, substitutions
from orchestration.config import EnvironmentConfig
from orchestration.functions import FUNCTIONS, FunctionSpec
from orchestration.infra import naming
from orchestration.infra.compliance import LOG_DELIVERY_WILDCARD_REASON, XRAY_WILDCARD_REASON, acknowledge
from orchestration.tables import ALL_TABLES, table_environment

# Newest Python runtime in aws-cdk-lib 2.275 (cdk-nag AwsSolutions-L1 follows the installed CDK).
RUNTIME = lambda_.Runtime.PYTHON_3_14
# Public Powertools v3 layer, published per Python version and architecture; version 36 carries
# aws-lambda-powertools[all] 3.31.1 (pydantic v2, aws-xray-sdk). Bump it deliberately.
POWERTOOLS_LAYER_ACCOUNT = "017000801446"
POWERTOOLS_LAYER_VERSION = 36
MEMORY_MB = 256
FUNCTION_LOG_RETENTION = logs.RetentionDays.ONE_MONTH
STATE_MACHINE_LOG_RETENTION = logs.RetentionDays.THREE_MONTHS

TABLE_READ_ACTIONS = ("dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query")
TABLE_WRITE_ACTIONS = ("dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem")
INDEX_READ_ACTIONS = ("dynamodb:Query",)
KEY_READ_ACTIONS = ("kms:Decrypt", "kms:DescribeKey")
KEY_WRITE_ACTIONS = ("kms:Encrypt", "kms:GenerateDataKey")

_TABLES_BY_ENV = {spec.env_var: spec for spec in ALL_TABLES}


def powertools_layer_arn(region: str) -> str:
    python = RUNTIME.name.removeprefix("python").replace(".", "")
    return (
        f"arn:aws:lambda:{region}:{POWERTOOLS_LAYER_ACCOUNT}:layer:"
        f"AWSLambdaPowertoolsPythonV3-python{python}-arm64:{POWERTOOLS_LAYER_VERSION}"
    )


def function_environment(config: EnvironmentConfig, spec: FunctionSpec) -> dict[str, str]:
    """Variables a function reads: every table name (``lambdas.settings.tables``), finance settings
    for the functions that call finance, and the Powertools service identity."""
    env = table_environment(config)
    if spec.calls_finance:
        env["FINANCE_BASE_URL"] = str(config.finance.base_url)
        env["FINANCE_TIMEOUT_SECONDS"] = str(config.finance.timeout_seconds)
        if config.finance.token_secret_name:
            env["FINANCE_TOKEN_SECRET_NAME"] = config.finance.token_secret_name
    env["POWERTOOLS_SERVICE_NAME"] = naming.SERVICE_NAME
    env["POWERTOOLS_METRICS_NAMESPACE"] = naming.METRICS_NAMESPACE
    return env


class OrchestrationStack(Stack):
    """Lambdas with least-privilege roles, and the ``process_transactions`` state machines."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: EnvironmentConfig,
        code_dir: Path,
        table_key: kms.IKey,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.config = config
        self.table_key = table_key
        self.removal = RemovalPolicy.RETAIN if config.retain_data else RemovalPolicy.DESTROY
        code = lambda_.Code.from_asset(str(code_dir))
        layer = lambda_.LayerVersion.from_layer_version_arn(
            self, "PowertoolsLayer", powertools_layer_arn(config.region)
        )
        self.functions: dict[str, lambda_.Function] = {
            spec.name: self._function(spec, code, layer) for spec in FUNCTIONS
        }
        self.state_machines: dict[str, sfn.StateMachine] = {
            profile: self._state_machine(profile) for profile in config.used_profiles()
        }

    # -- Lambdas ------------------------------------------------------------------------------

    def _function(
        self, spec: FunctionSpec, code: lambda_.Code, layer: lambda_.ILayerVersion
    ) -> lambda_.Function:
        config = self.config
        scope = Construct(self, naming.pascal(spec.name))
        log_group = logs.LogGroup(
            scope,
            "LogGroup",
            log_group_name=naming.function_log_group_name(config, spec),
            retention=FUNCTION_LOG_RETENTION,
            removal_policy=self.removal,
        )
        role = iam.Role(
            scope,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"{naming.function_name(config, spec)}: only what this function needs",
        )
        function = lambda_.Function(
            scope,
            "Function",
            function_name=naming.function_name(config, spec),
            description=f"ledgerflow {spec.name} ({config.environment})",
            runtime=RUNTIME,
            architecture=lambda_.Architecture.ARM_64,
            handler=spec.handler,
            code=code,
            layers=[layer],
            memory_size=MEMORY_MB,
            timeout=Duration.seconds(spec.timeout_seconds),
            tracing=lambda_.Tracing.ACTIVE,
            log_group=log_group,
            role=role,
            environment=function_environment(config, spec),
        )
        for statement in self._function_statements(spec, log_group):
            role.add_to_principal_policy(statement)
        policy = role.node.try_find_child("DefaultPolicy")
        acknowledge(policy or role, "AwsSolutions-IAM5[Resource::*]", XRAY_WILDCARD_REASON)
        return function

    def _function_statements(
        self, spec: FunctionSpec, log_group: logs.ILogGroup
    ) -> list[iam.PolicyStatement]:
        config = self.config
        statements = [
            iam.PolicyStatement(
                sid="WriteOwnLogs",
                actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                resources=[log_group.log_group_arn],
            )
        ]
        reads = [_TABLES_BY_ENV[name] for name in spec.reads]
        writes = [_TABLES_BY_ENV[name] for name in spec.writes]
        if reads:
            statements.append(
                iam.PolicyStatement(
                    sid="ReadTables",
                    actions=list(TABLE_READ_ACTIONS),
                    resources=[naming.table_arn(self, config, table) for table in reads],
                )
            )
            indexes = [
                naming.index_arn(self, config, table, index) for table in reads for index in table.indexes
            ]
            if indexes:
                statements.append(
                    iam.PolicyStatement(
                        sid="QueryIndexes", actions=list(INDEX_READ_ACTIONS), resources=indexes
                    )
                )
        if writes:
            statements.append(
                iam.PolicyStatement(
                    sid="WriteTables",
                    actions=list(TABLE_WRITE_ACTIONS),
                    resources=[naming.table_arn(self, config, table) for table in writes],
                )
            )
        if reads or writes:
            statements.append(self._key_statement(writes=bool(writes)))
        if spec.starts_executions:
            statements.append(
                iam.PolicyStatement(
                    sid="ContinueExecutions",
                    actions=["states:StartExecution"],
                    resources=[naming.state_machine_arn(self, config, p) for p in config.used_profiles()],
                )
            )
        if spec.calls_finance and config.finance.token_secret_name:
            statements.append(
                iam.PolicyStatement(
                    sid="ReadFinanceToken",
                    actions=["secretsmanager:GetSecretValue"],
                    resources=[naming.secret_arn(self, config.finance.token_secret_name)],
                )
            )
        return statements

    def _key_statement(self, *, writes: bool) -> iam.PolicyStatement:
        actions = list(KEY_READ_ACTIONS) + (list(KEY_WRITE_ACTIONS) if writes else [])
        return iam.PolicyStatement(
            sid="UseTableKeyThroughDynamoDB",
            actions=actions,
            resources=[self.table_key.key_arn],
            conditions={"StringEquals": {"kms:ViaService": f"dynamodb.{self.config.region}.amazonaws.com"}},
        )

    # -- state machines -------------------------------------------------------------------------

    def _state_machine(self, profile: str) -> sfn.StateMachine:
        config = self.config
        scope = Construct(self, f"{naming.pascal(profile)}StateMachine")
        log_group = logs.LogGroup(
            scope,
            "LogGroup",
            log_group_name=naming.state_machine_log_group_name(config, profile),
            retention=STATE_MACHINE_LOG_RETENTION,
            removal_policy=self.removal,
        )
        arns = {name: function.function_arn for name, function in self.functions.items()}
        machine = sfn.StateMachine(
            scope,
            "StateMachine",
            state_machine_name=state_machine_name(config, profile),
            state_machine_type=sfn.StateMachineType.STANDARD,
            definition_body=sfn.DefinitionBody.from_file(str(PROCESS_TRANSACTIONS)),
            definition_substitutions=substitutions(config, profile, arns),
            # Execution data holds journal lines (amounts, employee ids): log events, not payloads.
            logs=sfn.LogOptions(destination=log_group, level=sfn.LogLevel.ALL, include_execution_data=False),
            tracing_enabled=True,
            comment=f"ledgerflow process_transactions, retry profile {profile!r}",
        )
        # The definition comes from a file, so CDK cannot infer the tasks: grant invoke on the exact
        # function ARNs (grant_invoke would add '<arn>:*').
        machine.add_to_role_policy(
            iam.PolicyStatement(
                sid="InvokeTaskFunctions",
                actions=["lambda:InvokeFunction"],
                resources=list(arns.values()),
            )
        )
        policy = machine.role.node.try_find_child("DefaultPolicy")
        target = policy or machine.role
        acknowledge(
            target, "AwsSolutions-IAM5[Resource::*]", f"{LOG_DELIVERY_WILDCARD_REASON} {XRAY_WILDCARD_REASON}"
        )
        return machine
