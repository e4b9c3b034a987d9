"""A message from a device id that no keys file can list says so when it is rejected.

The keys file refuses ids the fleet API and page could never name (``.`` and ``..``: URL path
steps), yet a device can publish under one (``edge/../alerts`` is a valid topic). Its messages were
rejected with "no key for device '..' in the keys file", which sends the operator to a file that
refuses that id; the rejection now says that no keys file can list it, and why.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from gateway.audit.keys_file import load_keys
from gateway.audit.store import AuditStore, Outcome, ReceivedMessage, RejectReason
from gateway.errors import AuditError
from tests.support.audit_device import AlertChain

KEY = bytes(range(32))


@pytest.mark.parametrize("device_id", [".", ".."])
def test_a_device_id_no_keys_file_can_list_is_rejected_naming_why(tmp_path: Path, device_id: str) -> None:
    # Given an id the keys file refuses
    keys_file = tmp_path / "keys.yaml"
    keys_file.write_text(f"'{device_id}': {KEY.hex()}\n")
    with pytest.raises(AuditError, match="URL path step"):
        load_keys(keys_file)
    store = AuditStore.open(f"sqlite:///{tmp_path}/audit.db", {"box-known": KEY})
    chain = AlertChain(device_id, KEY)
    now = time.time()
    try:
        # When an alert, its image and a status arrive under it
        results = store.ingest(
            [
                ReceivedMessage(chain.topic, chain.extend(1)[0], now),
                ReceivedMessage(chain.image_topic(1), b"image", now),
                ReceivedMessage(f"edge/{device_id}/status", b'{"state":"online","ts":null}', now),
            ]
        )

        # Then each is rejected for want of a key, saying that no keys file can list the id, and why
        for result in results:
            assert (result.outcome, result.reason) == (Outcome.REJECTED, RejectReason.UNKNOWN_DEVICE)
            assert result.detail is not None
            assert f'no key for device "{device_id}", and no keys file can list it' in result.detail
            assert "URL path step" in result.detail
        assert all("no keys file can list it" in message.reason for message in store.rejected())
    finally:
        store.close()


def test_a_device_id_a_keys_file_can_list_is_still_told_to_add_it(tmp_path: Path) -> None:
    store = AuditStore.open(f"sqlite:///{tmp_path}/audit.db", {"box-known": KEY})
    chain = AlertChain("box-new", KEY)
    try:
        (result,) = store.ingest([ReceivedMessage(chain.topic, chain.extend(1)[0], time.time())])
        assert result.detail == 'no key for device "box-new" in the keys file'
    finally:
        store.close()
