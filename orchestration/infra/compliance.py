"""cdk-nag (3.x) wiring: the AwsSolutions pack and written acknowledgements of single findings."""

from __future__ import annotations

from aws_cdk import Acknowledgment, Validations
from constructs import IConstruct

XRAY_WILDCARD_REASON = (
    "X-Ray PutTraceSegments/PutTelemetryRecords (and GetSampling* for Step Functions) support no "
    "resource-level permissions: AWS requires Resource '*'."
)
LOG_DELIVERY_WILDCARD_REASON = (
    "Step Functions log delivery (logs:CreateLogDelivery, GetLogDelivery, UpdateLogDelivery, "
    "DeleteLogDelivery, ListLogDeliveries, PutResourcePolicy, DescribeResourcePolicies, "
    "DescribeLogGroups) supports no resource-level permissions: AWS requires Resource '*'."
)

STREAM_DLQ_REASON = (
    "This queue is itself the dead-letter queue: the on-failure destination of the run trigger's "
    "DynamoDB-stream event source mapping, which cdk-nag SQS3 does not recognise (it only knows "
    "queue redrive policies and Lambda DeadLetterConfig)."
)


def acknowledge(construct: IConstruct, finding: str, reason: str) -> None:
    """Acknowledge one finding id (e.g. ``AwsSolutions-IAM5[Resource::*]``) on one construct."""
    if not reason.strip():
        raise ValueError(f"{finding}: an acknowledgement needs a written reason")
    Validations.of(construct).acknowledge(Acknowledgment(id=finding, reason=reason))
