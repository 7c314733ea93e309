"""The patches of moto internals: in-process Lambda, atomic requests, and DynamoDB hot spots removed.

Each patch is pinned to the moto version it was written against (``replaced`` checks it on
entry) and ``tests/unit/test_moto_patch.py`` holds, for each, a test that fails if the patched
code moves and a differential test that it answers exactly as moto does.

* ``in_process_lambda``: moto's interpreter builds a new boto3 client for every Lambda task and
  then makes a full botocore request; ``lambda_eval_utils`` looks up ``boto_client_for`` in its
  own namespace for every task, so that name returns the in-process runtime's client instead.
* ``atomic_requests`` and ``atomic_server``: moto's in-memory backends are not thread-safe
  (concurrent writes raised "dictionary changed size during iteration", and a cancelled
  transaction restored a table snapshot over another thread's write), while Map iterations
  call handlers on many threads. AWS applies each request atomically, so moto's dispatch
  serves one request at a time: botocore's in-process requests, and werkzeug's in server mode.
* ``fast_dynamodb_results``: moto turns every DynamoDB response into JSON by walking the
  botocore output shape member by member. The item operations' results are already in
  DynamoDB's wire form, so they are dumped with ``json``; moto's plain-dict copy of a result is
  made only for the operations moto still serializes itself.
* ``plain_json_requests``: moto reads each DynamoDB request by walking the operation's input
  shape over the ``json.loads`` of its body. For the item operations the walk changes only what
  botocore never sends (``null`` and unknown members, numbers in strings where an integer
  belongs) and blobs, and the only blobs of their input shapes are an attribute value's ``B``
  and ``BS``: a body with none of these is read with ``json.loads``; any other goes moto's way.
* ``partition_queries``: moto's ``Table.query`` walks every item of the table, sorts the
  partition and compares each item before the ``ExclusiveStartKey`` again, so paging through a
  run cost O(table) per page. A plain forward query on a table's own keys is answered from the
  slice of the partition it can reach, in an order kept per partition until its keys change,
  then paged, filtered and projected in moto's order with moto's rules (``Limit`` and the 1 MB
  page on whole item sizes, the filter, the projection, ``LastEvaluatedKey``).
* ``cached_json_paths``: the interpreter parses every JSONPath with jsonpath_ng's yacc parser each
  time it evaluates one; a parsed expression is never mutated by ``find`` or
  ``update_or_create``, so each distinct path is parsed once.
* ``sized_items``: ``Item.__init__`` fills a ``LimitedSizeDict`` that re-sums the size of every
  attribute already present on each insert (quadratic in attributes); the same item is built
  keeping a running total, raising moto's ``ItemSizeTooLarge`` at the same attribute, in a
  ``LimitedSizeDict`` that still checks later writes.
* ``fast_sizes``: ``DynamoType.size`` wraps every value of a map in a new ``DynamoType`` before
  sizing it, and the copy re-wraps the value's whole subtree, so sizing a nested item (a
  journal's lines: a list of maps) costs allocations at every level; items are sized on every
  write, every page of a query and every batch read. The same sum is taken over the values as
  they are, with moto's rule for each type.

What each of them saves is measured in the benchmark documentation (``docs/benchmarks.md``).
"""

from __future__ import annotations

import base64
import bisect
import copy
import functools
import inspect
import itertools
import json
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import moto
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from moto.core.botocore_stubber import BotocoreStubber
from moto.core.config import default_user_config
from moto.core.responses import ActionContext, ActionResult
from moto.core.utils import get_service_model
from moto.dynamodb.exceptions import ItemSizeTooLarge
from moto.dynamodb.models.dynamo_type import DynamoType, Item, LimitedSizeDict
from moto.dynamodb.models.table import RESULT_SIZE_LIMIT, Table
from moto.dynamodb.models.utilities import bytesize, dynamo_to_dict
from moto.dynamodb.responses import DynamoHandler, DynamoResult
from moto.moto_server.werkzeug_app import DomainDispatcherApplication
from moto.stepfunctions.parser.asl.component.common.path import result_path
from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils
from moto.stepfunctions.parser.asl.utils import json_path

from orchestration.errors import LedgerflowError

if TYPE_CHECKING:
    from orchestration.engine.lambda_runtime import LocalLambdaRuntime

PINNED_MOTO = "5.2.5"
FAST_DYNAMODB_OPERATIONS = frozenset({"GetItem", "BatchGetItem", "Query", "Scan", "PutItem", "UpdateItem"})
"""The item operations whose results hold only wire-form items, keys, counts and capacity."""
PLAIN_JSON_OPERATIONS = frozenset(
    {"GetItem", "PutItem", "UpdateItem", "DeleteItem", "Query", "Scan", "BatchGetItem", "BatchWriteItem"}
)
"""The item operations whose input shapes convert nothing on reading but attribute values' blobs."""
LONG_WAY_MARKS = (b'"B"', b'"BS"', b"\\u", b"null")
"""Bodies holding any of these are read by moto's walk: an attribute value's blob members (any
other ``"B"`` string only costs the long way), an escape that could spell one, and ``null``
members (the walk drops them)."""
JSON_1_0 = "application/x-amz-json-1.0"
JSON_PATH_CACHE_SIZE = 4096
"""Distinct JSONPath strings kept parsed: the definition's paths number in the dozens."""
MAX_ITEM_BYTES = 405000
"""moto's item size limit (``LimitedSizeDict.__setitem__``); the guard test checks it has not moved."""


class UnsupportedMoto(LedgerflowError):
    """The installed moto is not the version this patch was verified against."""


def check_moto_version() -> None:
    if moto.__version__ != PINNED_MOTO:
        raise UnsupportedMoto(
            f"moto {moto.__version__} installed; the local engine's patch is verified on {PINNED_MOTO} "
            "(reinstall with `make install`)"
        )


@contextmanager
def replaced(owner: Any, name: str, value: Any) -> Iterator[None]:
    """``owner.name`` is ``value`` while the context lasts, then moto's own again (version checked first)."""
    check_moto_version()
    original = getattr(owner, name)
    setattr(owner, name, value)
    try:
        yield
    finally:
        setattr(owner, name, original)


def _passed_through(event_name: str) -> bool:
    """Whether moto's config passes the service of a ``before-send.<service>.<operation>`` event through."""
    service = event_name.split(".", 2)[1] if event_name.count(".") >= 2 else ""
    return service in default_user_config.get("core", {}).get("passthrough", {}).get("services", [])


@contextmanager
def atomic_requests() -> Iterator[None]:
    """Serve one in-process moto request at a time, as AWS applies each request atomically.

    moto's backends are not thread-safe. A service moto passes through (DynamoDB, which the
    embedded engine's worker process answers, one request at a time too) takes no lock: moto
    answers nothing for it here.
    """
    lock = threading.RLock()
    original = BotocoreStubber.__call__

    def atomic(self: BotocoreStubber, event_name: str, request: Any, **kwargs: Any) -> Any:
        if _passed_through(event_name):
            return None
        with lock:
            return original(self, event_name, request, **kwargs)

    with replaced(BotocoreStubber, "__call__", atomic):
        yield


@contextmanager
def atomic_server() -> Iterator[None]:
    """Serve one request at a time in moto's server mode (see ``atomic_requests``)."""
    lock = threading.RLock()
    original = DomainDispatcherApplication.__call__

    def atomic(self: DomainDispatcherApplication, environ: dict[str, Any], start_response: Any) -> Any:
        with lock:
            return original(self, environ, start_response)

    with replaced(DomainDispatcherApplication, "__call__", atomic):
        yield


@contextmanager
def in_process_lambda(runtime: LocalLambdaRuntime) -> Iterator[None]:
    original = lambda_eval_utils.boto_client_for

    def client_for(region: str, service: str, state_credentials: Any = None) -> Any:
        if service == "lambda":
            return runtime.client()
        return original(region=region, service=service, state_credentials=state_credentials)

    with replaced(lambda_eval_utils, "boto_client_for", client_for):
        yield


def _wire_value(value: Any) -> Any:
    """moto's model objects as their wire form; binary values base64-encoded, as moto's serializer sends them."""
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode()
    if hasattr(value, "to_json"):
        return value.to_json()
    raise TypeError(f"{type(value).__name__} is not a DynamoDB wire value")


@contextmanager
def fast_dynamodb_results() -> Iterator[None]:
    """Answer DynamoDB item operations with ``json.dumps`` of moto's result (see module docstring)."""
    original = DynamoResult.execute_result

    def init(self: DynamoResult, result: object) -> None:
        # Kept as the handler built it; moto's plain-dict copy is made below when moto serializes.
        ActionResult.__init__(self, result)

    def execute_result(self: DynamoResult, context: ActionContext) -> Any:
        if context.operation_model.name not in FAST_DYNAMODB_OPERATIONS:
            self._result = dynamo_to_dict(self._result)
            return original(self, context)
        return 200, {"Content-Type": JSON_1_0}, json.dumps(self.result, default=_wire_value)

    with replaced(DynamoResult, "__init__", init), replaced(DynamoResult, "execute_result", execute_result):
        yield


@functools.cache
def _top_level_members(operation: str) -> tuple[frozenset[str], frozenset[str]]:
    """An operation's request members, and those of them that are integers (the walk converts those)."""
    shape = get_service_model("dynamodb").operation_model(operation).input_shape
    members = shape.members if shape is not None else {}
    return frozenset(members), frozenset(n for n, m in members.items() if m.type_name in ("integer", "long"))


@contextmanager
def plain_json_requests() -> Iterator[None]:
    """Read DynamoDB item requests with ``json.loads`` where moto's shape walk reads the same (see module docstring)."""
    original = DynamoHandler.parse_parameters

    def parse_parameters(self: DynamoHandler, request: Any) -> None:
        body = request.data
        action = self._get_action()
        if action not in PLAIN_JSON_OPERATIONS or any(mark in body for mark in LONG_WAY_MARKS):
            return original(self, request)
        try:
            params = json.loads(body) if body else {}
        except ValueError:
            return original(self, request)
        members, integers = _top_level_members(action)
        if not isinstance(params, dict) or not params.keys() <= members:
            return original(self, request)  # the walk drops members it does not know
        if any(not isinstance(params[name], int) for name in integers & params.keys()):
            return original(self, request)  # the walk turns "5" into 5
        self.params = params
        return None

    with replaced(DynamoHandler, "parse_parameters", parse_parameters):
        yield


@contextmanager
def cached_json_paths() -> Iterator[None]:
    """Parse each JSONPath string once for the interpreter's path evaluations (see module docstring)."""
    with (
        replaced(json_path, "parse", functools.lru_cache(maxsize=JSON_PATH_CACHE_SIZE)(json_path.parse)),
        replaced(result_path, "parse", functools.lru_cache(maxsize=JSON_PATH_CACHE_SIZE)(result_path.parse)),
    ):
        yield


class PartitionOrders:
    """Each partition's range keys in order, sorted again only when the partition's keys change.

    moto keeps a partition as a dict from range key to item; an item written over keeps its
    key object and its place, so the tuple of keys is unchanged (compared by identity, in C)
    until a key is added or removed, and the order computed for it still holds. Entries are
    never evicted: one per partition queried, for as long as the patch's context (the engine).
    """

    def __init__(self) -> None:
        # Keyed by the partition's id; each entry holds the partition itself, so that id is
        # never reused by another dict while the entry lives (the patch's context).
        self._orders: dict[int, tuple[dict[Any, Any], tuple[Any, ...], list[Any], list[int]]] = {}

    def reachable(self, partition: dict[Any, Any], start: Any, limit: int | None) -> Iterator[Any] | None:
        """The items after ``start`` (a native range key value, or None), ``limit`` + 1 at most, in order.

        ``None`` when a range key is neither a string nor a number (moto's own order then).
        """
        keys = tuple(partition)
        cached = self._orders.get(id(partition))
        if cached is None or cached[1] != keys:
            if any(key.type not in ("S", "N") for key in keys):
                return None
            values = [key.cast_value for key in keys]
            # Range keys are unique within a partition, so no two values compare equal.
            order = sorted(range(len(keys)), key=values.__getitem__)
            cached = (partition, keys, [values[i] for i in order], order)
            if partition:
                self._orders[id(partition)] = cached
        _, _, ordered_values, order = cached
        first = 0 if start is None else bisect.bisect_right(ordered_values, start)
        stop = None if limit is None else first + limit + 1
        items = list(partition.values())
        return (items[i] for i in itertools.islice(order, first, stop))


def _reachable(table: Table, arguments: dict[str, Any], orders: PartitionOrders) -> Iterator[Any] | None:
    """The partition's items after the start key, ``limit`` + 1 of them; ``None`` when not a plain query."""
    plain = (
        table.range_key_attr is not None
        and arguments.get("hash_key") is not None
        and arguments.get("index_name") is None
        and arguments.get("scan_index_forward", True)
        and not arguments.get("range_comparison")
        and not arguments.get("range_key_conditions")
        and not arguments.get("filter_kwargs")
    )
    if not plain:
        return None
    start = arguments.get("exclusive_start_key")
    start_value = DynamoType(start[table.range_key_attr]).cast_value if start else None
    return orders.reachable(table.items.get(arguments["hash_key"], {}), start_value, arguments.get("limit"))


_TO_PYTHON = TypeDeserializer()
_TO_WIRE = TypeSerializer()


def _project(item: Item, projection: list[list[str]]) -> Item:
    """``Item.project`` for top-level string and number attributes, without its JSON round trip.

    ``Item.project`` turns the whole item into Python values and back; a string comes back as
    it was, a number as boto3 writes it again (``1e2`` -> ``1E+2``), so a number goes through
    the same two conversions here. Any other type or path (nested, list index) is moto's.
    """
    attrs: dict[str, Any] = {}
    for path in projection:
        if len(path) != 1 or "[" in path[0]:
            return item.project(projection)
        value = item.attrs.get(path[0])
        if value is None:
            continue
        if value.type == "S":
            attrs[path[0]] = {"S": value.value}
        elif value.type == "N":
            attrs[path[0]] = _TO_WIRE.serialize(_TO_PYTHON.deserialize({"N": value.value}))
        else:
            return item.project(projection)
    return Item(item.hash_key, item.range_key, attrs)


def _page(table: Table, reachable: Iterable[Any], arguments: dict[str, Any]) -> tuple[list[Any], int, Any]:
    """``Table.query``'s paging, filter and projection for a plain query, over its reachable items.

    The same steps in the same order as moto (``Limit`` and the 1 MB page counted on whole items,
    then the filter, then the projection), without three costs: each item is sized once, not
    twice; a projected page is not deep-copied first (projecting builds new items); and top-level
    string and number attributes are projected directly.
    """
    limit = arguments.get("limit")
    results: list[Any] = []
    size = 0
    last_evaluated_key = None
    for item in reachable:
        item_size = item.size()
        if len(results) == limit or size + item_size > RESULT_SIZE_LIMIT:
            last_evaluated_key = table._get_last_evaluated_key(results[-1], None)
            break
        results.append(item)
        size += item_size
    scanned_count = len(results)
    filter_expression = arguments.get("filter_expression")
    if filter_expression is not None:
        results = [item for item in results if filter_expression.expr(item)]
    projection = arguments.get("projection_expressions")
    if projection:
        return [_project(item, projection) for item in results], scanned_count, last_evaluated_key
    return copy.deepcopy(results), scanned_count, last_evaluated_key


@contextmanager
def partition_queries() -> Iterator[None]:
    """Query only the reachable slice of a partition (see module docstring)."""
    original = Table.query
    signature = inspect.signature(original)

    orders = PartitionOrders()

    def query(self: Table, *args: Any, **kwargs: Any) -> Any:
        arguments = signature.bind(self, *args, **kwargs).arguments
        reachable = _reachable(self, arguments, orders)
        if reachable is None:
            return original(self, *args, **kwargs)
        return _page(self, reachable, arguments)

    with replaced(Table, "query", query):
        yield


def _sized_item_init(self: Item, hash_key: DynamoType, range_key: DynamoType | None, attrs: dict[str, Any]) -> None:
    """moto's ``Item.__init__`` with the item's size summed once, not once per attribute."""
    self.hash_key = hash_key
    self.range_key = range_key
    built: dict[str, DynamoType] = {}
    total = 0
    for key, value in attrs.items():
        built[key] = attribute = DynamoType(value)
        # LimitedSizeDict.__setitem__'s check: the sizes of the attributes so far, this one included.
        total += bytesize(key) + attribute.size()
        if total > MAX_ITEM_BYTES:
            raise ItemSizeTooLarge
    sized = LimitedSizeDict.__new__(LimitedSizeDict)
    dict.__init__(sized, built)
    self.attrs = sized


@contextmanager
def sized_items() -> Iterator[None]:
    """Build DynamoDB items summing their size once (see module docstring)."""
    with replaced(Item, "__init__", _sized_item_init):
        yield


def _value_size(value: DynamoType) -> int:
    """``DynamoType.size`` without re-wrapping: a number's digits, a string's or blob's bytes, 1 for a flag."""
    kind, raw = value.type, value.value
    if kind == "N":
        return len(str(raw))
    if kind == "NS":
        return sum(len(str(member)) for member in raw)
    if kind in ("SS", "BS"):
        return sum(bytesize(member) for member in raw)
    if kind == "L":
        return sum(_value_size(member) for member in raw)
    if kind == "M":
        return sum(
            bytesize(key) + _value_size(member if type(member) is DynamoType else DynamoType(member))
            for key, member in raw.items()
        )
    if isinstance(raw, bool):
        return 1
    return bytesize(raw)


def _item_size(self: Item) -> int:
    return sum(bytesize(key) + _value_size(value) for key, value in self.attrs.items())


@contextmanager
def fast_sizes() -> Iterator[None]:
    """Size attribute values and items without copying them (see module docstring)."""
    with replaced(DynamoType, "size", _value_size), replaced(Item, "size", _item_size):
        yield


@contextmanager
def dynamodb_patches() -> Iterator[None]:
    """The DynamoDB patches together, wherever moto's DynamoDB backend runs (worker or server mode)."""
    with fast_dynamodb_results(), plain_json_requests(), partition_queries(), sized_items(), fast_sizes():
        yield
