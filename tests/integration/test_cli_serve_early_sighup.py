"""A SIGHUP that reaches ``serve`` before its handler is installed (during the imports, a second or
two) is a reload once it is, not the end of the process: SIGHUP's default action killed it before.
Other commands keep SIGHUP as they find it. Runs the real ``edge-gateway``."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from tests.support.command import write_config
from tests.support.serve import START_WAIT_S, Process

SIGHUP_BIT = 1 << (signal.SIGHUP - 1)


def sighup_blocked(pid: int) -> bool:
    """Whether the process's main thread blocks SIGHUP now (``SigBlk`` in /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text(encoding="ascii").splitlines():
        if line.startswith("SigBlk:"):
            return bool(int(line.split()[1], 16) & SIGHUP_BIT)
    raise AssertionError(f"no SigBlk in /proc/{pid}/status")


def test_a_sighup_during_start_up_is_a_reload(tmp_path: Path, processes: list[Process]) -> None:
    # Given serve starting, SIGHUP held back from its first line, before its handler is installed
    config = write_config(tmp_path / "gateway.yaml", "early")
    gateway = Process(["serve", "--config", str(config)], tmp_path / "gateway.log")
    processes.append(gateway)
    deadline = time.monotonic() + START_WAIT_S
    while not sighup_blocked(gateway.pid):
        assert gateway.process.poll() is None, gateway.output()
        assert "HTTP API listening on" not in gateway.output(), "SIGHUP was never held back"
        assert time.monotonic() < deadline, gateway.output()
        time.sleep(0.005)

    # When a SIGHUP comes then
    gateway.signal(signal.SIGHUP)

    # Then the gateway starts, and reloads once it can
    gateway.api_port()
    gateway.wait_for_log("reloaded: models re-scanned", timeout_s=60)
    assert gateway.terminate() == 0, gateway.output()


def test_other_commands_keep_sighups_default_action(tmp_path: Path, processes: list[Process]) -> None:
    # Given check-config waiting for a writer of its config, a FIFO
    fifo = tmp_path / "config.yaml"
    os.mkfifo(fifo)
    # started with SIGHUP's default action, whatever this test run was given (under nohup it is
    # ignored, and an ignored signal stays ignored across exec: "as it finds it" would then be that)
    inherited = signal.signal(signal.SIGHUP, signal.SIG_DFL)
    try:
        checker = Process(["check-config", str(fifo)], tmp_path / "check.log")
    finally:
        signal.signal(signal.SIGHUP, inherited)
    processes.append(checker)

    # When a SIGHUP comes, then it ends the command as it always did
    checker.signal(signal.SIGHUP)
    assert checker.process.wait(60) == -signal.SIGHUP, checker.output()
