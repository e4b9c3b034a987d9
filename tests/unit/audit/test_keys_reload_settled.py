"""A keys reload (``audit serve`` on SIGHUP) reads the keys file as a gateway's reload reads its
config and tokens (``gateway.config.settled_read``): a file a tool is writing in place is read until
two reads agree, so the devices whose keys were not written yet are not refused as unknown, and one
that does not stop changing within the wait is refused, the keys in force kept. The tool is a real
thread writing the real file, one step after each of the reload's reads."""

from __future__ import annotations

import itertools
import os
from pathlib import Path

import pytest

from gateway.audit.keys_file import SettledKeys
from gateway.config import read_text_file
from gateway.errors import AuditError
from tests.support.in_place_writer import InPlaceWriter

SETTLE_S = 0.05
"""A short settle: the writer's steps follow the reads, so none needs a longer one."""


def key_line(device_id: str, byte: int) -> str:
    return f"{device_id}: {bytes([byte] * 16).hex()}\n"


def test_a_keys_file_written_in_place_is_read_once_finished(tmp_path: Path) -> None:
    # Given a keys file a tool is writing again, one device's line written so far
    path = tmp_path / "keys.yaml"
    path.write_text("", encoding="utf-8")
    steps = [key_line("gate-02", 2), key_line("gate-03", 3)]
    with InPlaceWriter(path, "a", steps, read_text_file) as writer:
        path.write_text(key_line("gate-01", 1), encoding="utf-8")

        # When the keys are reloaded, the tool writing its next line after each read
        keys = SettledKeys(path, read=writer.read, settle_s=SETTLE_S).load()

    # Then the reload read on until two reads agreed: every device's key, none refused as unknown
    assert sorted(keys) == ["gate-01", "gate-02", "gate-03"]
    assert len(writer.reads) == 4


def test_a_keys_file_that_does_not_stop_changing_is_refused_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "keys.yaml"
    path.write_text(key_line("gate-01", 1), encoding="utf-8")
    lines = (f"# line {number}\n" for number in itertools.count())
    with InPlaceWriter(path, "a", lines, read_text_file) as writer, pytest.raises(AuditError) as refused:
        SettledKeys(path, read=writer.read, settle_s=SETTLE_S, wait_s=3.0).load()
    assert str(refused.value) == (
        f"the keys file {path}: keys_file: cannot read: it did not stop changing within 3 s "
        "(still being written?)"
    )


def test_a_keys_file_that_is_no_regular_file_is_refused_before_it_is_opened(tmp_path: Path) -> None:
    # A FIFO in the keys file's place: opened, it would wait for a writer and hold the service
    path = tmp_path / "keys.yaml"
    os.mkfifo(path)
    with pytest.raises(AuditError) as refused:
        SettledKeys(path, settle_s=SETTLE_S, wait_s=3.0).load()
    assert str(refused.value) == f"the keys file {path}: keys_file: is a FIFO, not a regular file"
