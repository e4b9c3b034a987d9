"""A command whose reader goes away (``edge-gateway check-config FILE | head -c0``) stops quietly
with 141, as a shell reports a command ended by SIGPIPE. Before, it printed a traceback of the
BrokenPipeError and exited 1. Runs the real ``edge-gateway``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.support.command import COMMAND_TIMEOUT_S

EXIT_BROKEN_PIPE = 141


def test_output_to_a_reader_that_went_away_ends_quietly(tmp_path: Path) -> None:
    config = tmp_path / "gateway.yaml"
    config.write_text(f"device_id: piped\nstate_dir: {tmp_path / 'state'}\n", encoding="utf-8")
    reader, writer = os.pipe()
    os.close(reader)
    try:
        result = subprocess.run(
            [sys.executable, "-m", "gateway", "check-config", str(config)],
            cwd=tmp_path,
            stdin=subprocess.DEVNULL,
            stdout=writer,
            stderr=subprocess.PIPE,
            text=True,
            timeout=COMMAND_TIMEOUT_S,
            check=False,
        )
    finally:
        os.close(writer)

    assert result.returncode == EXIT_BROKEN_PIPE, result.stderr
    assert result.stderr == ""
