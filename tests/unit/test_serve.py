"""``ledgerflow local serve`` refuses a port it cannot listen on, with one line naming it."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from typer.testing import CliRunner

from orchestration.cli import app
from orchestration.run.serve import PortUnavailable, check_port


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        yield int(listener.getsockname()[1])


def test_a_port_in_use_is_refused_before_anything_starts(taken_port: int) -> None:
    with pytest.raises(PortUnavailable, match=f"--port {taken_port}: cannot listen on 127.0.0.1:{taken_port}"):
        check_port(taken_port)


def test_serve_on_a_port_in_use_exits_1_with_one_line(taken_port: int) -> None:
    result = CliRunner().invoke(app, ["local", "serve", "--port", str(taken_port)])
    assert result.exit_code == 1
    expected = f"error: --port {taken_port}: cannot listen on 127.0.0.1:{taken_port}: already in use"
    assert result.stderr.strip() == expected


def test_serve_rejects_a_port_out_of_range() -> None:
    result = CliRunner().invoke(app, ["local", "serve", "--port", "70000"])
    assert result.exit_code == 2
    assert "--port" in result.stderr
