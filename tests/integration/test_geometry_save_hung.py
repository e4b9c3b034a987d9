"""A console geometry save whose config file hangs (a hung network mount) is given up after the time
limit with a 503 naming the file, and lets go of the reload lock: a SIGHUP behind it is refused at
once, naming the save's read still hanging, and SIGTERM stops ``serve``. A SIGTERM that comes while a
reload waits on a hung config does not wait on the tokens file's read as well.

Before, the save read the file with no time limit holding the reload lock: the request hung, a SIGHUP
behind it waited on the lock for good, and SIGTERM behind that; and a SIGTERM during a hung config
read still had the tokens file read after it. Runs the real ``edge-gateway``.

As in ``test_reload_config_hung.py``, a write lease (``fcntl(F_SETLEASE)``) on the file makes another
process's open of it wait as a hung mount would; the kernel tells the lease holder of each such open
by SIGIO, which here marks that the gateway has started reading it."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import Any

from gateway.config.bounded_read import READ_WAIT_S
from tests.integration.test_reload_config_hung import LEASE_BREAK_TIME, reload
from tests.support.command import write_config
from tests.support.serve import CLIP, Process

CAMERA = "door"
ZONE = {"name": "yard", "polygon": [[0.1, 0.1], [0.9, 0.1], [0.9, 0.9]]}
OPENED_WAIT_S = 60.0
STOP_WAIT_S = 60.0


@contextlib.contextmanager
def hung(*paths: Path) -> Iterator[threading.Event]:
    """While inside, another process's open of any of ``paths`` waits; the event is set once one
    has been tried."""
    assert int(LEASE_BREAK_TIME.read_text(encoding="ascii")) > 2 * READ_WAIT_S, "lease breaks too soon"
    opened = threading.Event()

    def note(signum: int, frame: FrameType | None) -> None:
        opened.set()

    previous = signal.signal(signal.SIGIO, note)
    descriptors: list[int] = []
    try:
        for path in paths:
            descriptors.append(os.open(path, os.O_RDONLY))
            fcntl.fcntl(descriptors[-1], fcntl.F_SETLEASE, fcntl.F_WRLCK)
        yield opened
    finally:
        for descriptor in descriptors:
            os.close(descriptor)  # gives the lease up: the open held waiting goes on
        signal.signal(signal.SIGIO, previous)


def wait_for(event: threading.Event, what: str) -> None:
    deadline = time.monotonic() + OPENED_WAIT_S
    while not event.wait(0.1):  # short waits: the SIGIO handler runs between them
        assert time.monotonic() < deadline, f"{what} within {OPENED_WAIT_S} s"


def call(port: int, method: str, body: Any = None) -> tuple[int, Any]:
    """The status and JSON answer of the camera's geometry endpoint."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/v1/cameras/{CAMERA}/geometry",
        data,
        {"Content-Type": "application/json"},
        method=method,
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def start(tmp_path: Path, processes: list[Process], **sections: Any) -> tuple[Process, Path]:
    camera = {"id": CAMERA, "url": str(CLIP), "detect_fps": 1, "model": "face-detector"}
    config = write_config(tmp_path / "gateway.yaml", "geometry-hung", cameras=[camera], **sections)
    gateway = Process(["serve", "--config", str(config)], tmp_path / "gateway.log")
    processes.append(gateway)
    return gateway, config


def test_a_save_whose_config_hangs_answers_503_and_sighup_and_sigterm_still_act(
    tmp_path: Path, processes: list[Process]
) -> None:
    # Given a running gateway whose config file is on a mount that hangs
    gateway, config = start(tmp_path, processes)
    port = gateway.api_port()
    written = config.read_text(encoding="utf-8")
    status, loaded = call(port, "GET")
    assert status == 200, loaded
    with hung(config):
        # When the console saves the camera's zones
        status, answer = call(port, "PUT", {"zones": [ZONE], "lines": [], "version": loaded["version"]})

        # Then the save is refused as unavailable, naming the file and the time limit
        assert status == 503, answer
        assert f"{config}: cannot read: reading it did not finish within {READ_WAIT_S:g} s" in answer["error"]
        # And the editor shows the geometry, read-only while the save's read still hangs
        status, shown = call(port, "GET")
        assert (status, shown["zones"], shown["editable"]) == (200, loaded["zones"], False), shown
        assert "the read a console save started" in shown["read_only_reason"]
        # And a SIGHUP is refused at once, naming the save's read still hanging
        said = reload(gateway, f"{config}: cannot read: ")
        assert f"{config}: cannot read: the read a console save started" in said, said
        # And SIGTERM stops the gateway while the read still hangs
        gateway.signal(signal.SIGTERM)
        assert gateway.process.wait(STOP_WAIT_S) == 0, gateway.output()
    assert config.read_text(encoding="utf-8") == written


def test_sigterm_during_a_hung_config_read_skips_the_tokens_files_read(
    tmp_path: Path, processes: list[Process]
) -> None:
    # Given a running gateway whose config and tokens files are both on a mount that hangs
    tokens = tmp_path / "tokens"
    tokens.write_text("a-token\n", encoding="utf-8")
    gateway, config = start(tmp_path, processes, http={"port": 0, "tokens_file": str(tokens)})
    gateway.api_port()
    with hung(config, tokens) as opened:
        # When it is told to reload, and SIGTERM comes once the reload has started reading the config
        gateway.signal(signal.SIGHUP)
        wait_for(opened, "the reload opened no file")
        gateway.signal(signal.SIGTERM)

        # Then it stops without reading the tokens file after the config's read is given up
        assert gateway.process.wait(STOP_WAIT_S) == 0, gateway.output()
    output = gateway.output()
    assert f"{config}: cannot read: reading it did not finish" in output, output
    assert not [line for line in output.splitlines() if f"{tokens}" in line and "cannot read" in line], output
