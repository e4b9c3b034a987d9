"""The evidence route serves bytes a device chose under a media type the device chose: whatever the
signed alert names, the answer is never a page of this origin (HTML, SVG) and never a failure.

Before: ``text/html`` and ``image/svg+xml`` images were served as such (a script in them ran on the
audit origin, with the fleet page's session), a type holding a line break dropped the connection
and one with a charset parameter was a 500."""

from __future__ import annotations

import dataclasses
import hashlib
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.audit.store import AuditStore, ReceivedMessage
from gateway.domain import Evidence
from gateway.protocol.alerts import ZERO_HASH, build_alert, encode_alert
from tests.support.audit_device import event
from tests.support.fleet_server import FleetServer, fleet_server

KEY = bytes(range(32))
HTML = b"<script>window.__pwned = 1</script><h1>evidence</h1>"
SVG = b'<svg xmlns="http://www.w3.org/2000/svg" onload="window.__pwned = 1"/>'
# device id -> (the type its alert names, the image's bytes, the type it is served as)
CASES = {
    "cam-html": ("text/html", HTML, "application/octet-stream"),
    "cam-svg": ("image/svg+xml", SVG, "application/octet-stream"),
    "cam-xhtml": ("application/xhtml+xml", HTML, "application/octet-stream"),
    "cam-line-break": ("image/jpeg\r\nSet-Cookie: x=1", b"\xff\xd8\xff", "application/octet-stream"),
    "cam-charset": ("text/html; charset=utf-8", HTML, "application/octet-stream"),
    "cam-parameter": ("image/jpeg; q=1", b"\xff\xd8\xff", "application/octet-stream"),
    "cam-png": ("image/png", b"\x89PNG\r\n\x1a\n", "image/png"),
    "cam-upper": ("IMAGE/JPEG", b"\xff\xd8\xff", "image/jpeg"),
    "cam-jpeg": ("image/jpeg", b"\xff\xd8\xff", "image/jpeg"),
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FleetServer]:
    directory: Path = tmp_path_factory.mktemp("evidence-types")
    url = f"sqlite:///{directory}/audit.db"
    keys = dict.fromkeys(CASES, KEY)
    store = AuditStore.open(url, keys)
    messages = []
    for device_id, (media_type, data, _) in CASES.items():
        evidence = Evidence(hashlib.sha256(data).hexdigest(), len(data), media_type, 1, 1)
        alert = build_alert(device_id, 1, dataclasses.replace(event(1), evidence=evidence), ZERO_HASH, KEY)
        messages += [
            ReceivedMessage(f"edge/{device_id}/alerts", encode_alert(alert), 1_780_000_001.0),
            ReceivedMessage(f"edge/{device_id}/evidence/1", data, 1_780_000_001.0),
        ]
    store.ingest(messages)
    store.close()
    with fleet_server(url, keys, secrets.token_urlsafe(16)) as served:
        yield served


@pytest.mark.parametrize("device_id", CASES)
def test_evidence_is_served_as_a_raster_image_type_or_as_bytes(server: FleetServer, device_id: str) -> None:
    _, data, served_as = CASES[device_id]
    answer = server.get(f"/v1/devices/{device_id}/alerts/1/evidence.jpg")
    assert answer.status == 200
    assert answer.body == data  # the genuine image, byte for byte, whatever its type
    assert answer.headers["Content-Type"] == served_as
    assert answer.headers["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in answer.headers["Content-Security-Policy"]
    assert "Set-Cookie" not in answer.headers
