"""Reading the small text files a config names (the config itself, model.yaml, keys, tokens,
passwords), bounded: a path that names a device (``/dev/zero``, ``/dev/urandom``) or a huge file
would otherwise be read until memory runs out, with nothing said."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import BinaryIO

MAX_TEXT_FILE_BYTES = 16 * 1024 * 1024
"""Largest such file read: a config with a hundred cameras and their zones is some 100 KB."""


def read_text_file(path: Path, encoding: str = "utf-8", max_bytes: int = MAX_TEXT_FILE_BYTES) -> str:
    """The text of ``path``; OSError naming the problem for a device or a file over ``max_bytes``
    (and as ``open`` raises it for a missing file or a directory), UnicodeDecodeError for bytes that
    are not ``encoding``. A pipe is read to its end (``<(command)`` in a shell)."""
    with path.open("rb") as stream:
        mode = stat.S_IFMT(os.fstat(stream.fileno()).st_mode)
        if mode in (stat.S_IFCHR, stat.S_IFBLK):
            raise OSError(f"{path} is a device, not a file")
        return read_text_stream(stream, str(path), encoding, max_bytes)


def read_text_stream(
    stream: BinaryIO, source: str, encoding: str = "utf-8", max_bytes: int = MAX_TEXT_FILE_BYTES
) -> str:
    """The text of ``stream`` to its end: OSError naming ``source`` past ``max_bytes``,
    UnicodeDecodeError for bytes that are not ``encoding``."""
    data = stream.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise OSError(f"{source} is larger than {max_bytes // (1024 * 1024)} MiB")
    return data.decode(encoding)
