"""cdk-nag, cfn-lint, scale limits and the app entry point."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import aws_cdk
import pytest
from aws_cdk import App, Validations
from cdk_nag import AwsSolutionsChecks

from orchestration.infra.app import config_from_context, project_context
from orchestration.infra.assets import stage_lambda_code
from orchestration.infra.scale import MONITORING_SUFFIX, scaled_config, synth_sizes
from orchestration.spec.config import ConfigError, EnvironmentConfig
from tests.fixtures.synth import Synthesized


def test_cdk_nag_aws_solutions_has_no_unacknowledged_finding(synthesized: Synthesized) -> None:
    report = AwsSolutionsChecks().validate_scope(synthesized.app)
    findings = [
        f"{v.rule_name}: {', '.join(str(r.construct_path) for r in v.violating_resources)}" for v in report.violations
    ]
    assert report.success, "\n".join(findings)


# The only acknowledgements allowed, each at the narrowest construct: a role policy's AWS-required
# wildcards (X-Ray, vended log delivery), and SQS3 on the queue that is itself the trigger's DLQ.
NARROW_ACKNOWLEDGEMENTS = (
    ("AwsSolutions-IAM5[Resource::*]", "/DefaultPolicy"),
    ("AwsSolutions-SQS3", "/StartRunTrigger/DeadLetterQueue/Resource"),
)


def test_every_acknowledgement_is_narrow_with_a_reason(synthesized: Synthesized) -> None:
    key = Validations.ACKNOWLEDGED_RULES_METADATA_KEY
    acknowledged = []
    for construct in synthesized.app.node.find_all():
        for entry in construct.node.metadata:
            if entry.type == key:
                acknowledged += [(construct.node.path, rule, reason) for rule, reason in entry.data.items()]
    assert acknowledged, "expected the X-Ray / log-delivery wildcard acknowledgements"
    for path, rule, reason in acknowledged:
        scopes = [suffix for finding, suffix in NARROW_ACKNOWLEDGEMENTS if rule.endswith(finding)]
        assert scopes, (path, rule)
        assert path.endswith(scopes[0]), f"{path}: acknowledge {rule} at {scopes[0]}, not a wider scope"
        assert len(str(reason)) > 40, (path, rule, reason)
    assert sum(rule.endswith("AwsSolutions-SQS3") for _, rule, _ in acknowledged) == 1


# W3005 "dependency already enforced by a GetAtt": CDK adds an explicit DependsOn on the role of
# every Lambda and state machine next to the GetAtt of its ARN. Redundant, harmless, not ours.
CFN_LINT_IGNORED = ("W3005",)


def cfn_lint() -> str:
    local = Path(sys.executable).with_name("cfn-lint")
    found = str(local) if local.exists() else shutil.which("cfn-lint")
    if found is None:
        pytest.fail("cfn-lint is not installed (pip install -e '.[dev]')")
    return found


def test_cfn_lint_is_clean(synthesized: Synthesized) -> None:
    files = [str(p) for p in synthesized.template_files()]
    assert len(files) == 3
    command = [cfn_lint(), "--ignore-checks", *CFN_LINT_IGNORED, "--", *files]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_200_processes_add_only_two_alarms_each_to_the_monitoring_stack(
    dev_config: EnvironmentConfig, synthesized: Synthesized, tmp_path: Path
) -> None:
    rows = synth_sizes(scaled_config(dev_config, 200), outdir=tmp_path)
    assert len(rows) == 3
    for row in rows:
        assert row.within_limits, (row, row.limits)
        baseline = json.loads((synthesized.outdir / f"{row.stack}.template.json").read_text())
        added = row.resources - len(baseline["Resources"])
        if row.stack.endswith(MONITORING_SUFFIX):
            assert added == 2 * (200 - len(dev_config.processes)), "two alarms per process"
        else:
            assert added == 0, f"{row.stack}: processes changed the resource count"


def test_env_from_context() -> None:
    assert config_from_context(App()).environment == "dev"
    assert config_from_context(App(context={"env": "local"})).environment == "local"
    with pytest.raises(ConfigError, match="no such environment"):
        config_from_context(App(context={"env": "nope"}))


def test_staging_is_deterministic_and_clean(dev_config: EnvironmentConfig, tmp_path: Path) -> None:
    first = stage_lambda_code(dev_config, staging_root=tmp_path)
    assert stage_lambda_code(dev_config, staging_root=tmp_path) == first
    assert (first / "lambdas" / "processes.json").is_file()
    assert not list(first.rglob("*.pyc"))
    other = stage_lambda_code(scaled_config(dev_config, 5), staging_root=tmp_path)
    assert other != first
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([first.name, other.name])


def _recommended_flags() -> dict[str, object]:
    """The feature flags the installed aws-cdk-lib recommends (what ``cdk init`` writes into cdk.json)."""
    bundle = next((Path(aws_cdk.__file__).parent / "_jsii").glob("aws-cdk-lib@*.jsii.tgz"))
    with tarfile.open(bundle) as archive:
        member = archive.extractfile("package/recommended-feature-flags.json")
        assert member is not None
        flags: dict[str, object] = json.load(member)
    return flags


def test_cdk_json_sets_every_recommended_feature_flag_of_the_pinned_cdk() -> None:
    recommended = _recommended_flags()
    context = project_context()
    assert recommended, "aws-cdk-lib ships its recommended flags"
    assert {flag: context.get(flag) for flag in recommended} == recommended


def test_the_synthesized_app_runs_with_the_projects_feature_flags(synthesized: Synthesized) -> None:
    """Tests, make synth and cdk synth synthesize one app: the flags of cdk.json are in its context."""
    for flag, value in _recommended_flags().items():
        assert synthesized.app.node.try_get_context(flag) == value, flag
