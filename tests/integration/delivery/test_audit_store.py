"""The audit store on SQLite and on a real PostgreSQL server: exactly once, and tampering rejected."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

import psycopg
import pytest

from gateway.audit import store_checks
from gateway.audit.keys_file import verify_signed
from gateway.audit.store import AuditStore, Outcome, ReceivedMessage, RejectReason
from gateway.audit.verify import verify_store
from gateway.cli import main
from gateway.domain import Alert
from gateway.protocol.alerts import ZERO_HASH, build_alert, encode_alert
from tests.support.audit_device import AlertChain, event

DEVICE = "cam-box-1"
KEY = bytes(range(32))
OTHER_KEY = bytes(range(1, 33))
KEYS = {DEVICE: KEY}


@pytest.fixture
def store(database_url: str) -> Iterator[AuditStore]:
    opened = AuditStore.open(database_url, KEYS)
    yield opened
    opened.close()


@pytest.fixture
def chain() -> AlertChain:
    made = AlertChain(DEVICE, KEY)
    made.extend(12)
    return made


def received(chain: AlertChain, *seqs: int) -> list[ReceivedMessage]:
    return [ReceivedMessage(chain.topic, chain.payload(seq), 1.0) for seq in seqs]


def execute_sql(url: str, sql: str, parameters: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    """Direct database access, standing in for someone editing the audit log behind its back."""
    if url.startswith("sqlite:///"):
        with sqlite3.connect(url.removeprefix("sqlite:///")) as connection:
            return connection.execute(sql, parameters).fetchall()
    with psycopg.connect(url, autocommit=True) as connection:
        cursor = connection.execute(sql.replace("?", "%s"), parameters)
        return [tuple(row) for row in cursor] if cursor.description else []


def snapshot(store: AuditStore) -> list[tuple[int, bytes]]:
    return [(alert.seq, alert.payload) for alert in store.alerts(DEVICE)]


def forged(seq: int, prev_hash: str, key: bytes = KEY, camera_id: str = "gate") -> bytes:
    """A well-formed alert for DEVICE that is not part of its real chain."""
    return encode_alert(build_alert(DEVICE, seq, event(seq, camera_id), prev_hash, key))


def test_each_alert_is_stored_once_and_copies_change_nothing(store: AuditStore, chain: AlertChain) -> None:
    # Given a stream delivered in two batches, then entirely again (QoS 1 redelivery, replay)
    first = store.ingest(received(chain, *range(1, 7)))
    second = store.ingest(received(chain, *range(7, 13)))
    again = store.ingest(received(chain, *range(1, 13)))

    assert [result.outcome for result in first + second] == [Outcome.STORED] * 12
    assert [result.outcome for result in again] == [Outcome.DUPLICATE] * 12
    assert snapshot(store) == [(seq, chain.payload(seq)) for seq in range(1, 13)]
    (progress,) = store.progress()
    assert (progress.contiguous_seq, progress.max_seq) == (12, 12)
    report = verify_store(store, KEYS)
    assert report.ok, report.render()
    assert (report.devices[0].alerts, report.devices[0].first_seq, report.devices[0].last_seq) == (12, 1, 12)


def test_out_of_order_alerts_are_kept_and_chained_when_the_gap_fills(
    store: AuditStore, chain: AlertChain
) -> None:
    # Given seq 3 and 6 delayed, and a batch that itself arrives reversed
    store.ingest(received(chain, 1, 2, 5, 4))
    store.ingest(received(chain, 8, 7))

    assert store.missing_ranges(DEVICE) == [(3, 3), (6, 6)]
    (progress,) = store.progress()
    assert (progress.contiguous_seq, progress.max_seq, progress.has_gap) == (2, 8, True)
    assert not verify_store(store, KEYS).ok

    # When the missing ones arrive, the contiguous run extends over the early arrivals
    results = store.ingest(received(chain, 6, 3))

    assert [result.outcome for result in results] == [Outcome.STORED, Outcome.STORED]
    assert store.missing_ranges(DEVICE) == []
    assert store.progress([DEVICE])[0].contiguous_seq == 8
    assert verify_store(store, KEYS).ok


def tampered_field(payload: bytes) -> bytes:
    data = json.loads(payload)
    data["score"] = 0.01
    return json.dumps(data).encode()


def test_tampering_is_rejected_recorded_and_leaves_the_store_unchanged(
    store: AuditStore, chain: AlertChain
) -> None:
    store.ingest(received(chain, *range(1, 6)))
    before = snapshot(store)
    next_link = json.loads(chain.payload(5))["hash"]
    attempts = {
        # An edited field with the original hash and signature.
        RejectReason.HASH: tampered_field(chain.payload(6)),
        # Consistent content and hash, signed with a key that is not the device's.
        RejectReason.SIGNATURE: forged(6, next_link, key=OTHER_KEY),
        # Correctly signed (a leaked key, a buggy device) but linked to seq 4 instead of 5.
        RejectReason.CHAIN: forged(6, json.loads(chain.payload(4))["hash"]),
        # A replay of seq 3 with different content.
        RejectReason.CONFLICT: forged(3, json.loads(chain.payload(2))["hash"], camera_id="door"),
        RejectReason.SCHEMA: b'{"schema": "edge-gateway.alert.v1", "seq": 6}',
    }
    results = store.ingest([ReceivedMessage(chain.topic, payload, 2.0) for payload in attempts.values()])

    assert [(result.outcome, result.reason) for result in results] == [
        (Outcome.REJECTED, reason) for reason in attempts
    ]
    assert snapshot(store) == before
    rejected = store.rejected()
    assert [(entry.topic, entry.payload, entry.reason.split(":")[0]) for entry in rejected] == [
        (chain.topic, payload, reason.value) for reason, payload in attempts.items()
    ]
    assert {entry.device_id for entry in rejected} == {DEVICE}
    # The genuine seq 6 is still accepted after all that.
    assert store.ingest(received(chain, 6))[0].outcome is Outcome.STORED


def test_an_alert_that_a_stored_successor_does_not_link_to_is_rejected(
    store: AuditStore, chain: AlertChain
) -> None:
    # Given seq 1, 2 and the genuine seq 4 (which links to the genuine seq 3)
    store.ingest(received(chain, 1, 2, 4))
    before = snapshot(store)

    # When a correctly signed seq 3 that is not the one seq 4 was chained to arrives
    impostor = forged(3, json.loads(chain.payload(2))["hash"], camera_id="door")
    (result,) = store.ingest([ReceivedMessage(chain.topic, impostor, 2.0)])

    # Then it is rejected as a chain break, and the genuine seq 3 still fits
    assert (result.outcome, result.reason) == (Outcome.REJECTED, RejectReason.CHAIN)
    assert snapshot(store) == before
    assert store.ingest(received(chain, 3))[0].outcome is Outcome.STORED


def test_wrong_topic_and_unknown_devices_are_rejected(store: AuditStore, chain: AlertChain) -> None:
    stranger = AlertChain("stranger", KEY)
    stranger.extend(1)
    results = store.ingest(
        [
            ReceivedMessage("edge/other-box/alerts", chain.payload(1), 1.0),
            ReceivedMessage(stranger.topic, stranger.payload(1), 1.0),
        ]
    )
    assert [result.reason for result in results] == [RejectReason.TOPIC, RejectReason.UNKNOWN_DEVICE]
    assert store.rejected_counts() == {"other-box": 1, "stranger": 1}
    assert snapshot(store) == []


def test_seqs_no_64_bit_integer_holds_are_rejected_and_the_rest_stored(
    store: AuditStore, chain: AlertChain
) -> None:
    # A signed alert past the largest seq, and images on evidence topics whose seq no column holds
    # (or that only str.isdigit() takes): each once ended the audit-store thread on SQLite.
    image = b"\xff\xd8 an image"
    results = store.ingest(
        [
            ReceivedMessage(
                chain.topic, encode_alert(build_alert(DEVICE, 2**63, event(13), ZERO_HASH, KEY)), 1.0
            ),
            ReceivedMessage(f"edge/{DEVICE}/evidence/{2**70}", image, 1.0),
            ReceivedMessage(f"edge/{DEVICE}/evidence/\u00b2", image, 1.0),
            *received(chain, 1, 2),
        ]
    )
    assert [result.outcome for result in results] == [Outcome.REJECTED] * 3 + [Outcome.STORED] * 2
    assert results[0].reason is RejectReason.SCHEMA
    assert "seq" in (results[0].detail or "")
    # An image whose topic names no seq is rejected as evidence, not parsed as an alert.
    for result in results[1:3]:
        assert (result.reason, result.detail, result.evidence) == (
            RejectReason.EVIDENCE,
            "the topic names no seq from 1 to 9223372036854775807",
            True,
        )
    assert snapshot(store) == [(1, chain.payload(1)), (2, chain.payload(2))]


def test_no_one_message_stops_the_store_and_every_rejection_is_recorded(
    store: AuditStore, chain: AlertChain, database_url: str
) -> None:
    # Each of these once ended the store thread (SQLite or PostgreSQL), or froze it retrying a write
    # that could never succeed; the broker then delivered the message again after every restart.
    huge_score = chain.payload(1).replace(b'"score":0.', b'"score":1' + b"0" * 400 + b"0.")
    assert huge_score != chain.payload(1)
    with_nul = json.loads(chain.payload(1))
    with_nul["x\u0000"] = 1
    with_surrogate = json.loads(chain.payload(1))
    with_surrogate["\ud800"] = 1
    results = store.ingest(
        [
            ReceivedMessage(chain.topic, huge_score, 1.0),
            ReceivedMessage(chain.topic, b"[" * 1000, 1.0),
            ReceivedMessage(chain.topic, json.dumps(with_nul).encode(), 1.0),
            ReceivedMessage(chain.topic, json.dumps(with_surrogate).encode(), 1.0),
            ReceivedMessage(f"edge/{DEVICE}/status", b'{"state": []}', 1.0),
            ReceivedMessage(f"edge/{DEVICE}/status", b'{"state": "online", "ts": "2026\\u0000"}', 1.0),
            # The largest seq is a valid alert (kept until the gap before it fills).
            ReceivedMessage(
                chain.topic, encode_alert(build_alert(DEVICE, 2**63 - 1, event(13), ZERO_HASH, KEY)), 1.0
            ),
            *received(chain, 1, 2),
        ]
    )

    assert [(result.outcome, result.reason) for result in results] == [
        *[(Outcome.REJECTED, RejectReason.SCHEMA)] * 6,
        *[(Outcome.STORED, None)] * 3,
    ]
    assert "score: must be a finite number" in (results[0].detail or "")
    assert results[1].detail == "JSON nested too deeply"
    assert "unknown field" in (results[2].detail or "")
    assert "ts must be RFC 3339" in (results[5].detail or "")
    # Status messages are not kept; the three alerts are, the NUL written out.
    reasons = [entry.reason for entry in store.rejected()]
    assert len(reasons) == 4
    assert reasons[2:] == ["schema: x\\x00: unknown field", "schema: \\ud800: unknown field"]
    assert [seq for seq, _ in snapshot(store)] == [1, 2, 2**63 - 1]
    assert execute_sql(database_url, "SELECT status FROM audit_devices") == [(None,)]


def test_a_check_that_fails_unforeseen_rejects_its_message_only(
    store: AuditStore, chain: AlertChain, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = verify_signed

    def failing_on_seq_2(payload: bytes, ring: Sequence[bytes]) -> Alert:
        if payload == chain.payload(2):
            raise RuntimeError("a defect in the checks")
        return real(payload, ring)

    monkeypatch.setattr(store_checks, "verify_signed", failing_on_seq_2)
    results = store.ingest(received(chain, 1, 2, 3))

    assert [result.outcome for result in results] == [Outcome.STORED, Outcome.REJECTED, Outcome.STORED]
    assert results[1].detail == "could not be checked: RuntimeError: a defect in the checks"
    assert [entry.seq for entry in store.rejected()] == [None]
    assert [seq for seq, _ in snapshot(store)] == [1, 3]


def test_two_stores_on_one_database_keep_each_alert_once(database_url: str, chain: AlertChain) -> None:
    # Given two subscribers' stores receiving overlapping halves concurrently, out of order
    chain.extend(188)
    orders = [list(range(1, 151)), list(range(200, 50, -1))]
    errors: list[BaseException] = []

    def feed(order: list[int]) -> None:
        store = AuditStore.open(database_url, KEYS)
        try:
            for start in range(0, len(order), 10):
                store.ingest(received(chain, *order[start : start + 10]))
        except BaseException as exc:
            errors.append(exc)
        finally:
            store.close()

    threads = [
        threading.Thread(target=feed, args=(order,), name=f"feeder-{i}") for i, order in enumerate(orders)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert errors == []
    checker = AuditStore.open(database_url, KEYS)
    try:
        assert snapshot(checker) == [(seq, chain.payload(seq)) for seq in range(1, 201)]
        assert checker.progress()[0].contiguous_seq == 200
        assert checker.rejected() == []
        assert verify_store(checker, KEYS).ok
    finally:
        checker.close()


def test_verify_exits_0_on_a_clean_store(
    database_url: str,
    store: AuditStore,
    chain: AlertChain,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    store.ingest(received(chain, *range(1, 13)))
    keys_file = tmp_path / "keys.json"
    keys_file.write_text(json.dumps({DEVICE: KEY.hex()}))

    assert main(["audit", "verify", "--db", database_url, "--keys", str(keys_file)]) == 0
    output = capsys.readouterr().out
    assert f"{DEVICE}: 12 alerts, seq 1..12, signatures checked: ok" in output


def test_verify_reports_gaps_chain_breaks_and_bad_signatures_precisely(
    database_url: str,
    store: AuditStore,
    chain: AlertChain,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Given a store that went through the subscriber, then was edited behind its back
    store.ingest(received(chain, *range(1, 13)))
    store.ingest([ReceivedMessage(chain.topic, tampered_field(chain.payload(12)), 1.0)])
    execute_sql(database_url, "DELETE FROM audit_alerts WHERE seq IN (4, 5, 9)")
    replacements = {
        7: forged(7, ZERO_HASH),  # signed, but links nowhere
        11: forged(11, json.loads(chain.payload(10))["hash"], key=OTHER_KEY),  # links, but forged
        2: tampered_field(chain.payload(2)),  # content edited in place
    }
    for seq, payload in replacements.items():
        execute_sql(database_url, "UPDATE audit_alerts SET payload = ? WHERE seq = ?", (payload, seq))
    keys_file = tmp_path / "keys.yaml"
    keys_file.write_text(f"{DEVICE}: {KEY.hex()}\n")

    code = main(["audit", "verify", "--db", database_url, "--keys", str(keys_file)])

    output = capsys.readouterr().out
    assert code == 1
    line = next(text for text in output.splitlines() if text.startswith(DEVICE))
    assert line == (
        f"{DEVICE}: 9 alerts, seq 1..12, signatures checked: 3 missing seq (4-5, 9); "
        "chain breaks at seq 7, 8; content does not match its hash at seq 2; "
        "bad signatures at seq 11; 1 rejected messages"
    )
    assert output.rstrip().endswith("PROBLEMS FOUND")


def test_verify_without_keys_still_checks_hashes_and_the_chain(
    database_url: str, store: AuditStore, chain: AlertChain, capsys: pytest.CaptureFixture[str]
) -> None:
    store.ingest(received(chain, *range(1, 5)))
    assert main(["audit", "verify", "--db", database_url]) == 0
    assert "signatures NOT checked: ok" in capsys.readouterr().out
    execute_sql(
        database_url, "UPDATE audit_alerts SET payload = ? WHERE seq = 3", (tampered_field(chain.payload(3)),)
    )
    assert main(["audit", "verify", "--db", database_url]) == 1
    assert "content does not match its hash at seq 3" in capsys.readouterr().out


def test_verify_refuses_a_missing_sqlite_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["audit", "verify", "--db", f"sqlite:///{tmp_path}/nothing.db"]) == 2
    assert "no audit database" in capsys.readouterr().err


def test_verify_flags_stored_alerts_of_a_device_missing_from_the_keys_file(
    database_url: str,
    store: AuditStore,
    chain: AlertChain,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    store.ingest(received(chain, 1, 2))
    keys_file = tmp_path / "keys.yaml"
    keys_file.write_text(f"another-box: {KEY.hex()}\n")
    assert main(["audit", "verify", "--db", database_url, "--keys", str(keys_file)]) == 1
    assert (
        f"{DEVICE}: 2 alerts, seq 1..2, signatures NOT checked: no key for this device in the keys file"
        in capsys.readouterr().out
    )


def test_long_runs_are_read_and_joined_page_by_page(
    store: AuditStore, chain: AlertChain, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("gateway.audit.store.PAGE_ROWS", 4)
    chain.extend(18)
    store.ingest(received(chain, 1, *range(3, 31)))
    assert store.progress()[0].contiguous_seq == 1

    # Seq 2 closes the gap: the contiguous run is extended across 7 pages of early arrivals.
    store.ingest(received(chain, 2))

    assert store.progress()[0].contiguous_seq == 30
    assert snapshot(store) == [(seq, chain.payload(seq)) for seq in range(1, 31)]
    assert verify_store(store, KEYS).ok
