"""One bit flipped in a SQLite file, as a disk fault flips it: the bit that tells a value's type in
its record's header, so that SQLite reads the same bytes back as another type (a BLOB as TEXT).

The bit is found as the fuzzing of damaged files found it: the change is made with SQL on a copy,
the two files are compared, and the one bit that differs past the file's header is flipped in the
file itself, which SQLite never wrote to: no journal, no change counter, no schema change."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

HEADER_BYTES = 100
"""SQLite's file header, whose change counter any write through SQLite moves."""


def flip_type_bit(path: Path, change: str) -> int:
    """Flip in ``path`` (closed, its -wal checkpointed) the one bit the ``UPDATE`` ``change`` alters
    on a copy; returns its offset. Fails when ``change`` alters more than one bit."""
    copy = path.with_name(path.name + ".copy")
    shutil.copyfile(path, copy)
    db = sqlite3.connect(copy)
    try:
        db.execute(change)
        db.commit()
    finally:
        db.close()
    original, changed = path.read_bytes(), copy.read_bytes()
    copy.unlink()
    differing = [
        offset
        for offset in range(HEADER_BYTES, min(len(original), len(changed)))
        if original[offset] != changed[offset]
    ]
    assert len(differing) == 1, f"{change!r} changed bytes at {differing}, not one bit"
    (offset,) = differing
    assert bin(original[offset] ^ changed[offset]).count("1") == 1, "more than one bit of that byte"
    data = bytearray(original)
    data[offset] = changed[offset]
    path.write_bytes(bytes(data))
    return offset
