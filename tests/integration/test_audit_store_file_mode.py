"""The audit store's SQLite file, and the folder made for it, are the audit service's user's alone
whatever the umask: they hold every device's alerts and camera pictures. Real files, made under a
umask that takes nothing away (a shell's ``umask 0``)."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.audit.database_file import open_to_serve


@pytest.fixture
def umask_0() -> Iterator[None]:
    previous = os.umask(0)
    yield
    os.umask(previous)


@pytest.mark.usefixtures("umask_0")
def test_a_new_store_and_its_folder_are_made_private(tmp_path: Path) -> None:
    # Given no store yet, nor the folder it goes in
    path = tmp_path / "audit" / "store.db"

    # When the store is opened to serve, made there
    connection = open_to_serve(path)
    try:
        modes = {file.name: stat.S_IMODE(file.stat().st_mode) for file in path.parent.iterdir()}
    finally:
        connection.close()

    # Then the folder is 0700, and the file with its log and shared memory 0600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert modes == {"store.db": 0o600, "store.db-shm": 0o600, "store.db-wal": 0o600}
