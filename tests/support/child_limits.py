"""What a child process is held to, on a machine where the tests run as root with space to spare:
the service's own user's file modes (by the command it is run under), or a disk that takes no more
bytes (set in it before it runs the command, ``preexec_fn``: no library call there)."""

from __future__ import annotations

import os
import resource
import signal

WITHOUT_FILE_MODE_OVERRIDE = ("setpriv", "--bounding-set=-dac_override,-dac_read_search", "--")
"""Root reads and searches any folder whatever its mode, by CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH;
dropped from the bounding set by util-linux's setpriv, the command it runs never gets them, and a mode
holds for it as for the service's own user. A command of its own, not a ``preexec_fn``: that runs
between fork and exec, where a library call (ctypes' dlopen of libc) may wait for ever on a lock
another thread of the test process held at the fork."""


def held_to_file_modes() -> tuple[str, ...]:
    """The command prefix that holds a command to file modes (nothing for another user than root)."""
    return WITHOUT_FILE_MODE_OVERRIDE if os.geteuid() == 0 else ()


def with_a_full_disk() -> None:
    """Every write to a regular file fails with EFBIG, as on a full disk with ENOSPC: the file size
    limit is 0 (a file can still be created, empty), and SIGXFSZ, which would end the process
    instead, is ignored. Pipes are no files: the command's output still comes."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, resource.RLIM_INFINITY))


def as_user_with_tasks(uid: int, tasks: int) -> tuple[str, ...]:
    """The command prefix that runs a command as ``uid`` (its group the same number, no other
    groups) allowed ``tasks`` processes and threads in all (RLIMIT_NPROC, counted over every process
    of the user: root's is never enforced, hence the other user). It may read and search any file, as
    root may (CAP_DAC_READ_SEARCH, kept across the change of user), and write only what ``uid``
    owns or its mode lets all write. Needs root."""
    return (
        "setpriv",
        f"--reuid={uid}",
        f"--regid={uid}",
        "--clear-groups",
        "--inh-caps=+dac_read_search",
        "--ambient-caps=+dac_read_search",
        "prlimit",
        f"--nproc={tasks}",
        "--",
    )


def interruptible() -> None:
    """SIGINT as a shell's Ctrl-C delivers it, for a child the test interrupts (``preexec_fn``): a test
    run started in the background (nohup, a shell's ``&``) ignores SIGINT, a child inherits that, and
    Python then installs no handler of its own."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
