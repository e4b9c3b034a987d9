"""The text files a config names are read bounded: a path naming a device (``/dev/zero``) was read
until memory ran out, with nothing said (check-config, serve, audit verify's keys, the tokens and
password files, the signing key). A pipe (``<(command)``) is still read to its end."""

from __future__ import annotations

import os
import threading
import tracemalloc
from pathlib import Path

import pytest

from gateway.audit.keys_file import load_keys
from gateway.cli import main
from gateway.config import read_config_text, read_text_file
from gateway.config.text_file import MAX_TEXT_FILE_BYTES
from gateway.delivery.signing_key import read_key
from gateway.errors import AuditError, ConfigError, OutboxError
from gateway.protocol.bearer import load_tokens

DEVICE = Path("/dev/zero")


def test_check_config_refuses_a_device_by_name(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check-config", str(DEVICE)]) == 2
    assert "/dev/zero is a device, not a file" in capsys.readouterr().err


def test_a_file_over_the_bound_is_refused_by_size(tmp_path: Path) -> None:
    path = tmp_path / "gateway.yaml"
    path.write_bytes(b"#" * (MAX_TEXT_FILE_BYTES + 1))
    with pytest.raises(ConfigError, match="is larger than 16 MiB"):
        read_config_text(path)


def test_a_file_at_the_bound_is_read_whole(tmp_path: Path) -> None:
    path = tmp_path / "gateway.yaml"
    path.write_bytes(b"#" * MAX_TEXT_FILE_BYTES)
    assert len(read_config_text(path)) == MAX_TEXT_FILE_BYTES


def test_a_small_file_is_read_without_allocating_the_bound(tmp_path: Path) -> None:
    # A read of the whole bound at once allocated 16 MiB for each read of a config of a few KiB:
    # under a tight RLIMIT_AS or RLIMIT_DATA, every reload and console save failed.
    path = tmp_path / "gateway.yaml"
    path.write_text("cameras: []\n")
    tracemalloc.start()
    try:
        read_config_text(path)
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < MAX_TEXT_FILE_BYTES // 16


@pytest.mark.parametrize(
    ("read", "error", "said"),
    [
        (load_keys, AuditError, "is a device, not a file"),
        (load_tokens, ConfigError, "is a device, not a file"),
        # Refused before it is opened, as a FIFO is, which would block the open.
        (read_key, OutboxError, "is a device, not a regular file"),
    ],
    ids=["audit keys", "bearer tokens", "signing key"],
)
def test_every_named_file_refuses_a_device(read: object, error: type[Exception], said: str) -> None:
    with pytest.raises(error, match=said):
        read(DEVICE)  # type: ignore[operator]


def test_a_pipe_is_read_to_its_end() -> None:
    reading, writing = os.pipe()
    text = "device_id: gate\n" * 10_000  # more than a pipe's buffer: the writer blocks until read

    def write() -> None:
        with os.fdopen(writing, "w") as stream:
            stream.write(text)

    writer = threading.Thread(target=write)
    writer.start()
    try:
        assert read_text_file(Path(f"/dev/fd/{reading}")) == text
    finally:
        writer.join(10)
        os.close(reading)
