"""WaitForGate: stores the task token of a paused execution on its run record.

The execution then waits on the token. ``ledgerflow gate open`` sends the token back for
an instant resume; the task's timeout (one pause interval) is the fallback re-check.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import Field

from lambdas.handler_support import parse
from lambdas.models import RunState, RunStatus, StrictModel
from lambdas.observability import log_metrics, logger, tracer
from lambdas.store import update_run


class WaitForGateEvent(StrictModel):
    state: RunState
    token: str = Field(min_length=1)


def wait_for_gate(event: WaitForGateEvent) -> None:
    update_run(event.state.run_id, status=RunStatus.PAUSED, pause_token=event.token, process=event.state.process)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    wait_for_gate(parse(WaitForGateEvent, event))
    return {"waiting": True}
