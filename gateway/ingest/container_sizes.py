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
a raw stream (``rest``), which is played part by part like a raw file of several sizes
(``elementary.py``), each at its own size. A raw stream has no timestamps: those parts are paced at
the frame rate they announce, not at their recorded times. The rest is written out in the camera's
reader thread when the change is reached, read once without decoding: no frame comes while it is
written (disk bound; for a rest of gigabytes, longer than a short ``read_timeout_s``), and it takes
as much room in the temporary folder as it takes in the file, until the file loops.

The change is placed by presentation time, so a file whose timestamps start over where its parts
were joined (``cat a.ts b.ts``) switches up to a few frames early, losing them, never late (a frame
squeezed into the old size is never shown).

Other codecs (VP9, AV1, MJPEG) are not watched: their frames keep the first size.
"""

from __future__ import annotations

import tempfile
from typing import IO

import cv2

from gateway.ingest.elementary import Codec, parameter_set_sizes, stream_codec
from gateway.ingest.ffmpeg_environment import ffmpeg_options

__all__ = ["SizeWatch"]

_START_CODE = b"\x00\x00\x01"


class SizeWatch:
    """The video packets of the container file ``path``, read alongside its decoding to find where its
    picture size changes."""

    def __init__(self, capture: cv2.VideoCapture, codec: Codec, size: tuple[int, int] | None) -> None:
        self._capture = capture
        self._codec = codec
        self._size = size
        self._change: tuple[float, bytes] | None = None  # the presentation time and packet of a new size
        self._read_to = float("-inf")  # the presentation time of the last packet read

    @classmethod
    def open(cls, path: str, timeouts: list[int]) -> SizeWatch | None:
        """A watch on the container file ``path``, or None for a file it cannot watch (a raw
        stream, which ``elementary.py`` plays part by part; another codec than H.264 or H.265)."""
        try:
            with open(path, "rb") as file:
                if stream_codec(file.read(6)) is not None:
                    return None
            with ffmpeg_options(""):  # a file's: no network camera's short probe
                capture = cv2.VideoCapture(path, cv2.CAP_FFMPEG, [cv2.CAP_PROP_FORMAT, -1, *timeouts])
        except (OSError, cv2.error):
            return None
        packet = _packet(capture) if capture.isOpened() else None
        codec = stream_codec(packet) if packet is not None else None
        if packet is None or codec is None:
            capture.release()
            return None
        sizes = [size for _, size in parameter_set_sizes(packet, codec)]
        return cls(capture, codec, sizes[-1] if sizes else None)

    def changes_by(self, time: float) -> bool:
        """Whether the picture size changes at or before the presentation time ``time`` (the
        ``CAP_PROP_PTS`` of the frame just decoded): that frame has a new size."""
        while self._change is None and self._read_to <= time:
            packet = _packet(self._capture)
            if packet is None:
                self._read_to = float("inf")
                break
            self._read_to = float(self._capture.get(cv2.CAP_PROP_PTS))
            # The last parameter set of a packet is in force (the container's copy may come first).
            sizes = [size for _, size in parameter_set_sizes(packet, self._codec)]
            if sizes and self._size is not None and sizes[-1] != self._size:
                self._change = (self._read_to, packet)
            self._size = sizes[-1] if sizes else self._size
        return self._change is not None and self._change[0] <= time

    def rest(self) -> IO[bytes]:
        """The file from the packet that brings the new size on, as a raw stream in a temporary file
        (deleted when closed)."""
        if self._change is None:
            raise ValueError("no change of size found")
        rest = tempfile.NamedTemporaryFile(prefix="edge-gateway-", suffix=".raw")  # noqa: SIM115 - the caller's
        try:
            packet: bytes | None = self._change[1]
            while packet is not None:
                rest.write(packet)
                packet = _packet(self._capture)
            rest.flush()
        except BaseException:
            rest.close()
            raise
        return rest

    def close(self) -> None:
        self._capture.release()


def _packet(capture: cv2.VideoCapture) -> bytes | None:
    """The next video packet of a capture in raw mode, or None at the end."""
    read, packet = capture.read()
    return packet.tobytes() if read and packet is not None else None
