"""Running out of file descriptors is named for what it is where it was masked: a video file's
diagnosis said the file was unreadable, the outbox said SQLite's "unable to open database file", and
a model reload logged a traceback."""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

import pytest

from gateway.delivery import outbox_file
from gateway.errors import OutboxError
from gateway.inference.polling import ProblemLog
from gateway.ingest.file_diagnosis import file_not_opened
from tests.support.descriptors import every_descriptor_taken

TOO_MANY = "too many open files (open-files limit "


def test_a_video_file_not_opened_for_want_of_descriptors_says_so(tmp_path: Path) -> None:
    video = tmp_path / "clip.mp4"
    video.write_bytes(b"\x00\x00\x00\x18ftypisom" + bytes(64))
    with every_descriptor_taken():
        reason = file_not_opened(video, "clip.mp4")
    assert reason.startswith(f"cannot open clip.mp4: {TOO_MANY}"), reason


def test_an_outbox_not_created_for_want_of_descriptors_says_so(tmp_path: Path) -> None:
    def make(database: sqlite3.Connection) -> None:
        database.execute("CREATE TABLE alerts (seq INTEGER PRIMARY KEY)")

    with every_descriptor_taken(), pytest.raises(OutboxError) as raised:
        outbox_file.create(tmp_path / "outbox.db", sqlite3.connect, make)
    assert f"cannot create: {TOO_MANY}" in str(raised.value), raised.value


def test_a_reload_failing_on_a_file_logs_one_line(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR)
    error = OSError(24, "Too many open files", "models/face-detector/1/model.onnx")
    ProblemLog().report("face-detector", error)
    [record] = caplog.records
    assert record.exc_info is None
    assert TOO_MANY in record.getMessage()
    assert "model.onnx" in record.getMessage()
