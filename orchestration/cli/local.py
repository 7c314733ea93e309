"""``ledgerflow local serve``: an AWS-compatible endpoint on 127.0.0.1 with the whole system in it."""

from __future__ import annotations

import signal
import threading
from types import FrameType
from typing import TYPE_CHECKING, Annotated

import typer

from orchestration.cli.common import EnvOption
from orchestration.faults.profiles import FaultProfile
from orchestration.ops.aws import ENDPOINT_ENV
from orchestration.spec.config import load_config
from orchestration.spec.tables import GATES

if TYPE_CHECKING:
    from orchestration.run.serve import Served

DEFAULT_PORT = 5050

app = typer.Typer(help="Run the whole system locally behind an AWS-compatible endpoint.", no_args_is_help=True)


def banner(served: Served) -> list[str]:
    config = served.engine.config
    url = served.endpoint_url
    return [
        f"ledgerflow local endpoint: {url} (environment {config.environment}, region {config.region})",
        f"processes: {', '.join(config.processes)} (gates open)",
        f"finance simulator: {served.finance.url}",
        "In another terminal:",
        f"export {ENDPOINT_ENV}={url}",
        "  ledgerflow run --transactions 300      # seeds the HCM and runs every process here",
        "  ledgerflow gate close payroll_journal --reason 'period close'",
        f"  aws --endpoint-url {url} --region {config.region} dynamodb scan --table-name {GATES.table_name(config)}",
        "    (the AWS CLI needs any credentials: AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing)",
        "Ctrl-C stops the endpoint (its data lives in memory and goes with it).",
    ]


def wait_for_stop() -> None:
    """Block until Ctrl-C or SIGTERM."""
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        while not stop.wait(0.5):
            pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@app.command("serve")
def serve_command(
    port: Annotated[
        int, typer.Option("--port", min=0, max=65535, help="port on 127.0.0.1 (0: any free port)")
    ] = DEFAULT_PORT,
    env: EnvOption = "local",
    faults: Annotated[
        FaultProfile, typer.Option("--faults", help="fault profile of the simulated finance system")
    ] = FaultProfile.NONE,
    seed: Annotated[int, typer.Option("--seed", help="seed of the finance fault draws")] = 7,
) -> None:
    """Start the endpoint: tables, state machines, Lambdas in-process, the finance simulator."""
    # The engine (moto, the handlers) loads only when serving: the CLI's other commands start fast.
    from orchestration.run.serve import serve

    config = load_config(env)
    with serve(config, port=port, faults=faults, seed=seed) as served:
        for line in banner(served):
            typer.echo(line)
        wait_for_stop()
        typer.echo("stopping")
    typer.echo("stopped")
