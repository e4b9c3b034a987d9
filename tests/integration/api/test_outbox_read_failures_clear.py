"""When a failed outbox read stops being a ``/v1/status`` problem. It was named until a restart,
whatever its cause, so a file locked for a moment by another process (or a disk I/O error from a USB
disk briefly unplugged) stayed listed long after every read succeeded again. Now an error whose cause
passes is named until a read of the same kind succeeds, while one that says the file is damaged (a
malformed page) stays named until a restart, even when reads that miss the damaged page succeed.
The real HTTP app over a real outbox file; the lock is held by another process, the page zeroed in
the file itself."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from prometheus_client import CollectorRegistry

from gateway.api.app import create_app
from gateway.config import AdmissionConfig, HttpConfig
from gateway.delivery.outbox import DATABASE_NAME, Outbox
from gateway.domain import AlertKind
from gateway.pipeline.outbox_read_failures import OutboxReadFailures, WatchedEventLog
from tests.unit.api.fakes import FakeBackend
from tests.unit.api.harness import ServedApi
from tests.unit.delivery.test_outbox import event, open_outbox

WAL_INDEX_READ_LOCKS = (123, 5)
"""(offset, length) of the five read locks in a SQLite -shm file (WALINDEX_LOCK_OFFSET 120, after the
write, checkpoint and recovery locks): held by another process, no read can begin."""

LOCK_HOLDER = """
import fcntl, os, sys
descriptor = os.open(sys.argv[1], os.O_RDWR)
fcntl.lockf(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB, int(sys.argv[3]), int(sys.argv[2]))
print("held", flush=True)
sys.stdin.read()
"""


@contextmanager
def served(outbox: Outbox, failures: OutboxReadFailures) -> Iterator[ServedApi]:
    backend = FakeBackend()
    api = ServedApi(
        create_app(
            http=HttpConfig(),
            admission=AdmissionConfig(rate_per_s=10_000, burst=10_000),
            inference=backend,
            cameras=None,
            events=WatchedEventLog(outbox, failures),
            registry=CollectorRegistry(),
            tokens=frozenset(),
            geometry=None,
        )
    )
    try:
        yield api
    finally:
        api.close()
        backend.close()


@contextmanager
def reads_locked_out(database: Path) -> Iterator[None]:
    """Another process holding every read lock of ``database``'s write-ahead log, as a backup tool or
    a hand-run sqlite3 in exclusive mode would: reads fail with SQLITE_PROTOCOL (after about 10 s of
    SQLite's own retries) until it lets go."""
    offset, length = WAL_INDEX_READ_LOCKS
    shared_memory = database.with_name(database.name + "-shm")
    with subprocess.Popen(
        [sys.executable, "-c", LOCK_HOLDER, str(shared_memory), str(offset), str(length)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as holder:
        assert holder.stdout is not None
        assert holder.stdin is not None
        assert holder.stdout.readline().strip() == "held"
        try:
            yield
        finally:
            holder.stdin.close()
            holder.wait(10)


def test_a_read_refused_for_a_passing_cause_is_named_until_a_read_of_its_kind_succeeds(
    tmp_path: Path,
) -> None:
    outbox = open_outbox(tmp_path)
    failures = OutboxReadFailures()
    try:
        outbox.append_many([event(number) for number in range(3)])
        with served(outbox, failures) as api:
            # Given the outbox's reads locked out by another process for a while
            with reads_locked_out(tmp_path / DATABASE_NAME):
                # When the event list is read, then it is a 503 and a status problem
                refused = api.get("/v1/events")
                assert refused.status == 503, refused.body
                assert "locking protocol" in refused.json()["error"]
                problem = failures.problem()
                assert problem is not None
                assert "named until a read of the same kind succeeds again" in problem, problem
            # When the lock is gone and a read of another kind succeeds, then it is still named: that
            # read may reach other pages than the one that failed
            assert api.get("/v1/events/1").status == 200
            assert failures.problem() == problem
            # When the event list is read again, then it answers and the problem is gone
            listed = api.get("/v1/events")
            assert listed.status == 200
            assert [alert["seq"] for alert in listed.json()["events"]] == [3, 2, 1]
            assert failures.problem() is None
    finally:
        outbox.close()


def zero_page_holding(database: Path, text: bytes) -> int:
    """Zero, in the closed file, the page that holds ``text``; returns its number (from 1)."""
    data = bytearray(database.read_bytes())
    page_size = int.from_bytes(data[16:18], "big")
    page = data.index(text) // page_size
    data[page * page_size : (page + 1) * page_size] = bytes(page_size)
    database.write_bytes(bytes(data))
    return page + 1


def test_a_damaged_page_stays_named_while_reads_that_miss_it_succeed(tmp_path: Path) -> None:
    # Given 100 alerts, ends of events so that only the alerts table holds their payloads, and the
    # page of seq 20 (an old one: start-up reads only the newest) zeroed in the closed file
    outbox = open_outbox(tmp_path)
    outbox.append_many([dataclasses.replace(event(number), kind=AlertKind.END) for number in range(100)])
    outbox.close()
    assert zero_page_holding(tmp_path / DATABASE_NAME, b'"jetson-01:20"') > 1
    outbox = open_outbox(tmp_path)
    failures = OutboxReadFailures()
    try:
        with served(outbox, failures) as api:
            # When a page of the list that reaches it is read, then it is a 503 naming the damage
            refused = api.get("/v1/events?limit=1000")
            assert refused.status == 503, refused.body
            assert "database disk image is malformed" in refused.json()["error"]
            # And when a read of the same kind that misses it succeeds (the newest page)
            newest = api.get("/v1/events?limit=5")
            assert newest.status == 200
            assert [alert["seq"] for alert in newest.json()["events"]] == [100, 99, 98, 97, 96]
            # Then the damage is still named, with what to do about it
            problem = failures.problem()
            assert problem is not None
            assert "database disk image is malformed" in problem, problem
            assert "PRAGMA integrity_check" in problem
    finally:
        outbox.close()
