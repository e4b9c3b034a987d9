"""``audit verify`` on a SQLite store damaged behind its back, as the fuzzing of damaged files did it,
on the real command. SQLite keeps any value in any column, so an edit (or a bit a disk flipped in a
record's header) leaves a payload or an image stored as TEXT, or a seq that is no integer: verify
failed on each with a traceback and exit 1, as if it had found problems. Each is now a damaged row
named in the report (exit 1, the report's own)."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from gateway.audit.store import AuditStore, ReceivedMessage
from gateway.commands.audit import EXIT_PROBLEMS
from tests.support.audit_device import AlertChain
from tests.support.flipped_bit import flip_type_bit

KEY = bytes(range(32))
DEVICE = "box-1"
ROOT = Path(__file__).resolve().parents[2]
WAIT_S = 60.0
"""Far longer than verifying these few alerts takes: a verify still running then hangs."""


def filled(path: Path) -> AlertChain:
    """A store of nine alerts of one device, the images of seq 1, 4 and 7 with them; closed."""
    chain = AlertChain(DEVICE, KEY)
    chain.extend(9, evidence=True)
    store = AuditStore.open(f"sqlite:///{path}", {DEVICE: KEY})
    try:
        messages = [ReceivedMessage(chain.topic, payload, 1_780_000_001.0) for payload in chain.payloads]
        images = [ReceivedMessage(chain.image_topic(seq), image, 2.0) for seq, image in chain.images.items()]
        store.ingest(messages + images)
    finally:
        store.close()
    return chain


def change(path: Path, sql: str) -> None:
    with sqlite3.connect(path) as db:
        db.execute(sql)
    db.close()


def verify(path: Path, keys_file: Path | None = None, *, wrapper: str | None = None) -> tuple[int, str, str]:
    """``edge-gateway audit verify`` on the store at ``path``: exit status, stdout, stderr."""
    keys = [] if keys_file is None else ["--keys", str(keys_file)]
    command = ["audit", "verify", "--db", f"sqlite:///{path}", *keys]
    start = ["-c", wrapper] if wrapper is not None else ["-m", "gateway"]
    done = subprocess.run(
        [sys.executable, *start, *command],
        check=False,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=WAIT_S,
    )
    return done.returncode, done.stdout, done.stderr


@pytest.mark.parametrize(
    ("damage", "named"),
    [
        (
            "UPDATE audit_alerts SET payload = CAST(payload AS TEXT) WHERE seq = 6",
            "1 damaged row (seq 6: payload stored as TEXT, not a BLOB)",
        ),
        (
            "UPDATE audit_alerts SET seq = 'abc' WHERE seq = 7",
            "1 missing seq (7); 1 damaged row (a seq stored as TEXT ('abc'), not an integer)",
        ),
        (
            "UPDATE audit_evidence SET data = 'zzz' WHERE seq = 4",
            "1 damaged row (seq 4: evidence stored as TEXT, not a BLOB)",
        ),
    ],
    ids=["payload-text", "seq-text", "evidence-text"],
)
def test_a_value_of_another_type_is_a_damaged_row_in_the_report(
    tmp_path: Path, damage: str, named: str
) -> None:
    # Given a store whose one value was changed to another type behind its back
    path = tmp_path / "audit.db"
    filled(path)
    change(path, damage)
    keys_file = tmp_path / "keys.yaml"
    keys_file.write_text(f"{DEVICE}: {KEY.hex()}\n")

    # When it is verified, then the report names the damaged row and fails, without a traceback
    status, out, err = verify(path, keys_file)
    assert (status, err) == (EXIT_PROBLEMS, "")
    assert named in out
    assert out.endswith("PROBLEMS FOUND\n")


def test_a_payload_whose_type_bit_flipped_is_a_damaged_row(tmp_path: Path) -> None:
    # Given a store in which one bit flipped: the type of seq 6's payload, now TEXT of the same bytes
    path = tmp_path / "audit.db"
    filled(path)
    flip_type_bit(path, "UPDATE audit_alerts SET payload = CAST(payload AS TEXT) WHERE seq = 6")

    # When it is verified, then seq 6 is named damaged, and the other alerts checked
    status, out, err = verify(path)
    assert (status, err) == (EXIT_PROBLEMS, "")
    assert f"{DEVICE}: 9 alerts, seq 1..9, signatures NOT checked: 1 damaged row (seq 6: payload" in out
