"""``edge-gateway audit serve|check-config|verify``: the cloud audit-log subscriber, the check of its
config (``audit_check``) and its offline checker.

``serve --config FILE`` runs the subscriber until SIGTERM or SIGINT, then stores and acknowledges
what has arrived and leaves its MQTT session for the next start. SIGHUP (``systemctl reload``)
reads the keys file again: the alerts that arrive after it are checked with the new keys (a device
added is accepted, one removed refused as ``unknown_device``, one re-keyed checked with its new
keys: each device's list, ``gateway.audit.keys_file``), and what changed is logged by device id,
never a key. A keys file that cannot be used is
refused with the reason and the keys in force stay, and the failure stays visible until a reload
succeeds: the unit runs ``audit check-config`` before the signal, so ``systemctl reload`` fails on
such a file, but a SIGHUP sent otherwise (or a file edited between the two) reports nothing, so the
reason (naming the file) is also listed in ``GET /v1/status``'s ``problems`` and in STATUS=, and the
gauge ``edge_gateway_audit_keys_reload_failed`` is 1. The handler is installed first thing, so a
SIGHUP while the service starts is a reload once it runs, not the default action (which ended it).
Under systemd (Type=notify) it reports READY once the store is open and the client started (not
once connected: a broker that is down must not make systemd kill and restart the service), and
keeps STATUS= current with the connection state or the last error. A store that fails (retried,
nothing acknowledged meanwhile) is listed in the problems too, with the gauge
``edge_gateway_audit_store_failing`` 1, until a store succeeds. With an ``http:`` section it
also serves the audit HTTP API (``gateway.audit.http``: the fleet API and page, evidence images,
``/metrics``) on a store connection of its own. ``verify --db URL [--keys FILE]`` prints, per
device, the alerts, first and last seq, gaps, chain breaks, bad signatures and rejected messages,
and exits 1 if there is any problem (2 when the store or keys cannot be read). It reads the store as
it is, on a read-only connection, and never migrates it: a store too old to read so is refused (exit
2) with the command that migrates it.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType

from prometheus_client import CollectorRegistry, Gauge, start_http_server

from gateway.audit.http import AuditHttpServer, create_app
from gateway.audit.http_context import ServiceProblems
from gateway.audit.keys_file import KeyRing, SettledKeys, SigningKeys, load_keys
from gateway.audit.store import AuditStore, StoreBounds
from gateway.audit.subscriber import AuditSubscriber
from gateway.audit.verify import verify_store
from gateway.commands.audit_check import run_check
from gateway.commands.check_config import variable
from gateway.commands.redaction import print_problems, redact
from gateway.config import EXPANDABLE, HttpConfig, load_audit_config
from gateway.errors import AuditError, ConfigError
from gateway.printable import printable
from gateway.systemd import Notifier
from gateway.wording import counted

logger = logging.getLogger(__name__)

EXIT_PROBLEMS = 1
EXIT_ERROR = 2
STATUS_INTERVAL_S = 1.0
KEYS_PROBLEM = "keys"
"""The cause a keys reload that failed is listed under in the service's problems."""
STORE_PROBLEM = "store"
"""The cause a store that fails (retried) is listed under in the service's problems."""


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("audit", help="cloud audit log: subscribe and store, or verify")
    commands = parser.add_subparsers(dest="audit_command", required=True, metavar="ACTION")
    serve = commands.add_parser("serve", help="run the audit subscriber until SIGTERM/SIGINT")
    serve.add_argument("--config", type=Path, required=True, help="audit config (YAML)")
    serve.set_defaults(handler=run_serve, default_log_level="info")
    check = commands.add_parser(
        "check-config", help="check an audit config as serve would at start; exit 2 on a problem"
    )
    check.add_argument("--config", type=Path, required=True, help="audit config (YAML)")
    check.add_argument(
        "--env",
        action="append",
        default=[],
        type=variable,
        metavar="NAME=VALUE",
        help="a variable the config expands, over the environment (repeatable), for a config checked "
        f"before it is installed (its files are not read then): {', '.join(EXPANDABLE)}",
    )
    check.set_defaults(handler=lambda arguments: run_check(arguments.config, arguments.env))
    verify = commands.add_parser("verify", help="check the stored chains; exit 1 if any problem")
    verify.add_argument("--db", required=True, help="sqlite:///path or postgresql://...")
    verify.add_argument(
        "--keys", type=Path, help="device keys (YAML/JSON device_id -> hex); checks signatures"
    )
    verify.add_argument("--topic-prefix", default="edge", help="MQTT topic prefix of the stored alerts")
    verify.set_defaults(handler=run_verify)


class _ReloadRequests:
    """Set by the SIGHUP handler, taken by the main loop. A plain flag: a handler that took a lock
    (``threading.Event.set``) could wait for ever on one the interrupted main thread holds."""

    def __init__(self) -> None:
        self.pending = False

    def request(self, signum: int, frame: FrameType | None) -> None:
        self.pending = True

    def take(self) -> bool:
        """True once per batch of requests. Cleared before the file is read, so a request that comes
        in between is served by that read, and one that comes after it by the next."""
        if not self.pending:
            return False
        self.pending = False
        return True


def run_serve(arguments: argparse.Namespace) -> int:
    reloads = _ReloadRequests()
    previous_hangup = signal.signal(signal.SIGHUP, reloads.request)
    # If the CLI blocked SIGHUP for the imports (as it does for ``serve``), one that came meanwhile is
    # delivered now, to the handler: a reload once running.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGHUP})
    try:
        return _serve(arguments, reloads)
    finally:
        signal.signal(signal.SIGHUP, previous_hangup)


def _serve(arguments: argparse.Namespace, reloads: _ReloadRequests) -> int:
    try:
        config = load_audit_config(arguments.config)
    except ConfigError as exc:
        print_problems(exc.problems)
        return EXIT_ERROR
    notifier = Notifier.from_environment()
    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        logger.info("audit: %s received, stopping", signal.Signals(signum).name)
        stop.set()

    try:
        reloads.take()  # the keys are read now: a SIGHUP before this asks for nothing more
        keys = load_keys(config.keys_file)
        store = AuditStore.open(
            config.database, keys, config.mqtt.topic_prefix, bounds=StoreBounds.from_config(config.bounds)
        )
    except AuditError as exc:
        logger.error("audit: %s", exc)
        return EXIT_ERROR
    registry = CollectorRegistry()
    problems = ServiceProblems()
    keys_reload_failed = Gauge(
        "edge_gateway_audit_keys_reload_failed",
        "1 while the last reload of the keys file failed (the keys in force before it stay), else 0",
        registry=registry,
    )
    store_failing = Gauge(
        "edge_gateway_audit_store_failing",
        "1 while storing fails and is retried (what arrived waits unacknowledged), else 0",
        registry=registry,
    )
    http_server: AuditHttpServer | None = None
    reader: AuditStore | None = None
    try:
        subscriber = AuditSubscriber(config, store, registry)
        failed = False
        previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGTERM, signal.SIGINT)}
        metrics_server = None
        try:
            if config.metrics_port is not None:
                metrics_server, _ = start_http_server(config.metrics_port, config.metrics_host, registry)
                logger.info("audit: metrics on http://%s:%d/metrics", *metrics_server.server_address[:2])
            if config.http is not None:
                reader = AuditStore.open(config.database, keys, config.mqtt.topic_prefix)
                http_server = _start_http(config.http, reader, registry, problems)
            subscriber.start()
            notifier.ready(f"connecting to {config.mqtt.url}")
            shown = ""
            key_users = [subscriber.replace_keys] + ([reader.replace_keys] if reader is not None else [])
            keys_file = SettledKeys(config.keys_file)
            while not stop.wait(STATUS_INTERVAL_S):
                if reloads.take():
                    with notifier.reloading("reading the keys file again"):
                        keys, refused = _reload_keys(keys_file, keys, key_users)
                        problems.set(KEYS_PROBLEM, refused)
                        keys_reload_failed.set(0 if refused is None else 1)
                    shown = ""  # READY=1 ended the reload; the status line is sent again
                store_problem = subscriber.store_problem
                problems.set(STORE_PROBLEM, store_problem)
                store_failing.set(0 if store_problem is None else 1)
                if (line := _status(subscriber, problems)) != shown:
                    notifier.status(line)
                    shown = line
                if not subscriber.storing:
                    failed = True
                    break
            notifier.stopping("storing what has arrived, then leaving the session for the next start")
        finally:
            subscriber.stop()
            if http_server is not None:
                http_server.stop()
            if reader is not None:
                reader.close()
            if metrics_server is not None:
                metrics_server.shutdown()
                metrics_server.server_close()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
    except OSError as exc:
        logger.error("audit: cannot listen (metrics_port or http): %s", exc)
        return EXIT_ERROR
    except (AuditError, ConfigError) as exc:
        logger.error("audit: %s", exc)
        return EXIT_ERROR
    finally:
        store.close()
    if failed:
        logger.error("audit: stopped: %s", subscriber.last_error)
        return EXIT_ERROR
    logger.info("audit: stopped")
    return 0


def _reload_keys(
    keys_file: SettledKeys, keys: dict[str, KeyRing], users: Sequence[Callable[[SigningKeys], None]]
) -> tuple[dict[str, KeyRing], str | None]:
    """The keys file read again and handed to ``users``, and None; ``keys`` kept if it cannot be
    used, with why (the error names the file)."""
    try:
        loaded = keys_file.load()
    except AuditError as exc:
        problem = f"keys not reloaded, the keys of the {counted(len(keys), 'device')} in force stay: {exc}"
        logger.error("audit: %s", problem)
        return keys, problem
    added = sorted(loaded.keys() - keys.keys())
    removed = sorted(keys.keys() - loaded.keys())
    rekeyed = sorted(device for device in loaded.keys() & keys.keys() if loaded[device] != keys[device])
    for use in users:
        use(loaded)
    changes = [
        f"{what} {_listed(devices)}"
        for what, devices in (("added", added), ("removed", removed), ("re-keyed", rekeyed))
        if devices
    ]
    logger.info(
        "audit: keys reloaded from %s: %d devices; %s",
        keys_file.path,
        len(loaded),
        "; ".join(changes) if changes else "nothing changed",
    )
    return loaded, None


LISTED_DEVICES = 20
"""The most devices a reload's log line names of those added, removed or re-keyed: a first load of a
fleet of 50,000 made a line of half a million characters."""


def _listed(devices: Sequence[str]) -> str:
    named = ", ".join(printable(device) for device in devices[:LISTED_DEVICES])
    more = len(devices) - LISTED_DEVICES
    return named if more <= 0 else f"{named} and {more:,} more"


def _start_http(
    http: HttpConfig, reader: AuditStore, registry: CollectorRegistry, problems: ServiceProblems
) -> AuditHttpServer:
    """The audit HTTP API on ``reader``, a store connection of its own (the subscriber's belongs to
    its thread), with the subscriber's metrics on its ``/metrics`` and the service's ``problems``."""
    app = create_app(reader, http=http, registry=registry, problems=problems)
    server = AuditHttpServer(app, http.host, http.port)
    server.start()
    return server


def _status(subscriber: AuditSubscriber, problems: ServiceProblems) -> str:
    """One line for ``systemctl status``: the service's problems first."""
    return "; ".join([*problems.listed(), _connection_status(subscriber)])


def _connection_status(subscriber: AuditSubscriber) -> str:
    # The store's failure is among the problems already (STORE_PROBLEM): said once on the line.
    if subscriber.connection_problem is not None:
        return subscriber.connection_problem
    if not subscriber.connected:
        return "connecting to the broker"
    return f"subscribed to {subscriber.topic}" if subscriber.wait_subscribed(0) else "subscribing"


def run_verify(arguments: argparse.Namespace) -> int:
    try:
        keys = None if arguments.keys is None else load_keys(arguments.keys)
        store = AuditStore.open(arguments.db, keys or {}, arguments.topic_prefix, create=False)
        try:
            report = verify_store(store, keys)
        finally:
            store.close()
    except AuditError as exc:
        print(f"error: {redact(str(exc))}", file=sys.stderr)
        return EXIT_ERROR
    print(report.render())
    return 0 if report.ok else EXIT_PROBLEMS
