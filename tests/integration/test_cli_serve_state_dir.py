"""``serve`` refuses a state_dir whose signing key it cannot read or write in one line naming the file
and the problem, with no traceback, at once (a FIFO there is not waited on), and leaves nothing
behind that would refuse the next start. Runs the real ``edge-gateway``."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from tests.support.child_limits import held_to_file_modes, with_a_full_disk
from tests.support.command import edge_gateway, write_config
from tests.support.serve import Process

LISTENING = "HTTP API listening on"


def test_a_state_dir_the_gateway_cannot_search_is_named_in_one_line(tmp_path: Path) -> None:
    # Given a state_dir whose mode lets nobody in, the gateway's user included
    config = write_config(tmp_path / "gateway.yaml")
    state = tmp_path / "state"
    state.mkdir()
    state.chmod(0)
    try:
        # When serve starts, held to file modes as the service's user is
        run = edge_gateway("serve", "--config", str(config), cwd=tmp_path, prefix=held_to_file_modes())
    finally:
        state.chmod(0o700)

    # Then it is refused, naming the key file it could not look at and why
    output = run.stdout + run.stderr
    assert run.returncode == 1, output
    assert f"cannot start: signing key {state / 'signing.key'}: cannot read: Permission denied" in output
    assert "Traceback" not in output


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


def test_a_full_disk_while_the_key_is_written_leaves_no_key_behind(
    tmp_path: Path, processes: list[Process]
) -> None:
    # Given a first start on a disk that takes no more bytes
    config = write_config(tmp_path / "gateway.yaml")
    state = tmp_path / "state"

    # When serve starts and cannot write its new signing key
    run = edge_gateway("serve", "--config", str(config), cwd=tmp_path, held_to=with_a_full_disk)

    # Then it is refused in one line, with neither the key nor its temporary file left
    output = run.stdout + run.stderr
    assert run.returncode == 1, output
    assert f"cannot start: signing key {state / 'signing.key'}: cannot write a new key: File too large" in (
        output
    )
    assert "Traceback" not in output
    assert sorted(path.name for path in state.iterdir()) == []

    # When it starts again with space back
    gateway = Process(["serve", "--config", str(config)], tmp_path / "gateway.log")
    processes.append(gateway)
    gateway.wait_for_log(LISTENING)

    # Then it makes the key, and the outbox opens with it
    assert gateway.terminate() == 0, gateway.output()
    key = (state / "signing.key").read_text(encoding="ascii")
    assert len(bytes.fromhex(key.strip())) == 32
    assert stat.S_IMODE((state / "signing.key").stat().st_mode) == 0o600
    assert not [path.name for path in state.iterdir() if path.name.startswith(".signing.key")]
