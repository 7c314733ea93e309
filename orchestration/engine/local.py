"""The embedded local engine: tables, state machines and Lambda tasks, on this machine.

It provisions from the same sources as the CDK app (``orchestration.spec.tables``,
``orchestration.spec.functions``, the ASL files and the environment config) inside moto, with
Step Functions execution turned on: either moto's in-process mock (``ledgerflow run
--local``, the tests), its DynamoDB in a worker process beside this one
(``orchestration.engine.dynamodb_worker``), or moto's server mode on 127.0.0.1 (``ledgerflow
local serve``), where other processes (the CLI, the AWS CLI) reach the same system through an
endpoint URL.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import urllib.request
import warnings
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import boto3
from moto import mock_aws
from moto.core.config import DefaultConfig
from moto.server import ThreadedMotoServer

from lambdas import container
from lambdas.alarm_notifier import NOTIFICATION_TOPIC_ENV
from lambdas.names import NAMESPACE, SERVICE
from lambdas.observability import metrics
from lambdas.settings import PROCESSES_FILE_ENV
from lambdas.start_run import start_first_execution
from orchestration.engine.cloudwatch import MetricStore
from orchestration.engine.dynamodb_worker import dynamodb_in_worker, in_worker_config
from orchestration.engine.lambda_runtime import InvocationStats, LocalLambdaRuntime
from orchestration.engine.metrics_capture import isolated_metrics, store_sink
from orchestration.engine.monitor import LocalMonitor
from orchestration.engine.moto_patch import (
    atomic_requests,
    atomic_server,
    cached_json_paths,
    dynamodb_patches,
    in_process_lambda,
)
from orchestration.spec.asl import PROCESS_TRANSACTIONS, render, substitutions
from orchestration.spec.config import EnvironmentConfig
from orchestration.spec.functions import ALL_FUNCTIONS, FUNCTIONS
from orchestration.spec.names import EXAMPLE_ACCOUNT, function_arn, function_name, state_machine_name, topic_names
from orchestration.spec.tables import ALL_TABLES, table_environment

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

ACCOUNT = EXAMPLE_ACCOUNT
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/ledgerflow-local-state-machine"
QUIET_LOGGERS = ("moto", "botocore", "werkzeug", "aws_lambda_powertools")
HANDLER_LOGGER = SERVICE
"""The handlers' Powertools logger is named after the service."""
HANDLER_LOG_LEVEL = "ERROR"
LOOPBACK = "127.0.0.1"
EXECUTE_STATE_MACHINES: DefaultConfig = {"stepfunctions": {"execute_state_machine": True}}


def lambda_environment(config: EnvironmentConfig, finance_url: str, processes_file: Path) -> dict[str, str]:
    """The environment every handler sees locally (the CDK stack sets the same names)."""
    values = table_environment(config)
    values.update(
        {
            "FINANCE_BASE_URL": finance_url,
            "FINANCE_TIMEOUT_SECONDS": str(config.finance.timeout_seconds),
            PROCESSES_FILE_ENV: str(processes_file),
            "AWS_DEFAULT_REGION": config.region,
            "AWS_REGION": config.region,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_SESSION_TOKEN": "testing",
            "POWERTOOLS_SERVICE_NAME": SERVICE,
            "POWERTOOLS_METRICS_NAMESPACE": NAMESPACE,
            "POWERTOOLS_TRACE_DISABLED": "true",
            "POWERTOOLS_METRICS_DISABLED": "true",
            "POWERTOOLS_LOG_LEVEL": HANDLER_LOG_LEVEL,
            "AWS_LAMBDA_FUNCTION_NAME": config.resource_name("local"),
            NOTIFICATION_TOPIC_ENV: f"arn:aws:sns:{config.region}:{ACCOUNT}:{topic_names(config)[1]}",
        }
    )
    return values


@contextmanager
def patched_environ(values: dict[str, str]) -> Iterator[None]:
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, old in saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old


def create_tables(config: EnvironmentConfig, dynamodb: DynamoDBClient) -> None:
    for spec in ALL_TABLES:
        dynamodb.create_table(**spec.create_table_kwargs(config))
        if spec.ttl_attribute:
            dynamodb.update_time_to_live(
                TableName=spec.table_name(config),
                TimeToLiveSpecification={"Enabled": True, "AttributeName": spec.ttl_attribute},
            )


class LocalEngine:
    """A provisioned local system; use ``LocalEngine.start(config, finance_url)`` as a context."""

    def __init__(
        self,
        config: EnvironmentConfig,
        runtime: LocalLambdaRuntime,
        state_machines: dict[str, str],
        *,
        endpoint_url: str | None = None,
    ):
        self.config = config
        self.runtime = runtime
        self.state_machines = state_machines
        self.sfn = boto3.client("stepfunctions", region_name=config.region)
        self.dynamodb = boto3.client("dynamodb", region_name=config.region)
        self.tables = boto3.resource("dynamodb", region_name=config.region)
        self.endpoint_url = endpoint_url
        """Where other processes reach this system (server mode), or None (in-process mock)."""

    @property
    def stats(self) -> InvocationStats:
        return self.runtime.stats

    @classmethod
    @contextmanager
    def start(cls, config: EnvironmentConfig, finance_url: str, *, port: int | None = None) -> Iterator[LocalEngine]:
        """Provision and run the system; in moto's server mode on ``port`` (0: any free port) if given."""
        for name in QUIET_LOGGERS:
            logging.getLogger(name).setLevel(logging.CRITICAL)
        # The handlers' Powertools Logger read POWERTOOLS_LOG_LEVEL when first imported, which
        # may be before this engine set it: apply the local level to their logger directly.
        logging.getLogger(HANDLER_LOGGER).setLevel(HANDLER_LOG_LEVEL)
        warnings.filterwarnings("ignore", message="No application metrics to publish")
        with ExitStack() as stack:
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="ledgerflow-")))
            processes_file = workdir / "processes.json"
            processes_file.write_text(json.dumps({name: s.model_dump() for name, s in config.all_settings().items()}))
            stack.enter_context(patched_environ(lambda_environment(config, finance_url, processes_file)))
            endpoint_url = None
            if port is None:
                # DynamoDB in its own process, which applies the DynamoDB patches itself.
                stack.enter_context(mock_aws(config=in_worker_config(EXECUTE_STATE_MACHINES)))
                stack.enter_context(atomic_requests())
                stack.enter_context(dynamodb_in_worker())
            else:
                endpoint_url = stack.enter_context(moto_server(port))
                stack.enter_context(dynamodb_patches())
            boto3.setup_default_session(region_name=config.region)
            # A new engine is a new set of warm containers: the handlers build their clients anew.
            container.reset()
            store = MetricStore()
            stack.enter_context(isolated_metrics(metrics, store_sink(store)))
            runtime = LocalLambdaRuntime.for_functions(
                lambda spec: function_name(config, spec), ALL_FUNCTIONS, metric_store=store
            )
            stack.enter_context(in_process_lambda(runtime))
            stack.enter_context(cached_json_paths())
            # State machines first: importing and running moto's ASL parser here overlaps the
            # DynamoDB worker's own start-up, which the first table creation would wait for.
            machines = provision_state_machines(config)
            create_tables(config, boto3.client("dynamodb", region_name=config.region))
            yield cls(config, runtime, machines, endpoint_url=endpoint_url)

    @property
    def metrics(self) -> MetricStore:
        """Every metric of the local run: Powertools EMF of the handlers and the services' own."""
        if self.runtime.metric_store is None:
            raise RuntimeError("the local runtime has no metric store")
        return self.runtime.metric_store

    def monitor(self) -> LocalMonitor:
        """The alarm catalog evaluated against this engine's metrics (see ``orchestration.engine.monitor``)."""
        return LocalMonitor(
            self.config,
            runtime=self.runtime,
            store=self.metrics,
            sfn=self.sfn,
            sns=boto3.client("sns", region_name=self.config.region),
            state_machines=list(self.state_machines.values()),
            account=ACCOUNT,
            function_name=lambda spec: function_name(self.config, spec),
        )

    def state_machine_for(self, process: str) -> str:
        return self.state_machines[self.config.profile_name(process)]

    def start_run(self, process: str, run_id: str) -> str:
        """Start the first execution of a run the way the AWS run trigger does (``lambdas.start_run``):
        same name, input and duplicate handling; only the state machine lookup is the engine's."""
        return start_first_execution(self.sfn, self.state_machine_for(process), process, run_id)


@contextmanager
def moto_server(port: int) -> Iterator[str]:
    """moto's server on 127.0.0.1 with state machine execution on; yields its endpoint URL.

    Everything in this process (handlers, the engine's own clients) reaches it through
    ``AWS_ENDPOINT_URL``; the interpreter's service integrations through ``MOTO_PORT``.
    """
    with ExitStack() as stack:
        stack.enter_context(atomic_server())
        server = ThreadedMotoServer(ip_address=LOOPBACK, port=port, verbose=False)
        server.start()
        stack.callback(server.stop)
        bound = server.get_host_and_port()[1]
        endpoint_url = f"http://{LOOPBACK}:{bound}"
        stack.enter_context(patched_environ({"AWS_ENDPOINT_URL": endpoint_url, "MOTO_PORT": str(bound)}))
        request = urllib.request.Request(
            f"{endpoint_url}/moto-api/config",
            data=json.dumps(EXECUTE_STATE_MACHINES).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            response.read()
        yield endpoint_url


def provision_state_machines(config: EnvironmentConfig) -> dict[str, str]:
    """One state machine per retry profile in use, from the shared ASL file."""
    sfn = boto3.client("stepfunctions", region_name=config.region)
    arns = {spec.name: function_arn(config, spec) for spec in FUNCTIONS}
    machines: dict[str, str] = {}
    for profile in config.used_profiles():
        definition = render(PROCESS_TRANSACTIONS, substitutions(config, profile, arns))
        response = sfn.create_state_machine(
            name=state_machine_name(config, profile),
            definition=json.dumps(definition),
            roleArn=ROLE_ARN,
            type="STANDARD",
        )
        machines[profile] = response["stateMachineArn"]
    return machines
