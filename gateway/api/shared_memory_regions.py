"""The system shared-memory regions clients register (Triton's system shared memory extension): each
a byte range of a POSIX shared-memory object (a file in /dev/shm) that an inference request names to
take an input from, or to have an output written into, instead of sending it in the body. A client
on the same box (a DeepStream or GStreamer pipeline, an app with frames in memory) then sends a few
hundred bytes of JSON per request, not megabytes of tensors through a socket.

Objects are read and written with ``preadv``/``pwrite``, never mapped: a client that cuts its object
short after registering it would make a read of a mapping kill the process (SIGBUS); a read or write
that falls short is a 400 naming the region. Each use works on a duplicate of the region's
descriptor, so a region unregistered while a worker thread reads it cannot have its descriptor's
number given to another file under that read. Registration is bounded (``MAX_REGIONS``): each region
holds a descriptor open until it is unregistered or the server stops.

The server lends no client its own access: a TCP client's user cannot be known, so it takes only an
object every user of the host may read (and, for outputs, write), whoever owns it; a client cannot
have a root-run gateway read or overwrite another program's shared memory for it, nor any object it
could not open itself. Only clients on this host register regions at all (shared_memory.py): the
objects are this host's.
"""

from __future__ import annotations

import errno
import ipaddress
import os
import re
import stat
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TypeGuard

from gateway.errors import InvalidInputError, OverloadedError

__all__ = ["MAX_REGIONS", "SHARED_MEMORY_FOLDER", "Region", "SharedMemoryRegions", "on_this_host"]

SHARED_MEMORY_FOLDER = Path("/dev/shm")
"""Where POSIX shared-memory objects live on Linux: ``shm_open("/name")`` opens /dev/shm/name."""
MAX_REGIONS = 64
"""Regions registered at once: each holds a descriptor, from the quarter the API leaves others."""
_KEY = re.compile(r"/?[^/\x00]{1,255}")
_SERVER_SHORT_OF = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOMEM})
"""What an open or dup fails with when the server, not the client's object, is short of something."""
_NAME_CHARACTERS = 255


@dataclass(frozen=True, slots=True)
class Region:
    """One registered region, as Triton's status lists it, and whether outputs may be written to it."""

    name: str
    key: str
    offset: int
    byte_size: int
    writable: bool

    def status(self) -> dict[str, object]:
        return {"name": self.name, "key": self.key, "offset": self.offset, "byte_size": self.byte_size}


class SharedMemoryRegions:
    """The regions registered with this server by name, each with its object's descriptor open.
    Registered and unregistered on the event loop; read and written from any thread."""

    def __init__(self, folder: Path = SHARED_MEMORY_FOLDER) -> None:
        self._folder = folder
        self._lock = threading.Lock()
        self._regions: dict[str, tuple[Region, int]] = {}

    def __len__(self) -> int:
        with self._lock:
            return len(self._regions)

    def register(self, name: str, key: object, offset_given: object, byte_size_given: object) -> Region:
        """Open the object ``key`` and register ``byte_size`` bytes of it from ``offset`` as ``name``;
        InvalidInputError naming what is wrong (Triton's words where it has some)."""
        what = f"failed to register shared memory region '{name}'"
        if not name or len(name) > _NAME_CHARACTERS:
            raise InvalidInputError(f"a region name takes 1 to {_NAME_CHARACTERS} characters")
        if not _is_key(key):
            raise InvalidInputError(
                f"{what}: 'key' must be a POSIX shared-memory object's name ('/name': one leading slash "
                f"at most, no other, 1 to 255 characters), got {str(key)[:60]!r}"
            )
        offset, byte_size = _count(what, "offset", offset_given), _count(what, "byte_size", byte_size_given)
        if byte_size == 0:
            raise InvalidInputError(f"{what}: 'byte_size' must be at least 1")
        with self._lock:
            if name in self._regions:
                # Triton's words: a name is unregistered before it is registered again.
                raise InvalidInputError(f"shared memory region '{name}' already in manager")
            if len(self._regions) >= MAX_REGIONS:
                raise InvalidInputError(
                    f"{what}: {MAX_REGIONS} regions are registered, the most this server holds; "
                    "unregister one first"
                )
        descriptor, writable = self._open(what, key)
        try:
            size, writable = _object_size(what, key, descriptor, writable)
            if offset + byte_size > size:
                raise InvalidInputError(
                    f"{what}: the object {key} holds {size} bytes, the region runs to byte "
                    f"{offset + byte_size} ({byte_size} from offset {offset})"
                )
            region = Region(name, key, offset, byte_size, writable)
            with self._lock:
                if name in self._regions:  # registered meanwhile by another request
                    raise InvalidInputError(f"shared memory region '{name}' already in manager")
                self._regions[name] = (region, descriptor)
        except BaseException:
            os.close(descriptor)
            raise
        return region

    def _open(self, what: str, key: str) -> tuple[int, bool]:
        path = self._folder / key.lstrip("/")
        flags = os.O_CLOEXEC | os.O_NOFOLLOW | os.O_NONBLOCK  # a FIFO placed there must not block
        try:
            try:
                return os.open(path, os.O_RDWR | flags), True
            except PermissionError:
                return os.open(path, os.O_RDONLY | flags), False  # inputs only
        except FileNotFoundError:
            raise InvalidInputError(
                f"{what}: no shared-memory object {key} ({path} does not exist): the client creates "
                "it before it registers it, on this host, outside any container that has its own /dev/shm"
            ) from None
        except PermissionError:
            raise InvalidInputError(
                f"{what}: the object {key} cannot be opened by this server's user (uid {os.geteuid()}): "
                f"its mode or owner must let that user read it, and write it for outputs"
            ) from None
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise InvalidInputError(f"{what}: {path} is a symbolic link, not an object") from None
            if exc.errno in _SERVER_SHORT_OF:
                raise OverloadedError(f"{what}: this server cannot open a file now: {exc.strerror}") from None
            raise InvalidInputError(f"{what}: the object {key} cannot be opened: {exc.strerror}") from None

    def unregister(self, name: str | None) -> None:
        """Unregister the region ``name`` (nothing when none is: as Triton), or every one (None)."""
        with self._lock:
            names = list(self._regions) if name is None else [name]
            closing = [self._regions.pop(each)[1] for each in names if each in self._regions]
        for descriptor in closing:
            os.close(descriptor)

    def status(self, name: str | None) -> list[dict[str, object]]:
        """Triton's status of the region ``name`` or of every one; InvalidInputError for a name that
        is not registered."""
        with self._lock:
            if name is None:
                return [region.status() for region, _ in self._regions.values()]
            found = self._regions.get(name)
        if found is None:
            raise InvalidInputError(f"Unable to find system shared memory region: '{name}'")
        return [found[0].status()]

    def read(self, name: str, offset: int, into: memoryview, tensor: str) -> None:
        """Fill ``into`` from the region ``name`` at ``offset``: input ``tensor``'s data."""
        region, descriptor = self._use(name, offset, into.nbytes, f"input {tensor!r}")
        try:
            done = 0
            while done < into.nbytes:
                got = os.preadv(descriptor, [into[done:]], region.offset + offset + done)
                if got == 0:
                    raise InvalidInputError(
                        f"input {tensor!r}: shared memory region '{name}' was cut short: its object "
                        f"{region.key} ends before byte {region.offset + offset + into.nbytes}"
                    )
                done += got
        except OSError as exc:
            if exc.errno in _SERVER_SHORT_OF:
                raise OverloadedError(
                    f"input {tensor!r}: this server is short of memory: {exc.strerror}"
                ) from None
            raise InvalidInputError(
                f"input {tensor!r}: region '{name}' cannot be read: {exc.strerror}"
            ) from None
        finally:
            os.close(descriptor)

    def write(self, name: str, offset: int, data: memoryview, tensor: str) -> None:
        """Write output ``tensor``'s bytes ``data`` into the region ``name`` at ``offset``."""
        what = f"output {tensor!r}"
        region, descriptor = self._use(name, offset, data.nbytes, what)
        try:
            if not region.writable:
                raise InvalidInputError(f"{what}: shared memory region '{name}' is read-only to this server")
            end = region.offset + offset + data.nbytes
            if os.fstat(descriptor).st_size < end:
                # Written past its end, the object would grow where the client maps nothing.
                raise InvalidInputError(
                    f"{what}: shared memory region '{name}' was cut short: its object {region.key} "
                    f"ends before byte {end}"
                )
            done = 0
            while done < data.nbytes:
                done += os.pwrite(descriptor, data[done:], region.offset + offset + done)
        except OSError as exc:
            if exc.errno in _SERVER_SHORT_OF:
                raise OverloadedError(f"{what}: this server is short of memory: {exc.strerror}") from None
            raise InvalidInputError(f"{what}: region '{name}' cannot be written: {exc.strerror}") from None
        finally:
            os.close(descriptor)

    def check(self, name: str, offset: int, size: int, what: str, *, written: bool) -> None:
        """InvalidInputError unless ``size`` bytes from ``offset`` fit in the region ``name``, and it
        may be written where ``written``: an output's place, checked before its request is queued."""
        with self._lock:
            region, _ = self._found(name, offset, size, what)
        if written and not region.writable:
            raise InvalidInputError(
                f"{what}: shared memory region '{name}' is read-only to this server: an output needs "
                "an object every user may write (chmod 0666)"
            )

    def _found(self, name: str, offset: int, size: int, what: str) -> tuple[Region, int]:
        """The region ``name`` and its descriptor, where ``size`` bytes from ``offset`` fit in it;
        called with the lock held."""
        found = self._regions.get(name)
        if found is None:
            raise InvalidInputError(f"{what}: Unable to find system shared memory region: '{name}'")
        region = found[0]
        if offset + size > region.byte_size:
            raise InvalidInputError(
                f"{what}: {size} bytes from offset {offset} run past shared memory region '{name}' "
                f"of {region.byte_size} bytes"
            )
        return found

    def _use(self, name: str, offset: int, size: int, what: str) -> tuple[Region, int]:
        """The region ``name`` and a duplicate of its descriptor, once ``size`` bytes from ``offset``
        are found to fit in it."""
        with self._lock:
            region, descriptor = self._found(name, offset, size, what)
            try:
                return region, os.dup(descriptor)
            except OSError as exc:
                raise OverloadedError(f"{what}: this server cannot open a file now: {exc.strerror}") from None

    def close(self) -> None:
        self.unregister(None)


def _is_key(key: object) -> TypeGuard[str]:
    """Whether ``key`` names an object in the shared-memory folder: one name, no other folder, and
    text a file name can hold (a lone surrogate, which JSON can carry, cannot be encoded)."""
    if not isinstance(key, str) or _KEY.fullmatch(key) is None or key.strip("/") in (".", ".."):
        return False
    try:
        os.fsencode(key)
    except UnicodeError:
        return False
    return True


def on_this_host(remote: str | None) -> bool:
    """Whether a client at the address ``remote`` is on this host (a loopback address, IPv4-mapped
    too), so that this host's shared memory can be its own."""
    try:
        address = ipaddress.ip_address(remote or "")
    except ValueError:
        return False
    mapped = address.ipv4_mapped if isinstance(address, ipaddress.IPv6Address) else None
    return address.is_loopback or (mapped is not None and mapped.is_loopback)


def _count(what: str, field: str, value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise InvalidInputError(f"{what}: '{field}' must be a non-negative integer")
    return value


def _object_size(what: str, key: str, descriptor: int, opened_to_write: bool) -> tuple[int, bool]:
    """The size of the object open at ``descriptor``, and whether outputs may be written to it;
    InvalidInputError for one that is no regular file, or that not every user may read."""
    facts = os.fstat(descriptor)
    if not stat.S_ISREG(facts.st_mode):
        raise InvalidInputError(f"{what}: {key} is not a shared-memory object (not a regular file)")
    if not facts.st_mode & stat.S_IROTH:
        raise InvalidInputError(
            f"{what}: the object {key} (mode {stat.S_IMODE(facts.st_mode):04o}) is not readable by every "
            "user of this host: this server takes only objects any user may read (chmod 0644; 0666 to "
            "take outputs too), so that it never reads or writes for a client what the client could "
            "not itself"
        )
    return facts.st_size, opened_to_write and bool(facts.st_mode & stat.S_IWOTH)
