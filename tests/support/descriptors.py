"""This test process out of file descriptors for a while, for the code that must name it."""

from __future__ import annotations

import gc
import os
import resource
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def every_descriptor_taken() -> Iterator[None]:
    """This process at its open-files limit (lowered to just above what it holds) while inside."""
    gc.collect()  # a socket of an earlier test closed by the collector would free a slot meanwhile
    limits = resource.getrlimit(resource.RLIMIT_NOFILE)
    held: list[int] = []
    resource.setrlimit(resource.RLIMIT_NOFILE, (len(os.listdir("/proc/self/fd")) + 8, limits[1]))
    try:
        while True:
            try:
                held.append(os.open(os.devnull, os.O_RDONLY))
            except OSError:
                break
        assert len(held) < 64
        yield
    finally:
        for descriptor in held:
            os.close(descriptor)
        resource.setrlimit(resource.RLIMIT_NOFILE, limits)
