"""Pure parts of gateway.systemd: reading systemd's environment."""

from __future__ import annotations

import threading

import pytest

from gateway.systemd import Notifier, Watchdog, parse_watchdog_usec


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({}, None),
        ({"WATCHDOG_USEC": "30000000"}, 30.0),
        ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "4242"}, 30.0),
        ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"}, None),  # meant for another process
        ({"WATCHDOG_USEC": "0"}, None),
        ({"WATCHDOG_USEC": "soon"}, None),
        ({"WATCHDOG_USEC": "1"}, 0.02),  # pinged every 10 ms, not 6,800 times a second
        ({"WATCHDOG_USEC": "100000"}, 0.1),  # short, and pinged as asked
        ({"WATCHDOG_USEC": str(2**64)}, threading.TIMEOUT_MAX),  # a wait threads can wait
    ],
)
def test_watchdog_interval_from_the_environment(environ: dict[str, str], expected: float | None) -> None:
    assert parse_watchdog_usec(environ, pid=4242) == expected


@pytest.mark.parametrize(
    ("value", "enabled"),
    [("/run/systemd/notify", True), ("@/org/freedesktop/systemd1/notify", True), ("relative", False)],
)
def test_notify_socket_forms(value: str, enabled: bool) -> None:
    assert Notifier.from_environment({"NOTIFY_SOCKET": value}).enabled is enabled


def test_variables_are_consumed_unless_asked_to_keep_them() -> None:
    environ = {"NOTIFY_SOCKET": "/run/systemd/notify", "WATCHDOG_USEC": "1000000", "OTHER": "x"}
    kept = Notifier.from_environment(dict(environ), unset=False)
    consumed_from = dict(environ)
    consumed = Notifier.from_environment(consumed_from)
    assert kept.watchdog_interval_s == consumed.watchdog_interval_s == 1.0
    assert consumed_from == {"OTHER": "x"}


def test_no_watchdog_interval_without_a_socket() -> None:
    assert Notifier.from_environment({"WATCHDOG_USEC": "1000000"}).watchdog_interval_s is None


def test_watchdog_pings_at_half_the_interval_and_rejects_nonsense() -> None:
    notifier = Notifier(None)
    assert Watchdog(notifier, lambda: True, 30.0).period_s == 15.0
    with pytest.raises(ValueError, match="positive"):
        Watchdog(notifier, lambda: True, 0)
