"""The gate store: one row per business process, changed only by conditional writes.

Each change and its audit record are written in one ``TransactWriteItems`` conditioned
on the version read, so two operators acting at once never lose an update: the loser
re-reads and re-applies, or gets a clear conflict. A process with no row is closed.
"""

from __future__ import annotations

import functools
import getpass
import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError
from pydantic import BaseModel

from lambdas.models import RunStatus
from lambdas.names import parse_execution_name
from lambdas.store import applied
from orchestration.errors import LedgerflowError

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import PutTypeDef, TransactWriteItemTypeDef
    from mypy_boto3_stepfunctions import SFNClient

MAX_CONFLICT_RETRIES = 5


class GateConflict(LedgerflowError):
    """The gate kept changing under us; nothing was written."""


class Gate(BaseModel):
    process: str
    open: bool
    exists: bool
    reason: str = ""
    changed_by: str = ""
    changed_at: str = ""
    version: int = 0


class AuditRecord(BaseModel):
    process: str
    changed_at: str
    changed_by: str
    old_open: bool
    new_open: bool
    reason: str
    version: int


def operator() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def _serialize(item: dict[str, Any]) -> dict[str, Any]:
    serializer = TypeSerializer()
    return {key: serializer.serialize(value) for key, value in item.items()}


class GateStore:
    def __init__(self, dynamodb_client: DynamoDBClient, gates_table: str, audit_table: str) -> None:
        self._client = dynamodb_client
        self._gates = gates_table
        self._audit = audit_table

    def get(self, process: str) -> Gate:
        item = self._client.get_item(TableName=self._gates, Key={"process": {"S": process}}, ConsistentRead=True).get(
            "Item"
        )
        if item is None:
            return Gate(process=process, open=False, exists=False, reason="no gate row: treated as closed")
        return Gate(
            process=process,
            open=item.get("open", {}).get("BOOL", False),
            exists=True,
            reason=item.get("reason", {}).get("S", ""),
            changed_by=item.get("changed_by", {}).get("S", ""),
            changed_at=item.get("changed_at", {}).get("S", ""),
            version=int(item.get("version", {}).get("N", "0")),
        )

    def all(self) -> list[Gate]:
        """Every gate row (the table holds one per process, so a scan stays small)."""
        deserializer = TypeDeserializer()
        gates: list[Gate] = []
        kwargs: dict[str, Any] = {"TableName": self._gates, "ConsistentRead": True}
        while True:
            page = self._client.scan(**kwargs)
            for item in page.get("Items", []):
                plain = {k: deserializer.deserialize(v) for k, v in item.items()}
                plain["version"] = int(plain.get("version", 0))
                gates.append(Gate(exists=True, **plain))
            if "LastEvaluatedKey" not in page:
                return sorted(gates, key=lambda gate: gate.process)
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def set(self, process: str, *, open_: bool, reason: str, who: str | None = None) -> Gate:
        """Open or close a gate; returns the gate as written."""
        who = who or operator()
        for _ in range(MAX_CONFLICT_RETRIES):
            current = self.get(process)
            changed_at = datetime.now(UTC).isoformat(timespec="microseconds")
            version = current.version + 1
            gate = {
                "process": process,
                "open": open_,
                "reason": reason,
                "changed_by": who,
                "changed_at": changed_at,
                "version": version,
            }
            audit = {
                "process": process,
                "audit_id": f"{version:010d}",
                "changed_at": changed_at,
                "changed_by": who,
                "old_open": current.open,
                "new_open": open_,
                "reason": reason,
                "version": version,
            }
            put_gate: PutTypeDef = {"TableName": self._gates, "Item": _serialize(gate)}
            if current.exists:
                put_gate["ConditionExpression"] = "#v = :v"
                put_gate["ExpressionAttributeNames"] = {"#v": "version"}
                put_gate["ExpressionAttributeValues"] = {":v": {"N": str(current.version)}}
            else:
                put_gate["ConditionExpression"] = "attribute_not_exists(process)"
            put_audit: PutTypeDef = {
                "TableName": self._audit,
                "Item": _serialize(audit),
                "ConditionExpression": "attribute_not_exists(audit_id)",
            }
            items: list[TransactWriteItemTypeDef] = [{"Put": put_gate}, {"Put": put_audit}]
            if not applied(functools.partial(self._client.transact_write_items, TransactItems=items)):
                continue
            return Gate(exists=True, **{k: v for k, v in gate.items() if k != "process"}, process=process)
        raise GateConflict(
            f"gate {process} changed {MAX_CONFLICT_RETRIES} times while writing; nothing written; try again"
        )

    def history(self, process: str) -> list[AuditRecord]:
        records: list[AuditRecord] = []
        kwargs: dict[str, Any] = {
            "TableName": self._audit,
            "KeyConditionExpression": "process = :p",
            "ExpressionAttributeValues": {":p": {"S": process}},
        }
        deserializer = TypeDeserializer()
        while True:
            page = self._client.query(**kwargs)
            for item in page.get("Items", []):
                plain = {k: deserializer.deserialize(v) for k, v in item.items()}
                plain.pop("audit_id", None)
                plain["version"] = int(plain["version"])
                records.append(AuditRecord.model_validate(plain))
            if "LastEvaluatedKey" not in page:
                return records
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


class RunCounts(BaseModel):
    """Executions of one process that are running now, split by whether they wait on the gate."""

    running: int = 0
    paused: int = 0


def executions_on_gate(
    dynamodb_client: DynamoDBClient, sfn_client: SFNClient, runs_table: str, state_machine_arn: str, process: str
) -> RunCounts:
    """Count the process's RUNNING executions, and how many of them are paused on the gate.

    State machines are shared by processes of one retry profile: the run record (keyed by
    the run id in the execution name) says which process an execution belongs to.
    """
    counts = RunCounts()
    paginator = sfn_client.get_paginator("list_executions")
    for page in paginator.paginate(stateMachineArn=state_machine_arn, statusFilter="RUNNING"):
        for execution in page["executions"]:
            parsed = parse_execution_name(execution["name"])
            if parsed is None:
                continue
            item = dynamodb_client.get_item(
                TableName=runs_table,
                Key={"run_id": {"S": parsed[0]}},
                ProjectionExpression="#p, #s",
                ExpressionAttributeNames={"#p": "process", "#s": "status"},
            ).get("Item")
            if item is None or item.get("process", {}).get("S") != process:
                continue
            if item.get("status", {}).get("S") == RunStatus.PAUSED:
                counts.paused += 1
            else:
                counts.running += 1
    return counts


def resume_paused(dynamodb_client: DynamoDBClient, sfn_client: SFNClient, runs_table: str, process: str) -> int:
    """Send the stored task token of every run paused on this gate: an instant resume."""
    resumed = 0
    page = dynamodb_client.query(
        TableName=runs_table,
        IndexName="by-process-status",
        KeyConditionExpression="process = :p AND #s = :s",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":p": {"S": process}, ":s": {"S": RunStatus.PAUSED.value}},
    )
    for item in page.get("Items", []):
        token = item.get("pause_token", {}).get("S")
        if not token:
            continue
        try:
            sfn_client.send_task_success(taskToken=token, output=json.dumps({"resumed": True}))
            resumed += 1
        except ClientError as exc:
            if exc.response["Error"]["Code"] not in ("TaskTimedOut", "InvalidToken", "TaskDoesNotExist"):
                raise
    return resumed
