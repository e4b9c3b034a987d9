"""What a file camera's path names: a video file, or an image sequence (``frames/%05d.jpg``), which
OpenCV's FFmpeg backend plays like a video, at 25 fps, looping; else why it cannot be opened."""

from __future__ import annotations

import re
from pathlib import Path

# FFmpeg's image2 pattern: one printf integer (%d, %3d, %03d) in the file name; %% is a literal %.
_FRAME_NUMBER = re.compile(r"%(0?\d*)d")


def file_problem(path: Path) -> str | None:
    """Why ``path`` cannot be a file camera's source, or None when it names a regular file or an
    image sequence with at least one image."""
    if path.is_file():
        return None
    if path.is_dir():
        return f"{path} is a directory, not a video file"
    if path.exists():
        return f"{path} is not a regular file (a device or a pipe), not a video file"
    pattern = _sequence_pattern(path.name)
    if pattern is None:
        return f"no such video file: {path}"
    if path.parent.is_dir() and any(pattern.fullmatch(entry.name) for entry in path.parent.iterdir()):
        return None
    return f"no image matches the sequence {path}"


def _sequence_pattern(name: str) -> re.Pattern[str] | None:
    """The file names an image-sequence pattern such as ``img%03d.png`` stands for, or None when
    ``name`` is no such pattern."""
    parts = _FRAME_NUMBER.split(name.replace("%%", "\0"))
    if len(parts) != 3:
        return None  # no frame number, or more than one: not what FFmpeg takes for a sequence
    prefix, width, suffix = parts
    digits = rf"\d{{{int(width)},}}" if width.startswith("0") else r"\d+"
    literal = [re.escape(part.replace("\0", "%")) for part in (prefix, suffix)]
    return re.compile(f"{literal[0]}{digits}{literal[1]}")
