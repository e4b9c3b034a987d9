"""What a file camera's URL or path names: a video file, or an image sequence (``frames/%05d.jpg``),
which OpenCV's FFmpeg backend plays like a video, at 25 fps, looping; else why it cannot be opened.

FFmpeg's image2 demuxer looks for a sequence's first image among the numbers 0 to 4 alone unless
it is told where to start (``start_number``): a camera's frames saved from ``img100.png`` on did not
open at all. ``sequence_start`` finds the number to start from. It also stops at the first number
whose image is missing, so a sequence with a gap (a frame deleted, a recorder restarted) played its
first run over and over; ``next_in_sequence`` finds where the images past a gap start. It reads the
whole path as its pattern, folders included: ``ffmpeg_pattern`` doubles a '%' in them (a folder
``100%`` or ``run%d``), which it otherwise took for a broken pattern. ``file_identity`` tells, at
each loop, whether the file was replaced or rewritten since it was opened, and ``image_size`` an
image's size from its header (FFmpeg scales every image of a run to the size of its first).

A raw H.264 or H.265 stream whose picture size changes part way (``cat small.h264 large.h264``, a
recorder that followed a camera's new profile) is scaled to its first size the same way, to its end:
``elementary.size_segments`` finds where each size starts from the stream's sequence parameter sets,
and ``file_range.FileRange`` shows OpenCV one of those parts as if it were the whole file.
"""

from __future__ import annotations

import errno
import os
import re
import stat
from pathlib import Path
from urllib.parse import unquote

from gateway.errors import SourceError
from gateway.image_format import header_size
from gateway.ingest.urls import file_host, file_path

__all__ = [
    "FileIdentity",
    "decoded_file_path",
    "ffmpeg_pattern",
    "file_identity",
    "file_problem",
    "image_size",
    "local_path",
    "next_in_sequence",
    "sequence_image",
    "sequence_start",
]

# FFmpeg's image2 pattern: one printf integer (%d, %3d, %03d) in the file name; %% is a literal %.
_FRAME_NUMBER = re.compile(r"%(0?\d*)d")
# The frame numbers a file URL's last segment may hold (``decoded_file_path``), as one group.
_URL_FRAME_NUMBER = re.compile(r"(%(?:[01]\d*)?d)")
LARGEST_FRAME_NUMBER = 2**31 - 1
"""FFmpeg's ``start_number`` is a C int."""
FileIdentity = tuple[int, int, int, int]
"""(device, inode, size, modification time) of a file."""


def local_path(url: str) -> str:
    """The local path a file camera's ``url`` names: as written, or with its percent-escapes decoded
    (RFC 8089, as ``Path.as_uri`` writes ``my%20clip.mp4``) where only that names a file or an
    image sequence. SourceError for a file URL naming another host (``file://videos/clip.mp4`` is
    ``/clip.mp4`` on the host ``videos``, not the relative path it looks like)."""
    host = file_host(url)
    if host is not None:
        raise SourceError(
            f"the file url names the host {host!r}; a file camera reads this machine's files: "
            "write file:///absolute/path or a plain path"
        )
    path = file_path(url)
    if path == url:  # a plain path, taken as written
        return path
    decoded = decoded_file_path(path)
    if decoded != path and file_problem(Path(path)) is not None and file_problem(Path(decoded)) is None:
        return decoded
    return path


def decoded_file_path(path: str) -> str:
    """A file URL's ``path`` with its percent-escapes decoded, an image sequence's frame number
    kept: in the last segment, ``%d`` and a ``%`` with a width starting 0 or 1 (``%03d``, ``%10d``)
    are the frame number, which no escape means there (one would decode to a control character); a
    literal '%' is written ``%25`` anywhere (``file:///x/100%25/img%03d.png`` is the sequence
    ``img%03d.png`` in the folder ``100%``), and is kept as ``%%`` in a sequence's name, where a
    bare '%' would be read as part of its pattern."""
    folder, slash, name = path.rpartition("/")
    pieces = _URL_FRAME_NUMBER.split(name)
    if len(pieces) == 1:
        return unquote(folder) + slash + unquote(name)
    literal = [unquote(piece).replace("%", "%%") for piece in pieces[::2]]
    numbers = [*pieces[1::2], ""]
    return (
        unquote(folder)
        + slash
        + "".join(part + number for part, number in zip(literal, numbers, strict=True))
    )


def file_problem(path: Path) -> str | None:
    """Why ``path`` cannot be a file camera's source, or None when it names a regular file or an
    image sequence with at least one image."""
    try:
        status = path.stat()
    except FileNotFoundError:
        if path.is_symlink():
            return f"{path} is a symbolic link to {os.readlink(path)}, which does not exist"
        status = None
    except OSError as exc:
        # A link loop or an unreadable folder: not "no such video file", which sent people looking
        # for a typo in a path that is there.
        if exc.errno == errno.ELOOP:
            return f"{path} goes through a symbolic link that leads back to itself (a link loop)"
        return f"cannot look at {path}: {exc.strerror or exc}"
    if status is not None:
        if stat.S_ISREG(status.st_mode):
            return None
        if stat.S_ISDIR(status.st_mode):
            return f"{path} is a directory, not a video file"
        return f"{path} is not a regular file (a device or a pipe), not a video file"
    if _sequence(path.name) is None:
        return f"no such video file: {path}"
    try:
        images = _sequence_images(path)
    except SourceError as exc:
        return str(exc)
    if not images:
        return f"no image matches the sequence {path}"
    start = min(images)
    if start > LARGEST_FRAME_NUMBER:
        return f"the sequence {path} starts at {start}, past the largest frame number FFmpeg takes"
    unreadable = [number for number, regular in images.items() if not regular]
    if unreadable:
        # FFmpeg would open it as an image: a pipe blocks the reader until a writer comes, for good.
        return (
            f"{sequence_image(path, min(unreadable))} is not a regular file (a directory, a device or a "
            f"pipe), not an image: the sequence {path} cannot be played"
        )
    return None


def file_identity(path: str) -> FileIdentity | None:
    """What changes when the file at ``path`` is replaced, rewritten, truncated or grown; None when
    nothing is there any more."""
    try:
        status = os.stat(path)
    except OSError:
        return None
    return status.st_dev, status.st_ino, status.st_size, status.st_mtime_ns


IMAGE_HEADER_BYTES = 65536
"""Bytes read for an image's size: a JPEG's metadata (EXIF) comes before its size, in at most 64 KiB."""


def image_size(path: Path) -> tuple[int, int] | None:
    """(width, height) of the PNG or JPEG at ``path`` as its header gives it; None for another
    format, or when it cannot be read."""
    try:
        with path.open("rb") as image:
            return header_size(image.read(IMAGE_HEADER_BYTES))
    except OSError:
        return None


def sequence_start(path: Path) -> int | None:
    """The first frame number of the image sequence ``path`` names (the smallest one whose image is
    there), or None when ``path`` is no sequence or no image matches it. SourceError when its
    folder cannot be listed."""
    return min(_sequence_images(path), default=None)


def next_in_sequence(path: Path, after: int) -> int | None:
    """The smallest frame number past ``after`` whose image the sequence ``path`` has (one FFmpeg
    takes), or None when it has none. SourceError when its folder cannot be listed."""
    return min(
        (number for number in _sequence_images(path) if after < number <= LARGEST_FRAME_NUMBER),
        default=None,
    )


def sequence_image(path: Path, number: int) -> Path:
    """The image numbered ``number`` of the sequence ``path``."""
    parts = _FRAME_NUMBER.split(path.name.replace("%%", "\0"))
    if len(parts) != 3:
        raise ValueError(f"{path} is no image sequence")
    prefix, width, suffix = parts
    return path.with_name(f"{prefix}{f'%{width}d' % number}{suffix}".replace("\0", "%"))


def ffmpeg_pattern(path: str) -> str:
    """The image sequence ``path`` as FFmpeg's image2 demuxer reads it: a '%' in its folders written
    as '%%', since the demuxer takes every '%' of the path for part of the pattern."""
    folder, name = os.path.split(path)
    return os.path.join(folder.replace("%", "%%"), name) if folder else name


def _sequence_images(path: Path) -> dict[int, bool]:
    """The frame numbers of the images the sequence ``path`` has, each with whether its image is a
    regular file; empty when ``path`` is no sequence or its folder is missing. A link to nothing is
    no image (FFmpeg, too, takes its number for a gap). SourceError naming the folder when it is
    there but cannot be listed (searchable but not readable): that is a fault its camera reports
    and retries, like a missing image, not one that ends its reader."""
    sequence = _sequence(path.name)
    if sequence is None:
        return {}
    pattern, number_format = sequence
    images = {}
    try:
        if not path.parent.is_dir():
            return {}
        with os.scandir(path.parent) as entries:
            for entry in entries:
                match = pattern.fullmatch(entry.name)
                # The number must print back as it is written: %03d never writes 0100, nor %d 07.
                if match is None or number_format % int(match[1]) != match[1]:
                    continue
                regular = entry.is_file()  # the directory's own file types: no stat for most entries
                if regular or not entry.is_symlink() or os.path.exists(entry.path):
                    images[int(match[1])] = regular
    except (FileNotFoundError, NotADirectoryError):
        return {}  # removed or replaced since it was looked at: no image, as when it was missing
    except OSError as exc:
        raise SourceError(
            f"cannot list the folder {path.parent} of the image sequence {path}: {exc.strerror or exc}"
        ) from exc
    return images


def _sequence(name: str) -> tuple[re.Pattern[str], str] | None:
    """The file names an image-sequence pattern such as ``img%03d.png`` stands for (the frame
    number its one group) and the printf format of that number, or None when ``name`` is no such
    pattern."""
    parts = _FRAME_NUMBER.split(name.replace("%%", "\0"))
    if len(parts) != 3:
        return None  # no frame number, or more than one: not what FFmpeg takes for a sequence
    prefix, width, suffix = parts
    # At least one digit, however wide the padding (%0d pads nothing).
    digits = rf"\d{{{max(1, int(width))},}}" if width.startswith("0") else r"\d+"
    literal = [re.escape(part.replace("\0", "%")) for part in (prefix, suffix)]
    return re.compile(f"{literal[0]}({digits}){literal[1]}"), f"%{width}d"
