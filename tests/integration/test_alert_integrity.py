"""Events always pair and no alert is ever dropped, judged from what reaches a real broker.

The real ``edge-gateway serve`` plays the demo clip (a face shows for a few seconds every 20 s)
through the face detector on ONNX Runtime, publishing to a real mosquitto:

- through SIGHUPs that keep, change and remove rules, a SIGKILL and a SIGTERM, every event_id in the
  MQTT stream has exactly one start and one end, no two events are open at once for one camera, rule
  and track, and the chain verifies;
- with the outbox's disk full (a file-size limit set on the running process with prlimit, so SQLite
  sees real write errors), the gateway keeps deciding, says so in /v1/status, /metrics and by
  stopping its watchdog pings, and once space returns every alert decided meanwhile is committed and
  delivered, each exactly once.
"""

from __future__ import annotations

import json
import re
import resource
import secrets
import signal
import threading
import time
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import yaml

from gateway.domain import Alert, AlertKind
from tests.integration.systemd.notify_listener import NotifyListener
from tests.support.alert_collector import AlertCollector
from tests.support.mosquitto import Mosquitto
from tests.support.serve import CLIP, Process, face_repository, last_committed_seq, wait_for

DEVICE = "integrity"
PREFIX = "fleet"
FACES = ["FACE_FEMALE", "FACE_MALE"]
WAIT_S = 90.0
WATCHDOG_USEC = 2_000_000


def face_rule(name: str, **overrides: Any) -> dict[str, Any]:
    rule = {
        "name": name,
        "labels": FACES,
        "min_score": 0.4,
        "min_frames": 1,
        "cooldown_s": 0,
        "update_interval_s": 1,
        "end_after_s": 0.5,
    }
    return {**rule, **overrides}


def write_config(
    path: Path, state_dir: Path, repository: Path, broker: Mosquitto, rules: list[dict[str, Any]]
) -> None:
    camera = {
        "id": "door",
        "url": str(CLIP),
        "detect_fps": 5,
        "model": "face-detector",
        "motion": {"enabled": False},
        "rules": rules,
    }
    config = {
        "device_id": DEVICE,
        "state_dir": str(state_dir),
        "http": {"port": 0},
        "models": {"repository": str(repository)},
        "mqtt": {"url": broker.url, "topic_prefix": PREFIX},
        "cameras": [camera],
    }
    path.write_text(yaml.safe_dump(config))


def open_events(alerts: Sequence[Alert]) -> dict[str, Alert]:
    """event_id -> its start, for events started and not ended in ``alerts``."""
    opened: dict[str, Alert] = {}
    for alert in alerts:
        if alert.event.kind is AlertKind.START:
            opened[alert.event.event_id] = alert
        elif alert.event.kind is AlertKind.END:
            opened.pop(alert.event.event_id, None)
    return opened


def assert_paired(alerts: Sequence[Alert]) -> None:
    """Each event: one start first, updates, one end last; never two open for one camera/rule/track."""
    kinds: dict[str, list[AlertKind]] = {}
    open_by_key: dict[tuple[str, str, int | None], str] = {}
    for alert in alerts:
        event = alert.event
        kinds.setdefault(event.event_id, []).append(event.kind)
        key = (event.camera_id, event.rule, event.track_id)
        if event.kind is AlertKind.START:
            assert key not in open_by_key, (
                f"seq {alert.seq}: {event.event_id} starts, {open_by_key[key]} open"
            )
            open_by_key[key] = event.event_id
        elif event.kind is AlertKind.END:
            assert open_by_key.pop(key, None) == event.event_id, f"seq {alert.seq}: end of an event not open"
    for event_id, sequence in kinds.items():
        expected = [AlertKind.START] + [AlertKind.UPDATE] * (len(sequence) - 2) + [AlertKind.END]
        assert sequence == expected, event_id
    assert not open_by_key


def test_events_pair_across_reloads_a_sigkill_and_a_sigterm(tmp_path: Path, processes: list[Process]) -> None:
    key = secrets.token_hex(32)
    state_dir = tmp_path / "state"
    state_dir.mkdir()
    (state_dir / "signing.key").write_text(key)
    repository = face_repository(tmp_path)
    config = tmp_path / "gateway.yaml"
    # Events stay open between the face's appearances (end_after_s 20 > the ~12 s it is away), so
    # every reload, the kill and the stop find events open.
    long = {"end_after_s": 20, "update_interval_s": 5}
    with Mosquitto(tmp_path / "broker") as broker:
        collector = AlertCollector(broker.port, f"{PREFIX}/{DEVICE}/alerts")
        try:
            write_config(
                config, state_dir, repository, broker, [face_rule("face", **long), face_rule("gone", **long)]
            )
            first = Process(["serve", "--config", str(config)], tmp_path / "gateway-1.log")
            processes.append(first)

            def rule_open(rule: str) -> Callable[[], bool]:
                return lambda: any(a.event.rule == rule for a in open_events(collector.alerts()).values())

            wait_for(lambda: rule_open("face")() and rule_open("gone")(), "both rules open", process=first)
            # Reload 1: "face" survives with a changed threshold, "gone" is removed, "added" is new.
            write_config(
                config, state_dir, repository, broker,
                [face_rule("face", min_score=0.35, **long), face_rule("added", **long)],
            )  # fmt: skip
            first.signal(signal.SIGHUP)
            wait_for(rule_open("added"), "the new rule open", process=first)
            # Reload 2: "added" keeps its name but follows other labels; "face" keeps going.
            write_config(
                config, state_dir, repository, broker,
                [face_rule("face", **long), face_rule("added", labels=["FACE_MALE", "FACE_FEMALE"], **long)],
            )  # fmt: skip
            first.signal(signal.SIGHUP)
            wait_for(lambda: first.output().count("rules reloaded") >= 2, "the second reload", process=first)
            wait_for(rule_open("face"), "an open event to kill", process=first)
            first.kill()

            second = Process(["serve", "--config", str(config)], tmp_path / "gateway-2.log")
            processes.append(second)
            killed_at = last_committed_seq(state_dir)

            def restarted() -> bool:
                return any(a.seq > killed_at and a.event.kind is AlertKind.START for a in collector.alerts())

            wait_for(restarted, "a start after the restart", process=second)
            assert second.terminate() == 0, second.output()

            total = last_committed_seq(state_dir)
            collector.wait_for(total, timeout_s=30)
            collector.assert_complete(total, bytes.fromhex(key))
            alerts = collector.alerts()
        finally:
            collector.close()
    assert_paired(alerts)
    assert all(alert.event.schema_version == 2 for alert in alerts)
    # Why each end came is in the gateway's log: the removed rule's by the reload, the killed run's
    # at the next start, the rest by the stop.
    gone_end = next(a for a in alerts if a.event.rule == "gone" and a.event.kind is AlertKind.END)
    assert f"alert {gone_end.alert_id} end rule=gone" in first.output()
    assert re.search(rf"alert {gone_end.alert_id} end rule=gone .* reason=rule_changed", first.output())
    assert "reason=recovered" in second.output()
    assert "reason=stopped" in second.output()


class WatchdogPings:
    """Reads the notify socket all the time, as systemd does, and keeps when each WATCHDOG=1 came."""

    def __init__(self, listener: NotifyListener) -> None:
        self._listener = listener
        self._times: list[float] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, name="watchdog-pings", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while not self._stop.is_set():
            notification = self._listener.receive(0.2)
            if notification is not None and notification.fields.get("WATCHDOG") == "1":
                with self._lock:
                    self._times.append(notification.received_at)

    def between(self, start: float, end: float) -> int:
        with self._lock:
            return sum(1 for moment in self._times if start <= moment <= end)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(2)


def get_json(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url, timeout=10) as reply:
        document: dict[str, Any] = json.loads(reply.read())
    return document


def metric(url: str, name: str, token: str | None = None) -> float | None:
    """The value of the unlabelled ``name`` at ``url`` (``/metrics``), asked with ``token`` as the
    bearer where one is given; None when it has none."""
    request = urllib.request.Request(url)
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=10) as reply:
        text = reply.read().decode()
    match = re.search(rf"^{name} (\S+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else None


def held_alerts(status: dict[str, Any]) -> int:
    for problem in status["problems"]:
        match = re.search(r"outbox cannot commit .* (\d+) alerts? held in memory", problem)
        if match:
            return int(match.group(1))
    return 0


def test_alerts_decided_while_the_disk_is_full_are_committed_and_delivered_once_space_returns(
    tmp_path: Path, processes: list[Process]
) -> None:
    key = secrets.token_hex(32)
    state_dir = tmp_path / "state"
    state_dir.mkdir()
    (state_dir / "signing.key").write_text(key)
    config = tmp_path / "gateway.yaml"
    with Mosquitto(tmp_path / "broker") as broker, NotifyListener(tmp_path / "notify.sock") as listener:
        collector = AlertCollector(broker.port, f"{PREFIX}/{DEVICE}/alerts")
        try:
            write_config(config, state_dir, face_repository(tmp_path), broker, [face_rule("face")])
            gateway = Process(
                ["serve", "--config", str(config)],
                tmp_path / "gateway.log",
                {"NOTIFY_SOCKET": listener.environment_value, "WATCHDOG_USEC": str(WATCHDOG_USEC)},
            )
            processes.append(gateway)
            listener.wait_for("READY", WAIT_S)
            pings = WatchdogPings(listener)
            base = f"http://127.0.0.1:{gateway.api_port()}"
            wait_for(lambda: last_committed_seq(state_dir) >= 1, "a first alert", process=gateway)

            # When the disk refuses every write of the gateway (RLIMIT_FSIZE: SQLite gets EFBIG)
            soft, hard = resource.prlimit(gateway.pid, resource.RLIMIT_FSIZE)
            full_from = time.time()
            before = last_committed_seq(state_dir)
            resource.prlimit(gateway.pid, resource.RLIMIT_FSIZE, (1, hard))
            try:
                # Then it keeps deciding, holds the alerts, and says why, in every place it can.
                wait_for(
                    lambda: held_alerts(get_json(f"{base}/v1/status")) >= 2, "alerts held", process=gateway
                )
                status = get_json(f"{base}/v1/status")
                assert status["healthy"] is False
                assert metric(f"{base}/metrics", "edge_gateway_outbox_commit_failing") == 1.0
                # A ping already on its way may land; then none while the failure lasts.
                time.sleep(1.5)
                quiet_from = time.monotonic()
                time.sleep(3.0)
                assert pings.between(quiet_from, time.monotonic()) == 0
                assert last_committed_seq(state_dir) == before
            finally:
                resource.prlimit(gateway.pid, resource.RLIMIT_FSIZE, (soft, hard))
            full_until = time.time()

            # When space returns, what was held is committed, health and the watchdog come back.
            wait_for(lambda: get_json(f"{base}/v1/status")["healthy"], "healthy again", process=gateway)
            healthy_from = time.monotonic()
            wait_for(
                lambda: pings.between(healthy_from, time.monotonic()) > 0, "watchdog pings", process=gateway
            )
            assert metric(f"{base}/metrics", "edge_gateway_outbox_commit_failing") == 0.0
            assert gateway.terminate() == 0, gateway.output()
            pings.stop()

            total = last_committed_seq(state_dir)
            collector.wait_for(total, timeout_s=30)
            collector.assert_complete(total, bytes.fromhex(key))
            alerts = collector.alerts()
        finally:
            collector.close()
    decided_while_full = [a for a in alerts if a.seq > before and full_from <= a.event.frame_ts <= full_until]
    assert len(decided_while_full) >= 2, [(a.seq, a.event.frame_ts) for a in alerts]
    assert_paired(alerts)
