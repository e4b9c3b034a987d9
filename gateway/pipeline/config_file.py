"""The config file a running gateway was started with: SIGHUP reloads and console geometry edits.

Both end in ``Gateway.reload``; one lock orders them, so a SIGHUP that arrives during a console
save reloads the file as saved, and two saves never interleave their read-modify-write of the file.
A console save validates the whole file with the new geometry before writing a byte, writes it
atomically (``gateway.config_edit``), then applies it as SIGHUP would.

A camera whose source, sampling or models changed in the file keeps its whole previous config until
a restart (``gateway.pipeline.camera_changes``), zones and lines included. A save would then answer
success and change nothing, so the editor is read-only for that camera while the last reload left
such a change pending (with the line ``/v1/status`` shows), and a save is refused when the file it
writes would leave one: the check is made under the lock, against the file and the config in force
at that moment, so a reload between the editor's load and its save cannot slip through.

A reload reads the file as the tokens file is read (``gateway.config.bounded_read``): on a thread
of its own, a few seconds at most, so a file on a hung network mount fails the reload, naming the
file and the time limit, instead of holding ``serve``, and SIGTERM behind it, for good. It reads it
until two reads a moment apart agree (``gateway.config.settled_read``), so a SIGHUP that comes while
a tool writes the file in place waits for the tool to finish, as long as it would wait for one read;
a file still changing then is refused. So is a file that is empty (only blank lines and comments),
as one is between such a tool's truncating it and its first write, as a start and ``check-config``
refuse it (``gateway.config.refuse_empty``): it loads as a config of defaults, which applied would
keep every camera on its previous config, named as removed, and list every other setting as waiting
for a restart. A file that is no regular file is not read at all: a pipe
(``--config <(...)``) was read to its end at start, and read again would be empty (a valid config
with no cameras and no rules), or block for good when nobody writes to it; a directory or a socket
put in the file's place is no config either.

A refused reload leaves the file out of force while it looks, to whoever ran ``systemctl reload``,
as if it were in force: its reason, the file and the time are told to ``refused`` in one line
(``refusal``), which ``/v1/status`` and systemd's status line show until a reload or a console save
applies the file (``refused(None)``). A file that is no regular file leaves that line as it was:
its reload re-scans the models and reads no config, so none is applied or refused.

A console save reaches the file the same way, under the lock: its look at the file (``stat``,
``access``), its read and its write each wait a few seconds at most, and one left hanging is named
(``HungFileError``) and lets go of the lock, so a SIGHUP behind it is refused at once instead of
waiting on the lock, and SIGTERM behind that, for good. A write given up may still land once the
mount answers; it is not in force until a reload reads it. ``read_only_reason`` looks at the file
the same way: the console asks for it on every load of the editor.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from pathlib import Path

from gateway.api.ports import ConfigReadOnlyError
from gateway.config import (
    CameraConfig,
    EmptyConfigError,
    GatewayConfig,
    LineConfig,
    Point,
    ZoneConfig,
    parse_config,
    read_config_text,
    refuse_empty,
)
from gateway.config.bounded_read import (
    READ_WAIT_S,
    FileUse,
    HungFileError,
    NotRegularFileError,
    refuse_irregular,
)
from gateway.config.settled_read import SETTLE_S, SettledFile
from gateway.config_edit import read_only_reason, replace_geometry, write_atomically
from gateway.errors import ConfigError, ConfigProblem
from gateway.pipeline.camera_changes import plan_reload
from gateway.wording import counted

logger = logging.getLogger(__name__)

CHECK = FileUse("check", "checking it", "the check a console request started")
SAVE_READ = FileUse("read", "reading it", "the read a console save started")
SAVE_WRITE = FileUse("write", "writing it", "the write a console save started")


def read_config_file(path: Path) -> str:
    """The config's text on a reload: ConfigError naming ``path`` for one that cannot be read,
    NotRegularFileError, before opening it, for one that is no regular file."""
    refuse_irregular(path)
    return read_config_text(path)


class ConfigFile:
    """Implements ``gateway.api.ports.GeometryEditor``; ``path`` None is the embedded default.
    ``running`` gives the config in force, ``apply`` puts a new one in force (``Gateway.reload``).
    ``read`` reads the file (tests pass one that blocks), each read waited for ``read_wait_s``; a
    reload reads it until two reads ``settle_s`` apart agree, for ``read_wait_s`` at most.
    ``refused`` is told why the last reload left the running config (``refusal``), and None once a
    reload or a save has applied the file (``Gateway.config_reloaded``)."""

    def __init__(
        self,
        path: Path | None,
        running: Callable[[], GatewayConfig],
        apply: Callable[[GatewayConfig], None],
        environment: Mapping[str, str] | None = None,
        *,
        read: Callable[[Path], str] = read_config_file,
        read_wait_s: float = READ_WAIT_S,
        settle_s: float = SETTLE_S,
        refused: Callable[[str | None], None] = lambda _: None,
    ) -> None:
        self._running = running
        self._apply = apply
        self._refused = refused
        self._path = path
        self._environment = environment
        self._read = read
        self._file = SettledFile(read, "", name="config-file-read", wait_s=read_wait_s, settle_s=settle_s)
        self._lock = threading.Lock()
        self._requested: GatewayConfig | None = None
        """The config the last reload or save asked for; ``running`` may keep cameras of it back."""

    def reload(self) -> None:
        """SIGHUP: the file once it has stopped changing. One that cannot be read in time, keeps
        changing, is empty or does not validate leaves the running config; one that is no regular
        file too, with the models re-scanned."""
        with self._lock:
            if self._path is None:
                self._apply(self._running())
                return
            try:
                text = self._file.text(self._path)
                refuse_empty(text, str(self._path))
                config: GatewayConfig = parse_config(text, str(self._path), GatewayConfig, self._environment)
            except NotRegularFileError as exc:
                logger.warning(
                    "reload: the config %s is %s, not a regular file, so it is not read again: the "
                    "running config stays; models re-scanned",
                    self._path,
                    exc.kind,
                )
                self._apply(self._running())
                return
            except EmptyConfigError as exc:
                # Told before it is logged: whoever reads the log line finds it in /v1/status.
                self._refused(refusal(exc, time.time()))
                # One line, as check-config and a start say it: the unit's ExecReload runs check-config.
                logger.error("reload refused: %s; the running config stays", exc)
                return
            except ConfigError as exc:
                self._refused(refusal(exc, time.time()))
                logger.error("reload refused, the running config stays:\n%s", exc)
                return
            self._apply(config)
            self._requested = config
            self._refused(None)

    def read_only_reason(self, camera_id: str) -> str | None:
        """Also HungFileError: checking the file (``stat``, ``access``) hangs as a read would."""
        reason = self._checked(self._path)
        requested = self._requested
        if reason is not None or requested is None:
            return reason
        return pending_restart(camera_id, requested, self._running())

    def _checked(self, path: Path | None) -> str | None:
        """``read_only_reason`` of the file, bounded as its reads are: on a hung mount its ``stat``
        hangs as a read would, and a console request must not wait on it for good."""
        if path is None:
            return read_only_reason(None)
        return self._file.run(path, read_only_reason, CHECK)

    def camera_config(self, camera_id: str) -> CameraConfig | None:
        return camera_in(self._running(), camera_id)

    def save_geometry(
        self,
        camera_id: str,
        zones: Sequence[ZoneConfig],
        lines: Sequence[LineConfig],
        mask: Sequence[Sequence[Point]] | None = None,
        check: Callable[[CameraConfig | None, bool], None] = lambda _camera, _on_disk: None,
    ) -> CameraConfig:
        with self._lock:
            # Under the lock a reload holds while it reads and applies the file: a reload that began
            # before this save has applied what it read (a hand edit of the geometry included).
            check(self.camera_config(camera_id), False)
            path = self._path
            reason = self._checked(path)
            if reason is not None or path is None:
                raise ConfigReadOnlyError(reason)
            source = str(path)
            written = self._file.run(path, self._read, SAVE_READ)
            text = replace_geometry(written, camera_id, zones, lines, source, mask=mask)
            config: GatewayConfig = parse_config(text, source, GatewayConfig, self._environment)
            pending = pending_restart(camera_id, config, self._running())
            if pending is not None:
                raise ConfigReadOnlyError(pending)
            # And the camera as the file has it: a hand edit of its geometry written there, its
            # reload still to come. A file that does not validate as it is (a reload refused it, and
            # this save may be what mends it) is checked only as saved.
            try:
                on_disk: GatewayConfig | None = parse_config(
                    written, source, GatewayConfig, self._environment
                )
            except ConfigError:
                on_disk = None
            if on_disk is not None:
                check(camera_in(on_disk, camera_id), True)
            try:
                self._file.run(path, partial(_write, text), SAVE_WRITE)
            except OSError as exc:
                raise ConfigReadOnlyError(f"the config file {path} cannot be written: {exc}") from exc
            except HungFileError as exc:
                # The write goes on, left behind: the file may yet be replaced, but nothing is
                # applied until a reload reads it.
                problem = ConfigProblem(
                    source,
                    None,
                    "",
                    f"{exc.problems[0].message}; the saved geometry may still reach the file once the "
                    "mount answers, and is not in force until a reload (SIGHUP) reads it",
                )
                raise HungFileError([problem]) from exc
            masked = "the motion mask as it was"
            if mask is not None:
                masked = f"a motion mask of {counted(len(mask), 'outline')}"
            logger.info(
                "console saved %s, %s and %s to %s; applying",
                counted(len(zones), "zone"),
                counted(len(lines), "line"),
                masked,
                source,
                extra={"camera": camera_id},
            )
            self._apply(config)
            self._requested = config
            # The whole file, as saved, is in force: a reload refused before it no longer holds.
            self._refused(None)
        saved = self.camera_config(camera_id)
        if saved is None:  # the file, edited by hand meanwhile, no longer has the camera
            problem = ConfigProblem(str(self._path), None, "cameras", f"no camera {camera_id!r} any more")
            raise ConfigError([problem])
        return saved


def refusal(error: ConfigError, at: float) -> str:
    """The line ``/v1/status`` and systemd's status line show for a reload refused at ``at`` (seconds
    since the epoch) with ``error``: its first problem, which names the file, and how many more the
    log lists."""
    first, *more = error.problems
    why = f"{first} (and {counted(len(more), 'more problem')} in the log)" if more else str(first)
    moment = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(at))
    return f"reload refused at {moment}: {why}; the running config stays until a reload applies the file"


def _write(text: str, path: Path) -> None:
    write_atomically(path, text)


def camera_in(config: GatewayConfig, camera_id: str) -> CameraConfig | None:
    """The camera ``camera_id`` of ``config``, or None where it has none."""
    return next((camera for camera in config.cameras if camera.id == camera_id), None)


def pending_restart(camera_id: str, requested: GatewayConfig, in_force: GatewayConfig) -> str | None:
    """The line ``/v1/status`` shows for the camera while ``requested`` (a config the file asks for)
    waits for a restart to apply to it, or None when a reload applies it (or the camera is not
    running). The camera's config in force stands in for the camera as built: a reload installs a
    camera's config only when its restart-only settings are those it was built with."""
    running = camera_in(in_force, camera_id)
    if running is None:
        return None
    wanted = [camera for camera in requested.cameras if camera.id == camera_id]
    plan = plan_reload({camera_id: running}, [running], wanted)
    return plan.pending[0] if plan.pending else None
