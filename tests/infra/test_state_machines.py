"""The process_transactions state machines: S3 definition, exact substitutions, logging, tracing."""

from __future__ import annotations

from typing import Any

import pytest
from aws_cdk.assertions import Match

from orchestration.spec.asl import PROCESS_TRANSACTIONS, placeholders, render
from orchestration.spec.functions import FUNCTIONS, TASK_FUNCTIONS
from orchestration.spec.names import function_name, state_machine_name
from tests.fixtures.synth import Synthesized
from tests.infra.support import resources, role_grants


def substitution_mismatch(substitution_keys: set[str], wanted: set[str]) -> list[str]:
    """Problems naming each missing or unused placeholder (empty when they match exactly)."""
    problems = [f"placeholder ${{{name}}} has no substitution" for name in sorted(wanted - substitution_keys)]
    problems += [f"substitution {name} is not used by the definition" for name in sorted(substitution_keys - wanted)]
    return problems


def state_machines(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        sm["Properties"]["StateMachineName"]: sm
        for sm in resources(template, "AWS::StepFunctions::StateMachine").values()
    }


def test_one_standard_state_machine_per_used_retry_profile(synthesized: Synthesized) -> None:
    config = synthesized.config
    machines = state_machines(synthesized.raw("orchestration"))
    assert sorted(machines) == sorted(state_machine_name(config, p) for p in config.used_profiles())
    for machine in machines.values():
        assert machine["Properties"]["StateMachineType"] == "STANDARD"


def test_definition_is_an_s3_asset_of_the_asl_file(synthesized: Synthesized) -> None:
    for name, machine in state_machines(synthesized.raw("orchestration")).items():
        props = machine["Properties"]
        assert "DefinitionString" not in props, f"{name}: definition inlined in the template"
        key = props["DefinitionS3Location"]["Key"]
        asset = synthesized.outdir / f"asset.{key}"
        assert asset.read_text() == PROCESS_TRANSACTIONS.read_text(), f"{name}: S3 asset differs from the ASL file"


def test_substitutions_match_the_placeholders_exactly(synthesized: Synthesized) -> None:
    wanted = placeholders(PROCESS_TRANSACTIONS.read_text())
    for name, machine in state_machines(synthesized.raw("orchestration")).items():
        keys = set(machine["Properties"]["DefinitionSubstitutions"])
        problems = substitution_mismatch(keys, wanted)
        assert not problems, f"{name}: " + "; ".join(problems)


def test_mismatch_names_the_placeholder() -> None:
    wanted = placeholders(PROCESS_TRANSACTIONS.read_text())
    keys = (wanted - {"RecordResultFunctionArn"}) | {"ObsoleteArn"}
    problems = substitution_mismatch(keys, wanted)
    assert problems == [
        "placeholder ${RecordResultFunctionArn} has no substitution",
        "substitution ObsoleteArn is not used by the definition",
    ]


def test_substitutions_render_to_valid_asl_with_the_profile_retry_values(synthesized: Synthesized) -> None:
    config = synthesized.config
    template = synthesized.raw("orchestration")
    functions = resources(template, "AWS::Lambda::Function")
    for profile in config.used_profiles():
        subs = state_machines(template)[state_machine_name(config, profile)]["Properties"]["DefinitionSubstitutions"]
        for spec in TASK_FUNCTIONS:
            logical_id = subs[str(spec.placeholder)]["Fn::GetAtt"][0]
            assert functions[logical_id]["Properties"]["FunctionName"] == function_name(config, spec)
        rendered = render(
            PROCESS_TRANSACTIONS,
            {
                key: (f"arn:aws:lambda:eu-west-1:123456789012:function:{key}" if isinstance(v, dict) else v)
                for key, v in subs.items()
            },
        )
        post = rendered["States"]["PostChunks"]["ItemProcessor"]["States"]["PostToFinance"]
        throttled = next(r for r in post["Retry"] if r["ErrorEquals"] == ["FinanceThrottled"])
        rule = config.retry_profiles[profile].throttled
        assert (throttled["MaxAttempts"], throttled["IntervalSeconds"]) == (
            rule.max_attempts,
            rule.interval_seconds,
        )


def test_logging_all_and_tracing(synthesized: Synthesized) -> None:
    template = synthesized.template("orchestration")
    template.all_resources_properties(
        "AWS::StepFunctions::StateMachine",
        {
            "LoggingConfiguration": Match.object_like({"Level": "ALL", "IncludeExecutionData": False}),
            "TracingConfiguration": {"Enabled": True},
        },
    )
    raw = synthesized.raw("orchestration")
    log_groups = resources(raw, "AWS::Logs::LogGroup")
    for machine in state_machines(raw).values():
        (destination,) = machine["Properties"]["LoggingConfiguration"]["Destinations"]
        group = log_groups[destination["CloudWatchLogsLogGroup"]["LogGroupArn"]["Fn::GetAtt"][0]]
        assert group["Properties"]["LogGroupName"].startswith("/aws/vendedlogs/states/")
        assert group["Properties"]["RetentionInDays"] > 0


@pytest.mark.parametrize("profile", ["standard", "patient"])
def test_state_machine_role_invokes_exactly_the_task_functions(synthesized: Synthesized, profile: str) -> None:
    raw = synthesized.raw("orchestration")
    machine = state_machines(raw)[state_machine_name(synthesized.config, profile)]
    grants = role_grants(raw, machine["Properties"]["RoleArn"]["Fn::GetAtt"][0])
    invoked = {g.resource for g in grants if g.action == "lambda:InvokeFunction"}
    task_names = {function_name(synthesized.config, spec) for spec in TASK_FUNCTIONS}
    functions = resources(raw, "AWS::Lambda::Function")
    expected = {f"${{{lid}.Arn}}" for lid, fn in functions.items() if fn["Properties"]["FunctionName"] in task_names}
    assert invoked == expected
    assert len(expected) == len(TASK_FUNCTIONS) < len(FUNCTIONS), "the run trigger is no task: no invoke grant"
    assert all(not r.endswith(":*") for r in invoked), "grant_invoke-style '<arn>:*' found"
    wildcard_actions = {g.action.split(":")[0] for g in grants if g.resource == "*"}
    assert wildcard_actions <= {"logs", "xray"}, "only log delivery and X-Ray may use Resource '*'"
