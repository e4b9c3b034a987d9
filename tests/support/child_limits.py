"""What a child process is held to, set in it before it runs the command (``preexec_fn``): the
service's own user, or a disk that takes no more bytes, on a machine where the tests run as root
with space to spare."""

from __future__ import annotations

import ctypes
import os
import resource
import signal

_PR_CAPBSET_DROP = 24
_CAP_DAC_OVERRIDE = 1
_CAP_DAC_READ_SEARCH = 2


def held_to_file_modes() -> None:
    """Root reads and searches any folder whatever its mode, by CAP_DAC_OVERRIDE and
    CAP_DAC_READ_SEARCH; dropped from the bounding set, the command run next never gets them, and a
    mode holds for it as for the service's own user. Nothing to drop for another user."""
    if os.geteuid() != 0:
        return
    libc = ctypes.CDLL(None, use_errno=True)
    for capability in (_CAP_DAC_OVERRIDE, _CAP_DAC_READ_SEARCH):
        if libc.prctl(_PR_CAPBSET_DROP, capability, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


def with_a_full_disk() -> None:
    """Every write to a regular file fails with EFBIG, as on a full disk with ENOSPC: the file size
    limit is 0 (a file can still be created, empty), and SIGXFSZ, which would end the process
    instead, is ignored. Pipes are no files: the command's output still comes."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, resource.RLIM_INFINITY))
