"""The audit side asked for a gap in one replay request however long it was, and a device answers at
most MAX_REPLAY_RANGE (100,000) seqs per request and refuses a longer one: a gap of 250,000 alerts
(a subscriber whose broker session expired while the device went on) was asked for again and again
and never closed. It is now asked for a piece the device takes at a time (a replay takes at least
half the device's delivery window, so it is never asked for more than one request's worth at once).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from gateway.audit.store import AuditStore, Outcome, ReceivedMessage
from gateway.delivery.mqtt_replay import parse_replay_request
from gateway.protocol.alerts import MAX_SEQ, ZERO_HASH, build_alert, encode_alert
from tests.support.audit_device import event

DEVICE = "cam-box-1"
KEY = bytes(range(32))
TOPIC = f"edge/{DEVICE}/alerts"


@pytest.fixture
def store(database_url: str) -> Iterator[AuditStore]:
    opened = AuditStore.open(database_url, {DEVICE: KEY})
    yield opened
    opened.close()


def arrive(store: AuditStore, seq: int, prev_hash: str) -> str:
    alert = build_alert(DEVICE, seq, event(1), prev_hash, KEY)
    (result,) = store.ingest([ReceivedMessage(TOPIC, encode_alert(alert), 1.0)])
    assert result.outcome is Outcome.STORED
    return alert.hash


def test_a_long_gap_is_asked_for_in_requests_the_device_takes(store: AuditStore) -> None:
    # Given seq 1 and seq 250,002 stored: 250,000 alerts missing between them.
    arrive(store, 250_002, arrive(store, 1, ZERO_HASH))

    # When the subscriber reads what to ask the device for.
    ranges = store.missing_ranges(DEVICE)

    # Then it is one request the device's own parser accepts, for the lowest seqs missing.
    assert ranges == [(2, 100_001)]
    request = parse_replay_request(b'{"from_seq": 2, "to_seq": 100001}')
    assert (request.from_seq, request.to_seq) == ranges[0]


def test_a_gap_up_to_the_largest_seq_is_asked_for_one_piece_at_a_time(store: AuditStore) -> None:
    arrive(store, MAX_SEQ, arrive(store, 1, ZERO_HASH))
    assert store.missing_ranges(DEVICE) == [(2, 100_001)]


def test_short_gaps_are_asked_for_together_up_to_one_request_of_seqs(store: AuditStore) -> None:
    # Given gaps 2..3 and 5..299,999: the second is cut where the budget of 100,000 seqs ends.
    previous = arrive(store, 1, ZERO_HASH)
    arrive(store, 4, previous)
    arrive(store, 300_000, previous)
    assert store.missing_ranges(DEVICE) == [(2, 3), (5, 100_002)]


def test_gaps_past_a_page_of_stored_alerts_are_found(store: AuditStore) -> None:
    # Given 2,600 alerts of which 2 and 2,000 never arrived: the second gap lies past the first
    # page of seqs the store reads (it reads them a page at a time, not all at once)
    alerts, previous = [], ZERO_HASH
    for seq in range(1, 2601):
        alert = build_alert(DEVICE, seq, event(1), previous, KEY)
        alerts.append(alert)
        previous = alert.hash
    arrived = [
        ReceivedMessage(TOPIC, encode_alert(alert), 1.0) for alert in alerts if alert.seq not in (2, 2000)
    ]
    assert {result.outcome for result in store.ingest(arrived)} == {Outcome.STORED}

    assert store.missing_ranges(DEVICE) == [(2, 2), (2000, 2000)]
    assert store.missing_ranges(DEVICE, limit=1) == [(2, 2)]
