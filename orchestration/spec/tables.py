"""DynamoDB table definitions: one source for the CDK stack and the local engine's moto tables."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from orchestration.spec.config import EnvironmentConfig


@dataclass(frozen=True)
class Index:
    name: str
    partition_key: str
    sort_key: str | None = None


StreamView = Literal["KEYS_ONLY", "NEW_IMAGE", "OLD_IMAGE", "NEW_AND_OLD_IMAGES"]


@dataclass(frozen=True)
class TableSpec:
    """A table's keys, TTL attribute, indexes and stream; every key attribute is a string.

    ``stream_view`` turns on the table's DynamoDB stream with that view type (both targets:
    the CDK table and the moto table), for a function whose ``stream_source`` is this table.
    """

    logical_id: str
    suffix: str
    env_var: str
    partition_key: str
    sort_key: str | None = None
    ttl_attribute: str | None = None
    indexes: tuple[Index, ...] = field(default_factory=tuple)
    stream_view: StreamView | None = None

    def table_name(self, config: EnvironmentConfig) -> str:
        return config.resource_name(self.suffix)

    def key_attributes(self) -> list[str]:
        names = [self.partition_key] + ([self.sort_key] if self.sort_key else [])
        for index in self.indexes:
            names += [index.partition_key] + ([index.sort_key] if index.sort_key else [])
        return list(dict.fromkeys(names))

    def create_table_kwargs(self, config: EnvironmentConfig) -> dict[str, Any]:
        """Arguments for DynamoDB ``CreateTable`` (used by the local engine and tests)."""

        def schema(pk: str, sk: str | None) -> list[dict[str, str]]:
            keys = [{"AttributeName": pk, "KeyType": "HASH"}]
            if sk:
                keys.append({"AttributeName": sk, "KeyType": "RANGE"})
            return keys

        kwargs: dict[str, Any] = {
            "TableName": self.table_name(config),
            "BillingMode": "PAY_PER_REQUEST",
            "KeySchema": schema(self.partition_key, self.sort_key),
            "AttributeDefinitions": [{"AttributeName": n, "AttributeType": "S"} for n in self.key_attributes()],
            "SSESpecification": {"Enabled": True},
        }
        if self.stream_view:
            kwargs["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": self.stream_view}
        if self.indexes:
            kwargs["GlobalSecondaryIndexes"] = [
                {
                    "IndexName": index.name,
                    "KeySchema": schema(index.partition_key, index.sort_key),
                    "Projection": {"ProjectionType": "ALL"},
                }
                for index in self.indexes
            ]
        return kwargs


GATES = TableSpec("GatesTable", "gates", "GATES_TABLE", partition_key="process")
GATE_AUDIT = TableSpec("GateAuditTable", "gate-audit", "GATE_AUDIT_TABLE", partition_key="process", sort_key="audit_id")
RUNS = TableSpec(
    "RunsTable",
    "runs",
    "RUNS_TABLE",
    partition_key="run_id",
    indexes=(Index("by-process-status", partition_key="process", sort_key="status"),),
    # The run trigger (lambdas/start_run.py) starts one execution per new item: it needs the item.
    stream_view="NEW_IMAGE",
)
TRANSACTIONS = TableSpec(
    "TransactionsTable",
    "transactions",
    "TRANSACTIONS_TABLE",
    partition_key="run_id",
    sort_key="transaction_id",
)
IDEMPOTENCY = TableSpec(
    "IdempotencyTable", "idempotency", "IDEMPOTENCY_TABLE", partition_key="id", ttl_attribute="expiration"
)

ALL_TABLES: tuple[TableSpec, ...] = (GATES, GATE_AUDIT, RUNS, TRANSACTIONS, IDEMPOTENCY)


def table_environment(config: EnvironmentConfig) -> dict[str, str]:
    """The table-name environment variables every Lambda receives."""
    return {spec.env_var: spec.table_name(config) for spec in ALL_TABLES}
