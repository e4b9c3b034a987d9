"""A reload's read of the config file is bounded: one that blocks (here a real FIFO that nobody writes
to, read without the regular-file check, as a hung network mount would block) fails the reload
naming the file and the time limit, the running config stays, and no second read is started while
it hangs; once it ends, the next reload reads the file again. The default read refuses what is no
regular file before opening it, naming what it is, and re-scans the models with the running config.

A file a tool is writing in place (truncated, then written in steps) is read until two reads agree,
so the reload applies the finished file; one that does not stop changing within the wait is refused
naming it, and so is an empty one (only blank lines and comments), which loads as a config of
defaults. The tool here is a real thread writing the real file, one step after each of the reload's
reads, so what each read finds does not depend on how fast the machine is.

Before, the reload read the file once and with no time limit: ``serve`` waited for it, and SIGTERM
behind it, and applied whatever part of a file being written it found, an empty one included.
``tests/integration/test_reload_config_hung.py`` shows that on the real ``serve``."""

from __future__ import annotations

import itertools
import logging
import os
import socket
from pathlib import Path

import pytest

from gateway.config import GatewayConfig, ZoneConfig, parse_config, read_config_text
from gateway.config.loading import EMPTY
from gateway.pipeline.config_file import ConfigFile, read_config_file
from tests.support.fifo import release
from tests.support.in_place_writer import InPlaceWriter

WAIT_S = 0.2
RUNNING = parse_config("device_id: running-box\n")
SETTLE_S = 0.05
"""A short settle: the writer's steps follow the reads, so none needs a longer one."""
STEPS = [
    "device_id: new-box\n",
    "cameras:\n  - id: gate\n",
    "    url: /srv/gate.mp4\n",
    "    model: affine\n",
]
WRITTEN = "".join(STEPS)
REFUSED_EMPTY = "reload refused: {}: " + EMPTY + "; the running config stays"


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


def test_a_reload_while_a_tool_writes_the_file_in_place_applies_the_finished_file(tmp_path: Path) -> None:
    # Given a config file that a tool has just truncated, to write it again in steps
    path = tmp_path / "gateway.yaml"
    path.write_text("device_id: old-box\n", encoding="utf-8")
    applied = Applied()
    with InPlaceWriter(path, "w", STEPS, read_config_file) as writer:
        config_file = ConfigFile(path, lambda: RUNNING, applied, read=writer.read, settle_s=SETTLE_S)

        # When a reload reads it, the tool taking its next step after each read
        config_file.reload()

    # Then the reload read on until two reads agreed, and applied the finished file only: not the
    # empty one, nor the first step, which is a config on its own
    assert writer.reads == ["", *itertools.accumulate(STEPS), WRITTEN]
    assert applied.configs == [parse_config(WRITTEN)]


def test_a_file_that_does_not_stop_changing_is_refused_naming_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Given a config file that a tool appends to after every read, for as long as it is read
    path = tmp_path / "gateway.yaml"
    path.write_text(WRITTEN, encoding="utf-8")
    applied = Applied()
    caplog.set_level(logging.ERROR, logger="gateway.pipeline.config_file")
    lines = (f"# line {number}\n" for number in itertools.count())
    with InPlaceWriter(path, "a", lines, read_config_file) as writer:
        config_file = ConfigFile(
            path, lambda: RUNNING, applied, read=writer.read, read_wait_s=3.0, settle_s=SETTLE_S
        )

        # When it is reloaded
        config_file.reload()

    # Then the reload is refused once the wait is over, naming the file and that it kept changing
    (record,) = caplog.records
    assert record.getMessage() == (
        "reload refused, the running config stays:\n"
        f"{path}: cannot read: it did not stop changing within 3 s (still being written?)"
    )
    assert len(writer.reads) > 2
    assert applied.configs == []


@pytest.mark.parametrize(
    "text", ["", "\n\n", "# gateway.yaml, being written\n\n   \n"], ids=["empty", "blank", "comments"]
)
def test_an_empty_file_is_refused_in_one_line_and_the_running_config_stays(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, text: str
) -> None:
    # Given a config file with nothing in it but blank lines and comments, as a tool leaves it
    # between truncating it and writing (a config of defaults, to the loader)
    path = tmp_path / "gateway.yaml"
    path.write_text(text, encoding="utf-8")
    applied = Applied()
    caplog.set_level(logging.INFO, logger="gateway.pipeline.config_file")

    # When it is reloaded
    ConfigFile(path, lambda: RUNNING, applied, settle_s=SETTLE_S).reload()

    # Then the reload is refused in one line naming the file, and nothing is applied
    (record,) = caplog.records
    assert (record.levelname, record.getMessage()) == ("ERROR", REFUSED_EMPTY.format(path))
    assert applied.configs == []


def test_a_reload_reads_a_settled_file_twice_and_a_console_save_once(tmp_path: Path) -> None:
    # Given a config file nobody is writing, and a count of its reads
    path = tmp_path / "gateway.yaml"
    path.write_text(WRITTEN, encoding="utf-8")
    running = parse_config(WRITTEN)
    reads: list[Path] = []

    def read(read_path: Path) -> str:
        reads.append(read_path)
        return read_config_file(read_path)

    applied = Applied()
    config_file = ConfigFile(path, lambda: running, applied, read=read)

    # When it is reloaded, then it is read twice, one settle apart: one wait, and it is applied
    config_file.reload()
    assert (len(reads), applied.configs) == (2, [running])

    # When the console saves a zone, then it is read once: its own write is atomic
    zone = ZoneConfig(name="yard", polygon=[(0.1, 0.1), (0.9, 0.1), (0.9, 0.9)])
    config_file.save_geometry("gate", [zone], [])
    assert len(reads) == 3
    assert applied.configs[-1].cameras[0].zones == [zone]
