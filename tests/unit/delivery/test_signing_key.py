"""A new signing key is put in place whole: on a file system without hard links too, and never over
a key another process made in the meantime."""

from __future__ import annotations

import errno
import os
import stat
import time
from pathlib import Path

import pytest

from gateway.delivery.signing_key import KEY_FILE_NAME, STALE_TEMPORARY_S, load_or_create_key

THEIRS = "cd" * 32


def no_hard_links(source: object, destination: object) -> None:
    raise OSError(errno.EPERM, os.strerror(errno.EPERM))


def test_a_file_system_without_hard_links_gets_its_key_by_a_rename(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a state_dir on a file system that refuses hard links, as FAT does
    monkeypatch.setattr(os, "link", no_hard_links)
    # When the key is made
    key = load_or_create_key(tmp_path)
    # Then it is in place, private, alone, and read back the same
    path = tmp_path / KEY_FILE_NAME
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert sorted(entry.name for entry in tmp_path.iterdir()) == [KEY_FILE_NAME]
    monkeypatch.undo()
    assert load_or_create_key(tmp_path) == key


@pytest.mark.parametrize("hard_links", [True, False], ids=["hard-links", "no-hard-links"])
def test_a_key_another_process_made_meanwhile_is_used_not_replaced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, hard_links: bool
) -> None:
    # Given another process that writes its key while this one is writing its own
    link = os.link

    def theirs_first(source: str | os.PathLike[str], destination: str | os.PathLike[str]) -> None:
        Path(destination).write_text(THEIRS + "\n", encoding="ascii")
        if hard_links:
            link(source, destination)
        else:
            no_hard_links(source, destination)

    monkeypatch.setattr(os, "link", theirs_first)
    # When this one puts its key in place, it takes theirs, and leaves no temporary file
    assert load_or_create_key(tmp_path) == bytes.fromhex(THEIRS)
    assert (tmp_path / KEY_FILE_NAME).read_text(encoding="ascii") == THEIRS + "\n"
    assert sorted(entry.name for entry in tmp_path.iterdir()) == [KEY_FILE_NAME]


@pytest.mark.parametrize("key_exists", [True, False], ids=["key-in-place", "no-key-yet"])
def test_a_temporary_key_left_by_a_killed_start_is_removed_once_stale(
    tmp_path: Path, key_exists: bool
) -> None:
    # Given a start killed while writing a key left its temporary file, and another start is writing now
    if key_exists:
        (tmp_path / KEY_FILE_NAME).write_text(THEIRS + "\n", encoding="ascii")
    leftover = tmp_path / f".{KEY_FILE_NAME}.killed.tmp"
    leftover.write_text("ab" * 32 + "\n", encoding="ascii")
    stale = time.time() - STALE_TEMPORARY_S - 5
    os.utime(leftover, (stale, stale))
    writing = tmp_path / f".{KEY_FILE_NAME}.writing.tmp"
    writing.write_text("ef" * 32 + "\n", encoding="ascii")
    # When the key is loaded or made
    load_or_create_key(tmp_path)
    # Then the stale leftover is gone, and the one being written is left to its writer
    assert sorted(entry.name for entry in tmp_path.iterdir()) == sorted([KEY_FILE_NAME, writing.name])
