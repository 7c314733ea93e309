"""Guards the patches of moto internals (see orchestration/engine/moto_patch.py)."""

from __future__ import annotations

import inspect
import json
from contextlib import ExitStack
from typing import TYPE_CHECKING, Any
from unittest.mock import patch

import moto
import pytest
from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils

from orchestration.engine.lambda_runtime import LocalLambdaRuntime
from orchestration.engine.moto_patch import PINNED_MOTO, UnsupportedMoto, in_process_lambda
from orchestration.spec.functions import FUNCTIONS

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.literals import ScalarAttributeTypeType


def keyed_table(range_type: ScalarAttributeTypeType) -> Any:
    """A DynamoDB client (in the current mock) and its table ``t``: string ``pk``, ``sk`` of ``range_type``."""
    import boto3

    client = boto3.client("dynamodb", region_name="us-east-1")
    client.create_table(
        TableName="t",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": range_type},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    return client


def test_installed_moto_is_the_pinned_version() -> None:
    assert moto.__version__ == PINNED_MOTO


@pytest.mark.parametrize("function", ["_invoke_lambda_function", "exec_lambda_function"])
def test_patched_lookups_are_still_where_the_patch_expects_them(function: str) -> None:
    source = inspect.getsource(getattr(lambda_eval_utils, function))
    assert "boto_client_for(" in source
    assert ".invoke(**parameters)" in source


def test_patch_routes_lambda_to_the_runtime_and_restores_moto() -> None:
    runtime = LocalLambdaRuntime.for_functions(lambda spec: spec.name)
    original = lambda_eval_utils.boto_client_for
    with in_process_lambda(runtime):
        client: Any = lambda_eval_utils.boto_client_for(region="us-east-1", service="lambda")
        response = client.invoke(FunctionName="arn:aws:lambda:us-east-1:1:function:nope", Payload=b"{}")
        assert response["FunctionError"] == "Unhandled"
        assert b"ResourceNotFoundException" in response["Payload"].read()
    assert lambda_eval_utils.boto_client_for is original
    assert {spec.name for spec in FUNCTIONS} <= set(runtime._specs)


def test_patch_refuses_another_moto_version(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(moto, "__version__", "0.0.0")
    runtime = LocalLambdaRuntime.for_functions(lambda spec: spec.name)
    with pytest.raises(UnsupportedMoto, match=PINNED_MOTO), in_process_lambda(runtime):
        pass


def test_request_dispatch_is_still_where_the_atomic_patch_expects_it() -> None:
    from moto.core.botocore_stubber import BotocoreStubber

    parameters = list(inspect.signature(BotocoreStubber.__call__).parameters)
    assert parameters[:3] == ["self", "event_name", "request"]


def test_server_dispatch_is_still_where_the_atomic_server_patch_expects_it() -> None:
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication

    parameters = list(inspect.signature(DomainDispatcherApplication.__call__).parameters)
    assert parameters == ["self", "environ", "start_response"]
    assert "get_application(environ)" in inspect.getsource(DomainDispatcherApplication.__call__)


def test_atomic_server_serialises_dispatch_and_restores_moto() -> None:
    import threading

    from moto.moto_server.werkzeug_app import DomainDispatcherApplication

    from orchestration.engine.moto_patch import atomic_server

    original = DomainDispatcherApplication.__call__
    inside = threading.Event()
    release = threading.Event()
    entered: list[str] = []

    def slow(self: object, environ: dict[str, str], start_response: object) -> list[bytes]:
        entered.append(environ["name"])
        inside.set()
        release.wait(5)
        return []

    DomainDispatcherApplication.__call__ = slow  # type: ignore[method-assign]
    try:
        with atomic_server():
            app = object.__new__(DomainDispatcherApplication)
            first = threading.Thread(target=app, args=({"name": "first"}, None))
            second = threading.Thread(target=app, args=({"name": "second"}, None))
            first.start()
            assert inside.wait(5)
            second.start()
            second.join(0.3)
            assert entered == ["first"], "the second request waits for the first"
            release.set()
            first.join(5)
            second.join(5)
            assert entered == ["first", "second"]
    finally:
        DomainDispatcherApplication.__call__ = original  # type: ignore[method-assign]


def test_fast_dynamodb_results_are_byte_for_byte_what_moto_serializes() -> None:
    """Every item operation answers the same document with and without the patch."""
    from moto import mock_aws
    from moto.core.responses import ActionResult
    from moto.dynamodb.models.utilities import dynamo_to_dict
    from moto.dynamodb.responses import DynamoResult

    from orchestration.engine.moto_patch import FAST_DYNAMODB_OPERATIONS, fast_dynamodb_results

    item = {
        "pk": {"S": "p"},
        "sk": {"N": "1"},
        "text": {"S": "journal é"},
        "amount": {"N": "1234.50"},
        "blob": {"B": b"\x00\x01\xff"},
        "strings": {"SS": ["a", "b"]},
        "numbers": {"NS": ["1", "2.5"]},
        "blobs": {"BS": [b"x", b"y"]},
        "nested": {"M": {"list": {"L": [{"N": "1"}, {"S": "y"}, {"NULL": True}, {"BOOL": False}]}}},
    }
    key = {"pk": {"S": "p"}, "sk": {"N": "1"}}
    calls: list[tuple[str, dict[str, Any]]] = [
        ("put_item", {"Item": item, "ReturnValues": "ALL_OLD"}),
        ("get_item", {"Key": key, "ConsistentRead": True}),
        ("query", {"KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": {":p": {"S": "p"}}}),
        ("scan", {"Limit": 1}),
        (
            "update_item",
            {
                "Key": key,
                "UpdateExpression": "SET q = :q",
                "ExpressionAttributeValues": {":q": {"N": "2"}},
                "ReturnValues": "ALL_NEW",
            },
        ),
        ("batch_get_item", {}),
    ]
    compared: list[tuple[str, Any, Any]] = []
    with mock_aws(), fast_dynamodb_results():
        fast = DynamoResult.execute_result
        assert fast is not ActionResult.execute_result, "the patch replaced moto's serializer for DynamoDB"

        def compare(self: DynamoResult, context: Any) -> Any:
            status, headers, body = fast(self, context)
            name = context.operation_model.name
            if name in FAST_DYNAMODB_OPERATIONS:
                # moto's own way: the plain-dict copy its DynamoResult makes, through its serializer.
                as_moto = ActionResult(dynamo_to_dict(self.result))
                expected_status, _, expected_body = as_moto.execute_result(context)
                assert (status, headers["Content-Type"]) == (expected_status, "application/x-amz-json-1.0")
                compared.append((name, json.loads(body), json.loads(expected_body)))
            return status, headers, body

        with patch.object(DynamoResult, "execute_result", compare):
            client = keyed_table("N")
            for name, kwargs in calls:
                if name == "batch_get_item":
                    client.batch_get_item(RequestItems={"t": {"Keys": [key]}})
                else:
                    getattr(client, name)(TableName="t", **kwargs)
    assert [name for name, _, _ in compared] == ["PutItem", "GetItem", "Query", "Scan", "UpdateItem", "BatchGetItem"]
    for name, fast_answer, moto_answer in compared:
        assert fast_answer == moto_answer, name
    read_back = compared[1][1]["Item"]
    assert read_back["blob"] == {"B": "AAH/"} and read_back["blobs"] == {"BS": ["eA==", "eQ=="]}, "base64 on the wire"
    assert {k: v for k, v in read_back.items() if k not in ("blob", "blobs")} == {
        k: v for k, v in item.items() if k not in ("blob", "blobs")
    }


def test_dynamodb_results_are_still_copied_where_the_fast_results_patch_expects() -> None:
    from moto.dynamodb.responses import DynamoResult

    source = inspect.getsource(DynamoResult.__init__)
    assert "transformed_result = dynamo_to_dict(result)" in source
    assert "super().__init__(transformed_result)" in source


def test_results_moto_still_serializes_and_consumed_capacity_answer_as_without_the_patch() -> None:
    """Operations outside the fast set get moto's plain-dict copy first; ReturnConsumedCapacity,
    which moto adds to a result after it is built, reaches the fast and the slow answers alike."""
    from moto import mock_aws

    from orchestration.engine.moto_patch import fast_dynamodb_results

    key = {"pk": {"S": "p"}, "sk": {"S": "s"}}

    def answers() -> list[Any]:
        client = keyed_table("S")
        put = client.put_item(TableName="t", Item=key | {"n": {"N": "1.5"}}, ReturnConsumedCapacity="TOTAL")
        written = client.batch_write_item(
            RequestItems={"t": [{"PutRequest": {"Item": {"pk": {"S": "p"}, "sk": {"S": "t"}}}}]},
            ReturnConsumedCapacity="TOTAL",
        )
        described = client.describe_table(TableName="t")["Table"]
        got = client.transact_get_items(TransactItems=[{"Get": {"TableName": "t", "Key": key}}])["Responses"]
        deleted = client.delete_item(TableName="t", Key=key, ReturnValues="ALL_OLD")["Attributes"]
        return [
            put["ConsumedCapacity"],
            written["UnprocessedItems"],
            written["ConsumedCapacity"],
            {k: described[k] for k in ("TableName", "KeySchema", "ItemCount", "TableStatus")},
            got,
            deleted,
        ]

    with mock_aws():
        plain = answers()
    with mock_aws(), fast_dynamodb_results():
        patched = answers()
    assert patched == plain
    assert plain[0] == {"TableName": "t", "CapacityUnits": 1.0}
    assert plain[4] == [{"Item": key | {"n": {"N": "1.5"}}}] and plain[5] == key | {"n": {"N": "1.5"}}


def test_dynamodb_request_reading_is_still_where_the_plain_json_patch_expects_it() -> None:
    from moto.core.parse import BaseJSONParser, JSONParser
    from moto.core.responses import BaseResponse
    from moto.dynamodb.responses import DynamoHandler

    assert 'self.body = getattr(self, "params", {})' in inspect.getsource(DynamoHandler.call_action)
    assert "self.parse_parameters(request)" in inspect.getsource(BaseResponse.setup_class)
    assert "parser.parse(" in inspect.getsource(BaseResponse.parse_parameters)
    assert "json.loads(body)" in inspect.getsource(BaseJSONParser._parse_body_as_json)
    assert "return self._parse_shape(shape, parsed_json)" in inspect.getsource(JSONParser._parse_json_body)


def test_the_plain_json_operations_convert_nothing_on_reading_but_attribute_value_blobs() -> None:
    """Walk each operation's input shape: the only members moto's reading would convert (blobs,
    timestamps, floats, renamed or document members) are AttributeValue's B and BS, and its
    integers are top-level members, which the patch checks are integers."""
    import botocore.session

    from orchestration.engine.moto_patch import LONG_WAY_MARKS, PLAIN_JSON_OPERATIONS

    model = botocore.session.get_session().get_service_model("dynamodb")
    converting: set[str] = set()
    nested_integers: set[str] = set()
    seen: set[str] = set()

    def walk(shape: Any, where: str, top_level: bool = False) -> None:
        if shape.type_name == "structure":
            if shape.name in seen:
                return
            seen.add(shape.name)
        if shape.type_name in ("blob", "timestamp", "float", "double") or getattr(shape, "is_document_type", False):
            converting.add(where)
        if shape.type_name in ("integer", "long") and not top_level:
            nested_integers.add(where)
        if shape.type_name == "structure":
            for name, member in shape.members.items():
                if member.serialization.get("name", name) != name:
                    converting.add(f"{where}.{name} (renamed)")
                walk(member, f"{shape.name}.{name}")
        elif shape.type_name == "list":
            walk(shape.member, f"{where}[]")
        elif shape.type_name == "map":
            walk(shape.value, f"{where}{{}}")

    for operation in PLAIN_JSON_OPERATIONS:
        shape = model.operation_model(operation).input_shape
        assert shape is not None
        for name, member in shape.members.items():
            walk(member, f"{operation}.{name}", top_level=True)
    assert converting == {"AttributeValue.B", "AttributeValue.BS[]"}
    assert nested_integers == set()
    assert LONG_WAY_MARKS[:2] == (b'"B"', b'"BS"')


def test_requests_only_a_hand_made_client_sends_are_read_by_moto_itself() -> None:
    """null members, numbers in strings, an escaped blob key: the same answers as moto alone."""
    import contextlib

    from botocore.awsrequest import AWSPreparedRequest
    from botocore.compat import HTTPHeaders
    from moto import mock_aws
    from moto.core.models import botocore_stubber

    from orchestration.engine.moto_patch import plain_json_requests

    query = '"TableName":"t","KeyConditionExpression":"pk = :p","ExpressionAttributeValues":{":p":{"S":"p"}}'
    cases = [
        ("Query", "{" + query + ',"ScanIndexForward":null}'),
        ("PutItem", '{"TableName":"t","Item":{"pk":{"S":"p"},"sk":{"N":"9"}},"ReturnValues":null}'),
        ("GetItem", '{"TableName":"t","Key":{"pk":{"S":"p"},"sk":{"N":"1"}},"ReturnConsumedCapacity":null}'),
        ("Query", "{" + query + ',"Limit":"1"}'),
        ("Query", "{" + query + ',"NoSuchMember":1}'),
        ("PutItem", '{"TableName":"t","Item":{"pk":{"S":"b"},"sk":{"N":"1"},"bin":{"\\u0042":"AAEC"}}}'),
        ("GetItem", '{"TableName":"t","Key":{"pk":{"S":"b"},"sk":{"N":"1"}}}'),
    ]

    def answers(patched: bool) -> list[Any]:
        got = []
        with mock_aws(), plain_json_requests() if patched else contextlib.nullcontext():
            client = keyed_table("N")
            for sk in ("1", "2", "3"):
                client.put_item(TableName="t", Item={"pk": {"S": "p"}, "sk": {"N": sk}})
            for operation, body in cases:
                headers = HTTPHeaders()
                headers["X-Amz-Target"] = f"DynamoDB_20120810.{operation}"
                headers["Content-Type"] = "application/x-amz-json-1.0"
                url = "https://dynamodb.us-east-1.amazonaws.com/"
                request = AWSPreparedRequest("POST", url, headers, body.encode(), stream_output=False)
                answered = botocore_stubber.process_request(request)
                assert answered is not None
                status, _, answer = answered
                got.append((status, json.loads(answer)))
        return got

    alone, patched = answers(False), answers(True)
    assert patched == alone
    assert alone[3][1]["Count"] == 1, 'Limit "1" read as 1'


def test_plain_json_requests_read_exactly_what_moto_reads() -> None:
    """Real requests of every plain-JSON operation and every attribute type, each read both ways:
    the readings agree, the shape walk is skipped, except for a body with a blob (and for other
    operations), which moto reads itself."""
    from moto import mock_aws
    from moto.core.parse import JSONParser
    from moto.core.responses import BaseResponse
    from moto.dynamodb.responses import DynamoHandler

    from orchestration.engine.moto_patch import PLAIN_JSON_OPERATIONS, plain_json_requests

    item = {
        "pk": {"S": "p"},
        "sk": {"N": "1"},
        "text": {"S": 'journal \u00e9 "quoted"'},
        "amount": {"N": "1234.50"},
        "strings": {"SS": ["a", "b"]},
        "numbers": {"NS": ["1", "2.5"]},
        "nested": {"M": {"list": {"L": [{"N": "1"}, {"S": "y"}, {"NULL": True}, {"BOOL": False}]}}},
    }
    key = {"pk": {"S": "p"}, "sk": {"N": "1"}}
    readings: list[tuple[str, bytes, Any, Any, bool]] = []
    walks = [0]
    walk = JSONParser._parse_json_body

    def counted_walk(self: Any, raw_body: Any, shape: Any) -> Any:
        walks[0] += 1
        return walk(self, raw_body, shape)

    with mock_aws(), plain_json_requests():
        patched = DynamoHandler.parse_parameters
        assert patched is not BaseResponse.parse_parameters

        def both_readings(self: Any, request: Any) -> None:
            BaseResponse.parse_parameters(self, request)
            theirs = self.params
            before = walks[0]
            with patch.object(JSONParser, "_parse_json_body", counted_walk):
                patched(self, request)
            readings.append((self._get_action(), request.data, theirs, self.params, walks[0] > before))

        with patch.object(DynamoHandler, "parse_parameters", both_readings):
            client = keyed_table("N")
            client.put_item(TableName="t", Item=item, ConditionExpression="attribute_not_exists(pk)")
            client.get_item(TableName="t", Key=key, ConsistentRead=True, ProjectionExpression="amount, nested")
            client.update_item(
                TableName="t",
                Key=key,
                UpdateExpression="SET #q = :q",
                ExpressionAttributeNames={"#q": "q"},
                ExpressionAttributeValues={":q": {"N": "2"}},
                ReturnValues="ALL_NEW",
            )
            client.query(
                TableName="t",
                KeyConditionExpression="pk = :p",
                FilterExpression="amount > :a",
                ExpressionAttributeValues={":p": {"S": "p"}, ":a": {"N": "1"}},
                Limit=5,
                ExclusiveStartKey={"pk": {"S": "p"}, "sk": {"N": "0"}},
            )
            client.scan(TableName="t", Limit=1, Segment=0, TotalSegments=1)
            client.batch_get_item(RequestItems={"t": {"Keys": [key], "ConsistentRead": True}})
            client.batch_write_item(RequestItems={"t": [{"PutRequest": {"Item": item | {"sk": {"N": "2"}}}}]})
            client.put_item(TableName="t", Item=item | {"sk": {"N": "3"}, "blob": {"B": b"\x00\xff"}})
            client.delete_item(TableName="t", Key=key)
            blob_row = client.get_item(TableName="t", Key={"pk": {"S": "p"}, "sk": {"N": "3"}})["Item"]
    assert blob_row["blob"] == {"B": b"\x00\xff"}
    assert {action for action, *_ in readings} == PLAIN_JSON_OPERATIONS | {"CreateTable"}
    for action, body, theirs, ours, walked in readings:
        assert ours == theirs, action
        assert walked == (action == "CreateTable" or b'"B"' in body or b"\\u" in body), action
    assert sum(1 for *_, walked in readings if not walked) >= 6, "most bodies took the plain way"


def test_json_path_parsing_is_still_where_the_cache_patch_expects_it() -> None:
    import jsonpath_ng
    import jsonpath_ng.ext
    from moto.stepfunctions.parser.asl.component.common.path import result_path
    from moto.stepfunctions.parser.asl.utils import json_path

    assert json_path.parse is jsonpath_ng.ext.parse
    assert result_path.parse is jsonpath_ng.parse
    assert "parse(path)" in inspect.getsource(json_path.extract_json)
    assert "parse(self.result_path_src)" in inspect.getsource(result_path.ResultPath._eval_body)


def test_cached_json_paths_parse_once_answer_the_same_and_restore_moto() -> None:
    from moto.stepfunctions.parser.asl.component.common.path import result_path
    from moto.stepfunctions.parser.asl.utils import json_path

    from orchestration.engine.moto_patch import cached_json_paths

    data = {"Payload": {"posted": [{"id": 1}, {"id": 2}], "attempt": 2}, "items": [1, 2, 3]}
    paths = ["$.Payload.posted", "$.Payload.attempt", "$.items[1]", "$.items[*]", "$.Payload.posted[*].id"]
    expected = [json_path.extract_json(p, data) for p in paths]
    original = (json_path.parse, result_path.parse)
    with cached_json_paths():
        assert json_path.parse("$.Payload") is json_path.parse("$.Payload")
        for _ in range(2):
            assert [json_path.extract_json(p, data) for p in paths] == expected
        target: dict[str, Any] = {"a": 1}
        result_path.parse("$.post").update_or_create(target, {"ok": True})
        assert target == {"a": 1, "post": {"ok": True}}
    assert (json_path.parse, result_path.parse) == original


def test_table_query_is_still_what_the_partition_patch_expects() -> None:
    from moto.dynamodb.models.dynamo_type import Item
    from moto.dynamodb.models.table import RESULT_SIZE_LIMIT, Table

    source = inspect.getsource(Table.query)
    assert "for item in self.all_items()" in source
    assert "processing_previous_page = exclusive_start_key is not None" in source
    # The steps _page repeats, in this order: page by count and whole-item size, copy, filter, project.
    steps = [
        "reached_length_limit = len(results) == limit",
        "reached_size_limit = (result_size + result.size()) > RESULT_SIZE_LIMIT",
        "self._get_last_evaluated_key(\n                    results[-1], index_name\n                )",
        "results = copy.deepcopy(results)",
        "results = [item for item in results if filter_expression.expr(item)]",
        "results = [r.project(projection_expressions) for r in results]",
    ]
    positions = [source.find(step) for step in steps]
    assert -1 not in positions and positions == sorted(positions), dict(zip(steps, positions, strict=True))
    assert RESULT_SIZE_LIMIT == 1_000_000
    assert "return Item(" in inspect.getsource(Item.project)


@pytest.mark.parametrize("range_type", ["S", "N"])
def test_partition_queries_page_exactly_like_moto(
    range_type: ScalarAttributeTypeType, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every page (items, count, LastEvaluatedKey) of many queries is the same with and without the patch,
    before and after the partitions gain, lose and overwrite items."""
    import random

    from moto import mock_aws

    from orchestration.engine import moto_patch
    from orchestration.engine.moto_patch import partition_queries

    sliced: list[int] = []
    reachable = moto_patch._reachable

    def counted(table: Any, arguments: dict[str, Any], orders: Any) -> Any:
        items = reachable(table, arguments, orders)
        if items is None:
            return None
        listed = list(items)
        sliced.append(len(listed))
        return iter(listed)

    monkeypatch.setattr(moto_patch, "_reachable", counted)
    rng = random.Random(7)
    keys = rng.sample(range(10_000), 160)

    def sort_key(k: int) -> dict[str, str]:
        return {"S": f"{k:05d}-{k % 7}"} if range_type == "S" else {"N": str(k / 4)}

    def item(i: int, k: int) -> dict[str, Any]:
        status = ["pending", "posted", "failed"][k % 3]
        row: dict[str, Any] = {
            "pk": {"S": "run-a" if i % 3 else "run-b"},
            "sk": sort_key(k),
            "status": {"S": status},
            # Numbers as written, and as boto3 would not write them (moto's projection rewrites those).
            "amount": {"N": [f"{k}.50", f"{k}e1", f"0{k}", f"+{k}.0"][k % 4]},
        }
        if k % 4 == 0:
            row["payload"] = {"B": bytes([k % 256]) * 3}
            row["meta"] = {"M": {"inner": {"S": status}, "n": {"N": str(k)}}}
            row["lines"] = {"L": [{"S": status}, {"N": "3"}]}
        if k % 5 == 0:
            row["pad"] = {"S": "x" * 100_000}  # enough of them to split a partition's pages at 1 MB
        return row

    def pages(client: Any, **kwargs: Any) -> list[dict[str, Any]]:
        answers: list[dict[str, Any]] = []
        start = None
        while len(answers) < len(keys):  # a query that never ends its pages fails instead of hanging
            page = client.query(TableName="t", **kwargs, **({"ExclusiveStartKey": start} if start else {}))
            answers.append({k: page.get(k) for k in ("Items", "Count", "ScannedCount", "LastEvaluatedKey")})
            start = page.get("LastEvaluatedKey")
            if not start:
                return answers
        raise AssertionError(f"more pages than items: {kwargs}")

    queries: list[dict[str, Any]] = []
    for partition in ("run-a", "run-b", "run-empty"):
        key = {"KeyConditionExpression": "pk = :r", "ExpressionAttributeValues": {":r": {"S": partition}}}
        named = {**key, "ExpressionAttributeNames": {"#s": "status"}}
        queries += [key, {**key, "Limit": 1}, {**key, "ScanIndexForward": False, "Limit": 9}]
        projections = ("sk, #s", "amount, sk, #s", "payload, sk, #s", "meta.inner, sk, #s", "lines[0], sk, #s")
        for projection in (*projections, "#s, absent_attribute"):
            queries.append({**named, "ProjectionExpression": projection})
        for limit in (7, 50):
            queries.append(
                {
                    **named,
                    "FilterExpression": "#s = :p",
                    "ExpressionAttributeValues": {":r": {"S": partition}, ":p": {"S": "pending"}},
                    "ProjectionExpression": "sk",
                    "Limit": limit,
                    "ConsistentRead": True,
                }
            )
    answers: dict[bool, list[Any]] = {}
    for patched in (False, True):
        with mock_aws(), ExitStack() as stack:
            if patched:
                stack.enter_context(partition_queries())
            client = keyed_table(range_type)
            for i, k in enumerate(keys[:120]):
                client.put_item(TableName="t", Item=item(i, k))
            before = [pages(client, **q) for q in queries]
            for i, k in enumerate(keys[120:], start=120):  # new keys land between the old ones
                client.put_item(TableName="t", Item=item(i, k))
            for i, k in enumerate(keys[:30]):
                if i % 2:
                    client.delete_item(TableName="t", Key={"pk": item(i, k)["pk"], "sk": sort_key(k)})
                else:
                    client.put_item(TableName="t", Item={**item(i, k), "status": {"S": "posted"}})
            answers[patched] = before + [pages(client, **q) for q in queries]
    assert answers[True] == answers[False]
    assert sum(len(p) for q in answers[True] for p in q) > 2 * len(queries), "several queries took several pages"
    unlimited = [answer for query, answer in zip(queries * 2, answers[True], strict=True) if "Limit" not in query]
    assert any(len(answer) > 1 for answer in unlimited), "a query without a Limit took pages of 1 MB"
    assert len(sliced) > 2 * len(queries) and min(sliced) < max(sliced), "the patched path served the forward queries"


def test_item_construction_is_still_what_the_sized_items_patch_expects() -> None:
    from moto.dynamodb.models.dynamo_type import Item, LimitedSizeDict

    from orchestration.engine.moto_patch import MAX_ITEM_BYTES

    assert list(inspect.signature(Item.__init__).parameters) == ["self", "hash_key", "range_key", "attrs"]
    source = inspect.getsource(Item.__init__)
    assert "self.attrs = LimitedSizeDict()" in source
    assert "for key, value in attrs.items():\n            self.attrs[key] = DynamoType(value)" in source
    check = inspect.getsource(LimitedSizeDict.__setitem__)
    assert f"> {MAX_ITEM_BYTES}:" in check and MAX_ITEM_BYTES == 405000
    assert "new_item_size = bytesize(key) + (" in check
    assert "item.size() if type(item) is DynamoType else bytesize(str(item))" in check
    assert "raise ItemSizeTooLarge" in check


def _items_with_and_without_sized_items(hash_key: Any, range_key: Any, attrs: dict[str, Any]) -> tuple[Any, Any]:
    from moto.dynamodb.models.dynamo_type import Item

    from orchestration.engine.moto_patch import sized_items

    moto_item = Item(hash_key, range_key, attrs)
    with sized_items():
        sized_item = Item(hash_key, range_key, attrs)
    return moto_item, sized_item


def test_sized_items_build_exactly_moto_items() -> None:
    from moto.dynamodb.models.dynamo_type import DynamoType, LimitedSizeDict

    attrs: dict[str, Any] = {
        "run_id": {"S": "r1"},
        "transaction_id": {"S": "t-0001"},
        "text": {"S": "journal é"},
        "empty": {"S": ""},
        "amount": {"N": "1234.50"},
        "blob": {"B": b"\x00\x01\xff"},
        "yes": {"BOOL": True},
        "no": {"BOOL": False},
        "nothing": {"NULL": True},
        "list": {"L": [{"N": "1"}, {"S": "y"}, {"NULL": True}, {"BOOL": False}, {"L": []}]},
        "map": {"M": {"a": {"S": "x"}, "b": {"M": {"c": {"L": [{"M": {"d": {"N": "-2e3"}}}]}}}}},
        "strings": {"SS": ["a", "b"]},
        "numbers": {"NS": ["1", "2.5"]},
        "blobs": {"BS": [b"x", b"y"]},
    }
    cases = [
        (DynamoType({"S": "r1"}), DynamoType({"S": "t-0001"}), attrs),
        (DynamoType({"N": "7"}), None, {"pk": {"N": "7"}, **attrs}),
        (DynamoType({"S": "only"}), None, {}),
        (DynamoType({"S": "p"}), None, {"pk": DynamoType({"S": "p"}), "m": DynamoType({"M": {"k": {"S": "v"}}})}),
    ]
    for hash_key, range_key, item_attrs in cases:
        moto_item, sized_item = _items_with_and_without_sized_items(hash_key, range_key, item_attrs)
        assert sized_item.hash_key == moto_item.hash_key and sized_item.range_key == moto_item.range_key
        assert sized_item.attrs == moto_item.attrs
        assert list(sized_item.attrs) == list(moto_item.attrs) == list(item_attrs), "attribute order kept"
        assert sized_item.to_json() == moto_item.to_json()
        assert sized_item.size() == moto_item.size()
        assert sized_item == moto_item
        assert type(sized_item.attrs) is LimitedSizeDict
        assert all(type(value) is DynamoType for value in sized_item.attrs.values())


@pytest.mark.parametrize("total", [404_999, 405_000, 405_001, 500_000])
@pytest.mark.parametrize("split", [1, 3])
def test_sized_items_refuse_exactly_the_items_moto_refuses(total: int, split: int) -> None:
    """The item's bytes (names and values) just under, at and over moto's limit, in one or several attributes."""
    from moto.dynamodb.exceptions import ItemSizeTooLarge
    from moto.dynamodb.models.dynamo_type import DynamoType, Item

    from orchestration.engine.moto_patch import sized_items

    attrs: dict[str, Any] = {"pk": {"S": "p"}, "n": {"N": "12.5"}}  # 2 + 1 + 1 + 4 bytes
    remaining = total - 8
    for i in range(split):
        name = f"big{i}"  # 4 bytes
        share = remaining // (split - i)
        attrs[name] = {"S": "x" * (share - len(name))}
        remaining -= share
    outcomes = []
    for patched in (False, True):
        with ExitStack() as stack:
            if patched:
                stack.enter_context(sized_items())
            try:
                item = Item(DynamoType({"S": "p"}), None, attrs)
            except ItemSizeTooLarge:
                outcomes.append("too large")
            else:
                assert item.size() == total
                outcomes.append("stored")
    assert outcomes[0] == outcomes[1] == ("too large" if total > 405_000 else "stored")


def test_sized_items_raise_at_the_attribute_moto_raises_at() -> None:
    """Past the limit moto stops before building the next attribute; so does the patch."""
    from moto.dynamodb.exceptions import ItemSizeTooLarge
    from moto.dynamodb.models.dynamo_type import DynamoType, Item

    from orchestration.engine.moto_patch import sized_items

    over_then_malformed = {"big": {"S": "x" * 405_000}, "malformed": {}}
    malformed_then_over = {"malformed": {}, "big": {"S": "x" * 405_000}}
    for patched in (False, True):
        with ExitStack() as stack:
            if patched:
                stack.enter_context(sized_items())
            with pytest.raises(ItemSizeTooLarge):
                Item(DynamoType({"S": "p"}), None, over_then_malformed)
            with pytest.raises(IndexError):
                Item(DynamoType({"S": "p"}), None, malformed_then_over)


def test_sized_items_keep_checking_later_writes() -> None:
    from moto.dynamodb.exceptions import ItemSizeTooLarge
    from moto.dynamodb.models.dynamo_type import DynamoType, Item

    from orchestration.engine.moto_patch import sized_items

    with sized_items():
        item = Item(DynamoType({"S": "p"}), None, {"pk": {"S": "p"}, "big": {"S": "x" * 400_000}})
    item.attrs["small"] = DynamoType({"S": "y"})
    with pytest.raises(ItemSizeTooLarge):
        item.attrs["more"] = DynamoType({"S": "x" * 5_000})
    assert list(item.attrs) == ["pk", "big", "small"]


def test_too_large_writes_answer_moto_errors_under_sized_items() -> None:
    """PutItem, BatchWriteItem and UpdateItem refuse a too-large item with the same error as moto's."""
    from botocore.exceptions import ClientError
    from moto import mock_aws

    from orchestration.engine.moto_patch import sized_items

    def big(sk: str, size: int) -> dict[str, Any]:
        return {"pk": {"S": "p"}, "sk": {"S": sk}, "big": {"S": "x" * size}}

    answers: dict[bool, list[Any]] = {}
    for patched in (False, True):
        answers[patched] = []
        with mock_aws(), ExitStack() as stack:
            if patched:
                stack.enter_context(sized_items())
            client = keyed_table("S")
            calls: list[tuple[str, dict[str, Any]]] = [
                ("put_item", {"TableName": "t", "Item": big("fits", 404_900)}),
                ("put_item", {"TableName": "t", "Item": big("over", 405_000)}),
                ("batch_write_item", {"RequestItems": {"t": [{"PutRequest": {"Item": big("batch", 405_000)}}]}}),
                (
                    "update_item",
                    {
                        "TableName": "t",
                        "Key": {"pk": {"S": "p"}, "sk": {"S": "fits"}},
                        "UpdateExpression": "SET more = :m",
                        "ExpressionAttributeValues": {":m": {"S": "x" * 1_000}},
                    },
                ),
            ]
            for name, kwargs in calls:
                try:
                    getattr(client, name)(**kwargs)
                except ClientError as error:
                    answers[patched].append((name, error.response["Error"]))
                else:
                    answers[patched].append((name, "ok"))
            answers[patched].append(("items", sorted(i["sk"]["S"] for i in client.scan(TableName="t")["Items"])))
    assert answers[True] == answers[False]
    refused = [error for _, error in answers[True][1:4]]
    assert all(error["Code"] == "ValidationException" for error in refused), answers[True]
    assert answers[True][-1] == ("items", ["fits"])


def test_sized_items_restore_moto() -> None:
    from moto.dynamodb.models.dynamo_type import Item

    from orchestration.engine.moto_patch import sized_items

    original = Item.__init__
    with sized_items():
        assert Item.__init__ is not original
    assert Item.__init__ is original
    with pytest.raises(RuntimeError), sized_items():
        raise RuntimeError("boom")
    assert Item.__init__ is original


def test_sizing_is_still_what_the_fast_sizes_patch_expects() -> None:
    from moto.dynamodb.models.dynamo_type import DynamoType, Item

    assert list(inspect.signature(DynamoType.size).parameters) == ["self"]
    source = inspect.getsource(DynamoType.size)
    for branch in (
        "if self.is_number():\n            value_size = len(str(self.value))",
        "value_size = sum([DynamoType({sub_type: v}).size() for v in self.value])",
        "value_size = sum([v.size() for v in self.value])",
        "[bytesize(k) + DynamoType(v).size() for k, v in self.value.items()]",
        "elif isinstance(self.value, bool):\n            value_size = 1",
        "else:\n            value_size = bytesize(self.value)",
    ):
        assert branch in source, branch
    assert "return sum(bytesize(key) + value.size() for key, value in self.attrs.items())" in inspect.getsource(
        Item.size
    )


def test_fast_sizes_size_every_attribute_type_exactly_as_moto_and_restore_moto() -> None:
    from moto.dynamodb.models.dynamo_type import DynamoType, Item

    from orchestration.engine.moto_patch import fast_sizes

    values: list[dict[str, Any]] = [
        {"S": "journal é"},
        {"S": ""},
        {"N": "1234.50"},
        {"N": "-2e3"},
        {"B": b"\x00\x01\xff"},
        {"BOOL": True},
        {"BOOL": False},
        {"NULL": True},
        {"SS": ["a", "bé"]},
        {"NS": ["1", "2.5", "-10"]},
        {"BS": [b"x", b"yz"]},
        {"L": []},
        {"M": {}},
        {"L": [{"N": "1"}, {"S": "y"}, {"NULL": True}, {"BOOL": False}, {"L": [{"SS": ["q"]}]}]},
        {"M": {"a": {"S": "x"}, "b": {"M": {"c": {"L": [{"M": {"d": {"N": "-2e3"}, "é": {"B": b"1"}}}]}}}}},
        {"L": [{"M": {"component": {"S": "gross_pay"}, "amount": {"S": "5123.40"}}} for _ in range(8)]},
    ]
    attrs = {f"attr{index}": value for index, value in enumerate(values)}
    moto_sizes = [DynamoType(value).size() for value in values]
    moto_item_size = Item(DynamoType({"S": "h"}), None, attrs).size()
    original = (DynamoType.size, Item.size)
    with fast_sizes():
        assert (DynamoType.size, Item.size) != original
        assert [DynamoType(value).size() for value in values] == moto_sizes
        assert Item(DynamoType({"S": "h"}), None, attrs).size() == moto_item_size
        mixed = DynamoType({"M": {"k": {"S": "v"}}})
        mixed.value["raw"] = {"N": "12"}  # a map value moto's own writes may leave unwrapped
        assert mixed.size() == len("k") + len("v") + len("raw") + len("12")
    assert (DynamoType.size, Item.size) == original
    with pytest.raises(RuntimeError), fast_sizes():
        raise RuntimeError("boom")
    assert (DynamoType.size, Item.size) == original
