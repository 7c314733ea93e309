"""The throughput bench's instruments: the definition's levels, request-unit estimates, the fit, the probe.

``ledgerflow plan`` is only as good as these; each is checked on the real definition, real
botocore sessions against moto, or figures that can be checked by hand.
"""

from __future__ import annotations

import boto3
import pytest
from moto import mock_aws

from bench.throughput import DRIVER, DYNAMODB_SCALING, Probe, definition_levels, fit_levels, request_units
from orchestration.planning.plan import Level
from orchestration.spec.config import load_config
from orchestration.spec.functions import TASK_FUNCTIONS


def test_the_definition_states_fall_into_execution_batch_and_item_levels() -> None:
    levels, functions = definition_levels(load_config("local"))
    assert {s for s, level in levels.items() if level is Level.MAP_ITEM} == {
        "PostToFinance",
        "RecordResult",
        "RecordUnconfirmed",
    }
    assert {s for s, level in levels.items() if level is Level.BATCH} == {
        "CheckGate",
        "IsGateOpen",
        "WaitForGate",
        "GetTransactions",
        "HasWork",
        "PostChunks",
        "MoreWork",
    }
    assert {s for s, level in levels.items() if level is Level.EXECUTION} == {
        "Init",
        "GateClosedTooLong",
        "StartNext",
        "Continued",
        "Summarize",
        "SummarizeUnconfirmed",
    }
    assert functions["GetTransactions"] == "get-transactions" and functions["PostToFinance"] == "post-to-finance"
    assert set(functions.values()) == {spec.name for spec in TASK_FUNCTIONS} == set(DYNAMODB_SCALING)


def small(name: str) -> dict[str, dict[str, str]]:
    return {"pk": {"S": name}, "status": {"S": "pending"}}


@pytest.mark.parametrize(
    ("operation", "params", "parsed", "units"),
    [
        ("GetItem", {}, {"Item": small("a")}, (0.5, 0.0)),
        ("GetItem", {"ConsistentRead": True}, {}, (1.0, 0.0)),
        # 3 keys read strongly, 2 found: 3 * 1 unit (a missing key still costs the minimum).
        (
            "BatchGetItem",
            {"RequestItems": {"t": {"Keys": [{}, {}, {}], "ConsistentRead": True}}},
            {"Responses": {"t": [small("a"), small("b")]}},
            (3.0, 0.0),
        ),
        # 10 small items are one 4 KB read, eventually consistent: 0.5.
        ("Query", {}, {"Items": [small(str(i)) for i in range(10)], "Count": 10, "ScannedCount": 10}, (0.5, 0.0)),
        # A 2,000-byte string: 2 write units of 1 KB.
        ("PutItem", {"Item": {"pk": {"S": "x" * 2000}}}, {}, (0.0, 2.0)),
        ("UpdateItem", {}, {}, (0.0, 1.0)),
        # Transactions cost double: 2 small puts = 4.
        ("TransactWriteItems", {"TransactItems": [{"Put": {"Item": small("a")}}, {"Update": {}}]}, {}, (0.0, 4.0)),
    ],
)
def test_request_units_follow_dynamodb_rules(
    operation: str, params: dict[str, object], parsed: dict[str, object], units: tuple[float, float]
) -> None:
    assert request_units(operation, params, parsed) == units


def test_the_fit_recovers_per_level_figures() -> None:
    # events = 9 + 20 * batches + 17 * items, for executions of different shapes.
    rows = [(b, i, 1.0, 9 + 20 * b + 17 * i) for b, i in ((1, 10), (2, 20), (3, 30), (1, 20), (8, 160))]
    fitted = fit_levels([(float(b), float(i), one, float(y)) for b, i, one, y in rows])
    assert (fitted.per_execution, fitted.per_batch, fitted.per_map_item) == (9.0, 20.0, 17.0)


def test_collinear_cases_are_refused_with_what_to_run() -> None:
    with pytest.raises(ValueError, match="different batch sizes and volumes"):
        fit_levels([(1.0, 10.0, 1.0, 200.0), (2.0, 20.0, 1.0, 390.0)])


def test_the_probe_counts_calls_of_every_new_session_outside_handlers_as_the_driver() -> None:
    probe = Probe({})
    with mock_aws(), probe.installed():
        client = boto3.session.Session(region_name="us-east-1").client("dynamodb")
        client.create_table(
            TableName="t",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        client.put_item(TableName="t", Item=small("a"))
        client.get_item(TableName="t", Key={"pk": {"S": "a"}}, ConsistentRead=True)
    assert probe.calls[DRIVER] == {"CreateTable": 1, "PutItem": 1, "GetItem": 1}
    assert probe.units[DRIVER] == [1.0, 1.0]
