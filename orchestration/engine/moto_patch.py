"""The one patch of moto internals: Lambda tasks go to our runtime, not through botocore.

moto's interpreter builds a new boto3 client for every Lambda task (most of its time
went there) and then makes a full botocore request. ``lambda_eval_utils`` looks up
``boto_client_for`` in its own namespace for every task; we swap that name for a
function returning our in-process client. It is pinned to the moto version it was
written against, and ``tests/unit/test_moto_patch.py`` fails if the patched code moves.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import moto
from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils

from orchestration.engine.lambda_runtime import LocalLambdaRuntime

PINNED_MOTO = "5.2.5"


class UnsupportedMoto(RuntimeError):
    """The installed moto is not the version this patch was verified against."""


@contextmanager
def in_process_lambda(runtime: LocalLambdaRuntime) -> Iterator[None]:
    if moto.__version__ != PINNED_MOTO:
        raise UnsupportedMoto(
            f"moto {moto.__version__} installed; the local engine's patch is verified on {PINNED_MOTO} "
            "(reinstall with `make install`)"
        )
    original = lambda_eval_utils.boto_client_for

    def client_for(region: str, service: str, state_credentials: Any = None) -> Any:
        if service == "lambda":
            return runtime.client()
        return original(region=region, service=service, state_credentials=state_credentials)

    lambda_eval_utils.boto_client_for = client_for
    try:
        yield
    finally:
        lambda_eval_utils.boto_client_for = original
