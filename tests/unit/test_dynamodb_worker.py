"""DynamoDB served from a worker process (orchestration/engine/dynamodb_worker.py)."""

from __future__ import annotations

import inspect
import json
import os
import pickle
import socket
import threading
import time
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSPreparedRequest
from botocore.compat import HTTPHeaders
from botocore.exceptions import ClientError, EndpointConnectionError
from moto import mock_aws
from moto.backend_index import backend_url_patterns
from moto.core import DEFAULT_ACCOUNT_ID
from moto.core.botocore_stubber import BotocoreStubber
from moto.dynamodb.models import dynamodb_backends

from orchestration.engine import dynamodb_worker
from orchestration.engine.dynamodb_worker import EVENT, SERVICE, WorkerFailed, dynamodb_in_worker, in_worker_config
from orchestration.engine.moto_patch import atomic_requests
from orchestration.spec.tables import TRANSACTIONS

REGION = "us-east-1"


def test_botocore_and_moto_still_name_dynamodb_as_the_worker_expects() -> None:
    """DynamoDB's requests are sent as ``before-send.dynamodb.*``, and moto passes DynamoDB through by that name."""
    assert list(inspect.signature(BotocoreStubber.process_request).parameters) == ["self", "request"]
    assert any(service == SERVICE for service, _ in backend_url_patterns), "moto's own name for DynamoDB"
    seen: list[str] = []

    def record(event_name: str, request: AWSPreparedRequest, **_: Any) -> None:
        seen.append(event_name)
        # What the network would say: nothing in this process answered the request.
        raise EndpointConnectionError(endpoint_url=request.url)

    with mock_aws(config=in_worker_config({})):
        client = boto3.session.Session(region_name=REGION).client("dynamodb")
        client.meta.events.register_last("before-send", record)
        with pytest.raises(EndpointConnectionError):
            client.list_tables()
    assert seen and all(name == f"{EVENT}.ListTables" for name in seen), seen


def test_the_worker_refuses_to_start_unless_moto_passes_dynamodb_through() -> None:
    with mock_aws(), pytest.raises(RuntimeError, match="in_worker_config"), dynamodb_in_worker():
        pass


@pytest.fixture
def worker() -> Any:
    with mock_aws(config=in_worker_config({})), atomic_requests(), dynamodb_in_worker() as running:
        yield running


def test_dynamodb_lives_in_the_worker_and_other_services_in_process(worker: Any, config: Any) -> None:
    client = boto3.client("dynamodb", region_name=REGION)
    client.create_table(**TRANSACTIONS.create_table_kwargs(config))
    table = boto3.resource("dynamodb", region_name=REGION).Table(TRANSACTIONS.table_name(config))
    with table.batch_writer() as writer:
        for i in range(60):
            writer.put_item(Item={"run_id": "r1", "transaction_id": f"t{i:03d}", "status": "pending"})
    page = table.query(KeyConditionExpression="run_id = :r", ExpressionAttributeValues={":r": "r1"}, Limit=25)
    assert [item["transaction_id"] for item in page["Items"]] == [f"t{i:03d}" for i in range(25)]
    assert page["LastEvaluatedKey"] == {"run_id": "r1", "transaction_id": "t024"}
    assert dynamodb_backends[DEFAULT_ACCOUNT_ID][REGION].tables == {}, "this process's moto holds no table"

    ssm = boto3.client("ssm", region_name=REGION)
    ssm.put_parameter(Name="/ledgerflow/x", Value="1", Type="String")
    assert ssm.get_parameter(Name="/ledgerflow/x")["Parameter"]["Value"] == "1"


def test_errors_come_back_as_the_service_error(worker: Any, config: Any) -> None:
    boto3.client("dynamodb", region_name=REGION).create_table(**TRANSACTIONS.create_table_kwargs(config))
    table = boto3.resource("dynamodb", region_name=REGION).Table(TRANSACTIONS.table_name(config))
    table.put_item(Item={"run_id": "r1", "transaction_id": "t1", "status": "pending"})
    with pytest.raises(ClientError) as failed:
        table.put_item(
            Item={"run_id": "r1", "transaction_id": "t1", "status": "posted"},
            ConditionExpression="attribute_not_exists(run_id)",
        )
    assert failed.value.response["Error"]["Code"] == "ConditionalCheckFailedException"
    with pytest.raises(ClientError, match="ResourceNotFoundException"):
        boto3.client("dynamodb", region_name=REGION).describe_table(TableName="no-such-table")


def test_concurrent_writers_lose_nothing(worker: Any, config: Any) -> None:
    boto3.client("dynamodb", region_name=REGION).create_table(**TRANSACTIONS.create_table_kwargs(config))
    table = boto3.resource("dynamodb", region_name=REGION).Table(TRANSACTIONS.table_name(config))

    def write(thread: int) -> None:
        for i in range(40):
            table.update_item(
                Key={"run_id": "r1", "transaction_id": "counter"},
                UpdateExpression="ADD hits :one",
                ExpressionAttributeValues={":one": 1},
            )
            table.put_item(Item={"run_id": "r1", "transaction_id": f"t{thread}-{i}"})

    threads = [threading.Thread(target=write, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not any(thread.is_alive() for thread in threads)
    counter = table.get_item(Key={"run_id": "r1", "transaction_id": "counter"}, ConsistentRead=True)["Item"]
    assert counter["hits"] == 6 * 40
    assert table.query(KeyConditionExpression="run_id = :r", ExpressionAttributeValues={":r": "r1"})["Count"] == 241


def test_a_dead_worker_is_named_and_a_stopped_one_exits_cleanly() -> None:
    with mock_aws(config=in_worker_config({})), dynamodb_in_worker() as worker:
        client = boto3.client("dynamodb", region_name=REGION)
        assert client.list_tables()["TableNames"] == []
        worker._process.kill()
        worker._process.wait(10)
        worker._reader.join(10)  # the reader has seen the end: no request races it to the socket
        with pytest.raises(WorkerFailed, match="no longer usable: it stopped"):
            client.list_tables()
        with pytest.raises(WorkerFailed, match="no longer usable"):
            client.list_tables()

    with mock_aws(config=in_worker_config({})), dynamodb_in_worker() as worker:
        assert boto3.client("dynamodb", region_name=REGION).list_tables()["TableNames"] == []
    assert worker._process.returncode == 0, "told to stop, the worker exits cleanly"
    assert dynamodb_worker._ANSWERING == [], "no worker answers once its context has ended"


def test_the_worker_exits_when_the_engine_side_of_the_socket_closes() -> None:
    """What happens when the engine's process dies: the worker reads end of file and exits."""
    with mock_aws(config=in_worker_config({})), dynamodb_in_worker() as worker:
        boto3.client("dynamodb", region_name=REGION).list_tables()
        # The socket itself shut down, as the kernel does for a process that died.
        with socket.socket(fileno=os.dup(worker._connection.fileno())) as ours:
            ours.shutdown(socket.SHUT_RDWR)
        assert worker._process.wait(10) == 0
        with pytest.raises(WorkerFailed, match="no longer usable: it stopped"):
            boto3.client("dynamodb", region_name=REGION).list_tables()


def test_an_abandoned_request_never_hands_its_answer_to_the_next(worker: Any, config: Any) -> None:
    """A caller interrupted while it waits (Ctrl-C) leaves its answer behind: it is read and dropped."""
    client = boto3.client("dynamodb", region_name=REGION)
    client.create_table(**TRANSACTIONS.create_table_kwargs(config))
    sent = []
    real_send = worker._send

    def send_and_abandon(message: Any) -> Any:
        sent.append(real_send(message))
        raise KeyboardInterrupt

    worker._send = send_and_abandon
    with pytest.raises(KeyboardInterrupt):
        client.describe_table(TableName=TRANSACTIONS.table_name(config))
    worker._send = real_send
    assert client.list_tables()["TableNames"] == [TRANSACTIONS.table_name(config)]
    [abandoned] = sent
    assert abandoned.done.wait(10)
    kind, (status, _, body) = abandoned.answer
    assert (kind, status, json.loads(body)["Table"]["TableName"]) == ("ok", 200, TRANSACTIONS.table_name(config))


def test_a_send_cut_short_ends_the_worker_instead_of_shifting_the_answers(worker: Any, config: Any) -> None:
    """Ctrl-C during a send (after it, or between a large message's header and body): the stream
    cannot be trusted to pair answers with callers, so the worker is stopped and says why."""
    client = boto3.client("dynamodb", region_name=REGION)
    client.create_table(**TRANSACTIONS.create_table_kwargs(config))
    connection = worker._connection
    real_send = connection.send

    def send_then_interrupted(message: Any) -> None:
        real_send(message)
        connection.send = real_send
        raise KeyboardInterrupt

    connection.send = send_then_interrupted
    with pytest.raises(KeyboardInterrupt):
        client.describe_table(TableName=TRANSACTIONS.table_name(config))
    with pytest.raises(WorkerFailed, match="could not be sent whole"):
        client.list_tables()


def test_an_unreadable_answer_fails_the_waiting_caller_at_once(worker: Any) -> None:
    client = boto3.client("dynamodb", region_name=REGION)

    def unreadable() -> Any:
        while not worker._pending:
            time.sleep(0.01)
        raise pickle.UnpicklingError("truncated")

    worker._connection.recv = unreadable
    client.list_tables()  # answered by the read already under way; the next read is unreadable
    started = time.monotonic()
    with pytest.raises(WorkerFailed, match="UnpicklingError"):
        client.list_tables()
    assert time.monotonic() - started < 30, "not after the 300 s answer timeout"
    assert worker._process.wait(10) != 0, "the worker was stopped"


def test_large_requests_and_large_answers_crossing_do_not_deadlock(
    worker: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Requests and answers larger than the socket's buffer, both ways at once: a sender blocked
    on a full socket must not stop the answers being read."""
    monkeypatch.setattr(dynamodb_worker, "ANSWER_SECONDS", 20)
    client = boto3.client("dynamodb", region_name=REGION)
    client.create_table(
        TableName="big",
        KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    for i in range(3):
        client.put_item(TableName="big", Item={"k": {"S": str(i)}, "v": {"S": "x" * 300_000}})
    errors: list[str] = []
    done = [0]
    until = time.monotonic() + 2

    def scan(c: Any) -> None:
        c.scan(TableName="big")

    def put(c: Any) -> None:
        c.put_item(TableName="big", Item={"k": {"S": "w"}, "v": {"S": "y" * 350_000}})

    def loop(call: Any) -> None:
        own = boto3.client("dynamodb", region_name=REGION)
        try:
            while time.monotonic() < until:
                call(own)
                done[0] += 1
        except Exception as exc:
            errors.append(repr(exc))

    threads = [threading.Thread(target=loop, args=(call,)) for call in (scan, scan, scan, put, put)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(15)
    assert not any(thread.is_alive() for thread in threads), "a request never got its answer"
    assert errors == [] and done[0] > 10


def test_requests_from_many_threads_are_in_flight_together_and_each_gets_its_own_answer(
    worker: Any, config: Any
) -> None:
    """Pipelined: the worker holds several requests at once (sent before any was answered)."""
    boto3.client("dynamodb", region_name=REGION).create_table(**TRANSACTIONS.create_table_kwargs(config))
    table = boto3.resource("dynamodb", region_name=REGION).Table(TRANSACTIONS.table_name(config))
    for i in range(8):
        table.put_item(Item={"run_id": f"r{i}", "transaction_id": "t", "n": i})
    most_pending = [0]
    real_send = worker._send

    def counting(message: Any) -> Any:
        pending = real_send(message)
        most_pending[0] = max(most_pending[0], len(worker._pending))
        return pending

    worker._send = counting
    start = threading.Barrier(8)
    found: dict[int, Any] = {}

    def read(i: int) -> None:
        start.wait(10)
        for _ in range(20):
            found[i] = table.get_item(Key={"run_id": f"r{i}", "transaction_id": "t"})["Item"]["n"]

    threads = [threading.Thread(target=read, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert found == {i: i for i in range(8)}
    assert most_pending[0] > 1, "requests were sent while others were still being answered"


def test_a_failure_inside_the_worker_comes_back_with_its_trace_and_the_worker_serves_on(worker: Any) -> None:
    headers = HTTPHeaders()
    headers["X-Amz-Target"] = "DynamoDB_20120810.NoSuchAction"
    headers["Content-Type"] = "application/x-amz-json-1.0"
    url = "https://dynamodb.us-east-1.amazonaws.com/"
    unknown = AWSPreparedRequest("POST", url, headers, b"{}", stream_output=False)
    with pytest.raises(WorkerFailed, match=r"(?s)failed POST .*Traceback.*OperationNotFoundError: NoSuchAction"):
        worker.answer(unknown)
    assert boto3.client("dynamodb", region_name=REGION).list_tables()["TableNames"] == []
