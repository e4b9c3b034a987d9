"""What ``serve`` makes in its state directory is its user's alone whatever the umask it was started
under (a shell's, not systemd's ``UMask=0077``), and what was there keeps its mode, with a warning when
other users may reach into it. Runs the real ``edge-gateway``, held to file modes as its service user
is."""

from __future__ import annotations

import stat
from pathlib import Path

from tests.support.child_limits import held_to_file_modes
from tests.support.command import write_config
from tests.support.serve import Process

LISTENING = "HTTP API listening on"
STATE_FILES = ("outbox.db", "outbox.db-shm", "outbox.db-wal", "outbox.lock", "signing.key")


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def start(directory: Path, processes: list[Process], umask: int, name: str = "gateway") -> Process:
    gateway = Process(
        ["serve", "--config", str(directory / "gateway.yaml")],
        directory / f"{name}.log",
        prefix=held_to_file_modes(),
        umask=umask,
    )
    processes.append(gateway)
    gateway.wait_for_log(LISTENING)
    return gateway


def test_under_umask_0_the_state_it_makes_is_its_users_alone(
    tmp_path: Path, processes: list[Process]
) -> None:
    # Given a first start under a umask that takes nothing away (a shell's ``umask 0``)
    write_config(tmp_path / "gateway.yaml")
    state = tmp_path / "state"

    # When serve starts and has made its state
    gateway = start(tmp_path, processes, umask=0)

    # Then the folder, the outbox (its log and shared memory too), its lock and the key are its own
    modes = {path.name: mode_of(path) for path in state.iterdir()}
    assert gateway.terminate() == 0, gateway.output()
    assert mode_of(state) == 0o700
    assert modes == dict.fromkeys(STATE_FILES, 0o600)


def test_under_umask_777_it_starts_and_starts_again(tmp_path: Path, processes: list[Process]) -> None:
    # Given a first start under a umask that takes every bit away
    write_config(tmp_path / "gateway.yaml")
    state = tmp_path / "state"

    # When serve starts, stops and starts again under it
    first = start(tmp_path, processes, umask=0o777, name="first")
    assert first.terminate() == 0, first.output()
    second = start(tmp_path, processes, umask=0o777, name="second")
    assert second.terminate() == 0, second.output()

    # Then what it made is usable by its user alone, and neither start said a word of the modes
    assert mode_of(state) == 0o700
    modes = {path.name: mode_of(path) for path in state.iterdir()}
    assert modes == dict.fromkeys(("outbox.db", "outbox.lock", "signing.key"), 0o600)
    assert "Permission denied" not in first.output() + second.output()


def test_what_was_there_keeps_its_mode_and_other_users_reach_is_said(
    tmp_path: Path, processes: list[Process]
) -> None:
    # Given a state directory an operator made open to all, with an outbox an earlier gateway made
    # under umask 022
    write_config(tmp_path / "gateway.yaml")
    state = tmp_path / "state"
    state.mkdir()
    first = start(tmp_path, processes, umask=0o077, name="first")
    assert first.terminate() == 0, first.output()
    state.chmod(0o777)
    (state / "outbox.db").chmod(0o644)

    # When serve starts again
    second = start(tmp_path, processes, umask=0o077, name="second")
    assert second.terminate() == 0, second.output()

    # Then the modes are left as they were, and each that lets other users in is a warning at start
    assert mode_of(state) == 0o777
    assert mode_of(state / "outbox.db") == 0o644
    output = second.output()
    assert (
        f"WARNING gateway.delivery.state_directory: state directory {state} is writable by other users "
        "(mode 0o777): they may replace the outbox or the signing key in it" in output
    )
    assert (
        f"outbox {state / 'outbox.db'} is readable by other users (mode 0o644): they may read or replace it"
        in output
    )
    assert output.count("gateway.delivery.state_directory") == 2
    # The first start, into a folder made 0700 by hand, had nothing to say
    assert "gateway.delivery.state_directory" not in first.output()
