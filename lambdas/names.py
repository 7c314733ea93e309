"""Names the handlers and the operator commands share: the service, its metrics namespace, execution names.

An execution is named ``<run_id>-<sequence>``: the run's first execution is ``-0`` and each
continuation counts on. Step Functions refuses a second execution of a name, which is what
makes starting a run, and handing it over to its next execution, idempotent.
"""

from __future__ import annotations

SERVICE = "ledgerflow"
"""The Powertools service name of every function (logs, metrics dimension, traces)."""
NAMESPACE = "Ledgerflow"
"""The CloudWatch namespace of ledgerflow's own metrics."""


def execution_name(run_id: str, sequence: int) -> str:
    return f"{run_id}-{sequence}"


def parse_execution_name(name: str) -> tuple[str, int] | None:
    """``(run_id, sequence)`` of an execution name, or ``None`` for a name ledgerflow did not give."""
    run_id, dash, sequence = name.rpartition("-")
    if not dash or not run_id or not sequence.isdigit():
        return None
    return run_id, int(sequence)


def execution_arn(state_machine_arn: str, name: str) -> str:
    """The ARN of execution ``name`` of a state machine (the one StartExecution returns)."""
    return f"{state_machine_arn.replace(':stateMachine:', ':execution:', 1)}:{name}"
