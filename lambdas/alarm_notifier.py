"""AlarmNotifier: subscribed to the alarm topic, publishes a readable email and SMS to the notification topic.

One publish per alarm state change with ``MessageStructure=json``: SNS delivers the ``email``
text (with the ``Subject``) to email subscribers and the ``sms`` text to phones. A new alarm
settling into OK (INSUFFICIENT_DATA -> OK) is dropped: nothing happened.
"""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, Field

from lambdas.alarm_text import AlarmMessage, Notification, format_notification
from lambdas.container import sns
from lambdas.handler_support import parse
from lambdas.observability import log_metrics, logger, metrics, tracer
from lambdas.settings import env

NOTIFICATION_TOPIC_ENV = "NOTIFICATION_TOPIC_ARN"


class SnsMessage(BaseModel):
    Message: str
    MessageId: str = ""


class SnsRecord(BaseModel):
    Sns: SnsMessage


class SnsEvent(BaseModel):
    Records: list[SnsRecord] = Field(min_length=1)


class Published(BaseModel):
    alarm: str
    state: str
    message_id: str
    notification: Notification


def sns_message(notification: Notification) -> str:
    """The per-protocol message SNS delivers with ``MessageStructure=json``."""
    return json.dumps({"default": notification.email, "email": notification.email, "sms": notification.sms})


def notify(event: SnsEvent, topic_arn: str) -> list[Published]:
    published = []
    for record in event.Records:
        message = AlarmMessage.model_validate_json(record.Sns.Message)
        if message.is_initial_ok:
            logger.info("new alarm settled into OK: not notified", extra={"alarm": message.AlarmName})
            continue
        notification = format_notification(message)
        response = sns().publish(
            TopicArn=topic_arn,
            Subject=notification.subject,
            Message=sns_message(notification),
            MessageStructure="json",
        )
        published.append(
            Published(
                alarm=message.AlarmName,
                state=message.NewStateValue,
                message_id=str(response["MessageId"]),
                notification=notification,
            )
        )
    return published


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    published = notify(parse(SnsEvent, event), env(NOTIFICATION_TOPIC_ENV))
    metrics.add_metric(name="AlarmNotificationsSent", unit=MetricUnit.Count, value=len(published))
    return {"published": [p.model_dump(mode="json") for p in published]}
