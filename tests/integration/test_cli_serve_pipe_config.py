"""A config given as a pipe (``serve --config <(...)``, a FIFO) is read once, at start: a SIGHUP keeps
the running config and re-scans the models, where reading the pipe again would get an empty document
(a valid config with no cameras and no rules) or, for a FIFO with no writer, block the reload and
every signal after it, SIGTERM included. Runs the real ``edge-gateway``."""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path

import yaml

from tests.support.serve import Process

RELOAD_WAIT_S = 30.0
NOT_REREAD = "is a FIFO, not a regular file, so it is not read again: the running config stays"


def test_sighup_keeps_a_config_read_from_a_fifo(tmp_path: Path, processes: list[Process]) -> None:
    # Given serve reading its config from a FIFO that a writer fills once
    (tmp_path / "models").mkdir()
    text = yaml.safe_dump(
        {
            "device_id": "fifo-box",
            "state_dir": str(tmp_path / "state"),
            "http": {"port": 0},
            "models": {"repository": str(tmp_path / "models")},
            "inference": {"workers": 1, "providers": ["cpu"]},
        }
    )
    fifo = tmp_path / "gateway.yaml"
    os.mkfifo(fifo)

    def write_once() -> None:
        with fifo.open("w", encoding="utf-8") as writer:  # blocks until serve opens it
            writer.write(text)

    writer = threading.Thread(target=write_once, name="fifo-writer", daemon=True)
    writer.start()
    gateway = Process(["serve", "--config", str(fifo)], tmp_path / "gateway.log")
    processes.append(gateway)
    gateway.wait_for_log("HTTP API listening on")
    writer.join(RELOAD_WAIT_S)
    assert not writer.is_alive()

    # When it is sent SIGHUP, with nobody writing the FIFO any more
    mark = len(gateway.output())
    gateway.signal(signal.SIGHUP)

    # Then it says the config stays, re-scans the models, and still stops on SIGTERM
    gateway.wait_for_log(NOT_REREAD, timeout_s=RELOAD_WAIT_S, after=mark)
    gateway.wait_for_log("reloaded: models re-scanned", timeout_s=RELOAD_WAIT_S, after=mark)
    assert gateway.terminate() == 0, gateway.output()
    assert "gateway fifo-box running" in gateway.output()
