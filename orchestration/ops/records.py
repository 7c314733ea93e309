"""The reads the operator commands and the run drivers share: run entries, transaction rows, executions.

Every read pages to the end (a query's page stops at 1 MB), and the same functions serve AWS,
``ledgerflow local serve`` and the embedded engine: they take the boto3 resource or client the
caller built.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from boto3.dynamodb.conditions import Key

from lambdas.names import parse_execution_name
from orchestration.spec.config import EnvironmentConfig
from orchestration.spec.tables import RUNS, TRANSACTIONS

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBServiceResource
    from mypy_boto3_dynamodb.service_resource import Table
    from mypy_boto3_stepfunctions import SFNClient
    from mypy_boto3_stepfunctions.type_defs import ExecutionListItemTypeDef, HistoryEventTypeDef

RUN_INDEX = RUNS.indexes[0].name
"""The runs table's ``by-process-status`` index: a process's runs without a scan."""


def query_all(table: Table, **kwargs: Any) -> list[dict[str, Any]]:
    """Every item of a query, page after page."""
    items: list[dict[str, Any]] = []
    while True:
        page = table.query(**kwargs)
        items += [dict(item) for item in page.get("Items", [])]
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def run_ids(tables: DynamoDBServiceResource, config: EnvironmentConfig, process: str) -> list[str]:
    """Every run entry of a process (the runs table's by-process index)."""
    table = tables.Table(RUNS.table_name(config))
    items = query_all(table, IndexName=RUN_INDEX, KeyConditionExpression=Key("process").eq(process))
    return sorted({str(item["run_id"]) for item in items})


def transactions(
    tables: DynamoDBServiceResource, config: EnvironmentConfig, runs: Sequence[str]
) -> list[dict[str, Any]]:
    """Every transaction row of the given runs, read consistently."""
    table = tables.Table(TRANSACTIONS.table_name(config))
    rows: list[dict[str, Any]] = []
    for run_id in runs:
        rows += query_all(table, KeyConditionExpression=Key("run_id").eq(run_id), ConsistentRead=True)
    return rows


def run_executions(sfn: SFNClient, machine_arn: str, run_id: str) -> list[ExecutionListItemTypeDef]:
    """The executions of one run (named ``<run_id>-<sequence>``), in sequence order."""
    found: list[tuple[int, ExecutionListItemTypeDef]] = []
    for page in sfn.get_paginator("list_executions").paginate(stateMachineArn=machine_arn):
        for execution in page["executions"]:
            parsed = parse_execution_name(execution["name"])
            if parsed is not None and parsed[0] == run_id:
                found.append((parsed[1], execution))
    return [execution for _, execution in sorted(found, key=lambda pair: pair[0])]


def history(sfn: SFNClient, execution_arn: str) -> list[HistoryEventTypeDef]:
    """Every history event of an execution, oldest first."""
    events: list[HistoryEventTypeDef] = []
    for page in sfn.get_paginator("get_execution_history").paginate(executionArn=execution_arn):
        events += page["events"]
    return events
