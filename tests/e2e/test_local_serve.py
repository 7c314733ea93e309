"""Two terminals, for real: `ledgerflow local serve` in one process, `run` and `gate` from others.

serve -> run -> close the gate mid-run -> the execution pauses -> open -> every transaction
posted exactly once; then Ctrl-C stops the endpoint cleanly.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from orchestration.ops.aws import ENDPOINT_ENV
from orchestration.spec.config import CONFIG_DIR, CONFIG_DIR_ENV
from tests.fixtures.waiting import wait_until

LEDGERFLOW = str(Path(sys.executable).with_name("ledgerflow"))
PROCESS = "payroll_journal"
TRANSACTIONS = 120
PAUSE_INTERVAL = 30
# Small batches so the gate is checked many times in one run (of one-transaction Map items for
# the process under test, so the run lasts long enough to close the gate mid-run); a long pause
# interval so a resume inside it can only come from `gate open` sending the task token.
SERVE_CONFIG = {
    "batch_size": 10,
    "chunk_size": 5,
    "pause_interval_seconds": PAUSE_INTERVAL,
    "max_pause_seconds": 300,
}

pytestmark = pytest.mark.xdist_group("serve")


@dataclass
class Endpoint:
    url: str
    finance_url: str
    env: dict[str, str]
    lines: queue.Queue[str]

    def ledger(self) -> list[dict[str, Any]]:
        with urllib.request.urlopen(f"{self.finance_url}/journal-entries", timeout=10) as response:
            entries: list[dict[str, Any]] = json.loads(response.read())
            return entries

    def ledgerflow(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [LEDGERFLOW, *args], env=self.env, capture_output=True, text=True, timeout=60, check=False
        )

    def gate(self, *args: str) -> dict[str, Any]:
        result = self.ledgerflow("gate", *args, "--json")
        assert result.returncode == 0, result.stderr
        value: dict[str, Any] = json.loads(result.stdout)
        return value


def read_lines(stream: Any, lines: queue.Queue[str]) -> None:
    for line in stream:
        lines.put(line.rstrip("\n"))


def next_line_starting(lines: queue.Queue[str], prefix: str, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        try:
            line = lines.get(timeout=left)
        except queue.Empty:
            break
        if line.startswith(prefix):
            return line
    raise AssertionError(f"no line starting {prefix!r} within {timeout}s")


@pytest.fixture
def endpoint(tmp_path: Path) -> Iterator[Endpoint]:
    raw = yaml.safe_load((CONFIG_DIR / "local.yaml").read_text())
    raw["defaults"].update(SERVE_CONFIG)
    raw["processes"][PROCESS]["chunk_size"] = 1
    (tmp_path / "local.yaml").write_text(yaml.safe_dump(raw))
    env = {**os.environ, CONFIG_DIR_ENV: str(tmp_path), "PYTHONUNBUFFERED": "1"}
    command = [LEDGERFLOW, "local", "serve", "--port", "0"]
    server = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=read_lines, args=(server.stdout, lines), daemon=True).start()
    try:
        finance_url = next_line_starting(lines, "finance simulator: ", 90).split(": ", 1)[1]
        url = next_line_starting(lines, f"export {ENDPOINT_ENV}=", 30).split("=", 1)[1]
        yield Endpoint(url=url, finance_url=finance_url, env={**env, ENDPOINT_ENV: url}, lines=lines)
        server.send_signal(signal.SIGINT)
        assert server.wait(timeout=30) == 0
        next_line_starting(lines, "stopped", 5)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()


def test_close_mid_run_pauses_and_open_resumes_with_every_transaction_posted_once(endpoint: Endpoint) -> None:
    run = subprocess.Popen(
        [LEDGERFLOW, "run", "--processes", PROCESS, "--transactions", str(TRANSACTIONS), "--faults", "none", "--json"],
        env=endpoint.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_until(endpoint.ledger, timeout=90, interval=0.05)
        closed = endpoint.gate("close", PROCESS, "--reason", "finance maintenance window")
        assert closed["open"] is False

        status = wait_until(lambda: (s := endpoint.gate("status", PROCESS))["paused"] == 1 and s, timeout=90)
        assert (status["open"], status["running"], status["paused"]) == (False, 0, 1)
        posted_before_pause = len(endpoint.ledger())
        assert 0 < posted_before_pause < TRANSACTIONS, "the gate closed mid-run"
        time.sleep(1.0)
        assert len(endpoint.ledger()) == posted_before_pause, "nothing is posted while the gate is closed"
        assert run.poll() is None, "the run waits while paused"

        opened = endpoint.gate("open", PROCESS, "--reason", "window over")
        reopened_at = time.monotonic()
        assert opened["resumed"] == 1
        wait_until(lambda: len(endpoint.ledger()) > posted_before_pause, timeout=PAUSE_INTERVAL, interval=0.02)
        resumed_after = time.monotonic() - reopened_at
        assert resumed_after < PAUSE_INTERVAL, "the task token resumed the run before the fallback interval"

        stdout, stderr = run.communicate(timeout=180)
    finally:
        if run.poll() is None:
            run.kill()
            run.communicate()
    assert run.returncode == 0, stderr
    report = json.loads(stdout)
    assert (report["transactions"], report["posted"], report["lost"], report["duplicates"]) == (
        TRANSACTIONS,
        TRANSACTIONS,
        0,
        0,
    )
    ledger = endpoint.ledger()
    assert len(ledger) == TRANSACTIONS
    assert len({entry["idempotency_key"] for entry in ledger}) == TRANSACTIONS
    history = json.loads(endpoint.ledgerflow("gate", "history", PROCESS, "--json").stdout)
    assert [(h["new_open"], h["reason"]) for h in history][-2:] == [
        (False, "finance maintenance window"),
        (True, "window over"),
    ]
    print(f"gate open -> first resumed post: {resumed_after:.2f} s")


def test_run_against_an_endpoint_that_is_not_there_is_one_clear_line(tmp_path: Path) -> None:
    env = {**os.environ, ENDPOINT_ENV: "http://127.0.0.1:9"}
    result = subprocess.run(
        [LEDGERFLOW, "run", "--transactions", "10"], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    expected = "error: cannot reach endpoint http://127.0.0.1:9: is `ledgerflow local serve` running there?"
    assert result.stderr.strip() == expected
