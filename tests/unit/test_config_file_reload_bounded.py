"""A reload's read of the config file is bounded: one that blocks (here a real FIFO that nobody writes
to, read without the regular-file check, as a hung network mount would block) fails the reload
naming the file and the time limit, the running config stays, and no second read is started while
it hangs; once it ends, the next reload reads the file again. The default read refuses what is no
regular file before opening it, naming what it is, and re-scans the models with the running config.

Before, the reload read the file with no time limit: ``serve`` waited for it, and SIGTERM behind it.
``tests/integration/test_reload_config_hung.py`` shows that on the real ``serve``."""

from __future__ import annotations

import logging
import os
import socket
from pathlib import Path

import pytest

from gateway.config import GatewayConfig, parse_config, read_config_text
from gateway.pipeline.config_file import ConfigFile
from tests.support.fifo import release

WAIT_S = 0.2
RUNNING = parse_config("device_id: running-box\n")


class Applied:
    """What the reloads put in force: ``ConfigFile``'s ``apply``."""

    def __init__(self) -> None:
        self.configs: list[GatewayConfig] = []

    def __call__(self, config: GatewayConfig) -> None:
        self.configs.append(config)

    def device_ids(self) -> list[str]:
        return [config.device_id for config in self.configs]


def test_a_read_that_blocks_fails_the_reload_naming_the_file_and_the_limit(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Given a config file whose reads go to a FIFO nobody writes to
    path = tmp_path / "gateway.yaml"
    os.mkfifo(path)
    applied = Applied()
    config_file = ConfigFile(path, lambda: RUNNING, applied, read=read_config_text, read_wait_s=WAIT_S)

    # When two reloads read it while the first read still blocks
    caplog.set_level(logging.ERROR, logger="gateway.pipeline.config_file")
    try:
        config_file.reload()
        config_file.reload()
    finally:
        release(path, "config-file-read")

    # Then each is refused naming the file, the first with the time limit, and nothing is applied
    first, second = (record.getMessage() for record in caplog.records)
    assert first == (
        "reload refused, the running config stays:\n"
        f"{path}: cannot read: reading it did not finish within {WAIT_S:g} s (a hung network mount?)"
    )
    assert second.startswith(f"reload refused, the running config stays:\n{path}: cannot read: ")
    assert "the read a reload started" in second
    assert second.endswith("has not finished (a hung network mount?)")
    assert applied.configs == []

    # And once the blocked read has ended, the next reload reads the file again
    path.unlink()
    path.write_text("device_id: new-box\n", encoding="utf-8")
    config_file.reload()
    assert applied.device_ids() == ["new-box"]


@pytest.mark.parametrize("kind", ["a directory", "a FIFO", "a socket", "a device"])
def test_the_default_read_names_what_is_no_regular_file_and_keeps_the_running_config(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, kind: str
) -> None:
    # Given a config file replaced by something that is no regular file
    path = tmp_path / "gateway.yaml"
    with socket.socket(socket.AF_UNIX) as listener:
        if kind == "a directory":
            path.mkdir()
        elif kind == "a FIFO":
            os.mkfifo(path)
        elif kind == "a socket":
            listener.bind(str(path))
        else:
            path.symlink_to(os.devnull)
        applied = Applied()
        config_file = ConfigFile(path, lambda: RUNNING, applied)

        # When it is reloaded
        caplog.set_level(logging.WARNING, logger="gateway.pipeline.config_file")
        config_file.reload()

    # Then the reload names what it is, and re-scans the models with the running config
    (record,) = caplog.records
    assert record.getMessage() == (
        f"reload: the config {path} is {kind}, not a regular file, so it is not read again: the "
        "running config stays; models re-scanned"
    )
    assert applied.configs == [RUNNING]
