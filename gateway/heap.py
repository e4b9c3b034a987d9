"""Hand the heap pages Python and its libraries have freed back to the OS (glibc's ``malloc_trim``).

glibc keeps freed blocks for reuse: after its dynamic mmap threshold has risen (it does on the first
multi-megabyte free), request bodies, decoded frames and closed sessions come from the heap and
arenas of the threads that used them, which it returns only from the top. Measured with the soak test
(tests/integration/test_soak.py, 10 rounds of reloads, floods and camera failures): settled RSS climbed
~10 MiB per round, +99 to +109 MiB after 10 rounds, with no thread, fd or Python object growing; with
a fixed mmap threshold it stayed flat, so this is retention, not a leak. A fixed threshold is not the
cure: every large allocation then faults its pages in afresh (a 1.2 MB request body costs 0.6 ms
instead of 18 us). Trimming now and then keeps the fast path and bounds the retention: ``serve``
trims every ``TRIM_EVERY_S`` (a trim of a few hundred MiB of heap takes about 1 ms), and a hot reload
trims as it closes the old sessions (without that, each reload of the 12 MB face detector left RSS
~30 MiB higher).

Between trims, ``serve`` also keeps glibc from trimming on its own
(``keep_freed_memory_between_trims``): with the dynamic thresholds, freeing a request's buffers at
the top of the heap can cross the trim threshold, so the heap shrinks and grows again request after
request and the pages of a 1.2 MB body and its socket chunks are faulted in and zeroed afresh each
time. On uvloop that happened on most requests (strace of the loop thread: 215 ``brk`` in 300
requests, none on asyncio's loop); with a model that computes nothing (bench/request_cpu.py
--io-only, 1.2 MB in, 185 KB out) the event loop spent 2.88 ms of CPU per request on uvloop against
1.66 ms on asyncio's (load average 5.9), and 1.24 / 1.29 ms with the thresholds fixed (the next run,
load average 5.2). The fixed values are the dynamic ones' ceilings (32 MiB for mmap), so what came
from the heap still does, and the periodic trim still bounds what is kept
(tests/integration/test_soak.py holds RSS to its baseline).
"""

from __future__ import annotations

import ctypes
import functools
from collections.abc import Callable

TRIM_EVERY_S = 5.0
MMAP_THRESHOLD_BYTES = 32 * 2**20
"""Allocations below this come from the heap: glibc's ceiling for its dynamic threshold on 64-bit."""
TRIM_THRESHOLD_BYTES = 64 * 2**20
"""Free memory at the top of the heap kept by ``free`` itself; ``release_freed_memory`` returns it."""
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3


def release_freed_memory() -> None:
    """Return every arena's free pages to the OS; a no-op where the C library is not glibc."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


def keep_freed_memory_between_trims() -> bool:
    """Fix glibc's mmap and trim thresholds (setting one turns off the dynamic adjustment of
    both, hence both); True when set, False where the C library is not glibc."""
    mallopt = _mallopt()
    if mallopt is None:
        return False
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)) and bool(
        mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES)
    )


@functools.cache
def _mallopt() -> Callable[[int, int], int] | None:
    try:
        function: Callable[[int, int], int] = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # not glibc (musl, macOS): its own policy stands
        return None
    return function


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    try:
        function: Callable[[int], int] = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to trim
        return None
    return function
