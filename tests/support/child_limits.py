"""What a child process is held to, set in it before it runs the command (``preexec_fn``): what the
service's own user is held to, on a machine where the tests run as root."""

from __future__ import annotations

import ctypes
import os

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
