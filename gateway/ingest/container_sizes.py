"""Container files (MP4, MKV, MOV) whose H.264 or H.265 video changes picture size part way (a
recording that followed a camera's new profile, clips joined with ``ffmpeg -f concat -c copy``).

OpenCV's FFmpeg backend converts every decoded frame to the size the container's header gives, the
first one, and reports no change (measured with OpenCV 5.1: a 320x240 then 480x272 MP4 gave twenty
320x240 frames, the last ten squeezed), and a new capture opened past the change gives the header's
size again. ``SizeWatch`` finds the change: a second capture in OpenCV's raw mode
(``CAP_PROP_FORMAT`` -1) demuxes the same file without decoding it, each packet in Annex B with its
parameter sets in band, and is read alongside the decoding up to the presentation time of the frame
just decoded. The packet that brings a new size is a key frame: every frame shown from its time on
has that size, every frame before it the old one. From there the rest of the file is written out as
a raw stream, a piece at a time (``rest_piece``), each piece played part by part like a raw file of
several sizes (``elementary.py``), each at its own size. A raw stream has no timestamps, nor a frame
rate FFmpeg reads (it takes 25 fps), and a container's parameter sets need give none: those parts are
paced at the container's frame rate, not at their recorded times. A piece is written in the
camera's reader thread, where no frame comes while it is written: it ends at the first IDR key frame
(which needs no picture before it, so no frame is lost where the next piece starts) with its
parameter sets once it holds ``REST_PIECE_BYTES`` or took its time budget. The whole rest written at
once (gigabytes) outlasted ``read_timeout_s``, the camera reported stalled, and took as much room in
the temporary folder as in the file.

The change is placed by presentation time, so a file whose timestamps start over where its parts
were joined (``cat a.ts b.ts``) switches up to a few frames early, losing them, never late (a frame
squeezed into the old size is never shown).

VP9, AV1 and Motion JPEG are watched too, from the sizes their key frames' headers give
(``frame_headers.py``), but not played part by part: a change is named (``squeezed``), once per
pass through the file, and their frames keep the first size. Other codecs are not watched.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from typing import IO, cast

import cv2

from gateway.ingest.elementary import Codec, parameter_set_sizes, stream_codec
from gateway.ingest.ffmpeg_environment import ffmpeg_options
from gateway.ingest.file_range import FileRange, range_url
from gateway.ingest.frame_headers import FrameHeaders, frame_headers

__all__ = ["MOST_PACKETS_PER_FRAME", "REST_PIECE_BYTES", "SizeWatch"]

_START_CODE = b"\x00\x00\x01"
REST_PIECE_BYTES = 32 * 1024 * 1024
"""Bytes of the rest past which a piece ends at the next IDR key frame."""
MOST_PACKETS_PER_FRAME = 64
"""Packets the watch reads ahead for one frame at most: a frame needs one or a few (a decoder's
delay), so a watch held back by the bound catches up within a few frames."""


class SizeWatch:
    """The video packets of the container file ``path``, read alongside its decoding to find where its
    picture size changes."""

    def __init__(
        self,
        capture: cv2.VideoCapture,
        codec: Codec | FrameHeaders,
        size: tuple[int, int] | None,
        source: FileRange | None = None,
    ) -> None:
        self._capture = capture
        self._source = source  # the part of the file the capture reads, if not all of it
        self._codec = codec  # an Annex B one's, played at each size; another one's, only named
        self._size = size
        self._change: tuple[float, bytes] | None = None  # the presentation time and packet of a new size
        self._read_to = float("-inf")  # the presentation time of the last packet read
        self._squeeze: tuple[float, str] | None = None  # the presentation time of a new size, and why
        self.squeezed: str | None = None
        """Why the frames from some point on are shown squeezed into the first size (VP9, AV1 or
        Motion JPEG of a new size, which only an Annex B codec's rest can be played at)."""

    @classmethod
    def open(
        cls,
        path: str,
        timeouts: list[int],
        span: tuple[int, int] | None = None,
        reach: Callable[[int], int] | None = None,
    ) -> SizeWatch | None:
        """A watch on the container file ``path``, or on its bytes [start, end) ``span`` (one codec's
        part of a transport stream, ``transport_stream.py``, growing by ``reach`` as ``FileRange``
        says), or None for one it cannot watch (a raw stream, which ``elementary.py`` plays part by
        part; a codec whose sizes it cannot read)."""
        try:
            with open(path, "rb") as file:
                file.seek(0 if span is None else span[0])
                if stream_codec(file.read(6)) is not None:
                    return None
            source = None if span is None or reach is None else FileRange(path, *span, reach)
        except OSError:
            return None
        watch = cls._watching(path if span is None else range_url(path, *span), source, timeouts)
        if watch is None and source is not None:
            source.close()
        return watch

    @classmethod
    def _watching(cls, target: str, source: FileRange | None, timeouts: list[int]) -> SizeWatch | None:
        """The watch on ``source`` where given (a part still growing), else on the path or URL ``target``."""
        parameters = [cv2.CAP_PROP_FORMAT, -1, *timeouts]
        try:
            with ffmpeg_options(""):  # a file's: no network camera's short probe
                if source is None:
                    capture = cv2.VideoCapture(target, cv2.CAP_FFMPEG, parameters)
                else:  # OpenCV's binding takes any BufferedIOBase where its stubs name IStreamReader
                    capture = cv2.VideoCapture(cast("cv2.IStreamReader", source), cv2.CAP_FFMPEG, parameters)
        except (cv2.error, TypeError):  # TypeError: an OpenCV before 4.9 reads no streams
            return None
        packet = _packet(capture) if capture.isOpened() else None
        codec = None if packet is None else stream_codec(packet) or frame_headers(packet)
        if packet is None or codec is None:
            capture.release()
            return None
        sizes = _sizes(packet, codec)
        return cls(capture, codec, sizes[-1] if sizes else None, source)

    def changes_by(self, time: float) -> bool:
        """Whether the picture size changes at or before the presentation time ``time`` (the
        ``CAP_PROP_PTS`` of the frame just decoded): that frame has a new size. At most
        ``MOST_PACKETS_PER_FRAME`` packets are read on the way: where a file's timestamps start over
        (recordings joined byte for byte) none reaches ``time``, and the rest of the file was read
        in one call, in the camera's reader thread."""
        for _ in range(MOST_PACKETS_PER_FRAME):
            if self._change is not None or self._read_to > time:
                break
            packet = _packet(self._capture)
            if packet is None:
                self._read_to = float("inf")
                break
            self._read_to = float(self._capture.get(cv2.CAP_PROP_PTS))
            sizes = _sizes(packet, self._codec)
            if sizes and self._size is not None and sizes[-1] != self._size:
                if isinstance(self._codec, Codec):
                    self._change = (self._read_to, packet)
                else:
                    self._squeeze = (self._read_to, _squeezed(self._codec[0], self._size, sizes[-1]))
                    self._read_to = float("inf")  # named once; the rest plays squeezed to its end
                    break
            self._size = sizes[-1] if sizes else self._size
        if self._squeeze is not None and self._squeeze[0] <= time:
            self.squeezed = self._squeeze[1]
        return self._change is not None and self._change[0] <= time

    def rest_piece(self, budget_s: float) -> tuple[IO[bytes], bool]:
        """The next piece of the file from the packet that brings the new size on, as a raw stream
        in a temporary file (deleted when closed), and whether more of the file follows it. A piece
        ends before an IDR key frame with its parameter sets, once it holds ``REST_PIECE_BYTES`` or
        writing it took ``budget_s``."""
        if self._change is None or not isinstance(self._codec, Codec):
            raise ValueError("no change of size found")
        piece = tempfile.NamedTemporaryFile(prefix="edge-gateway-", suffix=".raw")  # noqa: SIM115 - the caller's
        started, written = time.monotonic(), 0
        try:
            packet: bytes | None = self._change[1]
            while packet is not None:
                piece.write(packet)
                written += len(packet)
                packet = _packet(self._capture)
                full = written >= REST_PIECE_BYTES or time.monotonic() - started >= budget_s
                if packet is not None and full and _starts_anew(packet, self._codec):
                    break
            piece.flush()
        except BaseException:
            piece.close()
            raise
        self._change = None if packet is None else (self._change[0], packet)
        return piece, packet is not None

    def close(self) -> None:
        self._capture.release()
        if self._source is not None:
            self._source.close()


def _sizes(packet: bytes, codec: Codec | FrameHeaders) -> list[tuple[int, int]]:
    """The sizes the video packet ``packet`` gives, in order: the last one is in force (a
    container's copy of the parameter sets may come before a key frame's own)."""
    if isinstance(codec, Codec):
        return [size for _, size in parameter_set_sizes(packet, codec)]
    size = codec[1](packet)
    return [] if size is None else [size]


def _squeezed(codec: str, old: tuple[int, int], new: tuple[int, int]) -> str:
    return (
        f"its {codec} video changes picture size part way, from {old[0]}x{old[1]} to "
        f"{new[0]}x{new[1]}: its frames from there are shown squeezed into {old[0]}x{old[1]} (only "
        "H.264 and H.265 are played at each size; re-encode it, or split it where the size changes)"
    )


def _packet(capture: cv2.VideoCapture) -> bytes | None:
    """The next video packet of a capture in raw mode, or None at the end."""
    read, packet = capture.read()
    return packet.tobytes() if read and packet is not None else None


def _starts_anew(packet: bytes, codec: Codec) -> bool:
    """Whether the Annex B ``packet`` is an IDR key frame with its parameter sets: a stream may start
    there, each frame of it decoded."""
    if not any(True for _ in parameter_set_sizes(packet, codec)):
        return False
    position = packet.find(_START_CODE)
    while 0 <= position < len(packet) - len(_START_CODE):
        kind = codec.nal_type(packet[position + len(_START_CODE)])
        if codec.is_picture(kind):
            return kind in codec.refreshes
        position = packet.find(_START_CODE, position + len(_START_CODE))
    return False
