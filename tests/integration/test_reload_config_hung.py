"""A SIGHUP whose config file cannot be read fails the reload, named, and keeps the running config:
one whose read hangs (a hung network mount) is given up after the time limit, and SIGTERM still
stops ``serve`` at once; one replaced by something that is no regular file is named for what it is;
one a tool has emptied to write it again is refused in one line.

Before, the reload read the file with no time limit, so ``serve`` waited for a hung read, and SIGTERM
behind it, for good; a directory (a socket, a device) in the file's place was reported as "not a
regular file (a pipe?)"; and an emptied file was applied as a config of defaults, every camera
named as removed and every other setting as waiting for a restart. Runs the real ``edge-gateway``.

A regular file whose open hangs stands for the hung mount (a FIFO would be refused before it is
opened, as no regular file): this test takes a write lease on it (``fcntl(F_SETLEASE)``), and the
kernel then holds any other process's open of the file until the lease is given up, or
``/proc/sys/fs/lease-break-time`` (45 s by default) has passed."""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import socket
from collections.abc import Iterator
from pathlib import Path

from gateway.config.bounded_read import READ_WAIT_S
from tests.integration.test_reload_restart_settings import status
from tests.integration.test_reload_tokens import RELOADED, status_code
from tests.support.command import write_config
from tests.support.serve import Process

LEASE_BREAK_TIME = Path("/proc/sys/fs/lease-break-time")
REFUSED = "reload refused, the running config stays:"
LOG_WAIT_S = 60.0


@contextlib.contextmanager
def hung(path: Path) -> Iterator[None]:
    """While inside, another process's open of ``path`` waits (the lease holder is told by SIGIO,
    ignored meanwhile: its default action ends the process)."""
    assert int(LEASE_BREAK_TIME.read_text(encoding="ascii")) > 2 * READ_WAIT_S, "lease breaks too soon"
    previous = signal.signal(signal.SIGIO, signal.SIG_IGN)
    descriptor = os.open(path, os.O_RDONLY)
    try:
        fcntl.fcntl(descriptor, fcntl.F_SETLEASE, fcntl.F_WRLCK)
        yield
    finally:
        os.close(descriptor)  # gives the lease up: the open held waiting goes on
        signal.signal(signal.SIGIO, previous)


def start(tmp_path: Path, processes: list[Process]) -> tuple[Process, Path, int]:
    config = write_config(tmp_path / "gateway.yaml", "config-reload")
    gateway = Process(["serve", "--config", str(config)], tmp_path / "gateway.log")
    processes.append(gateway)
    return gateway, config, gateway.api_port()


def reload(gateway: Process, said: str) -> str:
    """SIGHUP, then what the gateway logged for it, once it has ``said``."""
    logged = len(gateway.output())
    gateway.signal(signal.SIGHUP)
    gateway.wait_for_log(said, timeout_s=LOG_WAIT_S, after=logged)
    return gateway.output()[logged:]


def test_a_config_read_that_hangs_fails_the_reload_and_sigterm_still_stops_serve(
    tmp_path: Path, processes: list[Process]
) -> None:
    # Given a running gateway whose config file is on a mount that hangs
    gateway, config, port = start(tmp_path, processes)
    with hung(config):
        # When it is told to reload, and again while the first read still hangs
        first = reload(gateway, f"{config}: cannot read: ")
        second = reload(gateway, f"{config}: cannot read: ")

        # Then each reload is refused naming the file, the first with the time limit, the second
        # without waiting on another read; the running config stays and the API answers
        assert (
            f"{REFUSED}\n{config}: cannot read: reading it did not finish within {READ_WAIT_S:g} s "
            "(a hung network mount?)"
        ) in first
        assert f"{REFUSED}\n{config}: cannot read: the read a reload started" in second
        assert RELOADED not in first + second
        assert status_code(port) == 200
        # And SIGTERM stops it while the read still hangs
        assert gateway.terminate() == 0, gateway.output()


def test_a_config_replaced_by_no_regular_file_is_named_for_what_it_is(
    tmp_path: Path, processes: list[Process]
) -> None:
    # Given a running gateway
    gateway, config, _ = start(tmp_path, processes)
    said: dict[str, str] = {}
    with socket.socket(socket.AF_UNIX) as listener:
        # When its config file is replaced by a directory, a FIFO, a socket and a device in turn,
        # each time with a reload
        config.unlink()
        config.mkdir()
        said["a directory"] = reload(gateway, RELOADED)
        config.rmdir()
        os.mkfifo(config)
        said["a FIFO"] = reload(gateway, RELOADED)
        config.unlink()
        listener.bind(str(config))
        said["a socket"] = reload(gateway, RELOADED)
        config.unlink()
        config.symlink_to(os.devnull)
        said["a device"] = reload(gateway, RELOADED)

    # Then each reload names what the file is, keeps the running config and re-scans the models
    for kind, output in said.items():
        assert (
            f"reload: the config {config} is {kind}, not a regular file, so it is not read again: "
            "the running config stays; models re-scanned"
        ) in output, output
        assert "a pipe?" not in output
    assert gateway.terminate() == 0, gateway.output()


def test_a_config_emptied_to_be_written_again_is_refused_and_the_running_config_stays(
    tmp_path: Path, processes: list[Process]
) -> None:
    # Given a running gateway whose config file a tool has truncated to write it again
    gateway, config, port = start(tmp_path, processes)
    written = config.read_text(encoding="utf-8")
    config.write_text("", encoding="utf-8")

    # When it is told to reload before the tool has written
    output = reload(gateway, "reload refused")

    # Then the reload is refused in one line naming the file, the one problem /v1/status lists:
    # nothing waits for a restart
    refused = (
        f"{config}: is empty (no YAML document): only blank lines and comments (cut short, or still "
        "being written?)"
    )
    logged = f"ERROR gateway.pipeline.config_file: reload refused: {refused}; the running config stays\n"
    assert logged in output
    assert RELOADED not in output
    (problem,) = status(port)["problems"]
    assert problem.startswith("reload refused at ")
    assert f"Z: {refused}; the running config stays until a reload applies the file" in problem
    # And once the tool has written the file, the next reload applies it
    config.write_text(written, encoding="utf-8")
    reload(gateway, RELOADED)
    assert gateway.terminate() == 0, gateway.output()
