from __future__ import annotations

import dataclasses
import math
import sqlite3
import stat
import threading
from pathlib import Path

import pytest

from gateway.config import OutboxConfig, parse_config
from gateway.delivery.outbox import PRUNE_INTERVAL_S, Outbox
from gateway.delivery.outbox_reads import STATS_SQL
from gateway.delivery.signing_key import KEY_FILE_NAME, load_or_create_key
from gateway.domain import AlertEvent, AlertKind, EndReason, ModelRef
from gateway.errors import OutboxError
from gateway.protocol.alerts import ZERO_HASH, decode_alert, encode_alert, verify_alert

KEY = bytes(range(32))


def event(number: int = 0, camera_id: str = "gate") -> AlertEvent:
    return AlertEvent(
        event_id=f"{camera_id}:intrusion:{number}",
        kind=AlertKind.START,
        camera_id=camera_id,
        rule="intrusion",
        label="person",
        score=0.5 + (number % 50) / 100,
        zone="yard",
        box=(0.1, 0.2, 0.3, 0.4),
        frame_ts=1_764_000_000.0 + number,
        model=ModelRef("person-detector", 1),
    )


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def open_outbox(path: Path, clock: Clock | None = None, **config: object) -> Outbox:
    """An outbox on ``clock``, which the monotonic clock follows too: time passes, the clock never steps."""
    clock = clock or Clock()
    return Outbox(
        path, "jetson-01", KEY, config=OutboxConfig.model_validate(config), clock=clock, monotonic=clock
    )


def assert_chain(payloads: list[bytes], first_prev: str = ZERO_HASH) -> None:
    previous = first_prev
    for expected_seq, payload in enumerate(payloads, start=decode_alert(payloads[0]).seq):
        alert = decode_alert(payload)
        assert alert.seq == expected_seq
        verify_alert(alert, KEY, previous)
        previous = alert.hash


def test_seq_is_gapless_and_chained_across_restarts(tmp_path: Path) -> None:
    outbox = open_outbox(tmp_path)
    first = [outbox.append_many([event(number)])[0] for number in range(3)]
    outbox.close()
    # Given a restart, seq and the chain continue where they were.
    outbox = open_outbox(tmp_path)
    assert outbox.last_seq == 3
    more = outbox.append_many([event(3), event(4)])
    assert [alert.seq for alert in first + more] == [1, 2, 3, 4, 5]
    assert more[0].prev_hash == first[-1].hash
    stored = outbox.replay(1, 5)
    assert [row.payload for row in stored] == [encode_alert(alert) for alert in first + more]
    assert_chain([row.payload for row in stored])
    outbox.close()


def test_concurrent_submitters_get_unique_consecutive_seqs(tmp_path: Path) -> None:
    outbox = open_outbox(tmp_path, synchronous="normal")
    seqs: list[int] = []
    lock = threading.Lock()

    def submit_many(camera: int) -> None:
        for number in range(50):
            alert = outbox.append_many([event(number, f"cam{camera}")])[0]
            with lock:
                seqs.append(alert.seq)

    threads = [threading.Thread(target=submit_many, args=(camera,)) for camera in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(seqs) == list(range(1, 401))
    assert_chain([row.payload for row in outbox.replay(1, 400)])
    outbox.close()


def test_async_appends_resolve_in_order_once_committed(tmp_path: Path) -> None:
    outbox = open_outbox(tmp_path)
    futures = [outbox.append_async([event(number), event(number + 1000)]) for number in range(100)]
    results = [future.result(timeout=30) for future in futures]
    assert [[alert.seq for alert in alerts] for alerts in results] == [[n, n + 1] for n in range(1, 200, 2)]
    assert outbox.pending(limit=1000)[-1].seq == 200
    outbox.close()


def test_an_unencodable_event_fails_alone_and_uses_no_seq(tmp_path: Path) -> None:
    outbox = open_outbox(tmp_path)
    broken = dataclasses.replace(event(), score=math.nan)
    failing = outbox.append_async([event(0), broken])
    fine = outbox.append_async([event(1)])
    with pytest.raises(OutboxError, match="cannot encode alert"):
        failing.result(timeout=30)
    assert fine.result(timeout=30)[0].seq == 1
    assert outbox.last_seq == 1
    outbox.close()


def test_close_commits_what_is_queued(tmp_path: Path) -> None:
    outbox = open_outbox(tmp_path)
    futures = [outbox.append_async([event(number)]) for number in range(50)]
    outbox.close()
    assert [future.result(timeout=0)[0].seq for future in futures] == list(range(1, 51))
    with pytest.raises(OutboxError, match="closed"):
        outbox.append_async([event(51)])


def test_pending_until_delivered(tmp_path: Path) -> None:
    outbox = open_outbox(tmp_path)
    notified: list[int] = []
    outbox.add_listener(notified.append)
    outbox.append_many([event(number) for number in range(5)])
    assert notified == [5]
    assert [row.seq for row in outbox.pending()] == [1, 2, 3, 4, 5]
    outbox.mark_delivered([2, 4])
    assert [row.seq for row in outbox.pending()] == [1, 3, 5]
    assert [row.seq for row in outbox.pending(after_seq=3, limit=1)] == [5]
    assert outbox.stats().pending == 3
    outbox.close()


def test_the_status_counts_read_indexes_not_the_tables(tmp_path: Path) -> None:
    # They are read on every /v1/status, under the lock commits wait for: a table read whole there
    # (every evidence row, images and all) held each commit back as the outbox grew.
    outbox = open_outbox(tmp_path)
    outbox.close()
    with sqlite3.connect(tmp_path / "outbox.db") as database:
        plan = [row[3] for row in database.execute("EXPLAIN QUERY PLAN " + STATS_SQL)]
    database.close()
    tables_read = [step for step in plan if step.startswith("SCAN") and step != "SCAN CONSTANT ROW"]
    assert len(tables_read) == 3, plan
    assert all(" USING " in step for step in tables_read), plan


def test_recent_alerts_newest_first_by_camera(tmp_path: Path) -> None:
    outbox = open_outbox(tmp_path)
    outbox.append_many([event(0, "gate"), event(1, "yard"), event(2, "gate")])
    assert [alert.seq for alert in outbox.recent_alerts(10)] == [3, 2, 1]
    assert [alert.seq for alert in outbox.recent_alerts(1, camera_id="gate")] == [3]
    assert outbox.recent_alerts(10, camera_id="none") == []
    # The next page back: older than the oldest seq seen
    assert [alert.seq for alert in outbox.recent_alerts(10, before_seq=3)] == [2, 1]
    assert [alert.seq for alert in outbox.recent_alerts(1, before_seq=3)] == [2]
    assert outbox.recent_alerts(10, before_seq=1) == []
    assert [alert.seq for alert in outbox.recent_alerts(10, camera_id="gate", before_seq=3)] == [1]
    assert [alert.seq for alert in outbox.recent_alerts(10, before_seq=2**63 - 1)] == [3, 2, 1]
    outbox.close()


def test_retention_prunes_only_delivered_alerts_and_keeps_the_chain_head(tmp_path: Path) -> None:
    clock = Clock()
    outbox = open_outbox(tmp_path, clock, retention_s=100)
    outbox.append_many([event(number) for number in range(4)])
    outbox.mark_delivered([1, 2, 3])
    clock.now += 101
    assert outbox.prune() == 3
    assert [row.seq for row in outbox.replay(1, 10)] == [4]
    outbox.mark_delivered([4])
    clock.now += 101
    assert outbox.prune() == 1
    outbox.close()
    # Given every alert pruned, a restart still continues the chain.
    outbox = open_outbox(tmp_path, clock)
    fifth = outbox.append_many([event(5)])[0]
    assert fifth.seq == 5
    assert fifth.prev_hash != ZERO_HASH
    outbox.close()


def test_maybe_prune_runs_at_most_once_per_interval(tmp_path: Path) -> None:
    clock = Clock()
    outbox = open_outbox(tmp_path, clock, retention_s=10)
    outbox.append_many([event(number) for number in range(2)])
    outbox.mark_delivered([1, 2])
    # The commit itself pruned (nothing was due yet); the next prune waits a full interval.
    clock.now += 11
    assert outbox.maybe_prune() == 0
    clock.now += PRUNE_INTERVAL_S
    assert outbox.maybe_prune() == 2
    outbox.close()


def test_size_limit_prunes_oldest_delivered_first(tmp_path: Path) -> None:
    outbox = open_outbox(tmp_path, max_bytes=2000)
    sizes = {
        alert.seq: len(encode_alert(alert)) for alert in outbox.append_many([event(n) for n in range(6)])
    }
    assert sum(sizes.values()) > 2000
    outbox.mark_delivered([1, 2, 3, 4])
    deleted = outbox.prune()
    kept = [row.seq for row in outbox.replay(1, 6)]
    # The oldest delivered go first, just enough of them to get under the limit.
    assert kept == list(range(deleted + 1, 7))
    assert sum(sizes[seq] for seq in kept) <= 2000 < sum(sizes[seq] for seq in kept) + sizes[deleted]
    # Undelivered alerts stay whatever the size.
    outbox2 = open_outbox(tmp_path / "small", max_bytes=1)
    outbox2.append_many([event(n) for n in range(3)])
    assert outbox2.prune() == 0
    outbox2.close()
    outbox.close()


def test_signing_key_is_generated_private_and_reused(tmp_path: Path) -> None:
    key = load_or_create_key(tmp_path)
    path = tmp_path / KEY_FILE_NAME
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(key) == 32
    assert load_or_create_key(tmp_path) == key
    configured = tmp_path / "configured.key"
    configured.write_text("ab" * 20)
    assert load_or_create_key(tmp_path, configured) == bytes.fromhex("ab" * 20)
    configured.write_text("not hex")
    with pytest.raises(OutboxError, match=r"configured\.key"):
        load_or_create_key(tmp_path, configured)


def test_from_config_uses_state_dir_and_signs_with_the_generated_key(tmp_path: Path) -> None:
    config = parse_config(f"device_id: box-7\nstate_dir: {tmp_path}\n")
    outbox = Outbox.from_config(config)
    alert = outbox.append_many([event()])[0]
    assert alert.device_id == "box-7"
    verify_alert(alert, load_or_create_key(tmp_path), ZERO_HASH)
    outbox.close()


def test_an_unusable_database_is_an_outbox_error(tmp_path: Path) -> None:
    (tmp_path / "outbox.db").mkdir()
    with pytest.raises(OutboxError, match="cannot open"):
        open_outbox(tmp_path)


def kind_of(number: int, kind: AlertKind, event_id: str) -> AlertEvent:
    reason = EndReason.CLEARED if kind is AlertKind.END else None
    return dataclasses.replace(event(number), kind=kind, event_id=event_id, end_reason=reason)


def test_open_events_follow_starts_updates_and_ends(tmp_path: Path) -> None:
    outbox = open_outbox(tmp_path)
    try:
        outbox.append_many(
            [
                kind_of(0, AlertKind.START, "a"),
                kind_of(1, AlertKind.START, "b"),
                kind_of(2, AlertKind.UPDATE, "a"),
                kind_of(3, AlertKind.INSTANT, "c"),
            ]
        )
        assert [(item.event_id, item.kind) for item in outbox.open_events()] == [
            ("b", AlertKind.START),
            ("a", AlertKind.UPDATE),  # the newest alert of the event
        ]
        outbox.append_many([kind_of(4, AlertKind.END, "a")])
        assert [item.event_id for item in outbox.open_events()] == ["b"]
    finally:
        outbox.close()
    # They are durable: a new process sees the same open events.
    reopened = open_outbox(tmp_path)
    try:
        assert [item.event_id for item in reopened.open_events()] == ["b"]
    finally:
        reopened.close()


def test_an_outbox_from_before_open_events_is_migrated_from_its_alerts(tmp_path: Path) -> None:
    # Given an outbox written by the previous version: no open_events table, user_version 0.
    outbox = open_outbox(tmp_path)
    outbox.append_many(
        [kind_of(0, AlertKind.START, "a"), kind_of(1, AlertKind.START, "b"), kind_of(2, AlertKind.END, "a")]
    )
    outbox.close()
    with sqlite3.connect(tmp_path / "outbox.db") as db:
        db.execute("DROP TABLE open_events")
        db.execute("PRAGMA user_version = 0")
    # When it is opened, then the events it left open are found from the stored alerts.
    migrated = open_outbox(tmp_path)
    try:
        assert [item.event_id for item in migrated.open_events()] == ["b"]
        assert migrated.last_seq == 3
    finally:
        migrated.close()
