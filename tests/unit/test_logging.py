from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest

from gateway.cli import configure_logging, redact


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


REDACTED_LINE = "gateway.ingest.camera: open failed for rtsp://***@10.0.0.5/stream1 [camera=gate]"


def emit(capsys: pytest.CaptureFixture[str]) -> str:
    logger = logging.getLogger("gateway.ingest.camera")
    logger.warning("open failed for %s", "rtsp://admin:hunter2@10.0.0.5/stream1", extra={"camera": "gate"})
    return capsys.readouterr().err.strip()


def test_json_lines_carry_the_context_and_no_credentials(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("info", "json")
    entry = json.loads(emit(capsys))
    assert entry["level"] == "warning"
    assert entry["camera"] == "gate"
    assert entry["message"] == "open failed for rtsp://***@10.0.0.5/stream1"


def test_under_journald_lines_have_a_priority_and_no_timestamp(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JOURNAL_STREAM", "8:12345")
    configure_logging("info", "text")
    assert (
        emit(capsys) == "<4>gateway.ingest.camera: open failed for rtsp://***@10.0.0.5/stream1 [camera=gate]"
    )


def test_plain_text_lines_have_a_timestamp_and_the_context(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("JOURNAL_STREAM", raising=False)
    configure_logging("info", "text")
    line = emit(capsys)
    assert line.endswith(
        "WARNING gateway.ingest.camera: open failed for rtsp://***@10.0.0.5/stream1 [camera=gate]"
    )
    assert line[:4].isdigit()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("mqtts://gw:s3cret@broker:8883", "mqtts://***@broker:8883"),
        ("http://token@cam/mjpg", "http://***@cam/mjpg"),
        ("rtsp://10.0.0.5/stream1", "rtsp://10.0.0.5/stream1"),
        ("user@example.org wrote", "user@example.org wrote"),
    ],
)
def test_redact(text: str, expected: str) -> None:
    assert redact(text) == expected
