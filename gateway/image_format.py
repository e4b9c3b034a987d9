"""The image formats the gateway takes as bodies (JPEG and PNG), told apart by their first bytes.

Neutral like ``domain``: it imports nothing of ours, so the HTTP side (which reads an image's size
from its header before admitting it) and inference (which decodes it) share one set of signatures.
"""

from __future__ import annotations

__all__ = ["JPEG_SIGNATURE", "JPEG_START", "PNG_SIGNATURE", "is_jpeg_or_png"]

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
"""The eight bytes every PNG file starts with."""
JPEG_START = b"\xff\xd8"
"""A JPEG's start-of-image marker (SOI): its first two bytes."""
JPEG_SIGNATURE = JPEG_START + b"\xff"
"""SOI and the 0xFF of the marker that follows it: what a JPEG file starts with."""


def is_jpeg_or_png(data: bytes) -> bool:
    """Whether ``data`` starts as a JPEG or a PNG file does (it may still be corrupt past that)."""
    return data.startswith((JPEG_SIGNATURE, PNG_SIGNATURE))
