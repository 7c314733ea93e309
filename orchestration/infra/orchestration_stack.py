"""OrchestrationStack: one Lambda per ``FunctionSpec``, one Standard state machine per retry profile,
and the run trigger (the runs table's stream -> ``start-run``, with an encrypted SQS DLQ).

Every business process shares these resources: the process name travels in the execution
input and its settings (retry profile included) in ``lambdas/processes.json`` of the code
asset, so the number of processes never changes the resource count.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as event_sources
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from lambdas.names import NAMESPACE, SERVICE
from lambdas.settings import STATE_MACHINE_ARNS_ENV
from lambdas.start_run import NEW_PENDING_RUN_FILTER
from orchestration.infra import naming
from orchestration.infra.compliance import (
    LOG_DELIVERY_WILDCARD_REASON,
    STREAM_DLQ_REASON,
    XRAY_WILDCARD_REASON,
    acknowledge,
)
from orchestration.infra.lambda_function import LedgerflowFunction, powertools_layer_arn
from orchestration.spec.asl import PROCESS_TRANSACTIONS, substitutions
from orchestration.spec.config import EnvironmentConfig
from orchestration.spec.functions import FUNCTIONS, TASK_FUNCTIONS, FunctionSpec
from orchestration.spec.names import state_machine_name
from orchestration.spec.tables import TableSpec, table_environment

STATE_MACHINE_LOG_RETENTION = logs.RetentionDays.THREE_MONTHS

TABLE_READ_ACTIONS = ("dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query")
TABLE_WRITE_ACTIONS = ("dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem")
INDEX_READ_ACTIONS = ("dynamodb:Query",)
KEY_READ_ACTIONS = ("kms:Decrypt", "kms:DescribeKey")
KEY_WRITE_ACTIONS = ("kms:Encrypt", "kms:GenerateDataKey")
# What a Lambda event source mapping needs on a DynamoDB stream, granted on that stream's ARN only.
STREAM_READ_ACTIONS = (
    "dynamodb:DescribeStream",
    "dynamodb:GetRecords",
    "dynamodb:GetShardIterator",
    "dynamodb:ListStreams",
)
# Run trigger: StartExecution takes milliseconds, so a batch of 10 fits the 30 s timeout many times
# over. A record still failing after the retries (malformed item, unknown process, access denied)
# goes to the DLQ; bisecting isolates it so the rest of its batch is not retried with it.
TRIGGER_BATCH_SIZE = 10
TRIGGER_RETRY_ATTEMPTS = 5
DLQ_RETENTION = Duration.days(14)


def function_environment(
    config: EnvironmentConfig, spec: FunctionSpec, state_machine_arns: dict[str, str] | None = None
) -> dict[str, str]:
    """Variables a function reads: every table name (``lambdas.settings.tables``), finance settings
    for the functions that call finance, the ``{retry profile: ARN}`` map for the function that
    routes runs (one entry per profile, none per process), and the Powertools service identity."""
    env = table_environment(config)
    if spec.routes_runs:
        if state_machine_arns is None:
            raise ValueError(f"{spec.name} routes runs: it needs the state machine ARNs")
        env[STATE_MACHINE_ARNS_ENV] = json.dumps(state_machine_arns, sort_keys=True, separators=(",", ":"))
    if spec.calls_finance:
        env["FINANCE_BASE_URL"] = str(config.finance.base_url)
        env["FINANCE_TIMEOUT_SECONDS"] = str(config.finance.timeout_seconds)
        if config.finance.token_secret_name:
            env["FINANCE_TOKEN_SECRET_NAME"] = config.finance.token_secret_name
    env["POWERTOOLS_SERVICE_NAME"] = SERVICE
    env["POWERTOOLS_METRICS_NAMESPACE"] = NAMESPACE
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
        stream_arns: dict[TableSpec, str],
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.config = config
        self.table_key = table_key
        self.stream_arns = stream_arns
        # Built from the names, not the machines: the machines reference the task functions.
        self.state_machine_arns = {
            profile: naming.state_machine_arn(self, config, profile) for profile in config.used_profiles()
        }
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
        self.dead_letter_queues: dict[str, sqs.Queue] = {
            spec.name: self._stream_trigger(spec, spec.stream_source, self.functions[spec.name])
            for spec in FUNCTIONS
            if spec.stream_source
        }

    # -- Lambdas ------------------------------------------------------------------------------

    def _function(self, spec: FunctionSpec, code: lambda_.Code, layer: lambda_.ILayerVersion) -> lambda_.Function:
        return LedgerflowFunction(
            self,
            self.config,
            spec,
            code=code,
            layer=layer,
            environment=function_environment(self.config, spec, self.state_machine_arns),
            statements=self._function_statements(spec),
            removal=self.removal,
        ).function

    def _function_statements(self, spec: FunctionSpec) -> list[iam.PolicyStatement]:
        """What ``spec`` may do beyond writing its own logs: its tables, key, finance secret, runs."""
        config = self.config
        statements: list[iam.PolicyStatement] = []
        reads, writes = spec.reads, spec.writes
        if reads:
            statements.append(
                iam.PolicyStatement(
                    sid="ReadTables",
                    actions=list(TABLE_READ_ACTIONS),
                    resources=[naming.table_arn(self, config, table) for table in reads],
                )
            )
            indexes = [naming.index_arn(self, config, table, index) for table in reads for index in table.indexes]
            if indexes:
                statements.append(
                    iam.PolicyStatement(sid="QueryIndexes", actions=list(INDEX_READ_ACTIONS), resources=indexes)
                )
        if writes:
            statements.append(
                iam.PolicyStatement(
                    sid="WriteTables",
                    actions=list(TABLE_WRITE_ACTIONS),
                    resources=[naming.table_arn(self, config, table) for table in writes],
                )
            )
        if spec.stream_source:
            statements.append(
                iam.PolicyStatement(
                    sid="ReadSourceStream",
                    actions=list(STREAM_READ_ACTIONS),
                    resources=[self.stream_arns[spec.stream_source]],
                )
            )
        if reads or writes or spec.stream_source:
            # Stream records of a table encrypted with the table key are decrypted with it too.
            statements.append(self._key_statement(writes=bool(writes)))
        if spec.starts_executions:
            statements.append(
                iam.PolicyStatement(
                    sid="StartExecutions",
                    actions=["states:StartExecution"],
                    resources=list(self.state_machine_arns.values()),
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
        arns = {spec.name: self.functions[spec.name].function_arn for spec in TASK_FUNCTIONS}
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
        acknowledge(target, "AwsSolutions-IAM5[Resource::*]", f"{LOG_DELIVERY_WILDCARD_REASON} {XRAY_WILDCARD_REASON}")
        return machine

    # -- run trigger ----------------------------------------------------------------------------

    def _stream_trigger(self, spec: FunctionSpec, source: TableSpec, function: lambda_.Function) -> sqs.Queue:
        """Invoke ``function`` from its source table's stream, new pending runs only, failures to a DLQ.

        The filter drops every other record before any invocation (no cost, no noise); partial
        batch responses and bisecting keep one bad record from holding back or re-running the
        others; after the retries its batch metadata lands in the queue for an operator.
        """
        scope = Construct(self, f"{naming.pascal(spec.name)}Trigger")
        queue = sqs.Queue(
            scope,
            "DeadLetterQueue",
            queue_name=self.config.resource_name(f"{spec.name}-dlq"),
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=DLQ_RETENTION,
            removal_policy=self.removal,
        )
        acknowledge(queue.node.default_child or queue, "AwsSolutions-SQS3", STREAM_DLQ_REASON)
        lambda_.EventSourceMapping(
            scope,
            "EventSourceMapping",
            target=function,
            event_source_arn=self.stream_arns[source],
            starting_position=lambda_.StartingPosition.TRIM_HORIZON,
            batch_size=TRIGGER_BATCH_SIZE,
            bisect_batch_on_error=True,
            retry_attempts=TRIGGER_RETRY_ATTEMPTS,
            report_batch_item_failures=True,
            on_failure=event_sources.SqsDlq(queue),
            filters=[lambda_.FilterCriteria.filter(NEW_PENDING_RUN_FILTER)],
        )
        return queue
