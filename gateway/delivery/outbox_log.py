"""Whether the outbox's write-ahead log still holds every commit its shared-memory index records.

SQLite replays ``outbox.db-wal`` after a crash up to its first frame that does not check out, and
keeps quiet about the rest: a log cut short (a copy of the state directory stopped part way, a file
system repaired after a power loss) or damaged part way loses the alerts committed after the damage
without a word. ``outbox.db-shm``, left by the same crash, records how many frames the log held at
its last commit; it is read here before SQLite opens the outbox (the first connection rebuilds it).

Formats: https://www.sqlite.org/fileformat2.html ("The WAL File Format" and "The WAL-Index Format").
A shortfall is said, not refused: transactions committed with ``synchronous=NORMAL`` (the delivery
marks, or every commit under ``outbox.synchronous: normal``) are not fsync'd, so after a power loss
the index may count frames the log never got, and none of those lost is an alert under ``full``.
"""

from __future__ import annotations

import logging
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

logger = logging.getLogger("gateway.delivery.outbox")

INDEX_VERSION = 3007000
LOG_HEADER_BYTES = 32
FRAME_HEADER_BYTES = 24
_LOG_MAGIC = {0x377F0682: "<", 0x377F0683: ">"}
"""The log's magic number -> the byte order of its checksums' words."""
_INDEX_HEADER = struct.Struct("=IIIBBHIIIIIIII")
"""The wal-index header, in the machine's own byte order, kept twice at the start of the -shm file."""
_INDEX_HEADER_BYTES = 48


@dataclass(frozen=True, slots=True)
class Shortfall:
    """The log holds ``held`` of the ``recorded`` frames its index records (both counted from 1)."""

    held: int
    recorded: int
    why: str


def shortfall(log: Path, index: Path) -> Shortfall | None:
    """What the log lacks of what its index records; None when it holds it all, or when there is
    nothing to compare (no index, one SQLite did not finish writing, or it records no frame)."""
    try:
        index_bytes = _read_prefix(index, 2 * _INDEX_HEADER_BYTES)
    except FileNotFoundError:
        return None
    recorded = _recorded(index_bytes)
    if recorded is None:
        return None
    frames, salt, page_size = recorded
    try:
        with log.open("rb") as file:
            return _compare(file, frames, salt, page_size)
    except FileNotFoundError:
        return Shortfall(0, frames, "it is missing")


def _read_prefix(path: Path, size: int) -> bytes:
    with path.open("rb") as file:
        return file.read(size)


def _recorded(index_bytes: bytes) -> tuple[int, bytes, int] | None:
    """(frames, salt, page size) of a whole and checked index header that records frames."""
    if len(index_bytes) < 2 * _INDEX_HEADER_BYTES:
        return None
    first, second = index_bytes[:_INDEX_HEADER_BYTES], index_bytes[_INDEX_HEADER_BYTES:]
    if first != second:
        return None  # caught while SQLite wrote it: it counts for nothing
    fields = _INDEX_HEADER.unpack(first)
    version, initialised, page_field, frames = fields[0], fields[3], fields[5], fields[6]
    if version != INDEX_VERSION or initialised != 1 or frames == 0:
        return None
    if _checksum(first[:40], "=", (0, 0)) != fields[12:14]:
        return None
    page_size = (page_field & 0xFE00) + ((page_field & 0x0001) << 16)
    return frames, first[32:40], page_size


def _compare(log: BinaryIO, frames: int, salt: bytes, page_size: int) -> Shortfall | None:
    """Frame by frame, as SQLite replays the log: a log may be far larger than memory should hold."""
    header = log.read(LOG_HEADER_BYTES)
    if len(header) < LOG_HEADER_BYTES:
        return Shortfall(0, frames, f"it is {len(header)} bytes, shorter than its header")
    magic, _, log_page_size = struct.unpack(">III", header[:12])
    order = _LOG_MAGIC.get(magic)
    checksum = _checksum(header[:24], order or ">", (0, 0))
    if order is None or checksum != struct.unpack(">II", header[24:32]):
        return Shortfall(0, frames, "its header is damaged")
    if header[16:24] != salt or log_page_size != page_size:
        return Shortfall(0, frames, "it is not the log its index was written for (an older copy?)")
    frame_bytes = FRAME_HEADER_BYTES + page_size
    committed = 0
    for number in range(1, frames + 1):
        frame = log.read(frame_bytes)
        if len(frame) < frame_bytes:
            return Shortfall(committed, frames, "it was cut short")
        if frame[8:16] != salt:
            return Shortfall(committed, frames, "it was overwritten part way")
        checksum = _checksum(frame[FRAME_HEADER_BYTES:], order, _checksum(frame[:8], order, checksum))
        if checksum != struct.unpack(">II", frame[16:24]):
            return Shortfall(committed, frames, "it is damaged part way")
        if struct.unpack(">I", frame[4:8])[0] != 0:  # the database's size in pages: a commit's last frame
            committed = number
    return None if committed == frames else Shortfall(committed, frames, "its last commit is incomplete")


def _checksum(data: bytes, order: str, start: tuple[int, int]) -> tuple[int, int]:
    """SQLite's WAL checksum of ``data`` (a multiple of 8 bytes) from ``start``."""
    first, second = start
    words = struct.unpack(f"{order}{len(data) // 4}I", data)
    for index in range(0, len(words), 2):
        first = (first + words[index] + second) & 0xFFFFFFFF
        second = (second + words[index + 1] + first) & 0xFFFFFFFF
    return first, second


def say_shortfall(path: Path, log: Path, index: Path) -> None:
    """Log, as an error, what the outbox at ``path``'s log lacks of what its index records."""
    try:
        found = shortfall(log, index)
    except OSError as exc:
        logger.warning("outbox %s: cannot read %s or %s to check them: %s", path, log, index, exc)
        return
    if found is not None:
        logger.error(
            "outbox %s: its write-ahead log %s holds %d of the %d frames %s recorded when the gateway "
            "last committed before stopping without closing it (a crash or power loss): %s; the "
            "alerts committed in the rest are lost unless the state directory is restored from a "
            "backup (after a power loss, frames never fsync'd count too: delivery marks, or every "
            "commit under outbox.synchronous: normal)",
            path,
            log.name,
            found.held,
            found.recorded,
            index.name,
            found.why,
        )
