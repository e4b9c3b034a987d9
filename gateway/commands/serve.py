"""``edge-gateway serve [--config FILE]``: run the gateway until SIGTERM.

Lifecycle (systemd ``Type=notify``): models load and warm, cameras start, the API binds, then
``READY=1``. ``WATCHDOG=1`` is sent only while the pipeline makes progress. SIGHUP reloads config,
models and the tokens file's tokens between ``RELOADING=1`` and ``READY=1``. The config and the
tokens file are each read on a thread of their own and waited for a few seconds at most, so one on a
hung mount fails that part of the reload, named, and keeps neither requests nor SIGTERM waiting
longer (``gateway.config.bounded_read``), and a SIGTERM that comes while the config is read skips
the tokens file's read; the config is read until it stops changing, and one still being written or
empty is refused (``gateway.config.settled_read``); a config that is no regular file (a pipe, read
once at start, or a directory put in its place) is not read again: SIGHUP then re-scans the models
only. A SIGHUP that came while the process was still starting (``cli`` holds it back from the
first line) is a reload once the handler is in place. A reload refused (the file invalid, empty,
unreadable or still changing) is named in ``/v1/status`` and first in systemd's status line until a
reload or a console save applies the file. Settings only a restart applies (``device_id``,
``state_dir``, ``http``, ``mqtt``, ...) keep their running values, named in a warning and in
``/v1/status`` (``gateway.pipeline.service_changes``). SIGTERM (or SIGINT):
``STOPPING=1``, the API stops taking work, in-flight batches finish or expire, every decided alert
is committed, MQTT publishes ``offline``, exit 0. A SIGTERM during start-up lets the start in
progress end (a model load cannot be cut short), then stops without opening the API or sending
``READY=1``. An API address that cannot be opened (the port taken, a non-loopback host without
tokens) or a ``state_dir`` that is a file is refused before anything starts (``preflight``), exit 2
for what the config must change. A thread the kernel will not start (the task or memory limit
reached) is one line naming it, exit 1 (``gateway.thread_limit``). ``--config -`` is refused (exit
2): standard input cannot be read again on SIGHUP (``check-config -`` reads it).
"""

from __future__ import annotations

import argparse
import asyncio
import errno
import logging
import os
import signal
import sys
from functools import partial
from pathlib import Path

from gateway.api import event_loop
from gateway.api.app import App, create_app, serve
from gateway.api.tokens import TokensInUse, replace_tokens
from gateway.commands.preflight import EMBEDDED, check_startup
from gateway.commands.redaction import print_problems
from gateway.config import (
    ConfigSource,
    GatewayConfig,
    default_config,
    load_config_source,
    missing_from_checkout,
)
from gateway.errors import ConfigError, GatewayError
from gateway.garbage_collection import settle
from gateway.heap import TRIM_EVERY_S, keep_freed_memory_between_trims, release_freed_memory
from gateway.open_files import raise_to_hard_limit
from gateway.pipeline import Gateway
from gateway.pipeline.config_file import ConfigFile
from gateway.systemd import Notifier, Watchdog
from gateway.thread_limit import thread_not_started

logger = logging.getLogger(__name__)

EXIT_CONFIG = 2
STATUS_EVERY_S = 10.0
STDIN = "-"


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("serve", help="run the gateway (default: the embedded demo)")
    parser.add_argument(
        "--config",
        type=config_file,
        help="YAML config file (read again on SIGHUP, so not - for standard input); without it, the "
        "embedded default",
    )
    parser.add_argument(
        "--insecure", action="store_true", help="allow a non-loopback API address without bearer tokens"
    )
    parser.set_defaults(handler=run, default_log_level="info")


def config_file(value: str) -> Path:
    """``--config``'s file. Not ``-`` (standard input): serve reads its config again on SIGHUP and
    writes console edits back to it, and standard input is read once. argparse's error exits 2, as
    a config that does not load does."""
    if value == STDIN:
        raise argparse.ArgumentTypeError(
            "- (standard input) cannot be a config serve reads again on SIGHUP and saves console edits "
            "to: pass a file (./- for a file named -); check-config - validates standard input"
        )
    return Path(value)


def run(arguments: argparse.Namespace) -> int:
    config_path: Path | None = arguments.config
    # Before anything opens a file: the cameras, models, outbox and API share this limit.
    raise_to_hard_limit()
    try:
        config, source = (
            load_config_source(config_path) if config_path is not None else (default_config(), EMBEDDED)
        )
    except ConfigError as exc:
        print_problems(exc.problems)
        return EXIT_CONFIG
    if config_path is None:
        missing = missing_from_checkout()
        if missing:
            # Started anyway, it ran a camera and a model that were not there, and made ./state.
            print(
                "no --config, and the embedded default runs in a checkout after its set-up (make run); "
                f"{Path.cwd()} has no {' or '.join(str(path) for path in missing)}: "
                "pass --config FILE to run anywhere else",
                file=sys.stderr,
            )
            return EXIT_CONFIG
        logger.info("no --config: running the embedded default (demo clip, face-detector, local outbox)")
    keep_freed_memory_between_trims()  # _trim_heap below returns what is freed, every TRIM_EVERY_S
    try:
        return event_loop.run(
            _serve(config, config_path, source, insecure=arguments.insecure, echo=config.mqtt is None)
        )
    except RuntimeError as exc:
        # A thread refused where _serve does not look for it (the watchdog's, or the one closing the
        # event loop starts to shut its executor down): one line, as for those it does.
        _say_refused_thread(exc, "stopped")
        return 1


def _say_refused_thread(exc: RuntimeError, outcome: str) -> None:
    """``exc``, a thread the kernel would not start, logged in one line after ``outcome`` (``cannot
    start: cannot start a thread (NAME): CAUSE``); any other RuntimeError is raised again."""
    refused = thread_not_started(exc)
    if refused is None:
        raise exc
    logger.error("%s: %s", outcome, refused)


async def _serve(
    config: GatewayConfig, config_path: Path | None, source: ConfigSource, *, insecure: bool, echo: bool
) -> int:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    reload = asyncio.Event()
    notifier = Notifier.from_environment()

    def request_stop(signum: signal.Signals) -> None:
        if not stop.is_set():
            logger.info("%s received: stopping", signum.name)
            notifier.stopping("stopping")
        stop.set()

    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, request_stop, signum)
    loop.add_signal_handler(signal.SIGHUP, reload.set)
    # ``cli`` blocked SIGHUP before the imports (whose default action would end the process): one
    # that came since is pending, and is handled as a reload from here on.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGHUP})
    # What would refuse the API is checked before anything starts: warming the models (minutes on a
    # first TensorRT start), starting cameras and taking the device's MQTT session, only to find the
    # port taken (a second serve) or the address refused, would also knock the running gateway off
    # its broker session.
    try:
        check_startup(config, source, insecure=insecure)
        tokens = TokensInUse(config.http.tokens_file)
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return EXIT_CONFIG
    try:
        await check_port_free(config.http.host, config.http.port)
    except OSError as exc:
        logger.error("cannot start: %s", exc)
        return 1
    try:
        gateway = Gateway.from_config(config, alert_echo=sys.stdout if echo else None)
    except GatewayError as exc:
        logger.error("cannot start: %s", exc)
        return 1
    except RuntimeError as exc:
        _say_refused_thread(exc, "cannot start")
        return 1

    # SIGHUP and console edits of zones and lines both go through the file, one at a time.
    def apply(new_config: GatewayConfig) -> None:
        gateway.reload(new_config)
        settle()

    config_file = ConfigFile(
        config_path, running=lambda: gateway.config, apply=apply, refused=gateway.config_reloaded
    )
    try:
        # Warming models (and building TensorRT engines on a first start) can outlast
        # TimeoutStartSec=; keep systemd informed instead of raising the timeout for every start.
        with notifier.extending_timeout():
            await loop.run_in_executor(None, gateway.start)
        if stop.is_set():
            # Stopped while starting: a load in progress cannot be cut short, but the API is not
            # opened and READY=1 not sent for a gateway that is on its way out.
            logger.info("stopping: the start-up in progress has ended")
            await loop.run_in_executor(None, gateway.stop)
            notifier.close()
            logger.info("stopped")
            return 0
        app = gateway_app(gateway, config_file, insecure=insecure)
        server = await serve(app, config.http.host, config.http.port)
    except (GatewayError, OSError) as exc:
        logger.error("cannot start: %s", exc)
        await loop.run_in_executor(None, gateway.stop)
        return 1
    except RuntimeError as exc:
        _say_refused_thread(exc, "cannot start")
        try:
            gateway.stop()  # on the loop's thread: another thread for it may well be refused too
        except RuntimeError:
            # A part whose thread was refused cannot be joined (``Thread.join`` refuses a thread never
            # started), which ends the stop there: the outbox, stopped last, is closed on its own.
            gateway.outbox.close()
        return 1
    settle()
    notifier.ready(gateway.summary())
    watchdog = Watchdog.for_notifier(
        notifier, lambda: not gateway.health_problems(), registry=gateway.registry
    )
    if watchdog is not None:
        watchdog.start()
    trimming = asyncio.ensure_future(_trim_heap(stop))
    try:
        while not stop.is_set():
            waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(reload.wait())]
            await asyncio.wait(waiters, timeout=STATUS_EVERY_S, return_when=asyncio.FIRST_COMPLETED)
            for waiter in waiters:
                waiter.cancel()
            if reload.is_set() and not stop.is_set():
                reload.clear()
                await loop.run_in_executor(None, _reload, config_file, notifier, gateway)
                # A SIGTERM that came while the config was read (up to its time limit on a hung
                # mount) is not kept waiting on the tokens file's read as well.
                if not stop.is_set():
                    gateway.tokens_reloaded(
                        await tokens.reload(gateway.config.http.tokens_file, partial(replace_tokens, app))
                    )
            notifier.status(status_line(gateway))
    finally:
        notifier.stopping("stopping")
        trimming.cancel()
        logger.info("stopping: API first, then cameras, inference, alerts, MQTT")
        await server.close()
        await loop.run_in_executor(None, gateway.stop)
        if watchdog is not None:
            watchdog.stop()
        notifier.close()
    logger.info("stopped")
    return 0


async def check_port_free(host: str, port: int) -> None:
    """OSError naming the address when ``host:port`` cannot be listened on now (another process has
    it, or the host is no address of this machine). Bound the way the API binds, then let go at once:
    holding it through start-up would leave clients waiting in its backlog rather than refused."""
    if port == 0:
        return
    loop = asyncio.get_running_loop()
    try:
        probe = await loop.create_server(asyncio.Protocol, host, port, reuse_address=True)
    except OSError as exc:
        # uvloop's strerror repeats the address; the errno's own words are enough next to ours.
        reason = os.strerror(exc.errno).lower() if exc.errno else str(exc)
        if exc.errno == errno.EADDRINUSE:
            reason += " (another edge-gateway serve?)"
        raise OSError(f"cannot listen on {host}:{port} (http.host, http.port): {reason}") from exc
    probe.close()
    await probe.wait_closed()


async def _trim_heap(stop: asyncio.Event) -> None:
    """Hand freed heap pages back to the OS now and then (see gateway/heap.py for why). On the loop
    itself: a trim takes about a millisecond, and an executor thread would be one more to keep."""
    while not stop.is_set():
        await asyncio.sleep(TRIM_EVERY_S)
        release_freed_memory()


def _reload(config_file: ConfigFile, notifier: Notifier, gateway: Gateway) -> None:
    with notifier.reloading("reloading config and models") as reload:
        config_file.reload()
        reload.status = status_line(gateway)


def status_line(gateway: Gateway) -> str:
    """systemd's STATUS=: a reload refused first (the file is not in force, though ``systemctl
    reload`` may have said nothing), then what is unhealthy, or the summary."""
    problems = gateway.health_problems()
    line = f"unhealthy: {'; '.join(problems)}" if problems else gateway.summary()
    refused = gateway.config_problem
    return line if refused is None else f"{refused}; {line}"


def gateway_app(gateway: Gateway, config_file: ConfigFile | None = None, *, insecure: bool = False) -> App:
    """The HTTP API and console of a built gateway, talking to it through the API's ports."""
    config = gateway.config
    return create_app(
        http=config.http,
        admission=config.admission,
        inference=gateway.inference,
        cameras=gateway.cameras,
        events=gateway.event_log,
        registry=gateway.registry,
        state=gateway,
        insecure=insecure,
        geometry=config_file,
        system=gateway,
        scenes=gateway,
    )
