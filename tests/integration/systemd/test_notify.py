"""gateway.systemd against a real AF_UNIX datagram socket set as $NOTIFY_SOCKET."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from gateway.systemd import SEND_TIMEOUT_S, Notifier, Watchdog
from tests.integration.systemd.notify_listener import NotifyListener
from tests.support.serve import wait_for


def notifier_for(listener: NotifyListener, watchdog_usec: int | None = None) -> Notifier:
    environ = {"NOTIFY_SOCKET": listener.environment_value}
    if watchdog_usec is not None:
        environ["WATCHDOG_USEC"] = str(watchdog_usec)
        environ["WATCHDOG_PID"] = str(os.getpid())
    return Notifier.from_environment(environ)


def next_fields(listener: NotifyListener, timeout_s: float = 1.0) -> dict[str, str] | None:
    notification = listener.receive(timeout_s)
    return None if notification is None else notification.fields


def withheld_count(registry: CollectorRegistry) -> float:
    return registry.get_sample_value("edge_gateway_watchdog_withheld_total") or 0.0


def test_lifecycle_messages_arrive_as_systemd_expects_them(listener: NotifyListener) -> None:
    with notifier_for(listener) as notifier:
        assert notifier.enabled
        assert notifier.status("loading models")
        assert notifier.ready("2 cameras streaming\n1 model ready")
        assert notifier.stopping("flushing outbox")

    assert next_fields(listener) == {"STATUS": "loading models"}
    # A newline in the status must not smuggle in a second assignment.
    assert next_fields(listener) == {"READY": "1", "STATUS": "2 cameras streaming 1 model ready"}
    assert next_fields(listener) == {"STOPPING": "1", "STATUS": "flushing outbox"}


def test_reloading_carries_the_monotonic_clock_and_ends_ready_even_when_the_reload_fails(
    listener: NotifyListener,
) -> None:
    with notifier_for(listener) as notifier:
        before = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        with pytest.raises(RuntimeError, match="bad model"), notifier.reloading():
            raise RuntimeError("bad model")
        after = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000

    reloading = listener.receive(1.0)
    assert reloading is not None
    assert reloading.fields["RELOADING"] == "1"
    assert before <= int(reloading.fields["MONOTONIC_USEC"]) <= after
    assert reloading.fields["STATUS"] == "reloading"
    assert next_fields(listener) == {"READY": "1"}


def test_the_status_a_reload_ends_with_is_sent_with_ready(listener: NotifyListener) -> None:
    # Before, READY=1 came alone: the line said "reloading" until the next status, and a refused
    # config was only in the log.
    with notifier_for(listener) as notifier, notifier.reloading("reloading config") as reload:
        reload.status = "reload refused at 2026-01-02T03:04:05Z: gateway.yaml: is empty\n(no YAML document)"

    reloading = next_fields(listener)
    assert reloading is not None
    assert reloading["STATUS"] == "reloading config"
    assert next_fields(listener) == {
        "READY": "1",
        "STATUS": "reload refused at 2026-01-02T03:04:05Z: gateway.yaml: is empty (no YAML document)",
    }


def test_extend_timeout_is_sent_in_microseconds(listener: NotifyListener) -> None:
    with notifier_for(listener) as notifier:
        notifier.extend_timeout(90)
    assert next_fields(listener) == {"EXTEND_TIMEOUT_USEC": "90000000"}


def test_without_notify_socket_every_call_is_a_no_op() -> None:
    notifier = Notifier.from_environment({})
    assert not notifier.enabled
    assert not notifier.ready()
    assert not notifier.watchdog()
    assert Watchdog.for_notifier(notifier, lambda: True) is None


def test_a_vanished_socket_is_reported_not_raised(listener: NotifyListener) -> None:
    notifier = notifier_for(listener)
    listener.close()
    assert not notifier.ready()
    notifier.close()


def test_watchdog_pings_only_while_healthy_and_resumes(listener: NotifyListener) -> None:
    # Given WatchdogSec=0.4 s: a ping every 0.2 s while the health check passes.
    healthy = threading.Event()
    healthy.set()
    registry = CollectorRegistry()
    notifier = notifier_for(listener, watchdog_usec=400_000)
    watchdog = Watchdog.for_notifier(notifier, healthy.is_set, registry)
    assert watchdog is not None
    assert watchdog.period_s == pytest.approx(0.2)
    watchdog.start()
    try:
        assert any(thread.name == Watchdog.THREAD_NAME for thread in threading.enumerate())
        # About 11 in 2 s: at least 3 leaves a late thread 1.6 s; at most 13 still fails pinging
        # twice as often (21).
        pings = [n for n in listener.drain(2.0) if n.fields == {"WATCHDOG": "1"}]
        assert 3 <= len(pings) <= 13

        # When the pipeline wedges, the pings stop: systemd would kill the process.
        healthy.clear()
        # A round that checked before the wedge may still ping; one withheld after it has finished.
        withheld_before = withheld_count(registry)
        wait_for(lambda: withheld_count(registry) > withheld_before, "a round withheld", 10)
        listener.drain(0.05)
        assert listener.drain(1.0) == []
        assert registry.get_sample_value("edge_gateway_watchdog_healthy") == 0
        wait_for(lambda: withheld_count(registry) >= withheld_before + 3, "three rounds withheld", 10)

        # And resume once it makes progress again.
        healthy.set()
        resumed, _ = listener.wait_for("WATCHDOG", 10.0)
        assert resumed.fields == {"WATCHDOG": "1"}
        assert registry.get_sample_value("edge_gateway_watchdog_healthy") == 1
    finally:
        watchdog.stop()
        notifier.close()
    assert not watchdog.running
    sent = registry.get_sample_value("edge_gateway_watchdog_pings_total")
    assert sent is not None
    assert sent >= 4


def test_a_raising_health_check_counts_as_unhealthy(listener: NotifyListener) -> None:
    def broken() -> bool:
        raise ValueError("lost track of the cameras")

    with notifier_for(listener, watchdog_usec=200_000) as notifier:
        watchdog = Watchdog(notifier, broken, 0.2)
        assert not watchdog.check_and_ping()
    assert listener.drain(0.2) == []


def test_children_do_not_inherit_the_notify_socket(listener: NotifyListener) -> None:
    # Given the variables systemd sets, consumed the way `serve` consumes them.
    environ = dict(os.environ)
    environ.update(
        NOTIFY_SOCKET=listener.environment_value, WATCHDOG_USEC="30000000", WATCHDOG_PID=str(os.getpid())
    )
    notifier = Notifier.from_environment(environ)
    assert notifier.watchdog_interval_s == 30.0
    assert "NOTIFY_SOCKET" not in environ
    assert "WATCHDOG_USEC" not in environ
    # A child started with what is left cannot notify on the gateway's behalf.
    code = "import os, sys; sys.exit(1 if 'NOTIFY_SOCKET' in os.environ else 0)"
    assert subprocess.run([sys.executable, "-c", code], env=environ, check=False).returncode == 0
    notifier.close()


def test_a_separate_process_reaches_the_listener_through_the_environment(listener: NotifyListener) -> None:
    # The way systemd starts the gateway: only the environment says where to notify.
    code = (
        "from gateway.systemd import Notifier\n"
        "notifier = Notifier.from_environment()\n"
        "assert notifier.ready('up'), 'not sent'\n"
    )
    environ = {**os.environ, "NOTIFY_SOCKET": listener.environment_value}
    subprocess.run([sys.executable, "-c", code], env=environ, check=True, timeout=60)
    assert next_fields(listener, 5.0) == {"READY": "1", "STATUS": "up"}


def test_a_health_check_that_keeps_raising_is_logged_once(
    listener: NotifyListener, caplog: pytest.LogCaptureFixture
) -> None:
    calls = 0

    def broken() -> bool:
        nonlocal calls
        calls += 1
        raise ValueError("lost track of the cameras")

    with notifier_for(listener, watchdog_usec=200_000) as notifier:
        watchdog = Watchdog(notifier, broken, 0.2)
        for _ in range(5):
            watchdog.check_and_ping()
    assert calls == 5
    assert [record.exc_info is not None for record in caplog.records if "raised" in record.message] == [True]


def test_extending_timeout_keeps_asking_while_a_long_step_runs_and_stops_after(
    listener: NotifyListener,
) -> None:
    with notifier_for(listener) as notifier:
        with notifier.extending_timeout(interval_s=0.5):
            assert any(thread.name == "systemd-extend-timeout" for thread in threading.enumerate())
            during = listener.drain(2.2)
        # Sent before the step ended, so already queued: the step's, not asked after it.
        during += listener.drain(0.01)
        after = listener.drain(1.2)
    assert [n.fields for n in during] == [{"EXTEND_TIMEOUT_USEC": "1000000"}] * len(during)
    # Five in 2.2 s: at least 4 leaves a late thread 0.7 s and still fails a thread that asks only
    # every second (3), at most 7 fails one that asks twice as often (9).
    assert 4 <= len(during) <= 7
    assert after == []


def test_extending_timeout_gives_up_at_its_limit(listener: NotifyListener) -> None:
    # A step that hangs must still end in systemd's timeout.
    with notifier_for(listener) as notifier, notifier.extending_timeout(interval_s=0.1, limit_s=0.6):
        received = listener.drain(1.5)
    # At most 6 before the limit, against 15 without one; the second may come 0.5 s late.
    assert 2 <= len(received) <= 7


def test_a_manager_that_stops_reading_cannot_wedge_the_sender(listener: NotifyListener) -> None:
    # Given a notify socket nobody reads: its queue holds at most max_dgram_qlen datagrams (and less
    # when they are large), so a few more than that cannot all be taken.
    queue_length = int(Path("/proc/sys/net/unix/max_dgram_qlen").read_text())
    with notifier_for(listener) as notifier:
        results = []
        for index in range(queue_length + 3):
            started = time.monotonic()
            results.append(notifier.status(f"update {index}"))
            # Then each send gives up within its timeout instead of blocking the caller forever
            # (ten times the timeout: a loaded machine may be slow to run the sender once it gives up).
            assert time.monotonic() - started < 10 * SEND_TIMEOUT_S
    assert results[0] is True
    assert False in results
