"""``audit verify`` on a SQLite store damaged behind its back, as the fuzzing of damaged files did it,
on the real command. SQLite keeps any value in any column, so an edit (or a bit a disk flipped in a
record's header) leaves a payload or an image stored as TEXT, or a seq that is no integer: verify
failed on each with a traceback and exit 1, as if it had found problems. Each is now a damaged row
named in the report (exit 1, the report's own). A store that cannot be read at all is one line and
exit 2: a FIFO in the database's place (verify waited on it for ever), a folder the user may not
search (a PermissionError traceback)."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Sequence
from pathlib import Path

import pytest

from gateway.audit.store import AuditStore, ReceivedMessage
from gateway.commands.audit import EXIT_ERROR, EXIT_PROBLEMS
from gateway.errors import AuditError
from tests.support.audit_device import AlertChain
from tests.support.child_limits import held_to_file_modes
from tests.support.command import edge_gateway
from tests.support.flipped_bit import flip_type_bit

KEY = bytes(range(32))
DEVICE = "box-1"
ROOT = Path(__file__).resolve().parents[2]


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


def verify(path: Path, keys_file: Path | None = None, *, prefix: Sequence[str] = ()) -> tuple[int, str, str]:
    """``edge-gateway audit verify`` on the store at ``path``: exit status, stdout, stderr."""
    keys = [] if keys_file is None else ["--keys", str(keys_file)]
    done = edge_gateway("audit", "verify", "--db", f"sqlite:///{path}", *keys, cwd=ROOT, prefix=prefix)
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


def test_a_fifo_in_the_databases_place_is_refused_at_once(tmp_path: Path) -> None:
    # Given a FIFO where the store should be (opening it would wait for a writer for ever)
    path = tmp_path / "audit.db"
    os.mkfifo(path)

    # When it is verified, then it is refused for what it is, with one line
    status, out, err = verify(path)
    assert (status, out) == (EXIT_ERROR, "")
    assert err == f"error: the audit database {path} is a FIFO, not a regular file\n"


def test_a_store_in_a_folder_the_user_may_not_search_is_one_line(tmp_path: Path) -> None:
    # Given a store in a folder of mode 000, verified by a user the mode holds for
    folder = tmp_path / "closed"
    folder.mkdir()
    filled(folder / "audit.db")
    folder.chmod(0)
    try:
        # When it is verified, then it is one line naming the store and why, exit 2
        status, out, err = verify(folder / "audit.db", prefix=held_to_file_modes())
    finally:
        folder.chmod(0o755)
    assert (status, out) == (EXIT_ERROR, "")
    assert err == f"error: cannot open the audit database {folder / 'audit.db'}: Permission denied\n"


def test_a_schema_version_that_is_no_integer_is_named_at_open(tmp_path: Path) -> None:
    # Given a store whose audit_schema holds a version that is no integer
    path = tmp_path / "audit.db"
    filled(path)
    change(path, "UPDATE audit_schema SET version = 'x'")

    # When audit serve opens it, then it is an AuditError (one line, exit 2) naming the damage
    with pytest.raises(AuditError) as raised:
        AuditStore.open(f"sqlite:///{path}", {DEVICE: KEY})
    assert str(raised.value) == (
        f"cannot open the audit database {path}: the store's schema version is damaged: audit_schema "
        "holds 'x', not an integer; set it to the version the store was at (its tables are those of "
        "version 8), or restore the store from a backup"
    )
    # And the store is left as it was
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT version FROM audit_schema").fetchall() == [("x",)]
    db.close()


@pytest.mark.parametrize(
    ("damage", "named"),
    [
        (
            "UPDATE audit_schema SET version = 'x'",
            "(store): the store's schema version is damaged: audit_schema holds 'x', not an integer; "
            "set it to the version the store was at (its tables are those of version 8)",
        ),
        (
            "DELETE FROM audit_schema",
            "(store): the store's schema version is missing: audit_schema holds no row; set it to",
        ),
        (
            "DROP TABLE audit_schema",
            "(store): the store's schema version is missing: it has no audit_schema table; set it to",
        ),
    ],
    ids=["not-integer", "no-row", "no-table"],
)
def test_a_damaged_schema_version_is_a_problem_in_the_report(tmp_path: Path, damage: str, named: str) -> None:
    # Given a store whose schema version was damaged behind its back (audit serve refuses one that
    # is no integer, and writes a missing one back without a word)
    path = tmp_path / "audit.db"
    filled(path)
    change(path, damage)

    # When it is verified, then the report names it and fails, the alerts verified all the same
    status, out, err = verify(path)
    assert (status, err) == (EXIT_PROBLEMS, "")
    assert f"{DEVICE}: 9 alerts, seq 1..9, signatures NOT checked: ok" in out
    assert named in out
    assert out.endswith("PROBLEMS FOUND\n")
