"""StartRun: starts the first execution of every new business-process run.

The HCM writes one item per run into the runs table. On AWS the table's stream (NEW_IMAGE)
invokes this function through an event source mapping that passes only INSERTs of pending
runs; the local engine calls ``start_first_execution`` directly, so both targets start a run
the same way. The execution is named ``<run_id>-0`` and Step Functions refuses a second
execution of that name, so a duplicate HCM entry or a redelivered stream record starts
nothing more. A record that cannot be started (malformed item, unknown process) is reported
as a batch item failure: the event source mapping retries it, then sends it to its DLQ,
while the other records of the batch still start.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.base import FailureResponse
from aws_lambda_powertools.utilities.batch.exceptions import ExceptionInfo
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord
from aws_lambda_powertools.utilities.parser.models import (
    DynamoDBStreamChangedRecordModel,
    DynamoDBStreamRecordModel,
)
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel

from lambdas.container import stepfunctions
from lambdas.handler_support import parse
from lambdas.models import ProcessName, RunId, RunInput, RunStatus
from lambdas.names import execution_arn, execution_name
from lambdas.observability import log_metrics, logger, metrics, tracer
from lambdas.settings import state_machine_arn

if TYPE_CHECKING:
    from mypy_boto3_stepfunctions import SFNClient

NEW_PENDING_RUN_FILTER: dict[str, Any] = {
    "eventName": ["INSERT"],
    "dynamodb": {"NewImage": {"status": {"S": [RunStatus.PENDING.value]}}},
}
"""Event filter pattern of the event source mapping: the records ``start_recorded_run`` starts."""


class RunItem(BaseModel):
    """What a run item must hold to be started; the HCM's other attributes are ignored."""

    run_id: RunId
    process: ProcessName
    status: str


class RunChange(DynamoDBStreamChangedRecordModel):
    NewImage: RunItem | None = None


class RunRecord(DynamoDBStreamRecordModel):
    """A runs-table stream record whose new image is validated as a ``RunItem``."""

    dynamodb: RunChange


def start_first_execution(client: SFNClient, state_machine_arn: str, process: str, run_id: str) -> str:
    """Start execution ``<run_id>-0`` with ``RunInput(process, run_id)`` and return its ARN.

    At most one execution per run: while it runs, Step Functions answers a repeat with the same
    name and input with that execution; once it has ended (or for another input) it refuses the
    name with ``ExecutionAlreadyExists``, which means the run has started and is success here,
    so a duplicate HCM entry or a redelivered record lets the stream move on.
    """
    run_input = RunInput(process=process, run_id=run_id)
    name = execution_name(run_id, run_input.sequence)
    try:
        response = client.start_execution(
            stateMachineArn=state_machine_arn, name=name, input=run_input.model_dump_json()
        )
    except client.exceptions.ExecutionAlreadyExists:
        logger.info("run already started", extra={"business_process": process, "run_id": run_id})
        return execution_arn(state_machine_arn, name)
    return str(response["executionArn"])


def start_recorded_run(record: RunRecord) -> str | None:
    """Start the run a stream record announces and return the execution ARN; ``None`` when the
    record is not a new pending run.

    The event source mapping's filter already drops other records on AWS; checking again keeps
    the function correct without it (a MODIFY or REMOVE never starts anything).
    """
    item = record.dynamodb.NewImage
    if record.eventName != "INSERT" or item is None or item.status != RunStatus.PENDING:
        return None
    return start_first_execution(stepfunctions(), state_machine_arn(item.process), item.process, item.run_id)


def _sequence_number(record: Any) -> str | None:
    """The stream sequence number of a failed record, validated (model) or not (data class)."""
    if isinstance(record, RunRecord):
        return record.dynamodb.SequenceNumber
    if isinstance(record, DynamoDBRecord) and record.dynamodb is not None:
        return record.dynamodb.sequence_number
    return None


class RunRecordProcessor(BatchProcessor):
    """Powertools' DynamoDB-stream batch processor that logs why each failed record failed.

    A validation error names the field (e.g. ``dynamodb.NewImage.process``), which is what an
    operator needs before the record reaches the DLQ.
    """

    def failure_handler(self, record: Any, exception: ExceptionInfo) -> FailureResponse:
        logger.error(
            "run not started",
            extra={"sequence_number": _sequence_number(record), "reason": str(exception[1])},
        )
        metrics.add_metric(name="RunStartFailed", unit=MetricUnit.Count, value=1)
        return super().failure_handler(record, exception)


# A batch whose every record failed is reported item by item too: the response stays the
# partial-failure shape the event source mapping expects.
processor = RunRecordProcessor(
    event_type=EventType.DynamoDBStreams, model=RunRecord, raise_on_entire_batch_failure=False
)


class StreamEvent(BaseModel):
    """The envelope of a stream batch; each record is validated on its own (``RunRecord``)."""

    Records: list[dict[str, Any]]


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    parse(StreamEvent, event)
    return process_partial_response(
        event=event, record_handler=start_recorded_run, processor=processor, context=context
    )
