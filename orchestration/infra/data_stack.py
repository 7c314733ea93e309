"""DataStack: the five DynamoDB tables of ``orchestration.spec.tables.ALL_TABLES`` and their KMS key.

A table whose spec has a ``stream_view`` gets its DynamoDB stream here; ``stream_arn`` hands
its ARN to the stack that consumes it (the ARN carries a creation label, so it cannot be
built from the table name).
"""

from __future__ import annotations

from typing import Any

from aws_cdk import RemovalPolicy, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_kms as kms
from constructs import Construct

from orchestration.spec.config import EnvironmentConfig
from orchestration.spec.tables import ALL_TABLES, TableSpec


def _key(name: str | None) -> dynamodb.Attribute | None:
    return dynamodb.Attribute(name=name, type=dynamodb.AttributeType.STRING) if name else None


class DataStack(Stack):
    """On-demand tables with PITR, encrypted with a customer-managed key (rotation on).

    ``config.retain_data`` keeps tables and key on stack deletion and turns on deletion
    protection; otherwise they are destroyed with the stack (dev environments).
    """

    def __init__(self, scope: Construct, construct_id: str, *, config: EnvironmentConfig, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        removal = RemovalPolicy.RETAIN if config.retain_data else RemovalPolicy.DESTROY
        self.table_key = kms.Key(
            self,
            "TableKey",
            description=f"{config.name_prefix}: encryption of the ledgerflow DynamoDB tables",
            enable_key_rotation=True,
            alias=f"alias/{config.resource_name('tables')}",
            removal_policy=removal,
        )
        self.tables: dict[str, dynamodb.Table] = {
            spec.env_var: self._table(config, spec, removal) for spec in ALL_TABLES
        }

    def _table(self, config: EnvironmentConfig, spec: TableSpec, removal: RemovalPolicy) -> dynamodb.Table:
        table = dynamodb.Table(
            self,
            spec.logical_id,
            table_name=spec.table_name(config),
            partition_key=_key(spec.partition_key),
            sort_key=_key(spec.sort_key),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            encryption=dynamodb.TableEncryption.CUSTOMER_MANAGED,
            encryption_key=self.table_key,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            time_to_live_attribute=spec.ttl_attribute,
            stream=dynamodb.StreamViewType[spec.stream_view] if spec.stream_view else None,
            deletion_protection=config.retain_data,
            removal_policy=removal,
        )
        for index in spec.indexes:
            table.add_global_secondary_index(
                index_name=index.name,
                partition_key=dynamodb.Attribute(name=index.partition_key, type=dynamodb.AttributeType.STRING),
                sort_key=_key(index.sort_key),
                projection_type=dynamodb.ProjectionType.ALL,
            )
        return table

    def stream_arn(self, spec: TableSpec) -> str:
        """The stream ARN of a table declared with a ``stream_view`` (a cross-stack reference)."""
        arn = self.tables[spec.env_var].table_stream_arn
        if arn is None:
            raise ValueError(f"table {spec.logical_id} has no stream (TableSpec.stream_view is unset)")
        return arn
