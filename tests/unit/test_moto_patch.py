"""Guards the single patch of moto internals (see orchestration/engine/moto_patch.py)."""

from __future__ import annotations

import inspect

import moto
import pytest
from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils

from orchestration.engine.lambda_runtime import LocalLambdaRuntime
from orchestration.engine.moto_patch import PINNED_MOTO, UnsupportedMoto, in_process_lambda
from orchestration.functions import FUNCTIONS


def test_installed_moto_is_the_pinned_version() -> None:
    assert moto.__version__ == PINNED_MOTO


@pytest.mark.parametrize("function", ["_invoke_lambda_function", "exec_lambda_function"])
def test_patched_lookups_are_still_where_the_patch_expects_them(function: str) -> None:
    source = inspect.getsource(getattr(lambda_eval_utils, function))
    assert "boto_client_for(" in source
    assert ".invoke(**parameters)" in source


def test_patch_routes_lambda_to_the_runtime_and_restores_moto() -> None:
    runtime = LocalLambdaRuntime.for_functions(lambda spec: spec.name)
    original = lambda_eval_utils.boto_client_for
    with in_process_lambda(runtime):
        client = lambda_eval_utils.boto_client_for(region="us-east-1", service="lambda")
        response = client.invoke(FunctionName="arn:aws:lambda:us-east-1:1:function:nope", Payload=b"{}")
        assert response["FunctionError"] == "Unhandled"
        assert b"ResourceNotFoundException" in response["Payload"].read()
    assert lambda_eval_utils.boto_client_for is original
    assert {spec.name for spec in FUNCTIONS} <= set(runtime._specs)


def test_patch_refuses_another_moto_version(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(moto, "__version__", "0.0.0")
    runtime = LocalLambdaRuntime.for_functions(lambda spec: spec.name)
    with pytest.raises(UnsupportedMoto, match=PINNED_MOTO), in_process_lambda(runtime):
        pass


def test_request_dispatch_is_still_where_the_atomic_patch_expects_it() -> None:
    from moto.core.botocore_stubber import BotocoreStubber

    parameters = list(inspect.signature(BotocoreStubber.__call__).parameters)
    assert parameters[:3] == ["self", "event_name", "request"]


def test_server_dispatch_is_still_where_the_atomic_server_patch_expects_it() -> None:
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication

    parameters = list(inspect.signature(DomainDispatcherApplication.__call__).parameters)
    assert parameters == ["self", "environ", "start_response"]
    assert "get_application(environ)" in inspect.getsource(DomainDispatcherApplication.__call__)


def test_atomic_server_serialises_dispatch_and_restores_moto() -> None:
    import threading

    from moto.moto_server.werkzeug_app import DomainDispatcherApplication

    from orchestration.engine.moto_patch import atomic_server

    original = DomainDispatcherApplication.__call__
    inside = threading.Event()
    release = threading.Event()
    entered: list[str] = []

    def slow(self: object, environ: dict[str, str], start_response: object) -> list[bytes]:
        entered.append(environ["name"])
        inside.set()
        release.wait(5)
        return []

    DomainDispatcherApplication.__call__ = slow  # type: ignore[method-assign,assignment]
    try:
        with atomic_server():
            app = object.__new__(DomainDispatcherApplication)
            first = threading.Thread(target=app, args=({"name": "first"}, None))
            second = threading.Thread(target=app, args=({"name": "second"}, None))
            first.start()
            assert inside.wait(5)
            second.start()
            second.join(0.3)
            assert entered == ["first"], "the second request waits for the first"
            release.set()
            first.join(5)
            second.join(5)
            assert entered == ["first", "second"]
    finally:
        DomainDispatcherApplication.__call__ = original  # type: ignore[method-assign]
