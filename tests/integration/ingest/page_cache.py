"""How much of a file the page cache holds, and dropping it from there: the bytes a reader has
read since are the ones cached (``mincore``), a measure of work with no clock in it."""

from __future__ import annotations

import ctypes
import ctypes.util
import mmap
import os
from pathlib import Path

_LIBC = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
_LIBC.mmap.restype = ctypes.c_void_p
_LIBC.mmap.argtypes = [
    ctypes.c_void_p,
    ctypes.c_size_t,
    ctypes.c_int,
    ctypes.c_int,
    ctypes.c_int,
    ctypes.c_long,
]
_LIBC.mincore.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_char_p]
_LIBC.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]


def evict(path: Path) -> None:
    """Drop ``path``'s pages from the page cache, so that the ones there later are the ones read."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
        os.posix_fadvise(descriptor, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(descriptor)


def bytes_cached(path: Path) -> int:
    """How many bytes of ``path`` the page cache holds (mincore; mapping the file reads none)."""
    size = path.stat().st_size
    descriptor = os.open(path, os.O_RDONLY)
    try:
        address = _LIBC.mmap(None, size, mmap.PROT_READ, mmap.MAP_SHARED, descriptor, 0)
        assert address not in (None, ctypes.c_void_p(-1).value), ctypes.get_errno()
        try:
            pages = ctypes.create_string_buffer((size + mmap.PAGESIZE - 1) // mmap.PAGESIZE)
            assert _LIBC.mincore(address, size, pages) == 0, ctypes.get_errno()
        finally:
            _LIBC.munmap(address, size)
    finally:
        os.close(descriptor)
    return sum(page & 1 for page in pages.raw) * mmap.PAGESIZE


def repeated_out_of_cache(recording: Path, path: Path, least_bytes: int) -> Path:
    """``recording`` written again and again into ``path`` until it holds ``least_bytes``, then
    dropped from the page cache (a large file of known content, whose later reads ``bytes_cached``
    counts)."""
    data = recording.read_bytes()
    with path.open("wb") as file:
        for _ in range(least_bytes // len(data) + 1):
            file.write(data)
    evict(path)
    assert bytes_cached(path) < path.stat().st_size // 100
    return path
