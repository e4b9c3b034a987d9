"""``serve`` refuses a state_dir whose signing key it cannot read in one line naming the file and the
problem, with no traceback, at once (a FIFO there is not waited on). Runs the real ``edge-gateway``."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from tests.support.command import edge_gateway, write_config


def test_a_fifo_as_the_signing_key_is_refused_at_once(tmp_path: Path) -> None:
    # Given a FIFO where the signing key should be, with no writer
    config = write_config(tmp_path / "gateway.yaml")
    key = tmp_path / "state" / "signing.key"
    key.parent.mkdir()
    os.mkfifo(key)

    # When serve starts
    run = edge_gateway("serve", "--config", str(config), cwd=tmp_path)

    # Then it is refused without opening it, naming what it is, and the FIFO is left as it was
    output = run.stdout + run.stderr
    assert run.returncode == 1, output
    assert f"cannot start: signing key {key}: is a FIFO, not a regular file" in output
    assert "Traceback" not in output
    assert stat.S_ISFIFO(key.stat().st_mode)
