"""The outbox's recent alerts filtered by rule and label (``/v1/events?rule=&label=``), read from the
stored alerts themselves, through an index of each (without one, a rare rule's alerts were found by
reading every stored alert's JSON under the outbox's lock: 1.2 s over 200,000 alerts, the alerts
committed meanwhile held up); a row the disk damaged matches no filter and fails no list."""

from __future__ import annotations

import dataclasses
import sqlite3
from pathlib import Path

import pytest

from gateway.delivery.outbox import Outbox
from gateway.delivery.outbox_schema import payload_field
from tests.unit.delivery.test_outbox import event, open_outbox


def test_recent_alerts_filtered_by_rule_and_label_with_camera_and_paging(tmp_path: Path) -> None:
    outbox = open_outbox(tmp_path)
    kinds = [("intrusion", "person"), ("loiter", "person"), ("intrusion", "car"), ("intrusion", "person")]
    outbox.append_many(
        [
            dataclasses.replace(event(number, "yard" if number == 3 else "gate"), rule=rule, label=label)
            for number, (rule, label) in enumerate(kinds)
        ]
    )
    assert [alert.seq for alert in outbox.recent_alerts(10, rule="intrusion")] == [4, 3, 1]
    assert [alert.seq for alert in outbox.recent_alerts(10, label="person")] == [4, 2, 1]
    assert [alert.seq for alert in outbox.recent_alerts(10, rule="intrusion", label="person")] == [4, 1]
    assert [alert.seq for alert in outbox.recent_alerts(10, "gate", rule="intrusion", label="person")] == [1]
    assert [alert.seq for alert in outbox.recent_alerts(1, rule="intrusion", before_seq=4)] == [3]
    assert outbox.recent_alerts(10, rule="intrusion'") == []  # a value, never SQL
    assert outbox.recent_alerts(10, label="bicycle") == []
    outbox.close()


def damaged(tmp_path: Path, alerts: int, seq: int) -> Outbox:
    """An outbox of ``alerts`` alerts whose alert ``seq`` the disk damaged, opened again."""
    outbox = open_outbox(tmp_path)
    outbox.append_many([event(number) for number in range(alerts)])
    outbox.close()
    with sqlite3.connect(tmp_path / "outbox.db") as db:
        db.execute("UPDATE alerts SET payload = ? WHERE seq = ?", (b"\x00damaged", seq))
    db.close()
    return open_outbox(tmp_path)


def test_a_damaged_row_matches_no_filter_and_fails_no_list(tmp_path: Path) -> None:
    outbox = damaged(tmp_path, 3, seq=2)
    assert [alert.seq for alert in outbox.recent_alerts(10, rule="intrusion", label="person")] == [3, 1]
    outbox.close()


def test_a_damaged_row_is_read_past_so_a_page_is_full_while_older_alerts_remain(tmp_path: Path) -> None:
    # Given five alerts, the second newest damaged by the disk
    outbox = damaged(tmp_path, 5, seq=4)
    # When three are asked for (a page of two and one more, as /v1/events asks), then three whole ones
    # come back, so the page is not taken for the last; and paging on from them reaches the oldest
    assert [alert.seq for alert in outbox.recent_alerts(3)] == [5, 3, 2]
    assert [alert.seq for alert in outbox.recent_alerts(3, before_seq=3)] == [2, 1]
    assert [alert.seq for alert in outbox.recent_alerts(2, before_seq=5)] == [3, 2]
    outbox.close()


def test_recent_alerts_filtered_by_frame_time_compare_as_times(tmp_path: Path) -> None:
    # Given five alerts a second apart, from 1_764_000_000 (frame_ts 2025-11-24T16:00:00.000000Z)
    outbox = open_outbox(tmp_path)
    outbox.append_many([event(number) for number in range(5)])
    start = 1_764_000_000.0

    def seqs(since: float | None = None, until: float | None = None) -> list[int]:
        return [alert.seq for alert in outbox.recent_alerts(10, since=since, until=until)]

    # Then since is inclusive and until exclusive, to the microsecond
    assert seqs(since=start + 1) == [5, 4, 3, 2]
    assert seqs(until=start + 2) == [2, 1]
    assert seqs(since=start + 1, until=start + 3) == [3, 2]
    assert seqs(since=start + 1.000001) == [5, 4, 3]
    assert seqs(until=start + 0.000001) == [1]
    # and a bound past either end, or before 1970, is no error
    assert seqs(since=-1e10) == [5, 4, 3, 2, 1]
    assert seqs(until=253402300799.0) == [5, 4, 3, 2, 1]
    assert seqs(since=start + 5) == []
    # and a bound past the year 9999 (9999-12-31T23:59:59-14:00 is in the year 10000 UTC) is not
    # written with five digits, which sorted as text before every stored time
    assert seqs(until=253402351199.0) == [5, 4, 3, 2, 1]
    assert seqs(since=253402351199.0) == []
    outbox.close()


def test_until_finds_the_alerts_before_it_whatever_order_their_times_came_in(tmp_path: Path) -> None:
    # Given alerts whose frame times do not rise with their seq (cameras of their own, a clock set back)
    outbox = open_outbox(tmp_path)
    times = [100, 50, 300, 20, 250, 40]
    outbox.append_many([dataclasses.replace(event(0), frame_ts=1_764_000_000.0 + t) for t in times])

    def seqs(until: float, limit: int = 10, before_seq: int | None = None) -> list[int]:
        found = outbox.recent_alerts(limit, until=1_764_000_000.0 + until, before_seq=before_seq)
        return [alert.seq for alert in found]

    # Then until keeps exactly those before it, newest seq first, read from the newest of them on
    assert seqs(60) == [6, 4, 2]
    assert seqs(60, limit=2) == [6, 4]
    assert seqs(60, before_seq=6) == [4, 2]
    assert seqs(260) == [6, 5, 4, 2, 1]
    assert seqs(301) == [6, 5, 4, 3, 2, 1]
    assert seqs(20) == []
    outbox.close()


def test_until_finds_the_newest_before_it_below_the_newest_few_hundred_alerts(tmp_path: Path) -> None:
    # Given alerts in unordered times, then 300 newer than all of them (more than the newest alerts
    # looked at first, so the newest before an early until lies below those)
    outbox = open_outbox(tmp_path)
    times = [100, 50, 300, 20, 250, 40] + [1_000 + number for number in range(300)]
    outbox.append_many([dataclasses.replace(event(0), frame_ts=1_764_000_000.0 + t) for t in times])

    def seqs(until: float, limit: int = 3) -> list[int]:
        return [alert.seq for alert in outbox.recent_alerts(limit, until=1_764_000_000.0 + until)]

    # Then an until among the early times finds them below the newer ones, as one among the newest does
    assert seqs(60) == [6, 4, 2]
    assert seqs(260) == [6, 5, 4]
    assert seqs(1_000) == [6, 5, 4]
    assert seqs(1_002) == [8, 7, 6]
    assert seqs(1_290) == [296, 295, 294]
    assert seqs(20) == []
    outbox.close()


def test_a_damaged_row_matches_no_time_filter(tmp_path: Path) -> None:
    outbox = damaged(tmp_path, 3, seq=2)
    assert [alert.seq for alert in outbox.recent_alerts(10, since=0.0)] == [3, 1]
    outbox.close()


def plan(db: sqlite3.Connection, field: str) -> str:
    """How SQLite reads a page of alerts filtered by ``field``, written as the outbox writes it."""
    where = f"{payload_field(field)} = ? AND seq < ?"
    sql = f"SELECT seq, payload FROM alerts WHERE {where} ORDER BY seq DESC LIMIT ?"
    return " ".join(str(row[3]) for row in db.execute(f"EXPLAIN QUERY PLAN {sql}", ("rare", 10, 3)))


@pytest.mark.parametrize("field", ["rule", "label", "frame_ts"])
def test_a_filter_reads_its_index_in_an_outbox_made_before_it_had_one(tmp_path: Path, field: str) -> None:
    # Given an outbox of before the index (dropped here, as an older gateway's file lacks it)
    outbox = open_outbox(tmp_path)
    outbox.append_many([dataclasses.replace(event(0), rule="rare", label="rare")])
    outbox.append_many([event(number) for number in range(1, 300)])
    outbox.close()
    with sqlite3.connect(tmp_path / "outbox.db") as db:
        db.execute(f"DROP INDEX alerts_by_{field}")
        assert f"alerts_by_{field}" not in plan(db, field)
    db.close()
    # When it is opened, then the index is made, a page of a rare value's alerts is read through it
    # (and the frame time's finds where the alerts before a time lie)
    outbox = open_outbox(tmp_path)
    with sqlite3.connect(tmp_path / "outbox.db") as db:
        assert plan(db, field) == f"SEARCH alerts USING INDEX alerts_by_{field} (<expr>=? AND seq<?)"
    db.close()
    found = {
        "rule": lambda: outbox.recent_alerts(3, rule="rare"),
        "label": lambda: outbox.recent_alerts(3, label="rare"),
        "frame_ts": lambda: outbox.recent_alerts(
            3, until=1_764_000_000.5
        ),  # alert 1's time and half a second
    }[field]()
    assert [alert.seq for alert in found] == [1]
    outbox.close()
