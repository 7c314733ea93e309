"""The engine floor, side by side: one Map shape on three interpreters, with a no-op Lambda task.

    .venv/bin/python bench/engine_floor.py [--items 1000] [--max-concurrency 40] [--engines ours stock node]

The shape is the heart of ``process_transactions.asl.json`` with the work taken out: a Map
with MaxConcurrency over N items, one ``lambda:invoke`` task per item answered by a no-op
handler. What is left is each interpreter's own cost per item, the floor under any run:

- ``ours``: moto's interpreter with the local engine's in-process Lambda path
  (``in_process_lambda`` + a ``LocalLambdaRuntime`` whose only handler is a no-op) and its
  atomic request dispatch, as ``ledgerflow run --local`` runs it;
- ``stock``: moto's interpreter as shipped (a new boto3 client per task), the Lambda call
  answered by a ``before-send.lambda`` hook on the default session;
- ``node``: the npm package aws-local-stepfunctions (``bench/floor.mjs``; no history recording).

Each engine runs in its own Python or node process, after a small warm-up run, so imports and
one engine's patches never colour another's figure.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pydantic import BaseModel

from bench.common import MachineInfo, finish, load_line, machine_info, write_results

if TYPE_CHECKING:
    from mypy_boto3_stepfunctions import SFNClient

BENCH_DIR = Path(__file__).resolve().parent
NODE_SCRIPT = BENCH_DIR / "floor.mjs"
NODE_PACKAGE = BENCH_DIR / "node_modules" / "aws-local-stepfunctions"
REGION = "us-east-1"
ACCOUNT = "123456789012"
FUNCTION_NAME = "floor-noop"
FUNCTION_ARN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{FUNCTION_NAME}"
TASK_STATE = "Work"
ENGINES = ("ours", "stock", "node")
WARM_UP_ITEMS = 20
POLL_SECONDS = 0.05
TARGET_OURS_ITEMS_PER_SECOND = 400.0
"""The floor the local engine must keep: no-op Map items per second."""


class FloorResult(BaseModel):
    """One engine's run of the floor shape."""

    engine: str
    items: int
    max_concurrency: int
    seconds: float
    items_per_second: float
    history_events: int | None = None
    """Events in the execution's history (None: the engine records none)."""


def floor_definition(max_concurrency: int) -> dict[str, Any]:
    """The Map shape of the real definition, one no-op Lambda task per item."""
    return {
        "Comment": "ledgerflow engine floor: Map with MaxConcurrency, one Lambda task per item",
        "StartAt": "Items",
        "States": {
            "Items": {
                "Type": "Map",
                "ItemsPath": "$.items",
                "MaxConcurrency": max_concurrency,
                "ItemProcessor": {
                    "ProcessorConfig": {"Mode": "INLINE"},
                    "StartAt": TASK_STATE,
                    "States": {
                        TASK_STATE: {
                            "Type": "Task",
                            "Resource": "arn:aws:states:::lambda:invoke",
                            "Parameters": {"FunctionName": FUNCTION_ARN, "Payload.$": "$"},
                            "OutputPath": "$.Payload",
                            "End": True,
                        }
                    },
                },
                "End": True,
            }
        },
    }


def noop_handler(event: Any, context: Any) -> Any:
    """The task's whole work: hand the item back."""
    return event


@contextmanager
def ours_engine() -> Iterator[None]:
    """moto with the local engine's patches, and a runtime whose one function is the no-op."""
    import boto3
    from moto import mock_aws

    from orchestration.engine.lambda_runtime import Handler, LocalLambdaRuntime
    from orchestration.engine.local import EXECUTE_STATE_MACHINES
    from orchestration.engine.moto_patch import atomic_requests, cached_json_paths, in_process_lambda
    from orchestration.spec.functions import FunctionSpec, InvokedBy

    class NoopRuntime(LocalLambdaRuntime):
        """The engine's runtime, with the no-op in place of an imported handler module."""

        def handler(self, name: str) -> Handler:
            return noop_handler

    runtime = NoopRuntime(
        {FUNCTION_NAME: FunctionSpec(FUNCTION_NAME, "noop", InvokedBy.STATE_MACHINE, "NoopFunctionArn")}
    )
    with ExitStack() as stack:
        stack.enter_context(mock_aws(config=EXECUTE_STATE_MACHINES))
        stack.enter_context(atomic_requests())
        boto3.setup_default_session(region_name=REGION)
        stack.enter_context(in_process_lambda(runtime))
        stack.enter_context(cached_json_paths())
        yield


class _StreamingBody(io.BytesIO):
    """What botocore reads a response body from: a BytesIO with ``stream()``."""

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self.getvalue()


@contextmanager
def stock_engine() -> Iterator[None]:
    """moto as shipped; Lambda's Invoke answered before it is sent (shared/notes/local-engine.md)."""
    import boto3
    from botocore.awsrequest import AWSResponse
    from botocore.compat import HTTPHeaders
    from moto import mock_aws

    from orchestration.engine.local import EXECUTE_STATE_MACHINES

    def answer(request: Any, **_: Any) -> AWSResponse:
        body = request.body or b"{}"
        payload = json.loads(body.decode() if isinstance(body, bytes) else body)
        raw = _StreamingBody(json.dumps(noop_handler(payload, None)).encode())
        headers = HTTPHeaders()
        headers["X-Amz-Executed-Version"] = "$LATEST"
        return AWSResponse(request.url, 200, headers, raw)

    with mock_aws(config=EXECUTE_STATE_MACHINES):
        boto3.setup_default_session(region_name=REGION)
        session = boto3.DEFAULT_SESSION
        if session is None:
            raise RuntimeError("boto3 kept no default session")
        events: Any = session.events
        events.register_first("before-send.lambda", answer)
        yield


def run_moto(items: int, max_concurrency: int, engine: str) -> FloorResult:
    """Create the state machine, run one execution over ``items`` items, time it to the end."""
    import boto3

    silence_moto()
    context = ours_engine() if engine == "ours" else stock_engine()
    with context:
        sfn = boto3.client("stepfunctions", region_name=REGION)
        machine = sfn.create_state_machine(
            name=f"floor-{engine}",
            definition=json.dumps(floor_definition(max_concurrency)),
            roleArn=f"arn:aws:iam::{ACCOUNT}:role/floor",
            type="STANDARD",
        )["stateMachineArn"]
        execute(sfn, machine, WARM_UP_ITEMS)
        started = time.perf_counter()
        arn = execute(sfn, machine, items)
        seconds = time.perf_counter() - started
        events = sum(
            len(page["events"]) for page in sfn.get_paginator("get_execution_history").paginate(executionArn=arn)
        )
    return FloorResult(
        engine=engine,
        items=items,
        max_concurrency=max_concurrency,
        seconds=round(seconds, 3),
        items_per_second=round(items / seconds, 1),
        history_events=events,
    )


def execute(sfn: SFNClient, machine: str, items: int) -> str:
    """Start one execution and wait for it; a failed floor run is a broken benchmark."""
    response = sfn.start_execution(
        stateMachineArn=machine, name=f"floor-{uuid.uuid4().hex}", input=json.dumps({"items": list(range(items))})
    )
    arn = str(response["executionArn"])
    while True:
        status = sfn.describe_execution(executionArn=arn)["status"]
        if status == "SUCCEEDED":
            return arn
        if status != "RUNNING":
            raise RuntimeError(f"floor execution ended {status}")
        time.sleep(POLL_SECONDS)


def silence_moto() -> None:
    """moto and botocore log at length under load; the floor reports its own figures."""
    import logging

    for name in ("moto", "botocore"):
        logging.getLogger(name).setLevel(logging.CRITICAL)


def node_binary() -> str:
    """node on PATH, with aws-local-stepfunctions installed under bench/ (``npm ci`` there)."""
    node = shutil.which("node")
    if node is None:
        raise SystemExit("error: node not found on PATH (the node engine needs Node.js)")
    if not NODE_PACKAGE.exists():
        raise SystemExit("error: aws-local-stepfunctions is not installed: run `npm ci --prefix bench`")
    return node


def run_node(items: int, max_concurrency: int) -> FloorResult:
    """The same definition on aws-local-stepfunctions, timed inside node (startup excluded)."""
    node = node_binary()
    with tempfile.TemporaryDirectory(prefix="ledgerflow-floor-") as workdir:
        definition = Path(workdir) / "floor.asl.json"
        definition.write_text(json.dumps(floor_definition(max_concurrency)))
        done = subprocess.run(
            [node, str(NODE_SCRIPT), str(definition), str(items), TASK_STATE, str(WARM_UP_ITEMS)],
            check=True,
            capture_output=True,
            text=True,
            cwd=BENCH_DIR,
        )
    measured = json.loads(done.stdout.strip().splitlines()[-1])
    if measured["items"] != items:
        raise RuntimeError(f"node run returned {measured['items']} of {items} items")
    seconds = float(measured["seconds"])
    return FloorResult(
        engine="node",
        items=items,
        max_concurrency=max_concurrency,
        seconds=round(seconds, 3),
        items_per_second=round(items / seconds, 1),
    )


def run_engine_in_subprocess(engine: str, items: int, max_concurrency: int) -> FloorResult:
    """One engine in a fresh Python process, so no patch or import cache carries over."""
    command = [
        sys.executable,
        __file__,
        "--one",
        engine,
        "--items",
        str(items),
        "--max-concurrency",
        str(max_concurrency),
    ]
    done = subprocess.run(command, check=True, capture_output=True, text=True)
    return FloorResult.model_validate_json(done.stdout.strip().splitlines()[-1])


def markdown(results: list[FloorResult]) -> str:
    """The side-by-side table, with each engine's ratio to ours and ours against the target."""
    by_engine = {r.engine: r for r in results}
    ours = by_engine.get("ours")
    lines = [
        "| engine | items | MaxConcurrency | seconds | items/s | history events | vs ours |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in results:
        ratio = f"{r.items_per_second / ours.items_per_second:.2f}x" if ours else "n/a"
        events = "none recorded" if r.history_events is None else str(r.history_events)
        cells = [r.engine, r.items, r.max_concurrency, r.seconds, r.items_per_second, events, ratio]
        lines.append("| " + " | ".join(str(cell) for cell in cells) + " |")
    if ours:
        lines.append(
            f"\nours: {ours.items_per_second} items/s against the target of {TARGET_OURS_ITEMS_PER_SECOND:.0f} "
            f"({'met' if ours.items_per_second >= TARGET_OURS_ITEMS_PER_SECOND else 'not met'})"
        )
    return "\n".join(lines)


class FloorReport(BaseModel):
    """The floor results with the machine they ran on."""

    machine: MachineInfo
    results: list[FloorResult]


def measure(engines: list[str], items: int, max_concurrency: int) -> FloorReport:
    """Run each engine in turn and gather the results with the machine's state."""
    info = machine_info()
    results = []
    for engine in engines:
        result = run_engine_in_subprocess(engine, items, max_concurrency)
        print(f"{engine}: {result.items_per_second} items/s (load {os.getloadavg()[0]:.2f})", file=sys.stderr)
        results.append(result)
    return FloorReport(machine=finish(info), results=results)


def main(argv: list[str] | None = None) -> int:
    """Run each engine (or, with ``--one``, just one, in this process) and write the results."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=1000, help="Map items (default 1000)")
    parser.add_argument("--max-concurrency", type=int, default=40, help="the Map's MaxConcurrency (default 40)")
    parser.add_argument("--engines", nargs="+", choices=ENGINES, default=list(ENGINES))
    parser.add_argument("--no-write", action="store_true", help="print only; write nothing under bench/results/")
    parser.add_argument("--one", choices=ENGINES, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.items < 1 or args.max_concurrency < 1:
        parser.error("--items and --max-concurrency must be at least 1")
    if args.one:
        if args.one == "node":
            one = run_node(args.items, args.max_concurrency)
        else:
            one = run_moto(args.items, args.max_concurrency, args.one)
        print(one.model_dump_json())
        return 0
    report = measure(args.engines, args.items, args.max_concurrency)
    table = markdown(report.results) + f"\n\nmachine: {load_line(report.machine)}"
    print(table)
    if not args.no_write:
        for path in write_results("engine-floor", report, "# Engine floor\n\n" + table):
            print(f"wrote {path.relative_to(BENCH_DIR.parent)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
