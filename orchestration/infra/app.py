"""Build the ledgerflow CDK app for one environment configuration."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from aws_cdk import App, Environment, Tags, Validations
from cdk_nag import AwsSolutionsChecks

from lambdas.names import SERVICE
from orchestration.infra.assets import stage_lambda_code
from orchestration.infra.data_stack import DataStack
from orchestration.infra.monitoring_stack import MonitoringStack
from orchestration.infra.orchestration_stack import OrchestrationStack
from orchestration.spec.config import EnvironmentConfig, load_config
from orchestration.spec.resources import CHECKOUT_ROOT
from orchestration.spec.tables import ALL_TABLES

DEFAULT_ENVIRONMENT = "dev"
ENV_CONTEXT_KEY = "env"
# What the cdk CLI adds by default (cdk.json turns version reporting off): an app built here for
# tests or the bench synthesizes the same templates, bytes included.
CLI_DEFAULT_CONTEXT = {"aws:cdk:enable-path-metadata": True, "aws:cdk:enable-asset-metadata": True}
CDK_JSON = CHECKOUT_ROOT / "cdk.json"
"""The project's cdk.json: its context holds the feature flags ``cdk init`` writes for the pinned aws-cdk-lib."""


def project_context() -> dict[str, Any]:
    """The context of the project's cdk.json (feature flags included), so an app built without the cdk CLI
    (``make synth``, the tests, the bench) synthesizes what ``cdk synth`` does; empty outside a checkout."""
    if not CDK_JSON.is_file():
        return {}
    context: dict[str, Any] = json.loads(CDK_JSON.read_text()).get("context", {})
    return context


def config_from_context(app: App) -> EnvironmentConfig:
    """The configuration named by ``-c env=<name>`` (default ``dev``)."""
    env = app.node.try_get_context(ENV_CONTEXT_KEY) or DEFAULT_ENVIRONMENT
    return load_config(str(env), argument=f"-c {ENV_CONTEXT_KEY}")


class LedgerflowStacks:
    """The three stacks of one environment, typed for callers (tests, bench)."""

    def __init__(self, app: App, config: EnvironmentConfig, *, code_dir: Path) -> None:
        env = Environment(account=config.account, region=config.region)
        # Minified templates: CloudFormation counts the bytes it receives (51,200 inline).
        common: dict[str, Any] = {"env": env, "config": config, "suppress_template_indentation": True}
        self.data = DataStack(
            app,
            config.resource_name("data"),
            stack_name=config.resource_name("data"),
            description=f"ledgerflow {config.environment}: DynamoDB tables and their KMS key",
            **common,
            termination_protection=config.retain_data,
        )
        self.orchestration = OrchestrationStack(
            app,
            config.resource_name("orchestration"),
            stack_name=config.resource_name("orchestration"),
            description=f"ledgerflow {config.environment}: Lambdas and process_transactions state machines",
            **common,
            code_dir=code_dir,
            table_key=self.data.table_key,
            stream_arns={spec: self.data.stream_arn(spec) for spec in ALL_TABLES if spec.stream_view},
        )
        # Table ARNs are built from their names, not imported: order the deployment explicitly.
        self.orchestration.add_stack_dependency(self.data)
        self.monitoring = MonitoringStack(
            app,
            config.resource_name("monitoring"),
            stack_name=config.resource_name("monitoring"),
            description=f"ledgerflow {config.environment}: alarm catalog, health check and notifications",
            **common,
            code_dir=code_dir,
            table_key=self.data.table_key,
        )
        self.monitoring.add_stack_dependency(self.orchestration)


def build_app(config: EnvironmentConfig, *, app: App | None = None, outdir: str | None = None) -> App:
    """Add the stacks of ``config`` to ``app`` (a new one by default) with cdk-nag AwsSolutions checks.

    Any unacknowledged AwsSolutions finding makes ``app.synth()`` fail.
    """
    return build_stacks(config, app=app, outdir=outdir)[0]


def build_stacks(
    config: EnvironmentConfig, *, app: App | None = None, outdir: str | None = None
) -> tuple[App, LedgerflowStacks]:
    if app is None:
        app = App(outdir=outdir, context=CLI_DEFAULT_CONTEXT | project_context())
    stacks = LedgerflowStacks(app, config, code_dir=stage_lambda_code(config))
    Tags.of(app).add("project", SERVICE)
    Tags.of(app).add("environment", config.environment)
    Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    return app, stacks
