"""The ASL file renders from the config, and its Retry/Catch names match the handlers' errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from lambdas import errors, finance_client
from lambdas.finance_client import TRANSIENT_ERRORS
from lambdas.models import ProcessSettings, RunState
from orchestration.spec.asl import (
    PROCESS_TRANSACTIONS,
    DefinitionError,
    placeholders,
    render,
    retry_substitutions,
    substitutions,
)
from orchestration.spec.config import EnvironmentConfig
from orchestration.spec.functions import FUNCTIONS, TASK_FUNCTIONS, FunctionSpec, InvokedBy
from orchestration.spec.names import state_machine_name
from orchestration.spec.tables import ALL_TABLES, RUNS

PROFILE = "standard"
CRASH_ERRORS = {"Runtime.ExitError", "Sandbox.Timedout", "Lambda.Unknown"}
"""What the Lambda service reports when a function dies mid-invocation; PostToFinance retries them."""
LAMBDA_SERVICE_ERRORS = {
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
}


def fake_arns() -> dict[str, str]:
    return {spec.name: f"arn:aws:lambda:us-east-1:123456789012:function:unit-{spec.name}" for spec in FUNCTIONS}


@pytest.fixture
def values(config: EnvironmentConfig) -> dict[str, str]:
    return substitutions(config, PROFILE, fake_arns())


@pytest.fixture
def definition(values: dict[str, str]) -> dict[str, Any]:
    return render(PROCESS_TRANSACTIONS, values)


def all_states(states: dict[str, Any]) -> dict[str, Any]:
    """Every state, including those inside Map item processors."""
    found: dict[str, Any] = {}
    for name, state in states.items():
        found[name] = state
        processor = state.get("ItemProcessor") or state.get("Iterator")
        if processor:
            found.update(all_states(processor["States"]))
    return found


def test_render_names_a_missing_placeholder(values: dict[str, str]) -> None:
    del values["PostToFinanceFunctionArn"]
    with pytest.raises(DefinitionError) as raised:
        render(PROCESS_TRANSACTIONS, values)
    assert PROCESS_TRANSACTIONS.name in str(raised.value)
    assert "PostToFinanceFunctionArn" in str(raised.value)


def test_render_names_an_unused_substitution(values: dict[str, str]) -> None:
    with pytest.raises(DefinitionError) as raised:
        render(PROCESS_TRANSACTIONS, {**values, "NoSuchPlaceholder": "1"})
    assert PROCESS_TRANSACTIONS.name in str(raised.value)
    assert "NoSuchPlaceholder" in str(raised.value)


def test_render_rejects_a_substitution_that_breaks_json(values: dict[str, str]) -> None:
    with pytest.raises(DefinitionError, match="not valid JSON"):
        render(PROCESS_TRANSACTIONS, {**values, "ThrottledMaxAttempts": "three"})


def test_render_of_a_file_without_placeholders(tmp_path: Path) -> None:
    path = tmp_path / "plain.asl.json"
    plain = {"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}}
    path.write_text(json.dumps(plain))
    assert render(path, {}) == plain


def test_substitutions_cover_exactly_the_placeholders(values: dict[str, str]) -> None:
    assert set(values) == placeholders(PROCESS_TRANSACTIONS.read_text())


def test_every_task_invokes_a_substituted_function(definition: dict[str, Any]) -> None:
    arns = {fake_arns()[spec.name] for spec in TASK_FUNCTIONS}
    invoked = set()
    for state in all_states(definition["States"]).values():
        if state["Type"] == "Task":
            params = state["Parameters"]
            assert params["FunctionName"] in arns
            invoked.add(params["FunctionName"])
    assert invoked == arns


def test_functions_outside_the_asl_are_stream_triggered_and_never_in_the_definition(
    definition: dict[str, Any],
) -> None:
    outside = [spec for spec in FUNCTIONS if spec.placeholder is None]
    assert [spec.name for spec in outside] == ["start-run"]
    streams = {table for table in ALL_TABLES if table.stream_view}
    text = json.dumps(definition)
    for spec in outside:
        assert spec.stream_source in streams, f"{spec.name}: its source table declares no stream"
        assert fake_arns()[spec.name] not in text
    assert {spec.placeholder for spec in TASK_FUNCTIONS} <= placeholders(PROCESS_TRANSACTIONS.read_text())


@pytest.mark.parametrize(
    ("invoked_by", "invocation", "named"),
    [
        (InvokedBy.STATE_MACHINE, {}, "an ASL placeholder"),
        (InvokedBy.SCHEDULE, {"placeholder": "XFunctionArn"}, "an ASL placeholder"),
        (InvokedBy.STREAM, {}, "a stream source"),
        (InvokedBy.STATE_MACHINE, {"placeholder": "XFunctionArn", "stream_source": RUNS}, "a stream source"),
    ],
    ids=["task-without-placeholder", "schedule-with-placeholder", "stream-without-source", "task-with-stream"],
)
def test_a_function_has_what_invokes_it_and_nothing_else(
    invoked_by: InvokedBy, invocation: dict[str, Any], named: str
) -> None:
    with pytest.raises(ValueError, match=f"function x: {named} exactly when"):
        FunctionSpec("x", "x", invoked_by, **invocation)


def test_map_concurrency_comes_from_the_process_settings(definition: dict[str, Any]) -> None:
    post_chunks = definition["States"]["PostChunks"]
    assert post_chunks["Type"] == "Map"
    assert post_chunks["MaxConcurrencyPath"] == "$.settings.max_concurrency"
    assert "MaxConcurrency" not in post_chunks
    assert "max_concurrency" in ProcessSettings.model_fields
    assert "settings" in RunState.model_fields


def test_paths_into_settings_name_real_fields(definition: dict[str, Any]) -> None:
    text = json.dumps(definition)
    referenced = {part.split('"')[0] for part in text.split("$.settings.")[1:]}
    assert referenced
    assert referenced <= set(ProcessSettings.model_fields)


def test_post_to_finance_retries_exactly_the_transient_errors(definition: dict[str, Any]) -> None:
    post = all_states(definition["States"])["PostToFinance"]
    names = {name for retrier in post["Retry"] for name in retrier["ErrorEquals"]}
    assert names - LAMBDA_SERVICE_ERRORS - CRASH_ERRORS == {*TRANSIENT_ERRORS, errors.OutcomeNotRecorded.__name__}
    for name in TRANSIENT_ERRORS:
        cls = getattr(finance_client, name)
        assert issubclass(cls, finance_client.FinanceError)
        assert cls.__name__ == name
    assert "FinanceRejected" not in names
    [recording] = [r for r in post["Retry"] if r["ErrorEquals"] == [errors.OutcomeNotRecorded.__name__]]
    assert recording["MaxAttempts"] >= 1, "a post whose outcome could not be written is retried"


def test_post_to_finance_retry_values_come_from_the_profile(
    config: EnvironmentConfig, definition: dict[str, Any]
) -> None:
    profile = config.retry_profiles[PROFILE]
    post = all_states(definition["States"])["PostToFinance"]
    by_error = {name: retrier for retrier in post["Retry"] for name in retrier["ErrorEquals"]}
    expected = {
        "FinanceThrottled": profile.throttled,
        "FinanceOverloaded": profile.overloaded,
        "FinanceUnavailable": profile.unavailable,
        "FinanceTimeout": profile.unavailable,
    }
    for error, rule in expected.items():
        retrier = by_error[error]
        assert retrier["IntervalSeconds"] == rule.interval_seconds
        assert retrier["BackoffRate"] == rule.backoff_rate
        assert retrier["MaxAttempts"] == rule.max_attempts
        assert retrier["MaxDelaySeconds"] == rule.max_delay_seconds
        assert retrier["JitterStrategy"] == "FULL"


def test_post_to_finance_failure_always_reaches_record_result(definition: dict[str, Any]) -> None:
    post = all_states(definition["States"])["PostToFinance"]
    assert post["Catch"] == [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.failure", "Next": "RecordResult"}]
    assert post["End"] is True and "Next" not in post


def test_a_map_item_is_one_task_that_carries_only_ids(definition: dict[str, Any]) -> None:
    """Transform, post and record run in one invocation: one transition per item on the success
    path, and the item's state (the ids; the task's result is dropped) stays small."""
    post_chunks = definition["States"]["PostChunks"]
    processor = post_chunks["ItemProcessor"]
    assert processor["StartAt"] == "PostToFinance"
    post = processor["States"]["PostToFinance"]
    assert post["Parameters"]["Payload"] == {
        "process.$": "$.process",
        "run_id.$": "$.run_id",
        "ids.$": "$.ids",
        "retry_count.$": "$$.State.RetryCount",
    }
    assert post["ResultPath"] is None and post_chunks["ResultPath"] is None


def test_finance_lookups_wait_one_unavailable_budget_then_record_without_confirmation(
    config: EnvironmentConfig, definition: dict[str, Any]
) -> None:
    """RecordResult and Summarize raise the finance errors when they cannot confirm a lost answer:
    retried on the unavailable profile without jitter, then caught into a state that records
    without the lookup (the same function, told why through ``unconfirmed``)."""
    rule = config.retry_profiles[PROFILE].unavailable
    states = all_states(definition["States"])
    for task, fallback in (("RecordResult", "RecordUnconfirmed"), ("Summarize", "SummarizeUnconfirmed")):
        state = states[task]
        [retrier] = [r for r in state["Retry"] if set(r["ErrorEquals"]) == set(TRANSIENT_ERRORS)]
        assert (retrier["IntervalSeconds"], retrier["BackoffRate"]) == (rule.interval_seconds, rule.backoff_rate)
        assert (retrier["MaxAttempts"], retrier["MaxDelaySeconds"]) == (rule.max_attempts, rule.max_delay_seconds)
        assert "JitterStrategy" not in retrier
        [catcher] = state["Catch"]
        assert set(catcher["ErrorEquals"]) == {*TRANSIENT_ERRORS, "FinanceRejected"}
        assert (catcher["ResultPath"], catcher["Next"]) == ("$.unconfirmed", fallback)
        assert states[fallback]["Parameters"] == state["Parameters"]
        assert "Catch" not in states[fallback]


def test_gate_timeout_is_caught_by_the_handler_error_name(definition: dict[str, Any]) -> None:
    check = definition["States"]["CheckGate"]
    caught = {name for catcher in check["Catch"] for name in catcher["ErrorEquals"]}
    assert errors.GateClosedTooLong.__name__ in caught


def test_retry_substitutions_are_json_numbers(config: EnvironmentConfig) -> None:
    for key, value in retry_substitutions(config.retry_profiles[PROFILE]).items():
        assert isinstance(json.loads(value), int | float), key


def test_state_machine_name(config: EnvironmentConfig) -> None:
    assert state_machine_name(config, PROFILE) == config.resource_name(f"process-{PROFILE}")


def transitions(state: dict[str, Any]) -> set[str]:
    targets = {state[key] for key in ("Next", "Default") if key in state}
    targets |= {choice["Next"] for choice in state.get("Choices", [])}
    targets |= {catcher["Next"] for catcher in state.get("Catch", [])}
    return targets


def check_scope(scope: dict[str, Any]) -> None:
    states = scope["States"]
    assert scope["StartAt"] in states
    reachable, todo = set(), [scope["StartAt"]]
    while todo:
        name = todo.pop()
        if name in reachable:
            continue
        reachable.add(name)
        targets = transitions(states[name])
        assert targets <= set(states), f"{name} goes to an unknown state: {targets - set(states)}"
        todo += targets
        if "ItemProcessor" in states[name]:
            check_scope(states[name]["ItemProcessor"])
    assert reachable == set(states), f"unreachable states: {set(states) - reachable}"


def test_every_transition_names_a_state_and_every_state_is_reachable(definition: dict[str, Any]) -> None:
    check_scope(definition)
