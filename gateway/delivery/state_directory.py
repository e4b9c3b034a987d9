"""Whether other users may reach into the state directory, said once at start.

What the gateway makes there is the gateway's user's alone (``gateway.private_files``). What was there
before keeps its mode: a folder the operator made, or an outbox an earlier gateway made under a umask
that let others read it (0644 under the usual 022). Other users able to write the folder may replace
the outbox or the signing key; able to read the outbox, they read every alert and camera picture;
able to read the key, they may sign alerts as this device. Each is a warning at start, not changed:
the mode of what the operator made is theirs to choose.
"""

from __future__ import annotations

import logging
from pathlib import Path

from gateway.private_files import open_to_others

__all__ = ["say_open_to_others"]

logger = logging.getLogger(__name__)


def say_open_to_others(state_dir: Path, outbox: Path, key: Path) -> None:
    """A warning for each of the state directory, the outbox and the signing key in use that other
    users may write (or, for the two files, read). Group access is not counted: a group is how a user
    is let in on purpose (a backup user)."""
    files = (("state directory", state_dir, True), ("outbox", outbox, False), ("signing key", key, False))
    for what, path, directory in files:
        problem = open_to_others(path, directory=directory)
        if problem is not None:
            logger.warning(
                "%s %s is %s: they may %s; chmod o-rwx it unless that is meant",
                what,
                path,
                problem,
                "replace the outbox or the signing key in it" if directory else "read or replace it",
            )
