"""Tell systemd how the service is doing: readiness, watchdog pings, status, reload and stop.

The protocol is sd_notify(3): newline-separated ``KEY=VALUE`` lines in one datagram sent to the
AF_UNIX socket named by ``$NOTIFY_SOCKET`` (a leading ``@`` names an abstract socket). Outside
systemd there is no ``$NOTIFY_SOCKET`` and every call is a no-op, so the gateway behaves the same
from a shell, a container or a test.

The watchdog pings only while a health callable says the pipeline is making progress. A ping from
a thread that merely exists proves nothing: a wedged batcher or camera reader must stop the pings
so that systemd kills and restarts the service after ``WatchdogSec=`` (``Restart=on-failure``).

Typical use from ``edge-gateway serve``::

    notifier = Notifier.from_environment()
    notifier.status("loading models")
    with notifier.extending_timeout():    # first start on a GPU box builds TensorRT engines
        gateway.start()
    ...                                   # API listening
    watchdog = Watchdog.for_notifier(notifier, lambda: not gateway.health_problems())
    if watchdog is not None:
        watchdog.start()
    notifier.ready("4 cameras streaming, 2 models ready")
    ...                                   # on SIGHUP
    with notifier.reloading() as reload:
        reload_config_and_models()
        reload.status = "2 cameras streaming; the new config refused: ..."
    ...                                   # on SIGTERM
    notifier.stopping("flushing outbox")
    watchdog.stop()
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator, MutableMapping
from contextlib import contextmanager
from dataclasses import dataclass
from types import TracebackType

from prometheus_client import CollectorRegistry, Counter, Gauge

__all__ = ["Notifier", "ReloadOutcome", "Watchdog", "parse_watchdog_usec"]

logger = logging.getLogger(__name__)

SEND_TIMEOUT_S = 0.5

SOCKET_VARIABLE = "NOTIFY_SOCKET"
WATCHDOG_USEC_VARIABLE = "WATCHDOG_USEC"
WATCHDOG_PID_VARIABLE = "WATCHDOG_PID"
MIN_WATCHDOG_S = 0.02
"""The shortest ``WatchdogSec=`` pinged as given (a ping every 10 ms at most): shorter than any a
unit needs, and held longer it would ping too seldom for one that does ask for it."""


def parse_watchdog_usec(environ: MutableMapping[str, str], pid: int | None = None) -> float | None:
    """``WatchdogSec=`` in seconds as systemd passed it to this process, or None when it is off.

    systemd sets ``WATCHDOG_PID`` to the main process; a child that inherited the variables must
    not ping on its parent's behalf (sd_watchdog_enabled(3)).
    """
    raw = environ.get(WATCHDOG_USEC_VARIABLE)
    if not raw:
        return None
    owner = environ.get(WATCHDOG_PID_VARIABLE)
    if owner and owner.strip() != str(os.getpid() if pid is None else pid):
        return None
    try:
        microseconds = int(raw)
    except ValueError:
        logger.warning("ignoring %s=%r: not an integer", WATCHDOG_USEC_VARIABLE, raw)
        return None
    if microseconds <= 0:
        return None
    seconds = microseconds / 1_000_000
    held = min(max(seconds, MIN_WATCHDOG_S), threading.TIMEOUT_MAX)
    if held != seconds:
        # 1 us had the watchdog thread ping 6,800 times a second; 2**64 us ended it with an
        # OverflowError (a wait longer than threads can wait).
        logger.warning(
            "%s=%d is out of range: pinging as for %g s", WATCHDOG_USEC_VARIABLE, microseconds, held
        )
    return held


def _socket_address(raw: str) -> str | None:
    if raw.startswith("@") and len(raw) > 1:
        return "\0" + raw[1:]
    if raw.startswith("/"):
        return raw
    # systemd 254+ may also hand out vsock:CID:PORT for VMs; the gateway runs on the host it boots.
    logger.warning(
        "ignoring %s=%r: only filesystem and abstract AF_UNIX sockets are supported", SOCKET_VARIABLE, raw
    )
    return None


def _one_line(text: str) -> str:
    # A newline would start a second KEY=VALUE assignment inside the datagram.
    return " ".join(text.split())


@dataclass(slots=True)
class ReloadOutcome:
    """What a reload ends with (``Notifier.reloading``): ``status``, the status line to send with
    ``READY=1``; None leaves the line as the reload began it."""

    status: str | None = None


class Notifier:
    """Sends sd_notify messages; a no-op when the process was not started by systemd."""

    def __init__(self, address: str | None, watchdog_interval_s: float | None = None) -> None:
        self._address = address
        self.watchdog_interval_s = watchdog_interval_s
        """``WatchdogSec=`` in seconds, or None when systemd does not expect pings."""
        self._socket: socket.socket | None = None
        self._lock = threading.Lock()
        self._failing = False

    @classmethod
    def from_environment(
        cls, environ: MutableMapping[str, str] | None = None, *, unset: bool = True
    ) -> Notifier:
        """Read ``$NOTIFY_SOCKET`` and the watchdog variables.

        With ``unset`` (the default) they are removed from the environment afterwards, as
        sd_notify's ``unset_environment`` does, so decoder subprocesses do not inherit them.
        """
        variables = os.environ if environ is None else environ
        raw = variables.get(SOCKET_VARIABLE, "")
        address = _socket_address(raw) if raw else None
        interval = parse_watchdog_usec(variables) if address is not None else None
        if unset:
            for name in (SOCKET_VARIABLE, WATCHDOG_USEC_VARIABLE, WATCHDOG_PID_VARIABLE):
                variables.pop(name, None)
        return cls(address, interval)

    @property
    def enabled(self) -> bool:
        return self._address is not None

    def send(self, *assignments: str) -> bool:
        """Send ``KEY=VALUE`` assignments in one datagram; True when systemd's socket took it."""
        if self._address is None or not assignments:
            return False
        payload = "\n".join(assignments).encode("utf-8")
        with self._lock:
            try:
                if self._socket is None:
                    self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
                    # A manager that stops reading must not wedge the caller (the event loop sends
                    # STATUS=): a datagram it cannot take in time is dropped and logged instead.
                    self._socket.settimeout(SEND_TIMEOUT_S)
                self._socket.sendto(payload, self._address)
            except OSError as exc:
                # One warning per outage: the watchdog would otherwise log every few seconds.
                if not self._failing:
                    logger.warning("sd_notify to %s failed: %s", self._printable_address, exc)
                self._failing = True
                return False
            if self._failing:
                logger.info("sd_notify to %s works again", self._printable_address)
            self._failing = False
            return True

    @property
    def _printable_address(self) -> str:
        address = self._address or ""
        return "@" + address[1:] if address.startswith("\0") else address

    def ready(self, status: str | None = None) -> bool:
        """Startup (or a reload) is complete: models are warm and the API listens."""
        return self.send("READY=1", *self._status(status))

    def status(self, text: str) -> bool:
        """A one-line summary shown by ``systemctl status``."""
        return self.send(*self._status(text))

    def watchdog(self) -> bool:
        return self.send("WATCHDOG=1")

    def stopping(self, status: str | None = None) -> bool:
        """Shutdown has begun; systemd stops expecting watchdog pings and waits for the exit."""
        return self.send("STOPPING=1", *self._status(status))

    def extend_timeout(self, seconds: float) -> bool:
        """Ask for more start/stop time, e.g. while TensorRT builds an engine on first start."""
        return self.send(f"EXTEND_TIMEOUT_USEC={max(1, round(seconds * 1_000_000))}")

    @contextmanager
    def extending_timeout(self, interval_s: float = 20.0, limit_s: float = 1800.0) -> Iterator[None]:
        """Keep extending the start (or stop) timeout while a long step runs, such as TensorRT
        engine builds on a first start, instead of raising ``TimeoutStartSec=`` for every start.

        Every ``interval_s`` it asks for twice that, so one late tick costs nothing; after
        ``limit_s`` it stops asking, so a step that hangs still ends in systemd's timeout.
        """
        if not self.enabled:
            yield
            return
        done = threading.Event()

        def keep_extending() -> None:
            deadline = time.monotonic() + limit_s
            while time.monotonic() < deadline:
                self.extend_timeout(2 * interval_s)
                if done.wait(interval_s):
                    return
            logger.warning("still not done after %.0f s: no longer extending systemd's timeout", limit_s)

        thread = threading.Thread(target=keep_extending, name="systemd-extend-timeout", daemon=True)
        thread.start()
        try:
            yield
        finally:
            done.set()
            thread.join()

    @contextmanager
    def reloading(self, status: str | None = None) -> Iterator[ReloadOutcome]:
        """Bracket a SIGHUP reload: ``RELOADING=1`` before, ``READY=1`` after, even when it fails
        (the old config and models keep running, so the service is ready either way). The status
        the reload sets on what it yields (a refused file's reason) goes with ``READY=1``, so the
        status line says how the reload ended as soon as it has, not "reloading" until the next."""
        monotonic_usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        self.send("RELOADING=1", f"MONOTONIC_USEC={monotonic_usec}", *self._status(status or "reloading"))
        outcome = ReloadOutcome()
        try:
            yield outcome
        finally:
            self.send("READY=1", *self._status(outcome.status))

    @staticmethod
    def _status(text: str | None) -> tuple[str, ...]:
        return () if text is None else (f"STATUS={_one_line(text)}",)

    def close(self) -> None:
        with self._lock:
            if self._socket is not None:
                self._socket.close()
                self._socket = None

    def __enter__(self) -> Notifier:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()


class Watchdog:
    """Pings ``WATCHDOG=1`` every half interval (sd_watchdog_enabled(3)) while ``healthy()`` is True.

    Runs in one named daemon thread that ends when ``stop`` is set (the gateway's shared stop
    event) or :meth:`stop` is called. A health callable that raises counts as unhealthy.
    """

    THREAD_NAME = "systemd-watchdog"

    def __init__(
        self,
        notifier: Notifier,
        healthy: Callable[[], bool],
        interval_s: float,
        registry: CollectorRegistry | None = None,
    ) -> None:
        if interval_s <= 0:
            raise ValueError("interval_s must be positive")
        self._notifier = notifier
        self._healthy = healthy
        self.period_s = interval_s / 2
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._unhealthy_since: float | None = None
        self._pings: Counter | None = None
        self._withheld: Counter | None = None
        self._health: Gauge | None = None
        if registry is not None:
            self._pings = Counter(
                "edge_gateway_watchdog_pings_total", "WATCHDOG=1 messages sent to systemd.", registry=registry
            )
            self._withheld = Counter(
                "edge_gateway_watchdog_withheld_total",
                "Watchdog pings withheld because the pipeline was not making progress.",
                registry=registry,
            )
            self._health = Gauge(
                "edge_gateway_watchdog_healthy",
                "1 while the pipeline passes the watchdog's health check.",
                registry=registry,
            )

    @classmethod
    def for_notifier(
        cls,
        notifier: Notifier,
        healthy: Callable[[], bool],
        registry: CollectorRegistry | None = None,
    ) -> Watchdog | None:
        """A watchdog at systemd's ``WatchdogSec=``, or None when systemd expects no pings."""
        if not notifier.enabled or notifier.watchdog_interval_s is None:
            return None
        return cls(notifier, healthy, notifier.watchdog_interval_s, registry)

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("watchdog already started")
        self._thread = threading.Thread(target=self._run, name=self.THREAD_NAME, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self.join()

    def join(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def check_and_ping(self) -> bool:
        """One round: ping if healthy. Returns whether a ping was sent."""
        healthy = self._check()
        if self._health is not None:
            self._health.set(1 if healthy else 0)
        if not healthy:
            if self._unhealthy_since is None:
                self._unhealthy_since = time.monotonic()
                logger.warning("pipeline not making progress: withholding watchdog pings")
            if self._withheld is not None:
                self._withheld.inc()
            return False
        if self._unhealthy_since is not None:
            logger.warning(
                "pipeline making progress again after %.1f s: resuming watchdog pings",
                time.monotonic() - self._unhealthy_since,
            )
            self._unhealthy_since = None
        sent = self._notifier.watchdog()
        if sent and self._pings is not None:
            self._pings.inc()
        return sent

    def _check(self) -> bool:
        try:
            return bool(self._healthy())
        except Exception:
            # Once per unhealthy spell: the check runs every period and the journal is not a loop.
            if self._unhealthy_since is None:
                logger.exception("watchdog health check raised; treating the pipeline as unhealthy")
            return False

    def _run(self) -> None:
        logger.info("systemd watchdog: pinging every %.1f s while healthy", self.period_s)
        while True:
            self.check_and_ping()
            if self._stop.wait(self.period_s):
                return
