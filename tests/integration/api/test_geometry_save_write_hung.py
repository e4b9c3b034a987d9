"""A console geometry save whose write hangs (the rename of its temporary file over the config, on a
hung network mount) is given up after the time limit as its read is: a 503 with Retry-After naming
the file and the write, the file and the geometry in force as they were, and the editor read-only
while the write still hangs. Once the rename fails, the temporary file is gone too.

A lease, as ``tests/integration/test_geometry_save_hung.py`` uses, holds another process's open of
the file; the save's write opens none: it creates a temporary file of a random name beside it
(``O_EXCL``) and renames it over the config, and no lease holds a rename. Here the kernel holds the
rename itself, as a hung mount would: a seccomp filter on the API's worker threads, inherited by the
threads they start (the save's write runs on one), hands each rename to this test as a user
notification (``seccomp_unotify(2)``) that it leaves unanswered; closing the notification fd answers
it ENOSYS. It needs no privilege (``no_new_privs``, per thread) and changes nothing outside the test
process."""

from __future__ import annotations

import ctypes
import os
import platform
import select
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from gateway.api.app import EXECUTOR_THREADS
from gateway.api.context import EXECUTOR
from gateway.config.bounded_read import READ_WAIT_S
from tests.integration.api.running_gateway import CAMERA, ZONE, RunningGateway

GEOMETRY = f"/v1/cameras/{CAMERA}/geometry"
WRITER = "config-file-read"
"""The name of the thread the save's bounded write runs on (``ConfigFile``'s ``BoundedRead``)."""
DEADLINE_S = 30.0

# Classic BPF, as seccomp runs it on ``struct seccomp_data`` (``nr`` at offset 0, ``arch`` at 4).
LOAD_WORD = 0x20  # BPF_LD | BPF_W | BPF_ABS
JUMP_IF_EQUAL = 0x15  # BPF_JMP | BPF_JEQ | BPF_K
RETURN = 0x06  # BPF_RET | BPF_K
NR_OFFSET, ARCH_OFFSET = 0, 4
ALLOW = 0x7FFF0000  # SECCOMP_RET_ALLOW
NOTIFY = 0x7FC00000  # SECCOMP_RET_USER_NOTIF
RENAMES = {
    0xC000003E: (82, 264, 316),  # AUDIT_ARCH_X86_64: rename, renameat, renameat2
    0xC00000B7: (38, 276),  # AUDIT_ARCH_AARCH64: renameat, renameat2
}
SECCOMP = {"x86_64": 317, "aarch64": 277}
"""The ``seccomp`` syscall's number on the machines the gateway ships to."""
SECCOMP_SET_MODE_FILTER = 1
SECCOMP_FILTER_FLAG_NEW_LISTENER = 1 << 3
PR_SET_NO_NEW_PRIVS = 38


class _Instruction(ctypes.Structure):
    _fields_ = [
        ("code", ctypes.c_uint16),
        ("jt", ctypes.c_uint8),
        ("jf", ctypes.c_uint8),
        ("k", ctypes.c_uint32),
    ]


class _Program(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(_Instruction))]


def rename_filter() -> list[tuple[int, int, int, int]]:
    """Every rename syscall to the notification fd, everything else allowed."""
    allow_at = 1 + sum(2 + len(numbers) for numbers in RENAMES.values())
    code = [(LOAD_WORD, 0, 0, ARCH_OFFSET)]
    for arch, numbers in RENAMES.items():
        at = len(code)
        code.append((JUMP_IF_EQUAL, 0, 1 + len(numbers), arch))  # another arch: its block next
        code.append((LOAD_WORD, 0, 0, NR_OFFSET))
        for index, number in enumerate(numbers):
            here = at + 2 + index
            otherwise = allow_at - here - 1 if index == len(numbers) - 1 else 0
            code.append((JUMP_IF_EQUAL, allow_at + 1 - here - 1, otherwise, number))
    assert len(code) == allow_at
    return [*code, (RETURN, 0, 0, ALLOW), (RETURN, 0, 0, NOTIFY)]


def hold_renames_here() -> int:
    """From now on the calling thread's renames, and those of the threads it starts, wait for an
    answer on the returned notification fd."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS)")
    code = rename_filter()
    instructions = (_Instruction * len(code))(*(_Instruction(*instruction) for instruction in code))
    program = _Program(len(code), instructions)
    libc.syscall.restype = ctypes.c_long
    listener = libc.syscall(
        ctypes.c_long(SECCOMP[platform.machine()]),
        ctypes.c_long(SECCOMP_SET_MODE_FILTER),
        ctypes.c_long(SECCOMP_FILTER_FLAG_NEW_LISTENER),
        ctypes.byref(program),
    )
    if listener < 0:
        raise OSError(ctypes.get_errno(), "seccomp(SECCOMP_SET_MODE_FILTER)")
    return int(listener)


def hold_renames(executor: ThreadPoolExecutor) -> list[int]:
    """Every thread of the API's pool holds its renames: one notification fd each. Each thread takes
    one install, as the installs wait for one another."""
    together = threading.Barrier(EXECUTOR_THREADS, timeout=DEADLINE_S)

    def install() -> int:
        together.wait()
        return hold_renames_here()

    installs = [executor.submit(install) for _ in range(EXECUTOR_THREADS)]
    return [install.result(DEADLINE_S) for install in installs]


def wait_for_a_held_rename(listeners: list[int]) -> None:
    poll = select.poll()
    for listener in listeners:
        poll.register(listener, select.POLLIN)
    assert poll.poll(DEADLINE_S * 1000), f"no rename was held within {DEADLINE_S} s"


def release(listeners: list[int]) -> None:
    """Answer the held renames with ENOSYS (the fds closed), and wait for the save's write to end."""
    for listener in listeners:
        os.close(listener)
    deadline = time.monotonic() + DEADLINE_S
    for thread in threading.enumerate():
        if thread.name == WRITER:
            thread.join(max(deadline - time.monotonic(), 0.0))
            assert not thread.is_alive(), "the save's write did not end once its rename was answered"


def test_a_save_whose_write_hangs_answers_503_and_leaves_the_config_as_it_was(
    running: RunningGateway,
) -> None:
    # Given a running gateway whose config file's rename hangs, as on a hung mount
    written = running.config_path.read_text(encoding="utf-8")
    loaded = running.api.get(GEOMETRY).json()
    listeners = hold_renames(running.api.app[EXECUTOR])
    try:
        # When the console saves the camera's zones
        reply = running.save_geometry([ZONE])

        # Then it was the save's write that hung: its rename waits in the kernel
        wait_for_a_held_rename(listeners)
        # And the save is refused as unavailable, naming the file, the write and the time limit
        assert reply.status == 503, reply.body
        assert reply.headers["Retry-After"] == "10", reply.headers
        error = reply.json()["error"]
        assert (
            f"{running.config_path}: cannot write: writing it did not finish within {READ_WAIT_S:g} s"
            in error
        ), error
        # And the file and the geometry in force are as they were
        assert running.config_path.read_text(encoding="utf-8") == written
        assert running.gateway.config.cameras[0].zones[0].model_dump(mode="json") == loaded["zones"][0]
        # And the editor shows that geometry, read-only while the write still hangs
        shown = running.api.get(GEOMETRY).json()
        assert (shown["zones"], shown["editable"]) == (loaded["zones"], False), shown
        assert "the write a console save started" in shown["read_only_reason"], shown
    finally:
        release(listeners)
    # And the rename that failed left the file as it was, and no temporary file beside it
    assert running.config_path.read_text(encoding="utf-8") == written
    beside = sorted(path.name for path in running.config_path.parent.iterdir())
    assert not [name for name in beside if name.startswith(f".{running.config_path.name}.")], beside
