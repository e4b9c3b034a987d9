"""``serve`` without MQTT echoes each committed alert on standard output. An output that fails (a full
disk, ``/dev/full``; a closed pipe, ``serve | head``) killed the decider's thread at the second alert:
every later alert lost, on each restart again. The echo is a side channel: its failure is said once,
and alerts go on being decided and committed. The real ``edge-gateway`` on the demo clip."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from tests.support.command import write_config
from tests.support.serve import START_WAIT_S, STOP_BUDGET_S, door_camera, last_committed_seq, wait_for


def test_a_standard_output_that_fails_stops_the_echo_not_the_alerts(tmp_path: Path) -> None:
    config = write_config(tmp_path / "gateway.yaml", cameras=[door_camera()])
    log = tmp_path / "serve.log"
    environment = {key: value for key, value in os.environ.items() if key != "JOURNAL_STREAM"}
    with Path("/dev/full").open("wb") as full, log.open("wb") as errors:
        gateway = subprocess.Popen(
            [sys.executable, "-m", "gateway", "serve", "--config", str(config)],
            cwd=tmp_path,
            env=environment,
            stdin=subprocess.DEVNULL,
            stdout=full,
            stderr=errors,
        )
    try:
        # When alerts are committed with standard output on a full device
        wait_for(lambda: last_committed_seq(tmp_path / "state") >= 4, "four alerts committed", START_WAIT_S)
        assert gateway.poll() is None
    finally:
        gateway.send_signal(signal.SIGTERM)
        code = gateway.wait(STOP_BUDGET_S)
    # Then the echo's failure was said once, and nothing else failed
    output = log.read_text(encoding="utf-8", errors="replace")
    assert code == 0, output
    assert output.count("alerts can no longer be echoed to standard output") == 1, output
    assert "Traceback" not in output, output
