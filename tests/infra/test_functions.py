"""The Lambdas: runtime, tracing, logs, asset contents and least-privilege roles."""

from __future__ import annotations

import json
from typing import Any

import pytest

from orchestration.infra import naming
from orchestration.infra.orchestration_stack import (
    TABLE_READ_ACTIONS,
    TABLE_WRITE_ACTIONS,
    function_environment,
    powertools_layer_arn,
)
from orchestration.spec.config import EnvironmentConfig
from orchestration.spec.functions import FUNCTIONS, FunctionSpec
from orchestration.spec.names import function_name, state_machine_name
from orchestration.spec.tables import ALL_TABLES, GATES
from tests.fixtures.synth import Synthesized
from tests.infra.support import Grant, data_output, flatten, function_roles, resources, role_grants

SPECS = {spec.name: spec for spec in FUNCTIONS}


def function(raw: dict[str, Any], name: str) -> dict[str, Any]:
    (fn,) = [f for f in resources(raw, "AWS::Lambda::Function").values() if f["Properties"]["FunctionName"] == name]
    return fn


def grants_of(synthesized: Synthesized, spec: FunctionSpec) -> set[Grant]:
    raw = synthesized.raw("orchestration")
    return role_grants(raw, function_roles(raw)[function_name(synthesized.config, spec)])


def machine_arns(config: EnvironmentConfig) -> dict[str, str]:
    """``{profile: state machine ARN}`` as the template spells it once flattened."""
    return {
        profile: f"arn:aws:states:{config.region}:${{AWS::AccountId}}:stateMachine:"
        f"{state_machine_name(config, profile)}"
        for profile in config.used_profiles()
    }


def table_of(resource: str) -> str:
    """``arn:aws:dynamodb:eu-west-1:${AWS::AccountId}:table/<name>[/index/x]`` -> ``<name>``."""
    return resource.split(":table/", 1)[1].split("/", 1)[0]


def test_one_function_per_spec(synthesized: Synthesized) -> None:
    raw = synthesized.raw("orchestration")
    names = {f["Properties"]["FunctionName"] for f in resources(raw, "AWS::Lambda::Function").values()}
    assert names == {function_name(synthesized.config, spec) for spec in FUNCTIONS}


@pytest.mark.parametrize("spec", FUNCTIONS, ids=lambda s: s.name)
def test_function_configuration(synthesized: Synthesized, spec: FunctionSpec) -> None:
    config = synthesized.config
    raw = synthesized.raw("orchestration")
    props = function(raw, function_name(config, spec))["Properties"]
    assert props["Runtime"] == "python3.14"
    assert props["Architectures"] == ["arm64"]
    assert props["Handler"] == spec.handler
    assert props["TracingConfig"] == {"Mode": "Active"}
    assert props["Timeout"] == spec.timeout_seconds
    assert props["Layers"] == [powertools_layer_arn(config.region)]
    assert "-arm64:" in props["Layers"][0] and "python314" in props["Layers"][0]
    variables = {name: flatten(value) for name, value in props["Environment"]["Variables"].items()}
    assert variables == function_environment(config, spec, machine_arns(config))
    log_group = resources(raw, "AWS::Logs::LogGroup")[props["LoggingConfig"]["LogGroup"]["Ref"]]
    assert log_group["Properties"]["LogGroupName"] == naming.function_log_group_name(config, spec)
    assert log_group["Properties"]["RetentionInDays"] > 0


def test_finance_settings_only_where_finance_is_called(synthesized: Synthesized) -> None:
    config = synthesized.config
    for spec in FUNCTIONS:
        env = function_environment(config, spec, machine_arns(config))
        assert {
            "GATES_TABLE",
            "RUNS_TABLE",
            "TRANSACTIONS_TABLE",
            "IDEMPOTENCY_TABLE",
            "GATE_AUDIT_TABLE",
        } <= set(env)
        assert ("FINANCE_BASE_URL" in env) is spec.calls_finance
    post = function_environment(config, SPECS["post-to-finance"], machine_arns(config))
    assert post["FINANCE_TOKEN_SECRET_NAME"] == config.finance.token_secret_name
    assert post["FINANCE_TIMEOUT_SECONDS"] == str(config.finance.timeout_seconds)


def test_asset_holds_the_handlers_and_every_process(synthesized: Synthesized) -> None:
    config = synthesized.config
    raw = synthesized.raw("orchestration")
    keys = {f["Properties"]["Code"]["S3Key"] for f in resources(raw, "AWS::Lambda::Function").values()}
    assert len(keys) == 1, "all functions share one code asset"
    asset = synthesized.outdir / f"asset.{keys.pop().removesuffix('.zip')}"
    for spec in FUNCTIONS:
        assert (asset / "lambdas" / f"{spec.module}.py").is_file(), spec.handler
    assert not list(asset.rglob("__pycache__"))
    bundled = json.loads((asset / "lambdas" / "processes.json").read_text())
    assert bundled == {name: s.model_dump(mode="json") for name, s in config.all_settings().items()}
    assert {name: s["retry_profile"] for name, s in bundled.items()} == {
        name: config.profile_name(name) for name in config.processes
    }, "the run trigger picks the state machine from the bundled retry profile"


def test_only_the_run_trigger_gets_the_state_machine_map(synthesized: Synthesized) -> None:
    config = synthesized.config
    for spec in FUNCTIONS:
        env = function_environment(config, spec, machine_arns(config))
        if spec.routes_runs:
            assert json.loads(env["STATE_MACHINE_ARNS"]) == machine_arns(config)
        else:
            assert "STATE_MACHINE_ARNS" not in env, spec.name


@pytest.mark.parametrize("spec", FUNCTIONS, ids=lambda s: s.name)
def test_role_grants_exactly_the_tables_of_the_spec(synthesized: Synthesized, spec: FunctionSpec) -> None:
    config = synthesized.config
    grants = grants_of(synthesized, spec)
    actual = {(g.action, table_of(g.resource)) for g in grants if ":table/" in g.resource}
    expected = {(a, t.table_name(config)) for t in spec.reads for a in TABLE_READ_ACTIONS}
    expected |= {(a, t.table_name(config)) for t in spec.writes for a in TABLE_WRITE_ACTIONS}
    expected |= {("dynamodb:Query", t.table_name(config)) for t in spec.reads for _ in t.indexes}
    assert actual == expected
    index_grants = {g.resource for g in grants if "/index/" in g.resource}
    assert all(g.action == "dynamodb:Query" for g in grants if g.resource in index_grants)


@pytest.mark.parametrize("spec", FUNCTIONS, ids=lambda s: s.name)
def test_role_has_nothing_else(synthesized: Synthesized, spec: FunctionSpec) -> None:
    config = synthesized.config
    grants = grants_of(synthesized, spec)
    raw = synthesized.raw("orchestration")
    own_log_group = function(raw, function_name(config, spec))["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
    services = {g.action.split(":")[0] for g in grants}
    allowed = {"logs", "xray"} | ({"dynamodb", "kms"} if spec.reads or spec.writes or spec.stream_source else set())
    allowed |= {"states"} if spec.starts_executions else set()
    allowed |= {"sqs"} if spec.stream_source else set()
    allowed |= {"secretsmanager"} if spec.calls_finance and config.finance.token_secret_name else set()
    assert services == allowed
    assert {g.action for g in grants if g.resource == "*"} <= {
        "xray:PutTraceSegments",
        "xray:PutTelemetryRecords",
    }
    assert not [g for g in grants if "*" in g.action], "wildcard actions"
    for grant in grants:
        if grant.action.startswith("logs:"):
            assert grant.resource == f"${{{own_log_group}.Arn}}", "logs only to its own log group"
            assert grant.action in {"logs:CreateLogStream", "logs:PutLogEvents"}
        if grant.action.startswith("kms:"):
            assert "kms:ViaService" in grant.condition
            assert grant.resource.startswith(data_output(config)), "the table key, published by the data stack"
            if not spec.writes:
                assert grant.action in {"kms:Decrypt", "kms:DescribeKey"}
        if grant.action.startswith("dynamodb:"):
            assert ":table/" in grant.resource or (spec.stream_source and "StreamArn" in grant.resource)


def test_get_transactions_cannot_write(synthesized: Synthesized) -> None:
    grants = grants_of(synthesized, SPECS["get-transactions"])
    assert not [g for g in grants if g.action in TABLE_WRITE_ACTIONS or g.action == "kms:Encrypt"]


def test_record_result_cannot_touch_the_gates_table(synthesized: Synthesized) -> None:
    gates = GATES.table_name(synthesized.config)
    grants = grants_of(synthesized, SPECS["record-result"])
    assert not [g for g in grants if gates in g.resource]


def test_only_start_next_and_start_run_start_executions_on_the_known_state_machines(
    synthesized: Synthesized,
) -> None:
    config = synthesized.config
    assert {spec.name for spec in FUNCTIONS if spec.starts_executions} == {"start-next", "start-run"}
    for spec in FUNCTIONS:
        starts = {g.resource for g in grants_of(synthesized, spec) if g.action.startswith("states:")}
        if spec.starts_executions:
            assert {r.rsplit(":", 1)[1] for r in starts} == {
                state_machine_name(config, p) for p in config.used_profiles()
            }
            assert all(":states:" in r and ":stateMachine:" in r for r in starts)
        else:
            assert not starts, spec.name


def test_only_the_functions_that_call_finance_read_the_token_secret(synthesized: Synthesized) -> None:
    secret = synthesized.config.finance.token_secret_name
    for spec in FUNCTIONS:
        reads = {g for g in grants_of(synthesized, spec) if g.action.startswith("secretsmanager:")}
        if spec.calls_finance:
            assert {(g.action, g.resource.rsplit(":secret:", 1)[1]) for g in reads} == {
                ("secretsmanager:GetSecretValue", f"{secret}-??????")
            }
        else:
            assert not reads, spec.name


def dynamodb_tables(params: dict[str, Any]) -> set[str]:
    """The tables one DynamoDB request names: its TableName, or the keys of a batch's RequestItems."""
    if "TableName" in params:
        return {str(params["TableName"])}
    return {str(name) for name in params.get("RequestItems", {})}


def test_every_dynamodb_call_the_handlers_make_is_granted_on_aws(synthesized: Synthesized) -> None:
    """moto enforces no IAM: run the integration locally, note each handler's (operation, table), and
    check the deployed role of that function allows every one (a missing BatchWriteItem would pass
    every local test and fail on AWS)."""
    import threading

    from botocore.client import BaseClient

    from orchestration.engine.lambda_runtime import LocalLambdaRuntime
    from orchestration.run.runner import run_local
    from orchestration.spec.config import load_config

    local = load_config("local")
    # Small chunks, and overloads that go straight to the Catch path (RecordResult, whose
    # lookups are not retried either), so every handler runs in one short integration.
    standard = local.retry_profiles["standard"]
    no_retry = standard.model_copy(
        update={
            "overloaded": standard.overloaded.model_copy(update={"max_attempts": 0}),
            "unavailable": standard.unavailable.model_copy(update={"max_attempts": 0}),
        }
    )
    local = local.model_copy(
        update={
            "retry_profiles": {**local.retry_profiles, "standard": no_retry},
            "defaults": local.defaults.model_copy(update={"chunk_size": 5}),
        }
    )
    spec_of = {function_name(local, spec): spec for spec in FUNCTIONS}
    table_spec = {table.table_name(local): table for table in ALL_TABLES}
    running = threading.local()
    made: set[tuple[str, str, str]] = set()
    lock = threading.Lock()

    make_api_call = BaseClient._make_api_call  # type: ignore[attr-defined]  # botocore's dispatch of every client

    def noting(client: BaseClient, operation: str, params: dict[str, Any]) -> Any:
        """Every client, whatever session built it (the handlers cache theirs across tests)."""
        spec = getattr(running, "spec", None)
        if spec is not None and client.meta.service_model.service_name == "dynamodb":
            with lock:
                made.update((spec.name, f"dynamodb:{operation}", t) for t in dynamodb_tables(params))
        return make_api_call(client, operation, params)

    original = LocalLambdaRuntime.invoke

    def invoke(runtime: LocalLambdaRuntime, name: str, payload: Any) -> tuple[bytes, bool]:
        running.spec = spec_of.get(name)
        try:
            return original(runtime, name, payload)
        finally:
            running.spec = None

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(LocalLambdaRuntime, "invoke", invoke)
        patch.setattr(BaseClient, "_make_api_call", noting)
        faults = "malformed=0.3,crash_after_post=1,overload=0.5"
        report = run_local(local, processes=["payroll_journal"], transactions=60, faults=faults, seed=5)
    assert report.posted and report.rejected and report.evidence.crashes
    functions = {name for name, _, _ in made}
    assert {"get-transactions", "post-to-finance", "record-result", "summarize"} <= functions
    config = synthesized.config
    missing = []
    by_name = {spec.name: spec for spec in FUNCTIONS}
    for function, action, table in sorted(made):
        grants = grants_of(synthesized, by_name[function])
        granted = {(g.action, table_of(g.resource)) for g in grants if ":table/" in g.resource}
        if (action, table_spec[table].table_name(config)) not in granted:
            missing.append(f"{function}: {action} on {table_spec[table].suffix}")
    assert missing == []
