"""AWS clients for the operator commands, and one clear line for each way reaching AWS fails.

The same commands talk to a deployed environment (region from the config) or to
``ledgerflow local serve`` (``--endpoint-url``). Operators run them by hand at bad hours:
a missing credential, a wrong region, an unreachable endpoint or a table that is not
there must each say so in one line, never as a botocore traceback.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING
from urllib.parse import urlparse

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
    ReadTimeoutError,
)

from orchestration.errors import LedgerflowError

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient, DynamoDBServiceResource
    from mypy_boto3_sns import SNSClient
    from mypy_boto3_ssm import SSMClient
    from mypy_boto3_stepfunctions import SFNClient
    from mypy_boto3_sts import STSClient

    from orchestration.spec.config import EnvironmentConfig

ENDPOINT_ENV = "LEDGERFLOW_ENDPOINT_URL"
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
# The local endpoint accepts any credentials; the AWS CLI and boto3 still insist on some.
LOCAL_ACCESS_KEY = "testing"
# An operator waits for an answer, not for botocore's default backoff against a dead endpoint.
CLIENT_CONFIG = Config(connect_timeout=5, read_timeout=30, retries={"mode": "standard", "max_attempts": 3})
CREDENTIAL_ERRORS = frozenset(
    {"UnrecognizedClientException", "InvalidClientTokenId", "ExpiredTokenException", "ExpiredToken"}
)


class NotProvisioned(LedgerflowError):
    """The endpoint or region does not hold what the config names (state machine, parameter)."""


def find_state_machine(sfn: SFNClient, name: str) -> str:
    """A state machine's ARN by name: the same lookup on AWS and on a local endpoint."""
    for page in sfn.get_paginator("list_state_machines").paginate():
        for machine in page["stateMachines"]:
            if machine["name"] == name:
                return str(machine["stateMachineArn"])
    raise NotProvisioned(f"state machine {name} not found")


def finance_url_parameter(config: EnvironmentConfig) -> str:
    """The SSM parameter where ``ledgerflow local serve`` publishes its finance simulator URL."""
    return f"/{config.name_prefix}/finance-url"


def is_local_endpoint(endpoint_url: str | None) -> bool:
    return bool(endpoint_url) and urlparse(endpoint_url).hostname in LOCAL_HOSTS


@dataclass(frozen=True)
class AwsTarget:
    """Where the commands go: a region, and an endpoint URL for a local or alternative endpoint."""

    region: str
    endpoint_url: str | None = None

    @cached_property
    def session(self) -> boto3.Session:
        """One session per target: credentials are resolved once, not for every client."""
        if is_local_endpoint(self.endpoint_url) and boto3.Session().get_credentials() is None:
            return boto3.Session(
                region_name=self.region, aws_access_key_id=LOCAL_ACCESS_KEY, aws_secret_access_key=LOCAL_ACCESS_KEY
            )
        return boto3.Session(region_name=self.region)

    def dynamodb(self) -> DynamoDBClient:
        return self.session.client("dynamodb", endpoint_url=self.endpoint_url, config=CLIENT_CONFIG)

    def tables(self) -> DynamoDBServiceResource:
        return self.session.resource("dynamodb", endpoint_url=self.endpoint_url, config=CLIENT_CONFIG)

    def sfn(self) -> SFNClient:
        return self.session.client("stepfunctions", endpoint_url=self.endpoint_url, config=CLIENT_CONFIG)

    def ssm(self) -> SSMClient:
        return self.session.client("ssm", endpoint_url=self.endpoint_url, config=CLIENT_CONFIG)

    def sns(self) -> SNSClient:
        return self.session.client("sns", endpoint_url=self.endpoint_url, config=CLIENT_CONFIG)

    def sts(self) -> STSClient:
        return self.session.client("sts", endpoint_url=self.endpoint_url, config=CLIENT_CONFIG)

    @property
    def where(self) -> str:
        return self.endpoint_url or f"AWS region {self.region}"


def endpoint_from_environment() -> str | None:
    return os.environ.get(ENDPOINT_ENV) or None


def explain(exc: Exception, target: AwsTarget, *, table: str | None = None) -> str:
    """One line naming what failed and what to check; for errors a caller may not anticipate."""
    if isinstance(exc, NoCredentialsError | PartialCredentialsError):
        return (
            f"no AWS credentials found for {target.where}: set AWS_PROFILE or AWS_ACCESS_KEY_ID/"
            f"AWS_SECRET_ACCESS_KEY, or pass --endpoint-url for a local endpoint (also {ENDPOINT_ENV})"
        )
    if isinstance(exc, NoRegionError):
        return "no AWS region: set region in the environment's config file"
    if isinstance(exc, EndpointConnectionError | ReadTimeoutError):
        if target.endpoint_url:
            return f"cannot reach endpoint {target.endpoint_url}: is `ledgerflow local serve` running there?"
        return (
            f"cannot reach AWS in region {target.region!r}: check the region in the environment's "
            "config file and the network"
        )
    if isinstance(exc, ClientError):
        code = exc.response.get("Error", {}).get("Code", "")
        message = exc.response.get("Error", {}).get("Message", "")
        if code == "ResourceNotFoundException" and table:
            return (
                f"table {table} not found at {target.where}: wrong --env or region, "
                "or the stacks are not deployed (`ledgerflow local serve` provisions them locally)"
            )
        if code in CREDENTIAL_ERRORS:
            return f"AWS rejected the credentials ({code}) at {target.where}: {message}"
        if code in ("AccessDeniedException", "AccessDenied"):
            return f"access denied at {target.where}: {message}"
        return f"{code} at {target.where}: {message}"
    if isinstance(exc, BotoCoreError):
        return f"AWS call failed at {target.where}: {exc}"
    return str(exc)


AWS_ERRORS: tuple[type[Exception], ...] = (BotoCoreError, ClientError)
