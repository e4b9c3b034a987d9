"""Making a written file, or a rename in a directory, survive a power cut: fsync by path."""

from __future__ import annotations

import os
from pathlib import Path


def fsync_path(path: Path | str) -> None:
    """fsync the file or directory at ``path``: for a directory, the names made or renamed in it."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
