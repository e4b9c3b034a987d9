"""gateway.heap on glibc: with the thresholds fixed, freeing a big block keeps the heap as it is
(no shrink and re-fault on the next request), and ``release_freed_memory`` gives it back."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

CHILD = textwrap.dedent(
    """
    import ctypes, json
    from gateway.heap import keep_freed_memory_between_trims, release_freed_memory

    class MallocInfo(ctypes.Structure):
        _fields_ = [(name, ctypes.c_size_t) for name in (
            "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
            "fordblks", "keepcost")]

    info = ctypes.CDLL(None).mallinfo2
    info.restype = MallocInfo
    fixed = keep_freed_memory_between_trims()
    block = bytearray(16 * 2**20)
    held = info()
    del block
    freed = info()
    release_freed_memory()
    trimmed = info()
    print(json.dumps({"fixed": fixed, "mapped_while_held": held.hblkhd, "heap_held": held.arena,
                      "heap_freed": freed.arena, "heap_trimmed": trimmed.arena}))
    """
)


def test_freed_block_stays_in_the_heap_until_the_periodic_trim() -> None:
    if not sys.platform.startswith("linux"):
        pytest.skip("glibc only")
    result = subprocess.run(
        [sys.executable, "-c", CHILD], capture_output=True, text=True, timeout=60, check=False
    )
    if "mallinfo2" in result.stderr:
        pytest.skip("not glibc 2.33+")
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout)
    assert figures["fixed"] is True
    # Given a 16 MiB block (under the 32 MiB mmap threshold, so it comes from the heap)
    assert figures["mapped_while_held"] < 2**20
    assert figures["heap_held"] >= 16 * 2**20
    # When it is freed, the heap keeps it (free does not trim below 64 MiB) ...
    assert figures["heap_freed"] == figures["heap_held"]
    # ... and the periodic trim gives it back
    assert figures["heap_trimmed"] <= figures["heap_held"] - 16 * 2**20
