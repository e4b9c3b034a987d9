"""Pure parts of gateway.systemd: reading systemd's environment and tracking thread progress."""

from __future__ import annotations

import pytest

from gateway.systemd import Heartbeats, Notifier, Watchdog, parse_watchdog_usec


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({}, None),
        ({"WATCHDOG_USEC": "30000000"}, 30.0),
        ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "4242"}, 30.0),
        ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"}, None),  # meant for another process
        ({"WATCHDOG_USEC": "0"}, None),
        ({"WATCHDOG_USEC": "soon"}, None),
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


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_heartbeats_go_stale_one_by_one_and_recover() -> None:
    clock = FakeClock()
    heartbeats = Heartbeats(clock)
    heartbeats.expect("batcher", max_silence_s=2.0)
    heartbeats.expect("camera:gate", max_silence_s=5.0)
    assert heartbeats.healthy()

    clock.now += 3.0
    heartbeats.beat("camera:gate")
    assert heartbeats.stale() == ["batcher"]
    assert not heartbeats.healthy()

    heartbeats.beat("batcher")
    clock.now += 4.0
    assert heartbeats.stale() == ["batcher"]
    clock.now += 1.5
    assert heartbeats.stale() == ["batcher", "camera:gate"]


def test_forgotten_and_unknown_names_do_not_count() -> None:
    clock = FakeClock()
    heartbeats = Heartbeats(clock)
    heartbeats.expect("camera:gate", max_silence_s=1.0)
    heartbeats.beat("camera:never-registered")
    clock.now += 10.0
    assert heartbeats.stale() == ["camera:gate"]
    heartbeats.forget("camera:gate")  # disabled on reload
    assert heartbeats.healthy()
    assert heartbeats.watched == []
    with pytest.raises(ValueError, match="positive"):
        heartbeats.expect("camera:gate", max_silence_s=0)
