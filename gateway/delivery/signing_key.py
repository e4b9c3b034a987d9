"""The device's HMAC signing key: hex text in a file readable only by the gateway's user.

Generated on first start into ``state_dir/signing.key`` (mode 0600, written with O_EXCL and fsync'd
so a crash cannot leave a half-written key that later alerts would be signed with) unless
``mqtt.signing_key_file`` names one. The audit side's keys file holds the same hex text; the HMAC
key is the bytes it decodes to.
"""

from __future__ import annotations

import logging
import os
import secrets
from pathlib import Path

from gateway.config import read_text_file
from gateway.config.bounded_read import refuse_irregular
from gateway.errors import ConfigError, OutboxError

KEY_FILE_NAME = "signing.key"
KEY_BYTES = 32

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
        return _create_key(state_dir, path)
    except OSError as exc:
        # A state_dir the gateway's user cannot search (mode 000, another owner).
        raise OutboxError(f"signing key {path}: cannot read: {exc.strerror or exc}") from exc
    return read_key(path)


def _create_key(state_dir: Path, path: Path) -> bytes:
    try:
        state_dir.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        # Another process created it since the look above: use theirs.
        return read_key(path)
    except OSError as exc:
        raise OutboxError(f"signing key {path}: cannot create: {exc}") from exc
    try:
        os.write(descriptor, (secrets.token_hex(KEY_BYTES) + "\n").encode("ascii"))
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
    _fsync_directory(state_dir)
    logger.info("generated a new signing key in %s", path)
    return read_key(path)


def _fsync_directory(directory: Path) -> None:
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
