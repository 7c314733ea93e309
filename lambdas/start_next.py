"""StartNext: continues a long run in a fresh execution before the history limit.

Step Functions fails an execution at 25,000 history events; after
``max_batches_per_execution`` batches the run hands its cursor to a new execution named
``<run_id>-<sequence>``. Names are unique per state machine, so a retried StartNext
cannot start the continuation twice.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import Field

from lambdas.container import stepfunctions
from lambdas.handler_support import parse
from lambdas.models import RunInput, RunState, StrictModel
from lambdas.observability import log_metrics, logger, tracer


class StartNextEvent(StrictModel):
    state: RunState
    state_machine_arn: str = Field(min_length=1)


def execution_name(run_id: str, sequence: int) -> str:
    return f"{run_id}-{sequence}"


def start_next(event: StartNextEvent) -> str:
    state = event.state
    follow = RunInput(process=state.process, run_id=state.run_id, cursor=state.cursor, sequence=state.sequence + 1)
    name = execution_name(state.run_id, follow.sequence)
    client = stepfunctions()
    try:
        client.start_execution(stateMachineArn=event.state_machine_arn, name=name, input=follow.model_dump_json())
    except client.exceptions.ExecutionAlreadyExists:
        logger.info("continuation already started", extra={"execution": name})
    return name


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return {"next_execution": start_next(parse(StartNextEvent, event))}
