"""The device's HMAC signing key: hex text in a file readable only by the gateway's user.

Generated on first start into ``state_dir/signing.key`` (mode 0600, and the state directory, when it
has to be made, 0700, whatever the umask: ``gateway.private_files``) unless ``mqtt.signing_key_file``
names one. The new key is written whole into a temporary file beside it, fsync'd, and only then
linked into place, so neither a crash nor a full disk can leave a half-written or empty key that
every later start would refuse (or, worse, that later alerts would be signed with); a temporary file
the disk refused is removed. Linking, unlike renaming, never replaces a key another process made in
the meantime: that one is used. The audit side's keys file holds the same hex text; the HMAC key is
the bytes it decodes to.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import tempfile
import time
from pathlib import Path

from gateway.config import read_text_file
from gateway.config.bounded_read import refuse_irregular
from gateway.durable import fsync_path, place_new
from gateway.errors import ConfigError, OutboxError
from gateway.private_files import PRIVATE_FILE_MODE, make_private_directory

KEY_FILE_NAME = "signing.key"
KEY_BYTES = 32

STALE_TEMPORARY_S = 60.0
"""Age past which a temporary key file is a leftover: writing one takes milliseconds, and two starts
on one state_dir at once only race while both write (the outbox's lock then refuses one)."""

logger = logging.getLogger(__name__)


def read_key(path: Path) -> bytes:
    try:
        # Opening a FIFO waits for a writer, before the signal handlers can stop the wait.
        refuse_irregular(path)
    except ConfigError as exc:
        raise OutboxError(f"signing key {exc}") from exc
    try:
        text = read_text_file(path, "ascii").strip()
        key = bytes.fromhex(text)
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise OutboxError(f"signing key {path}: cannot read a hex key: {exc}") from exc
    if len(key) < 16:
        raise OutboxError(f"signing key {path}: {len(key)} bytes is too short (at least 16)")
    return key


def load_or_create_key(state_dir: Path, configured: Path | None = None) -> bytes:
    """The configured key, or ``state_dir/signing.key``, created (0600) when it does not exist yet."""
    if configured is not None:
        return read_key(configured)
    path = state_dir / KEY_FILE_NAME
    try:
        path.stat()
    except FileNotFoundError:
        key = _create_key(state_dir, path)
    except OSError as exc:
        # A state_dir the gateway's user cannot search (mode 000, another owner).
        raise OutboxError(f"signing key {path}: cannot read: {exc.strerror or exc}") from exc
    else:
        key = read_key(path)
    _remove_stale_temporaries(state_dir, time.time())
    return key


def _create_key(state_dir: Path, path: Path) -> bytes:
    try:
        make_private_directory(state_dir)
        descriptor, name = tempfile.mkstemp(prefix=f".{KEY_FILE_NAME}.", suffix=".tmp", dir=state_dir)
    except OSError as exc:
        raise OutboxError(f"signing key {path}: cannot create: {exc.strerror or exc}") from exc
    temporary = Path(name)
    try:
        try:
            # mkstemp's 0600 less the umask: under umask 0777 a key nobody could read, this start included.
            os.fchmod(descriptor, PRIVATE_FILE_MODE)
            _write_all(descriptor, (secrets.token_hex(KEY_BYTES) + "\n").encode("ascii"))
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
        # Two gateways starting on one state_dir at once: the outbox's lock then refuses one.
        place_new(temporary, path)
        with contextlib.suppress(OSError):  # gone after a rename; tried again below
            temporary.unlink()  # before the fsync, which then makes its removal durable too
        fsync_path(state_dir)
    except FileExistsError:
        # Another process created it since the look above: use theirs, as every start after will.
        return read_key(path)
    except OSError as exc:
        raise OutboxError(f"signing key {path}: cannot write a new key: {exc.strerror or exc}") from exc
    finally:
        # What refused the write is the error to say; a leftover temporary file is only clutter.
        with contextlib.suppress(OSError):
            temporary.unlink()
    logger.info("generated a new signing key in %s", path)
    return read_key(path)


def _remove_stale_temporaries(state_dir: Path, now: float) -> None:
    """Remove the temporary key files a start killed while writing one left (each holds a secret,
    never used); only those older than STALE_TEMPORARY_S, which no start still writing owns."""
    with contextlib.suppress(OSError):
        for temporary in state_dir.glob(f".{KEY_FILE_NAME}.*.tmp"):
            with contextlib.suppress(OSError):
                if now - temporary.lstat().st_mtime > STALE_TEMPORARY_S:
                    temporary.unlink()
                    logger.info("removed %s, left by a start stopped while writing a new key", temporary)


def _write_all(descriptor: int, data: bytes) -> None:
    while data:
        data = data[os.write(descriptor, data) :]
