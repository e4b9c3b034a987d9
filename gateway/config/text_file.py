"""Reading the small text files a config names (the config itself, model.yaml, keys, tokens,
passwords), bounded: a path that names a device (``/dev/zero``, ``/dev/urandom``) or a huge file
would otherwise be read until memory runs out, with nothing said.

A file that starts with a UTF-16 or UTF-32 byte order mark is refused naming its encoding: Windows
PowerShell 5's ``>`` and ``Out-File`` write UTF-16 by default, and the decoder alone would say only
that byte 0xff is not UTF-8. It is not decoded as UTF-16 instead: every such file is UTF-8 by
contract, and the config itself is refused the same way.

``read_named_text`` names what it cannot read as the config's errors do, undecodable bytes by the
line and the column (byte) where they start."""

from __future__ import annotations

import codecs
import os
import stat
from pathlib import Path
from typing import BinaryIO

from gateway.errors import ConfigError, ConfigProblem

MAX_TEXT_FILE_BYTES = 16 * 1024 * 1024
"""Largest such file read: a config with a hundred cameras and their zones is some 100 KB."""
READ_CHUNK_BYTES = 64 * 1024

_WIDE_BYTE_ORDER_MARKS = (
    # UTF-32's little-endian mark starts with UTF-16's: looked for first.
    (codecs.BOM_UTF32_LE, "UTF-32"),
    (codecs.BOM_UTF32_BE, "UTF-32"),
    (codecs.BOM_UTF16_LE, "UTF-16"),
    (codecs.BOM_UTF16_BE, "UTF-16"),
)


class WideTextError(UnicodeDecodeError):
    """Text read as ``encoding`` that a byte order mark says is UTF-16 or UTF-32. A
    UnicodeDecodeError, so that every reader's handling of undecodable bytes takes it; its message
    names the encoding found and the likely writer."""

    def __str__(self) -> str:
        return self.reason


def read_text_file(path: Path, encoding: str = "utf-8", max_bytes: int = MAX_TEXT_FILE_BYTES) -> str:
    """The text of ``path``; OSError naming the problem for a device or a file over ``max_bytes``
    (and as ``open`` raises it for a missing file or a directory), UnicodeDecodeError for bytes that
    are not ``encoding`` (WideTextError for UTF-16 or UTF-32). A pipe is read to its end
    (``<(command)`` in a shell)."""
    with path.open("rb") as stream:
        mode = stat.S_IFMT(os.fstat(stream.fileno()).st_mode)
        if mode in (stat.S_IFCHR, stat.S_IFBLK):
            raise OSError(f"{path} is a device, not a file")
        return read_text_stream(stream, str(path), encoding, max_bytes)


def read_named_text(path: Path, key: str = "", *, secret: bool = False) -> str:
    """``read_text_file``, what it raises as a ConfigError naming ``path`` and ``key``, the setting
    that names the file ("" for the config itself); ``secret``: see ``text_problem``."""
    try:
        return read_text_file(path)
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([text_problem(exc, str(path), key, secret=secret)]) from exc


def text_problem(
    error: OSError | UnicodeDecodeError, source: str, key: str = "", *, secret: bool = False
) -> ConfigProblem:
    """The problem to show for a file (or stream) ``source`` that ``read_text_file`` (or
    ``read_text_stream``) refused with ``error``. ``secret``: the file holds secrets (tokens, a
    password, keys), so an undecodable byte is named by its place only, not its value: a byte of a
    password in a log is a part of the password."""
    if not isinstance(error, UnicodeDecodeError) or isinstance(error, WideTextError):
        # strerror alone: the path is the problem's source already, and "[Errno 2]" is no help.
        reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
        return ConfigProblem(source, None, key, f"cannot read: {reason}")
    # The decoder counts bytes from the start of the file; the person fixing it looks for a line.
    before = error.object[: error.start]
    line = before.count(b"\n") + 1
    column = error.start - (before.rfind(b"\n") + 1) + 1
    byte = "the byte" if secret else f"byte 0x{error.object[error.start]:02x}"
    problem = f"cannot read: {byte} (column {column}) is not UTF-8: save the file as UTF-8"
    return ConfigProblem(source, line, key, problem)


def read_text_stream(
    stream: BinaryIO, source: str, encoding: str = "utf-8", max_bytes: int = MAX_TEXT_FILE_BYTES
) -> str:
    """The text of ``stream`` to its end: OSError naming ``source`` past ``max_bytes``,
    UnicodeDecodeError for bytes that are not ``encoding`` (WideTextError for UTF-16 or UTF-32)."""
    # In chunks: one read of the whole bound would allocate all of it for every few-KiB config.
    data = bytearray()
    while chunk := stream.read(min(READ_CHUNK_BYTES, max_bytes + 1 - len(data))):
        data += chunk
        if len(data) > max_bytes:
            raise OSError(f"{source} is larger than {max_bytes // (1024 * 1024)} MiB")
    text = bytes(data)
    _refuse_wide_text(text, encoding)
    return text.decode(encoding)


def _refuse_wide_text(data: bytes, encoding: str) -> None:
    if codecs.lookup(encoding).name.startswith(("utf-16", "utf-32")):
        return
    for mark, name in _WIDE_BYTE_ORDER_MARKS:
        if data.startswith(mark):
            reason = f"the file is {name} (written by PowerShell's >?); save it as UTF-8"
            raise WideTextError(encoding, data, 0, len(mark), reason)
