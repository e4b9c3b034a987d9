"""Whether a file holds sound and no picture (a .wav, .mp3 or .m4a, an .mp4 or .mkv of audio tracks
only), from its container's headers, so that a camera pointed at one says so: OpenCV's FFmpeg
backend only fails to open such a file, which was reported as "not a readable video" like a broken
one, and an MP3 or M4A with cover art opens and plays its cover, one still picture, as a camera.

The headers are read here rather than by ffprobe, which a box may not have: a few kilobytes at the
start of the file, and for MP4 the top-level boxes' headers on the way to its ``moov``, wherever it
is (``mp4_boxes``). Anything not recognised, or cut short, is "cannot tell" (None), never "audio
only": the answer is only used to name a problem, and to refuse a file that can hold no video stream.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from itertools import islice
from pathlib import Path
from typing import BinaryIO

from gateway.ingest.mp4_boxes import MOST_TOP_LEVEL_BOXES, Box, boxes

__all__ = ["audio_only"]

_HEAD_BYTES = 256 << 10  # a Matroska file's track list, an Ogg file's first pages, an ID3 tag
_LARGEST_MOVIE_HEADER = 64 << 20  # an MP4's moov: track tables of hours of audio fit in far less
# Boxes looked at inside a moov on the way to its tracks' handlers: a real one has a handful per
# track; a crafted one of millions of empty boxes took seconds in a camera's reader thread.
_MOST_MOVIE_BOXES = 4096
_OGG_AUDIO = (b"\x01vorbis", b"OpusHead", b"\x7fFLAC", b"Speex   ")
_MATROSKA_SEGMENT, _MATROSKA_TRACKS, _MATROSKA_CLUSTER = 0x18538067, 0x1654AE6B, 0x1F43B675
_MATROSKA_TRACK_ENTRY, _MATROSKA_TRACK_TYPE = 0xAE, 0x83
_MATROSKA_VIDEO, _MATROSKA_AUDIO = 1, 2
_MP4_BOXES = frozenset({b"ftyp", b"moov", b"mdat", b"free", b"skip", b"wide", b"uuid", b"pnot"})


def audio_only(path: Path) -> str | None:
    """What kind of audio file ``path`` is ("a WAV file", "an MP4 or QuickTime file of audio
    tracks only"), when its
    headers show sound and no video stream; None when they show video, or cannot tell."""
    try:
        with path.open("rb") as stream:
            head = stream.read(_HEAD_BYTES)
            if head[4:8] in _MP4_BOXES:
                return _mp4(stream)
    except OSError:
        return None
    return _riff_or_raw(head) or _ogg(head) or _matroska(head)


def _riff_or_raw(head: bytes) -> str | None:
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "a WAV file"
    if head[:4] == b"FORM" and head[8:12] in (b"AIFF", b"AIFC"):
        return "an AIFF file"
    if head[:4] == b"fLaC":
        return "a FLAC file"
    if head[:5] == b"#!AMR":
        return "an AMR file"
    if head[:3] == b"ID3" and len(head) >= 10:
        # A tag (cover art included) before MPEG audio frames; its size is four 7-bit bytes.
        size = sum((byte & 0x7F) << (7 * (3 - index)) for index, byte in enumerate(head[6:10]))
        return _mpeg_audio(head[10 + size : 10 + size + 2]) or "an MP3 file (an ID3 tag)"
    return _mpeg_audio(head[:2])


def _mpeg_audio(header: bytes) -> str | None:
    """The kind of an MPEG audio frame starting with ``header``: a frame sync (11 set bits) and a
    layer; layer 0 with a 12-bit sync is AAC in ADTS frames. Nothing else starts so (a JPEG starts
    FF D8, MPEG video 00 00 01)."""
    if len(header) < 2 or header[0] != 0xFF or header[1] & 0xE0 != 0xE0:
        return None
    layer = (header[1] >> 1) & 0x3
    if layer == 0:
        return "an AAC file (ADTS)" if header[1] & 0xF0 == 0xF0 else None
    return "an MP3 file"


def _ogg(head: bytes) -> str | None:
    """Audio only when each stream's first page (they all come first) starts an audio codec's."""
    offset, audio = 0, False
    while head[offset : offset + 4] == b"OggS" and len(head) >= offset + 27:
        if not head[offset + 5] & 0x02:  # past the streams' first pages
            break
        segments = head[offset + 26]
        table = head[offset + 27 : offset + 27 + segments]
        packet = head[offset + 27 + segments : offset + 27 + segments + 8]
        if not packet.startswith(_OGG_AUDIO):
            return None  # Theora, or a codec not known here
        audio = True
        offset += 27 + segments + sum(table)
    return "an Ogg file of audio only" if audio else None


def _matroska(head: bytes) -> str | None:
    """Audio only when the Matroska (or WebM) file's track list has audio tracks and no video."""
    if head[:4] != b"\x1a\x45\xdf\xa3":
        return None
    types: list[int] = []
    try:
        for element, start, end in _ebml_elements(head, 0, len(head)):
            if element != _MATROSKA_SEGMENT:
                continue
            for child, child_start, child_end in _ebml_elements(head, start, min(end, len(head))):
                if child == _MATROSKA_CLUSTER:
                    break  # the pictures and sounds themselves: the track list comes before them
                if child == _MATROSKA_TRACKS:
                    if child_end > len(head):
                        return None  # a track list longer than was read: a video track may follow
                    types += _matroska_track_types(head, child_start, child_end)
    except ValueError:
        return None
    if _MATROSKA_AUDIO in types and _MATROSKA_VIDEO not in types:
        return "a Matroska file of audio tracks only"
    return None


def _matroska_track_types(head: bytes, start: int, end: int) -> list[int]:
    types = []
    for entry, entry_start, entry_end in _ebml_elements(head, start, end):
        if entry == _MATROSKA_TRACK_ENTRY:
            for field, field_start, field_end in _ebml_elements(head, entry_start, entry_end):
                if field == _MATROSKA_TRACK_TYPE:
                    types.append(int.from_bytes(head[field_start : min(field_end, end)], "big"))
    return types


def _ebml_elements(data: bytes, start: int, end: int) -> Iterator[tuple[int, int, int]]:
    """(id, data start, data end) of the EBML elements in ``data[start:end]``; the last one's end may
    lie past what was read (an unknown size, a live stream's, runs to the end of the data)."""
    position = start
    while position < end:
        element, position = _ebml_number(data, position, keep_marker=True)
        size, position = _ebml_number(data, position, keep_marker=False)
        yield element, position, position + size
        position += size


def _ebml_number(data: bytes, position: int, *, keep_marker: bool) -> tuple[int, int]:
    """A variable-length EBML number at ``position`` (its length in its first byte's leading zeros)
    and the position after it; an id keeps its length marker, a size does not."""
    if position >= len(data) or data[position] == 0:
        raise ValueError("not an EBML number")
    length = 9 - data[position].bit_length()
    value = int.from_bytes(data[position : position + length], "big")
    if position + length > len(data):
        raise ValueError("cut short")
    if not keep_marker:
        value &= (1 << (7 * length)) - 1
        if value == (1 << (7 * length)) - 1:
            value = len(data)  # unknown size
    return value, position + length


def _mp4(stream: BinaryIO) -> str | None:
    """Audio only when the MP4 (or QuickTime) file's movie header has sound tracks and no video."""
    top_level = islice(boxes(stream), MOST_TOP_LEVEL_BOXES)
    movie = next((box for box in top_level if box.kind == b"moov"), None)
    if movie is None or movie.size > _LARGEST_MOVIE_HEADER:
        return None  # no moov before the file ends, or one whose header could not be followed
    stream.seek(movie.offset)
    handlers = _MovieWalk(stream.read(movie.size)).handlers()
    if handlers is not None and b"soun" in handlers and b"vide" not in handlers:
        return "an MP4 or QuickTime file of audio tracks only"
    return None


class _TooManyBoxesError(Exception):
    """A moov of more boxes than ``_MOST_MOVIE_BOXES``."""


class _MovieWalk:
    """A walk through a moov box's content to its tracks' handlers, of at most ``_MOST_MOVIE_BOXES``
    boxes in all (at every depth)."""

    def __init__(self, movie: bytes) -> None:
        self._movie, self._content = movie, io.BytesIO(movie)
        self._left = _MOST_MOVIE_BOXES

    def handlers(self) -> list[bytes] | None:
        """The handler type of each track (``vide``, ``soun``, ``text``); None for a moov of more
        boxes than a real one has (cannot tell)."""
        handlers = []
        try:
            for track, track_end in self._inside(0, len(self._movie), b"trak"):
                for media, media_end in self._inside(track.offset, track_end, b"mdia"):
                    for handler, _ in self._inside(media.offset, media_end, b"hdlr"):
                        start = handler.offset + 8  # past its version, flags and a zero
                        handlers.append(self._movie[start : start + 4])
        except _TooManyBoxesError:
            return None
        return handlers

    def _inside(self, start: int, end: int, kind: bytes) -> Iterator[tuple[Box, int]]:
        """The boxes of type ``kind`` between ``start`` and ``end`` of the content, each with where
        it ends: where its header says, or at ``end`` when that says past the box it is in."""
        for box in boxes(self._content, start, end):
            self._left -= 1
            if self._left < 0:
                raise _TooManyBoxesError
            if box.kind == kind:
                yield box, min(end, box.offset + box.size)
