"""What a warm Lambda container keeps between invocations: AWS clients and clients of its own.

Building a boto3 client resolves endpoints and loads service models, and the finance client
keeps its connections pooled, so each is built once per container, on first use. Every such
value is made by a function decorated ``@per_container``, and ``reset`` forgets them all at
once: what a new container would start with (a test that starts a new mocked account calls it).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

import boto3
from botocore.config import Config

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient, DynamoDBServiceResource
    from mypy_boto3_sns import SNSClient
    from mypy_boto3_stepfunctions import SFNClient

R = TypeVar("R")

_KEPT: list[functools._lru_cache_wrapper[object]] = []


def per_container(make: Callable[..., R]) -> functools._lru_cache_wrapper[R]:
    """Keep what ``make`` returns for each set of arguments until ``reset``."""
    kept = functools.cache(make)
    _KEPT.append(kept)
    return kept


def reset() -> None:
    """Forget everything kept: the next invocation builds its clients again, as in a new container."""
    for kept in _KEPT:
        kept.cache_clear()


@per_container
def dynamodb() -> DynamoDBServiceResource:
    """The container's DynamoDB resource (tables with Python values)."""
    return boto3.resource("dynamodb")


@per_container
def dynamodb_client() -> DynamoDBClient:
    """A low-level DynamoDB client: the rows of a chunk in their wire form, and libraries that take a client.

    Not the resource's own client: boto3 hooks that one to convert plain Python values, and a
    library passing DynamoDB's typed values (``{"S": ...}``) through it would have them converted again.
    Its requests are not validated against the API model before they are sent (DynamoDB validates
    them, and answers a bad one with a ``ValidationException``): the check walks every attribute
    value of every item written, a journal's lines included, and costs as much as sending it.
    """
    return boto3.client("dynamodb", config=Config(parameter_validation=False))


@per_container
def stepfunctions() -> SFNClient:
    return boto3.client("stepfunctions")


@per_container
def sns() -> SNSClient:
    return boto3.client("sns")
